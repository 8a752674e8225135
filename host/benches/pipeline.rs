//! The whole pipeline (Kafka -> seed transform -> Milvus REST) against a plain
//! REST insert of the same rows at the same batch size, into the real Milvus,
//! in one run, for dim 8 and dim 768. Also the host's CPU-seconds per 100k
//! records and its peak RSS. Target: pipeline >= 0.9x the plain insert.
//!
//! What the sandbox costs end to end: the same pipeline again on the same
//! records, into a fresh collection, with the seed transform compiled into
//! this benchmark build of the host (`module = "native:seed"`, feature
//! `bench-native-seed`: the same workers, batching, checks, encoding, HTTP
//! and commits; tests/native_seed.rs shows it yields the same outcomes).
//! Host CPU per record of the wasm run against the native one. Target: wasm
//! <= 1.25x native. The rows/s, RSS and the first CPU column are the wasm run's.
//!
//! Then change data capture: Debezium change events through the `cdc`
//! transform, a stream of creates only beside one with 20% deletes (each
//! followed by its tombstone), in change events per second.
//!
//! Needs the services tests/run.sh starts (tansu, Milvus); fails otherwise.
//! Run with `cargo bench -p kmv-host --bench pipeline --features bench-native-seed`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use kmv_host::config::TransformConfig;
use kmv_host::transform::TransformEngine;
use std::path::Path;
use std::time::Instant;

const BATCH: usize = 1000;

/// Rows/s of sequential `POST /v1/vector/insert` calls, BATCH rows each,
/// with the rows the seed transform makes of the same records.
fn plain_insert(uri: &str, collection: &str, records: &[(String, Vec<u8>)]) -> f64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let rows: Vec<serde_json::Value> = records
        .iter()
        .map(|(_, v)| serde_json::from_slice(v).unwrap())
        .collect();
    let bodies: Vec<Vec<u8>> = rows
        .chunks(BATCH)
        .map(|chunk| {
            serde_json::to_vec(&serde_json::json!({"collectionName": collection, "data": chunk}))
                .unwrap()
        })
        .collect();
    runtime.block_on(async {
        let start = Instant::now();
        for body in bodies {
            let answer: serde_json::Value = client
                .post(format!("{uri}/v1/vector/insert"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(answer["code"], 200, "{answer}");
        }
        records.len() as f64 / start.elapsed().as_secs_f64()
    })
}

struct HostRun {
    busy_seconds: f64,
    cpu_seconds: f64,
    max_rss_mib: f64,
    summary: serde_json::Value,
}

/// The seed pipeline with `module` from `topic` into a fresh collection of
/// dimension `dim`, which it drops after.
fn pipeline_run(uri: &str, topic: &str, module: &str, dim: usize, n: usize) -> HostRun {
    let collection = unique("bench_pipe");
    admin(
        uri,
        None,
        &[
            "create-seed",
            "--collection",
            &collection,
            "--dim",
            &dim.to_string(),
            "--drop",
        ],
    );
    let sink = format!("write_mode = \"insert\"\nbatch_max_rows = {BATCH}");
    let run = host_run(uri, topic, &collection, module, &sink);
    assert_eq!(
        run.summary["rows_written"], n as u64,
        "{module}: {}",
        run.summary
    );
    admin(uri, None, &["drop", "--collection", &collection]);
    run
}

/// Runs `module` from `topic` into `collection` until idle.
fn host_run(uri: &str, topic: &str, collection: &str, module: &str, sink: &str) -> HostRun {
    let dir = tempfile::tempdir().unwrap();
    let p = PipelineFile::new(dir.path())
        .topic(topic)
        .group(&unique("bench"))
        .module(module)
        .milvus(uri, collection)
        .sink(sink)
        .write();
    let log_path = dir.path().join("host.log");
    // Waited for with wait4 below, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kmv-host"))
        .arg("--pipeline")
        .arg(&p)
        .args(["--stop-when-idle", "5", "--log-format", "json"])
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    // The child's own high-water mark (VmHWM), sampled until it exits: the
    // rusage max RSS of a child also counts this process's memory, which
    // the child shares between spawn and exec.
    let pid = child.id();
    let sampler = std::thread::spawn(move || {
        let mut hwm_kib = 0.0;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) else {
                break;
            };
            hwm_kib = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(hwm_kib);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        hwm_kib / 1024.0
    });
    let (status, cpu_seconds, _) = wait_with_usage(pid);
    let max_rss_mib = sampler.join().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(status, 0, "{log}");
    let summary: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "Pipeline stopped.")
        .unwrap_or_else(|| panic!("no summary in {log}"));
    HostRun {
        busy_seconds: summary["busy_seconds"].as_str().unwrap().parse().unwrap(),
        cpu_seconds,
        max_rss_mib,
        summary,
    }
}

/// Change events per second through the `cdc` transform, with no deletes
/// and with 20%, side by side.
fn cdc_streams(uri: &str) {
    let n = 100_000;
    println!();
    println!(
        "change data capture: {n} Debezium change events (dim 8) through the cdc transform, batch {BATCH}"
    );
    println!(
        "{:<14} {:>8} {:>8} {:>10} {:>14} {:>18}",
        "stream", "creates", "deletes", "records", "events/s", "CPU s / 100k ev"
    );
    let mut rates = Vec::new();
    for share in [0.0, 0.2] {
        let collection = unique("bench_cdc");
        create_seed(uri, &collection);
        let topic = format!("cdc.public.{collection}");
        let stream = Stream::with_deletes(&topic, n, share);
        produce_events(&topic, &stream.events);
        let sink = format!("batch_max_rows = {BATCH}");
        let run = host_run(uri, &topic, &collection, kmv_test_artifacts::CDC, &sink);
        assert_eq!(
            run.summary["records_in"],
            stream.events.len() as u64,
            "{}",
            run.summary
        );
        assert_eq!(run.summary["failed"], 0, "{}", run.summary);
        let rate = n as f64 / run.busy_seconds;
        rates.push(rate);
        println!(
            "{:<14} {:>8} {:>8} {:>10} {:>14.0} {:>18.2}",
            format!("{:.0}% deletes", share * 100.0),
            stream.creates,
            stream.deletes,
            stream.events.len(),
            rate,
            run.cpu_seconds / n as f64 * 100_000.0
        );
        admin(uri, None, &["drop", "--collection", &collection]);
    }
    println!(
        "(20% deletes at {:.2}x the creates-only rate; a delete and its tombstone are two records, one change event)",
        rates[1] / rates[0]
    );
}

/// Waits for the child `pid`: (exit status, user+system CPU seconds of it
/// alone, rusage max RSS in MiB).
fn wait_with_usage(pid: u32) -> (i32, f64, f64) {
    let mut status = 0;
    // SAFETY: wait4 only writes the status and the struct it is given; the
    // child is ours and waited for once.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let waited = libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage);
        assert_eq!(waited, pid as libc::pid_t, "wait4 failed");
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (
        code,
        secs(usage.ru_utime) + secs(usage.ru_stime),
        usage.ru_maxrss as f64 / 1024.0,
    )
}

fn main() {
    // Started here when the bench runs alone; `.ci/run` starts them before.
    let _services = StartedForBench::kafka_and_milvus(repo());
    let uri = milvus();
    // Compiled here, into the cache the child reads (same engine settings),
    // so that no wasm run pays for compiling seed.wasm: its CPU per record is
    // compared with the native run's.
    let seed = kmv_test_artifacts::SEED;
    let config: TransformConfig = toml::from_str(&format!("module = {seed:?}")).unwrap();
    TransformEngine::builder(Path::new(seed), &config)
        .load()
        .expect("compiling seed.wasm");
    println!(
        "pipeline vs plain REST v1 insert into Milvus 2.3.5, batch {BATCH} rows (same rows, same batch size)"
    );
    println!(
        "{:<8} {:>7} {:>14} {:>16} {:>7} {:>12} {:>12} {:>12} {:>9} {:>14}",
        "shape",
        "rows",
        "plain rows/s",
        "pipeline rows/s",
        "ratio",
        "CPU s/100k",
        "native CPU",
        "wasm/native",
        "target",
        "peak RSS MiB"
    );
    for (dim, n) in [(8usize, 200_000usize), (768, 10_000)] {
        let records = articles(0..n as i64, dim);
        let dim_text = dim.to_string();
        // The plain insert runs before and after the pipeline (Milvus slows as
        // it flushes and compacts): the mean is the reference.
        let plain_once = || {
            let plain = unique("bench_plain");
            admin(
                &uri,
                None,
                &[
                    "create-seed",
                    "--collection",
                    &plain,
                    "--dim",
                    &dim_text,
                    "--drop",
                ],
            );
            let rate = plain_insert(&uri, &plain, &records);
            admin(&uri, None, &["drop", "--collection", &plain]);
            rate
        };
        let plain_before = plain_once();

        let topic = unique("bench_pipe");
        produce(&topic, &records);
        let run = pipeline_run(&uri, &topic, kmv_test_artifacts::SEED, dim, n);
        let native = pipeline_run(&uri, &topic, "native:seed", dim, n);
        let rows_per_s = n as f64 / run.busy_seconds;
        let plain_rate = (plain_before + plain_once()) / 2.0;
        let per_100k = |cpu_seconds: f64| cpu_seconds / n as f64 * 100_000.0;
        println!(
            "{:<8} {:>7} {:>14.0} {:>16.0} {:>6.2}x {:>12.2} {:>12.2} {:>11.2}x {:>9} {:>14.1}",
            format!("dim {dim}"),
            n,
            plain_rate,
            rows_per_s,
            rows_per_s / plain_rate,
            per_100k(run.cpu_seconds),
            per_100k(native.cpu_seconds),
            run.cpu_seconds / native.cpu_seconds,
            "<= 1.25x",
            run.max_rss_mib
        );
    }
    println!(
        "(pipeline rows/s: rows written / time from the first record consumed to the last batch acknowledged)"
    );
    println!(
        "(CPU s/100k: the host process's user+system CPU per 100k records, start to exit, with seed.wasm; native CPU: the same pipeline on the same records with the seed transform compiled into the host)"
    );
    cdc_streams(&uri);
}
