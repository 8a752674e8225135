#![no_main]
//! `kmv_host::fuzzing::avro_schema` under libFuzzer (fuzz/run.sh).
//!
//! The Avro library panics on some schemas and kmv-host catches that
//! (`AvroSchema::parse`); libfuzzer-sys's panic hook would abort on the
//! caught panic too, so the default hook is put back. A panic that is not
//! caught still ends the run: it cannot unwind out of the `extern "C"`
//! entry point, and the process aborts there.

libfuzzer_sys::fuzz_target!(
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| kmv_host::fuzzing::avro_schema(data)
);
