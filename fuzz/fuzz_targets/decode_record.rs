#![no_main]
//! `kmv_host::fuzzing::decode_record` under libFuzzer (fuzz/run.sh).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmv_host::fuzzing::decode_record(data));
