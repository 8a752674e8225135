#![no_main]
//! `kmv_host::fuzzing::describe_answer` under libFuzzer (fuzz/run.sh).

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmv_host::fuzzing::describe_answer(data));
