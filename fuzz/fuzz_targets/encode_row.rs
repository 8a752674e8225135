#![no_main]
//! `kmv_host::fuzzing::encode_row` under libFuzzer (fuzz/run.sh).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmv_host::fuzzing::encode_row(data));
