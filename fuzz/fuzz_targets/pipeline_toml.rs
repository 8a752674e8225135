#![no_main]
//! `kmv_host::fuzzing::pipeline_toml` under libFuzzer (fuzz/run.sh).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmv_host::fuzzing::pipeline_toml(data));
