//! The error policies against the real servers (tansu and Milvus 2.3.5,
//! started by tests/run.sh): poison records and guest faults go to the
//! dead-letter topic with headers that say why, every good record is written;
//! `stop` ends the run at the first bad record without committing it.

mod common;

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// A record to produce: key, value (None: a tombstone), headers.
struct Rec {
    key: String,
    value: Option<Vec<u8>>,
    headers: Vec<(&'static str, &'static str)>,
}

fn rec(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Rec {
    Rec {
        key: key.into(),
        value: Some(value.into()),
        headers: vec![],
    }
}

/// Produces records in order to partition 0 of `topic`, values up to 16 MB.
fn produce_records(topic: &str, records: &[Rec]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("message.max.bytes", "16777216")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(*v),
            });
        }
        let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic)
            .key(r.key.as_str())
            .partition(0)
            .headers(headers);
        if let Some(v) = &r.value {
            record = record.payload(v.as_slice());
        }
        producer.send(record).map_err(|(e, _)| e).expect("produce");
        producer.flush(Duration::from_secs(30)).expect("flush");
    }
}

/// A dead-lettered record as read back.
#[derive(Debug)]
struct Dead {
    key: Option<String>,
    value: Option<Vec<u8>>,
    headers: BTreeMap<String, String>,
}

/// Reads `n` records from `topic` (waiting up to 30 s for them).
fn read_topic(topic: &str, n: usize) -> Vec<Dead> {
    consume(topic, n)
        .iter()
        .map(|m| Dead {
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            value: m.payload().map(<[u8]>::to_vec),
            headers: m
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                            (h.key.to_string(), value.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// The run logged a failed record at `offset` of class `class` (the bad
/// record was seen again, not committed).
fn assert_failed_record(log: &str, offset: u64, class: &str) {
    let marker = "Record failed";
    assert_eq!(counter(log, marker, "offset"), Some(offset), "{log}");
    assert_eq!(field(log, marker, "class").as_deref(), Some(class), "{log}");
}

fn ids(uri: &str, collection: &str) -> Vec<i64> {
    query_all(uri, None, collection)
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn poison_records_are_dead_lettered_with_the_reason_and_good_ones_written() {
    let (uri, topic) = (milvus(), unique("err_poison"));
    let dlq = format!("{topic}.dlq");
    create_seed(&uri, &topic);
    let good = |id: i64| rec(id.to_string(), article(id, 8).to_string());
    let bad = |name: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let mut a = article(900, 8);
        f(&mut a);
        rec(name, a.to_string())
    };
    // (key, class, words the reason must hold)
    let expected: &[(&str, &str, &[&str])] = &[
        ("malformed_json", "transform_error", &["JSON"]),
        (
            "not_an_object",
            "transform_error",
            &["array", "not an object"],
        ),
        (
            "wrong_dimension",
            "schema_mismatch",
            &["title_vector", "got 7"],
        ),
        ("string_in_vector", "schema_mismatch", &["title_vector"]),
        ("string_in_int64", "schema_mismatch", &["id"]),
        ("missing_primary_key", "schema_mismatch", &["id"]),
        ("varchar_too_long", "schema_mismatch", &["title", "512"]),
        ("unknown_field", "schema_mismatch", &["color"]),
        ("tombstone", "transform_error", &["null value", "tombstone"]),
        (
            "not_utf8",
            "transform_error",
            &["not valid JSON", "unicode"],
        ),
        ("ten_megabytes", "schema_mismatch", &["title", "512"]),
        ("duplicate_key", "schema_mismatch", &["primary key 3"]),
    ];
    let mut records: Vec<Rec> = (0..4).map(good).collect();
    // Right after id 3, so both are in one batch: an insert's duplicate key.
    records.push(bad("duplicate_key", &|a| a["id"] = json!(3)));
    let mut malformed = rec("malformed_json", "{\"id\": 901, \"title\": ");
    malformed.headers = vec![("origin", "test"), ("trace", "abc")];
    records.push(malformed);
    records.push(rec("not_an_object", "[1, 2, 3]"));
    records.push(good(4));
    records.push(bad("wrong_dimension", &|a| {
        a["title_vector"] = json!([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    }));
    records.push(bad("string_in_vector", &|a| {
        a["title_vector"] = json!(["a", 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    }));
    records.push(bad("string_in_int64", &|a| a["id"] = json!("nine hundred")));
    records.push(bad("missing_primary_key", &|a| {
        a.as_object_mut().unwrap().remove("id");
    }));
    records.push(good(5));
    records.push(bad("varchar_too_long", &|a| {
        a["title"] = json!("x".repeat(600))
    }));
    records.push(bad("unknown_field", &|a| a["color"] = json!("red")));
    records.push(Rec {
        key: "tombstone".into(),
        value: None,
        headers: vec![],
    });
    records.push(rec(
        "not_utf8",
        b"{\"id\": 902, \"title\": \"caf\xe9\"}".to_vec(),
    ));
    records.push(good(6));
    records.push(bad("ten_megabytes", &|a| {
        a["title"] = json!("y".repeat(10 * 1024 * 1024))
    }));
    records.extend((7..10).map(good));
    produce_records(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let errors = format!(
        "dead_letter_topic = \"{dlq}\"\n[errors.dead_letter_properties]\n\"linger.ms\" = \"1\"\n"
    );
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::PASSTHROUGH)
        .milvus(&uri, &topic)
        .sink("write_mode = \"insert\"")
        .errors(&errors)
        .write();
    let log = run_ok(&p, 3.0);
    let n = expected.len();
    assert_summary(
        &log,
        &format!(
            "records_in={} rows_written=10 skipped=0 failed={n} dead_lettered={n}",
            10 + n
        ),
    );
    assert_eq!(wait_count(&uri, None, &topic, 10), 10);
    assert_eq!(ids(&uri, &topic), (0..10).collect::<Vec<_>>());

    let dead = read_topic(&dlq, n);
    assert_eq!(dead.len(), n, "{dead:?}");
    let by_key: BTreeMap<&str, &Dead> = dead
        .iter()
        .map(|d| (d.key.as_deref().unwrap(), d))
        .collect();
    let transform = field(&log, "Consuming.", "transform").unwrap_or_default();
    assert!(transform.starts_with("passthrough.wasm@"), "{log}");
    for (key, class, words) in expected {
        let d = by_key
            .get(key)
            .unwrap_or_else(|| panic!("{key} not dead-lettered: {dead:?}"));
        let h = &d.headers;
        let reason = &h["kmv.error.reason"];
        eprintln!("{key}: {}: {reason}", h["kmv.error.class"]);
        assert_eq!(h["kmv.error.class"], *class, "{key}: {reason}");
        for w in *words {
            assert!(reason.contains(w), "{key}: reason `{reason}` lacks `{w}`");
        }
        assert_eq!(h["kmv.source.topic"], topic);
        assert_eq!(h["kmv.source.partition"], "0");
        assert_eq!(h["kmv.transform"], transform);
        let offset: usize = h["kmv.source.offset"].parse().unwrap();
        let produced = &records[offset];
        assert_eq!(produced.key, *key, "offset header points at the record");
        assert_eq!(d.value, produced.value, "{key}: value kept");
    }
    let m = by_key["malformed_json"];
    assert_eq!(m.headers["origin"], "test");
    assert_eq!(m.headers["trace"], "abc");
    assert!(by_key["tombstone"].value.is_none());
    assert!(
        !log.contains("yyyyyyyyyy"),
        "the 10 MB value reached the log"
    );
}

#[test]
fn guest_faults_are_dead_lettered_and_the_rest_written() {
    let (uri, topic) = (milvus(), unique("err_fault"));
    let dlq = format!("{topic}.dlq");
    let dir = tempfile::tempdir().unwrap();
    let schema = json!({
        "enable_dynamic_field": false,
        "fields": [
            {"name": "id", "type": "Int64", "primary": true, "auto_id": false},
            {"name": "fault", "type": "VarChar", "params": {"max_length": 16}},
            {"name": "v", "type": "FloatVector", "params": {"dim": 2}}
        ]
    });
    create_collection(&uri, &topic, &schema.to_string(), dir.path());
    let faults = [(3, "trap"), (7, "loop"), (11, "oom")];
    let records: Vec<Rec> = (0..14)
        .map(|id| {
            let fault = faults
                .iter()
                .find(|(i, _)| *i == id)
                .map_or("none", |(_, f)| f);
            rec(
                id.to_string(),
                json!({"id": id, "fault": fault, "v": [0.5, id as f64]}).to_string(),
            )
        })
        .collect();
    produce_records(&topic, &records);

    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::FAULTY)
        .milvus(&uri, &topic)
        .transform_keys("call_timeout_ms = 300\nmemory_limit_mib = 32")
        .errors(&format!(
            "policy = \"dead_letter\"\ndead_letter_topic = \"{dlq}\""
        ))
        .write();
    let log = run_ok(&p, 3.0);
    assert_summary(
        &log,
        "records_in=14 rows_written=11 skipped=0 failed=3 dead_lettered=3",
    );
    assert_eq!(wait_count(&uri, None, &topic, 11), 11);
    let want: Vec<i64> = (0..14).filter(|i| ![3, 7, 11].contains(i)).collect();
    assert_eq!(ids(&uri, &topic), want);

    let dead = read_topic(&dlq, 3);
    let mut got: Vec<(String, String, String)> = dead
        .iter()
        .map(|d| {
            (
                d.key.clone().unwrap(),
                d.headers["kmv.error.class"].clone(),
                d.headers["kmv.error.reason"].clone(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), 3, "{dead:?}");
    for ((key, class, reason), (id, fault)) in
        got.iter().zip([(11, "oom"), (3, "trap"), (7, "loop")])
    {
        assert_eq!(key, &id.to_string());
        assert_eq!(class, "transform_fault", "{key} ({fault}): {reason}");
        let word = match fault {
            "oom" => "memory limit of 32 MiB",
            "trap" => "trapped",
            _ => "did not finish within 300 ms",
        };
        assert!(
            reason.contains(word),
            "{fault}: reason `{reason}` lacks `{word}`"
        );
    }
}

#[test]
fn stop_policy_ends_the_run_at_the_bad_record_without_committing_it() {
    let (uri, topic) = (milvus(), unique("err_stop"));
    create_seed(&uri, &topic);
    let mut records: Vec<Rec> = (0..5)
        .map(|id| rec(id.to_string(), article(id, 8).to_string()))
        .collect();
    records.push(rec("bad", "{not json"));
    records.extend((5..10).map(|id| rec(id.to_string(), article(id, 8).to_string())));
    produce_records(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let group = unique("g");
    let run = |policy: &str| {
        let p = PipelineFile::new(dir.path())
            .topic(&topic)
            .group(&group)
            .module(kmv_test_artifacts::PASSTHROUGH)
            .milvus(&uri, &topic)
            .errors(&format!("policy = \"{policy}\""))
            .write();
        run_host(&p, 3.0, &[])
    };
    let out = run("stop");
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "stopped at a failed record (errors.policy = \"stop\"; its offset is not committed): topic {topic} partition 0 offset 5: transform_error:"
        )),
        "{log}"
    );

    // The same group under `log` sees the bad record again: it was not committed.
    let out = run("log");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_failed_record(&log, 5, "transform_error");
    assert_summary(&log, "failed=1 dead_lettered=0");
    assert_eq!(wait_count(&uri, None, &topic, 10), 10);
    assert_eq!(ids(&uri, &topic), (0..10).collect::<Vec<_>>());
}

#[test]
fn an_unreachable_dead_letter_topic_stops_the_run_without_committing() {
    let (uri, topic) = (milvus(), unique("err_dlq_down"));
    create_seed(&uri, &topic);
    let mut records: Vec<Rec> = (0..3)
        .map(|id| rec(id.to_string(), article(id, 8).to_string()))
        .collect();
    records.push(rec("bad", "{not json"));
    produce_records(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let group = unique("g");
    let run = |errors: &str| {
        let p = PipelineFile::new(dir.path())
            .topic(&topic)
            .group(&group)
            .module(kmv_test_artifacts::PASSTHROUGH)
            .milvus(&uri, &topic)
            .errors(errors)
            .write();
        run_host(&p, 3.0, &[])
    };
    let out = run(&format!(
        "dead_letter_topic = \"{topic}.dlq\"\ndead_letter_brokers = \"127.0.0.1:1\"\n[errors.dead_letter_properties]\n\"message.timeout.ms\" = \"1500\""
    ));
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains(&format!("writing to dead-letter topic `{topic}.dlq` failed for topic {topic} partition 0 offset 3")),
        "{log}"
    );
    // Nothing of that chunk was committed: the group sees the bad record again.
    let out = run("policy = \"log\"");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_failed_record(&log, 3, "transform_error");
}
