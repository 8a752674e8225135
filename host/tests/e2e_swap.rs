//! Hot swap of the transform against the real servers (tansu and Milvus
//! 2.3.5, started by tests/run.sh): a new version copied over the module file
//! while records flow takes over at a batch boundary, every record is written
//! once by exactly one version; broken versions (init fails, traps on the
//! sample, rows that break the schema) are refused and the old one keeps
//! running; SIGHUP asks for a check; `check --module` validates a version
//! before it is dropped in.
//!
//! Nothing here waits for a fixed time: the producer keeps records flowing
//! until the host's log shows the step the test waits for.

mod common;

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The most records a test produces (one query reads them all back).
const MAX_RECORDS: usize = 15_000;

/// The collection the swap guests write: `id` = partition * 1e9 + offset.
fn create_swap_collection(uri: &str, name: &str, dir: &Path) {
    let schema = serde_json::json!({
        "fields": [
            {"name": "id", "type": "INT64", "primary": true},
            {"name": "partition", "type": "INT64"},
            {"name": "offset", "type": "INT64"},
            {"name": "n", "type": "INT64"},
            {"name": "version", "type": "VARCHAR", "max_length": 16},
            {"name": "vec", "type": "FLOAT_VECTOR", "dim": 8},
        ]
    });
    create_collection(uri, name, &schema.to_string(), dir);
}

/// Puts `wasm` at `module` the way deploy tools do: a copy beside it, renamed over it.
fn drop_in(wasm: &str, module: &Path) {
    let tmp = module.with_extension("wasm.tmp");
    std::fs::copy(wasm, &tmp).unwrap();
    std::fs::rename(&tmp, module).unwrap();
}

/// Starts a `kmv-host` that stops 3 s after the last record.
fn start_host(pipeline: &Path, dir: &Path) -> Host {
    Host::start(pipeline, dir.join("host.log"), &["--stop-when-idle", "3"])
}

/// Whether the host has written at least one row.
fn wrote_rows(host: &Host) -> bool {
    host.progress("rows_written") > 0
}

/// How many times `needle` is in the host's log.
fn count(host: &Host, needle: &str) -> usize {
    host.log().matches(needle).count()
}

/// Waits for the host's successful exit; its log.
fn finish(host: Host) -> String {
    host.finish(Duration::from_secs(120), "kmv-host")
}

/// Produces `{"n": N}` records to `topic`, record N to partition N % partitions,
/// in a steady flow.
struct Flow {
    producer: BaseProducer,
    topic: String,
    partitions: usize,
    produced: usize,
}

impl Flow {
    fn new(topic: &str, partitions: usize) -> Flow {
        if partitions > 1 {
            create_topic(topic, partitions as i32);
        }
        Flow {
            producer: ClientConfig::new()
                .set("bootstrap.servers", kafka())
                .set("linger.ms", "5")
                .create()
                .unwrap(),
            topic: topic.to_string(),
            partitions,
            produced: 0,
        }
    }

    /// Produces a few records and pauses briefly (the flow's pace).
    fn step(&mut self) {
        assert!(
            self.produced < MAX_RECORDS,
            "produced {MAX_RECORDS} records and the host did not get there"
        );
        for _ in 0..20 {
            // Every 100th record lacks `n`: the transform answers `error`.
            let value = if is_poison(self.produced as i64) {
                format!("{{\"not_n\": {}}}", self.produced)
            } else {
                format!("{{\"n\": {}}}", self.produced)
            };
            let key = self.produced.to_string();
            self.producer
                .send(
                    BaseRecord::to(&self.topic)
                        .partition((self.produced % self.partitions) as i32)
                        .key(&key)
                        .payload(&value),
                )
                .map_err(|(e, _)| e)
                .expect("produce");
            self.produced += 1;
        }
        self.producer.flush(Duration::from_secs(30)).expect("flush");
        std::thread::sleep(Duration::from_millis(40));
    }

    /// Keeps records flowing until `done`.
    fn until(&mut self, what: &str, host: &Host, done: impl Fn(&Host) -> bool) {
        let started = Instant::now();
        while !done(host) {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "waited 2 minutes for {what}: {}",
                host.log()
            );
            self.step();
        }
    }

    /// Produces `n` more records.
    fn more(&mut self, n: usize) {
        let target = self.produced + n;
        while self.produced < target {
            self.step();
        }
    }
}

/// Whether record N lacks `n` (the transform answers `error` for it).
fn is_poison(n: i64) -> bool {
    n % 100 == 99
}

/// How many of the first `produced` records are poison.
fn poison_count(produced: usize) -> usize {
    (0..produced as i64).filter(|&n| is_poison(n)).count()
}

/// A row as read back: (partition, offset, n, version).
#[derive(Debug)]
struct Row {
    partition: i64,
    offset: i64,
    n: i64,
    version: String,
}

fn read_rows(uri: &str, collection: &str) -> BTreeMap<i64, Row> {
    let out = admin(
        uri,
        None,
        &[
            "query",
            "--collection",
            collection,
            "--fields",
            "id,partition,offset,n,version",
        ],
    );
    let mut rows = BTreeMap::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_i64().unwrap();
        let row = Row {
            partition: v["partition"].as_i64().unwrap(),
            offset: v["offset"].as_i64().unwrap(),
            n: v["n"].as_i64().unwrap(),
            version: v["version"].as_str().unwrap().to_string(),
        };
        assert!(rows.insert(id, row).is_none(), "id {id} was written twice");
    }
    rows
}

/// Each produced record is a row, once: rows are unique by id (see
/// [`read_rows`]), there are as many as records, and each is the record
/// produced at its partition and offset (on a fresh topic, record N is at
/// partition N % partitions, offset N / partitions).
fn assert_each_record_once(rows: &BTreeMap<i64, Row>, produced: usize, partitions: usize) {
    assert_eq!(
        rows.len(),
        produced - poison_count(produced),
        "rows written vs good records produced"
    );
    let parts = partitions as i64;
    for (id, row) in rows {
        assert_eq!(*id, row.partition * 1_000_000_000 + row.offset, "{row:?}");
        assert_eq!(row.n, row.offset * parts + row.partition, "{row:?}");
        assert!(row.n < produced as i64 && !is_poison(row.n), "{row:?}");
    }
}

/// `key=` of the last log line holding `marker`; panics with the log if missing.
fn field_of(log: &str, marker: &str, key: &str) -> String {
    field(log, marker, key).unwrap_or_else(|| panic!("no `{key}=` on a `{marker}` line:\n{log}"))
}

/// `errors`: the keys of an `[errors]` table, if any.
fn setup(prefix: &str, errors: &str) -> (String, String, tempfile::TempDir, PathBuf, PathBuf) {
    let (uri, topic) = (milvus(), unique(prefix));
    let dir = tempfile::tempdir().unwrap();
    create_swap_collection(&uri, &topic, dir.path());
    let module = dir.path().join("transform.wasm");
    std::fs::copy(kmv_test_artifacts::SWAP_V1, &module).unwrap();
    let mut p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(module.to_str().unwrap())
        .milvus(&uri, &topic)
        .sink("write_mode = \"insert\"");
    if !errors.is_empty() {
        p = p.errors(errors);
    }
    let p = p.write();
    (uri, topic, dir, module, p)
}

#[test]
fn a_new_version_dropped_in_mid_stream_takes_over_at_a_batch_boundary() {
    let topic_dlq = unique("swap_live_dlq");
    let (uri, topic, dir, module, p) = setup(
        "swap_live",
        &format!("dead_letter_topic = \"{topic_dlq}\"\n"),
    );
    let partitions = 3;
    let mut flow = Flow::new(&topic, partitions);
    let host = start_host(&p, dir.path());
    flow.until("the first rows", &host, wrote_rows);
    flow.more(1000);
    drop_in(kmv_test_artifacts::SWAP_V2, &module);
    flow.until("the swap", &host, |h| {
        count(h, "Transform swapped at a batch boundary.") == 1
    });
    // Every record produced from here on is the new version's.
    let after_swap = flow.produced;
    flow.more(2000);
    let log = finish(host);
    let produced = flow.produced;
    let bad = poison_count(produced);
    eprintln!("produced {produced} ({bad} poison), swap logged before record {after_swap}");

    let from = field_of(&log, "Transform swapped", "from");
    let to = field_of(&log, "Transform swapped", "to");
    assert!(from.starts_with("transform.wasm@"), "{log}");
    assert!(to.starts_with("transform.wasm@") && to != from, "{log}");
    assert_summary(
        &log,
        &format!(
            "records_in={produced} rows_written={} skipped=0 failed={bad} dead_lettered={bad}",
            produced - bad
        ),
    );
    assert_summary(&log, "swaps=1 swap_failures=0");

    let rows = read_rows(&uri, &topic);
    assert_each_record_once(&rows, produced, partitions);
    for r in rows.values() {
        assert!(r.version == "v1" || r.version == "v2", "{r:?}");
        // Records produced after the swap was logged are the new version's.
        if r.n >= after_swap as i64 {
            assert_eq!(r.version, "v2", "{r:?}");
        }
    }
    // Dead-letter headers name the version that processed the record.
    let dead = read_dead_letters(&topic_dlq, bad);
    assert_eq!(dead.len(), bad, "{dead:?}");
    let mut records = Vec::with_capacity(rows.len() + dead.len());
    records.extend(
        rows.values()
            .map(|r| (r.partition, r.offset, r.version.clone(), true)),
    );
    for (partition, offset, transform) in &dead {
        let version = if *transform == from {
            "v1"
        } else if *transform == to {
            "v2"
        } else {
            panic!(
                "partition {partition} offset {offset}: dead-lettered by {transform}, neither {from} nor {to}"
            );
        };
        records.push((*partition, *offset, version.to_string(), false));
    }
    let by_version = |v: &str| dead.iter().filter(|d| d.2 == v).count();
    let (by_v1, by_v2) = (by_version(&from), by_version(&to));
    assert!(
        by_v1 > 0 && by_v2 > 0,
        "dead-lettered by v1 {by_v1}, by v2 {by_v2}"
    );
    assert_one_switch(records, partitions);
}

/// A clean switch in each partition: taking every record in offset order,
/// rows by their `version` and dead letters by their header, each is seen
/// once, all of v1's come before all of v2's, and both versions have written
/// rows. Where the switch lands does not matter: a record between v1's last
/// row and v2's first (a poison record, with no row) may have been
/// processed by either. Records are `(partition, offset, version, is_row)`.
fn assert_one_switch(mut records: Vec<(i64, i64, String, bool)>, partitions: usize) {
    records.sort();
    for p in 0..partitions as i64 {
        let of_p: Vec<(i64, &str, bool)> = records
            .iter()
            .filter(|r| r.0 == p)
            .map(|r| (r.1, r.2.as_str(), r.3))
            .collect();
        for pair in of_p.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "partition {p}: offset {} seen twice",
                pair[1].0
            );
            assert!(
                !(pair[0].1 == "v2" && pair[1].1 == "v1"),
                "partition {p}: offset {} by v2, then offset {} by v1",
                pair[0].0,
                pair[1].0
            );
        }
        let wrote = |v: &str| of_p.iter().any(|r| r.1 == v && r.2);
        assert!(
            wrote("v1") && wrote("v2"),
            "partition {p}: both versions must have written rows: {of_p:?}"
        );
    }
}

/// (partition, offset, kmv.transform) of `n` dead-lettered records (waiting up to 30 s).
fn read_dead_letters(topic: &str, n: usize) -> Vec<(i64, i64, String)> {
    use rdkafka::message::{Headers, Message};
    consume(topic, n)
        .iter()
        .map(|m| {
            let header = |key: &str| {
                m.headers()
                    .and_then(|hs| hs.iter().find(|h| h.key == key))
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            };
            (
                header("kmv.source.partition").parse().unwrap(),
                header("kmv.source.offset").parse().unwrap(),
                header("kmv.transform"),
            )
        })
        .collect()
}

#[test]
fn broken_versions_are_refused_and_the_running_version_keeps_writing() {
    let (uri, topic, dir, module, p) = setup("swap_refuse", "");
    let mut flow = Flow::new(&topic, 1);
    let host = start_host(&p, dir.path());
    flow.until("the first rows", &host, wrote_rows);
    let refused = "Transform swap refused; the running version keeps running.";
    let cases = [
        (kmv_test_artifacts::SWAP_FAIL_INIT, "init failed"),
        (kmv_test_artifacts::SWAP_TRAP, "faults on the sample"),
        (
            kmv_test_artifacts::SWAP_BAD_SCHEMA,
            "do not fit the collection schema",
        ),
    ];
    for (i, (wasm, _)) in cases.iter().enumerate() {
        drop_in(wasm, &module);
        flow.until(&format!("refusal {}", i + 1), &host, |h| {
            count(h, refused) == i + 1
        });
    }
    // SIGHUP asks for a new check of the file (still the bad-schema version).
    host.signal(libc::SIGHUP);
    flow.until("the refusal after SIGHUP", &host, |h| {
        count(h, refused) == 4
    });
    flow.more(500);
    let log = finish(host);
    let produced = flow.produced;

    let lines: Vec<&str> = log.lines().filter(|l| l.contains(refused)).collect();
    for (line, (_, why)) in lines.iter().zip(&cases) {
        assert!(line.contains(why), "`{line}` lacks `{why}`");
    }
    assert!(
        lines[3].contains("do not fit the collection schema"),
        "{}",
        lines[3]
    );
    assert!(lines[2].contains("vec"), "{}", lines[2]);
    assert_eq!(
        field(&log, "", "signal").as_deref(),
        Some("SIGHUP"),
        "{log}"
    );
    let running = field_of(&log, "Consuming.", "transform");
    for line in &lines {
        // Both versions: the running one and the refused candidate.
        assert!(line.contains(&format!("transform=\"{running}\"")), "{line}");
        let candidate = field_of(line, "", "candidate");
        assert!(
            candidate.starts_with("transform.wasm@") && candidate != running,
            "{line}"
        );
    }
    assert_summary(&log, "swaps=0 swap_failures=4");
    let rows = read_rows(&uri, &topic);
    assert_each_record_once(&rows, produced, 1);
    assert!(rows.values().all(|r| r.version == "v1"));
}

#[test]
fn check_module_validates_a_new_version_against_the_pipeline() {
    let (_uri, _topic, dir, _module, p) = setup("swap_check", "");
    let input = dir.path().join("records.jsonl");
    std::fs::write(&input, "{\"n\": 1}\n{\"n\": 2}\n{\"no_n\": true}\n").unwrap();
    let check = |pipeline: &Path, wasm: &str, with_input: bool| {
        let mut cmd = Command::new(host_bin());
        cmd.arg("check")
            .arg("--pipeline")
            .arg(pipeline)
            .args(["--module", wasm]);
        if with_input {
            cmd.arg("--input").arg(&input);
        }
        let out = cmd.env("NO_COLOR", "1").output().unwrap();
        (out.status.code(), text(&out))
    };
    let (code, out) = check(&p, kmv_test_artifacts::SWAP_V2, true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("swap_v2.wasm@"), "{out}");
    assert!(out.contains("ran over 3 records"), "{out}");
    for (wasm, why) in [
        (kmv_test_artifacts::SWAP_FAIL_INIT, "init failed"),
        (kmv_test_artifacts::SWAP_TRAP, "faults on the sample"),
        (
            kmv_test_artifacts::SWAP_BAD_SCHEMA,
            "do not fit the collection schema",
        ),
        (kmv_test_artifacts::WRONG_VERSION, "does not load"),
    ] {
        let (code, out) = check(&p, wasm, true);
        assert_eq!(code, Some(1), "{wasm}: {out}");
        assert!(out.contains(why), "{wasm}: {out}");
    }
    // Without --input: compiled and initialised only.
    let (code, out) = check(&p, kmv_test_artifacts::SWAP_BAD_SCHEMA, false);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("not run over records"), "{out}");
    // A sink that cannot be reached: said plainly, and not a pass.
    let text_of = std::fs::read_to_string(&p).unwrap();
    let unreachable = dir.path().join("unreachable.toml");
    let uri = milvus();
    std::fs::write(&unreachable, text_of.replace(&uri, "http://127.0.0.1:1")).unwrap();
    let (code, out) = check(&unreachable, kmv_test_artifacts::SWAP_V2, true);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("NOT checked against the collection schema"),
        "{out}"
    );
}
