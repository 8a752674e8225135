//! The seed transform natively and in WebAssembly, on the same records, in
//! one run: records/s and the ratio, for the seed record (dim 8) and a
//! 768-dim record. Target: wasm >= 0.7x native.
//!
//! Both sides run the same `seed::Seed` code over the same records, from
//! records in memory to rows in memory, and both drop their output inside
//! the timed loop. The native side clones its input inside the timed loop:
//! the wasm side has to copy every record into the guest's memory (and the
//! guest frees it), so a native run that owns its records without paying
//! for them would flatter native. The wasm side additionally pays for lifting
//! the rows back into host types, which is part of what running in a sandbox
//! costs. "no deadline" is wasm with epoch interruption off, for information
//! only: the product always runs calls with a deadline.
//!
//! Run with `cargo bench -p kmv-host --bench transform`.

#[path = "../tests/common/mod.rs"]
mod common;

use kmv_guest::Transform as _;
use kmv_host::config::TransformConfig;
use kmv_host::transform::{KafkaRecord, RecordOutcome, TransformEngine};
use std::path::Path;
use std::time::{Duration, Instant};

fn article(id: usize, dim: usize, seed: &mut u64) -> String {
    let mut vector = Vec::with_capacity(dim);
    for _ in 0..dim {
        // xorshift: deterministic floats with ~9 significant digits, like embeddings.
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let x = (*seed % 2_000_000_000) as f64 / 1e10 - 0.1;
        vector.push(format!("{x:.9}"));
    }
    format!(
        r#"{{"id": {id}, "title": "The Reported Mortality Rate of Coronavirus Is Not Important {id}", "title_vector": [{}], "link": "https://medium.com/swlh/the-reported-mortality-rate-of-coronavirus-is-not-important-369989c8d912"}}"#,
        vector.join(", ")
    )
}

fn records(n: usize, dim: usize) -> Vec<KafkaRecord> {
    let mut seed = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| KafkaRecord {
            timestamp: Some(1_700_000_000_000),
            ..common::record("topic_0", i as i64, article(i, dim, &mut seed))
        })
        .collect()
}

fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut rows = 0;
    for _ in 0..runs {
        let start = Instant::now();
        rows = f();
        best = best.min(start.elapsed());
    }
    (best, rows)
}

fn main() {
    let module = kmv_test_artifacts::SEED;
    let config: TransformConfig = toml::from_str(&format!("module = {module:?}")).unwrap();
    let engine = TransformEngine::builder(Path::new(module), &config)
        .load()
        .expect("loading seed.wasm");
    let mut worker = engine.worker().unwrap();
    let unbounded = TransformEngine::builder(Path::new(module), &config)
        .deadline(false)
        .load()
        .expect("loading seed.wasm");
    let mut unbounded_worker = unbounded.worker().unwrap();

    println!(
        "seed transform, native vs wasm (best of 5 runs each; {} KiB per call)",
        config.call_max_bytes / 1024
    );
    println!(
        "{:<10} {:>8} {:>10} {:>14} {:>14} {:>7}   {:>18} {:>7}",
        "shape",
        "records",
        "bytes/rec",
        "native rec/s",
        "wasm rec/s",
        "ratio",
        "no deadline rec/s",
        "ratio"
    );
    for (dim, n) in [(8usize, 100_000usize), (768, 10_000)] {
        let input = records(n, dim);
        let bytes = input
            .iter()
            .map(|r| r.value.as_ref().unwrap().len())
            .sum::<usize>()
            / n;
        let guest_input: Vec<kmv_guest::Record> = input
            .iter()
            .map(|r| {
                let mut record = kmv_guest::Record::from_value(r.value.as_deref().unwrap());
                record.topic = r.topic.clone();
                record.offset = r.offset;
                record
            })
            .collect();

        let (native, native_rows) = best_of(5, || {
            let mut t = seed::Seed::init(kmv_guest::Config::default()).unwrap();
            let out = t.process_batch(guest_input.clone());
            out.iter()
                .filter(|o| matches!(o, kmv_guest::Outcome::Rows(_)))
                .count()
        });
        let (wasm, wasm_rows) = best_of(5, || {
            let out = worker.process(&input).unwrap();
            out.iter()
                .filter(|o| matches!(o, RecordOutcome::Rows(_)))
                .count()
        });
        let (unbounded, unbounded_rows) = best_of(5, || {
            let out = unbounded_worker.process(&input).unwrap();
            out.iter()
                .filter(|o| matches!(o, RecordOutcome::Rows(_)))
                .count()
        });
        assert_eq!(native_rows, n);
        assert_eq!(wasm_rows, n);
        assert_eq!(unbounded_rows, n);
        let native_rate = n as f64 / native.as_secs_f64();
        let wasm_rate = n as f64 / wasm.as_secs_f64();
        let unbounded_rate = n as f64 / unbounded.as_secs_f64();
        println!(
            "{:<10} {:>8} {:>10} {:>14.0} {:>14.0} {:>6.2}x   {:>18.0} {:>6.2}x",
            format!("dim {dim}"),
            n,
            bytes,
            native_rate,
            wasm_rate,
            wasm_rate / native_rate,
            unbounded_rate,
            unbounded_rate / native_rate
        );
    }
}
