//! Records in the Confluent wire format end to end: produced by
//! confluent-kafka's own AvroSerializer, ProtobufSerializer and
//! JSONSerializer (`examples/avro/produce.py`), schemas in the schema
//! registry of the tests (the stand-in `tests/services/schema_registry.py`,
//! started by tests/run.sh), through the unchanged `seed` transform into the
//! real Milvus, compared with the same articles produced as plain JSON;
//! records that cannot be decoded, or do not match their JSON Schema, are
//! dead-lettered with the reason while the rest arrive.

mod common;

use common::*;
use serde_json::Value as Json;
use std::path::Path;
use std::time::{Duration, Instant};

/// The seed pipeline from `topic` into the collection of that name, its
/// values in `format` with schemas from `registry`.
fn framed_pipeline(dir: &Path, topic: &str, format: &str, registry: &str) -> PipelineFile {
    PipelineFile::new(dir)
        .topic(topic)
        .module(kmv_test_artifacts::SEED)
        .milvus(&milvus(), topic)
        .source_keys(&format!(
            "value_format = \"{format}\"\nkey_format = \"raw\""
        ))
        .tables(&format!("[source.schema_registry]\nurl = \"{registry}\"\n"))
}

/// Writes `records`' values as JSON lines (what produce.py reads).
fn jsonl(dir: &Path, records: &[(String, Vec<u8>)]) -> std::path::PathBuf {
    let path = dir.join("articles.jsonl");
    let mut text = Vec::new();
    for (_, value) in records {
        text.extend_from_slice(value);
        text.push(b'\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// The id the registry gave version `version` of `subject`.
fn schema_id(registry: &str, subject: &str, version: u32) -> u32 {
    let addr = registry.trim_start_matches("http://");
    let (status, body) = http_get(addr, &format!("/subjects/{subject}/versions/{version}"));
    assert_eq!(status, 200, "{body}");
    let v: Json = serde_json::from_str(&body).unwrap();
    v["id"].as_u64().unwrap() as u32
}

#[test]
fn avro_protobuf_and_json_schema_records_arrive_as_the_json_ones_do() {
    let (uri, registry) = (milvus(), schema_registry());
    let dir = tempfile::tempdir().unwrap();
    let records = articles(0..200, 8);
    let input = jsonl(dir.path(), &records);

    let json_topic = unique("sr_json");
    create_seed(&uri, &json_topic);
    produce(&json_topic, &records);
    let p = PipelineFile::new(dir.path())
        .topic(&json_topic)
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &json_topic)
        .write();
    assert_summary(&run_ok(&p, 3.0), "records_in=200 rows_written=200 failed=0");
    assert_eq!(wait_count(&uri, None, &json_topic, 200), 200);
    let want = query_all(&uri, None, &json_topic);
    assert_eq!(want.len(), 200);

    for format in ["avro", "protobuf", "json_schema"] {
        let topic = unique(&format!("sr_{format}"));
        create_seed(&uri, &topic);
        produce_framed(&registry, format, &topic, &input, 1);
        let p = framed_pipeline(dir.path(), &topic, format, &registry).write();
        let log = run_ok(&p, 3.0);
        assert_summary(&log, "records_in=200 rows_written=200 failed=0");
        assert_eq!(wait_count(&uri, None, &topic, 200), 200, "{format}");
        // Row for row what the JSON records gave: ids, titles, links, and
        // every float of every vector.
        assert_eq!(query_all(&uri, None, &topic), want, "{format}");
    }
}

#[test]
fn bad_framing_an_unknown_id_and_an_evolved_schema_in_one_run() {
    let (uri, registry) = (milvus(), schema_registry());
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("sr_evolve");
    let dlq = format!("{topic}.dlq");
    create_seed(&uri, &topic);
    let v1 = jsonl(dir.path(), &articles(0..50, 8));
    produce_framed(&registry, "avro", &topic, &v1, 1);
    let p = framed_pipeline(dir.path(), &topic, "avro", &registry)
        .errors(&format!("dead_letter_topic = \"{dlq}\""))
        .write();
    let host = Host::start(&p, dir.path().join("host.log"), &[]);
    assert_eq!(wait_count(&uri, None, &topic, 50), 50, "{}", host.log());

    // While it runs: three records it cannot decode, then schema version 2
    // (a field added with a default), registered now, under a new id.
    let id1 = schema_id(&registry, &format!("{topic}-value"), 1);
    let bad: Vec<(String, Vec<u8>)> = vec![
        ("no-magic".into(), article(900, 8).to_string().into_bytes()),
        (
            "unknown-id".into(),
            [&[0u8, 0x7f, 0xff, 0xff, 0x01][..], b"\x02"].concat(),
        ),
        (
            "truncated".into(),
            [&[0u8][..], &id1.to_be_bytes(), b"\x02\x04ab"].concat(),
        ),
    ];
    produce(&topic, &bad);
    let v2_dir = dir.path().join("v2");
    std::fs::create_dir_all(&v2_dir).unwrap();
    let v2 = jsonl(&v2_dir, &articles(50..100, 8));
    produce_framed(&registry, "avro", &topic, &v2, 2);
    assert_ne!(schema_id(&registry, &format!("{topic}-value"), 2), id1);

    let deadline = Instant::now() + Duration::from_secs(60);
    while milvus_count(&uri, &topic) < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = host.term("host");
    assert_summary(
        &log,
        "records_in=103 rows_written=100 failed=3 dead_lettered=3",
    );
    assert_exactly_articles(&uri, &topic, 100);

    let dead = consume(&dlq, 3);
    assert_eq!(dead.len(), 3, "{log}");
    use rdkafka::message::{Headers, Message};
    // Matched by key: the unknown id waits on a registry lookup that the
    // others do not, so the dead letters' order is not the records' order.
    let mut by_key: std::collections::BTreeMap<Vec<u8>, _> = dead
        .iter()
        .map(|m| (m.key().unwrap_or_default().to_vec(), m))
        .collect();
    for (key, value) in &bad {
        let m = by_key
            .remove(key.as_bytes())
            .unwrap_or_else(|| panic!("no dead letter keyed {key}: {log}"));
        let headers: std::collections::BTreeMap<String, String> = m
            .headers()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h.key.to_string(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        // The record as consumed, not a decoded copy.
        assert_eq!(m.payload(), Some(&value[..]));
        assert_eq!(headers["kmv.error.class"], "decode_error", "{key}");
        let reason = &headers["kmv.error.reason"];
        let want = match key.as_str() {
            "no-magic" => "magic byte 0",
            "unknown-id" => "schema id 2147483393 is not in the schema registry",
            _ => "ends early",
        };
        assert!(reason.contains(want), "{key}: {reason}");
    }
}

#[test]
fn json_schema_records_that_do_not_match_their_schema_are_dead_lettered() {
    let (uri, registry) = (milvus(), schema_registry());
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("sr_jsmismatch");
    let dlq = format!("{topic}.dlq");
    create_seed(&uri, &topic);
    let first = jsonl(dir.path(), &articles(0..20, 8));
    produce_framed(&registry, "json_schema", &topic, &first, 1);

    // JSONSerializer validates before it produces, so the records that do
    // not match are framed here, with the id it registered.
    let id = schema_id(&registry, &format!("{topic}-value"), 1);
    let framed =
        |value: Json| [&[0u8][..], &id.to_be_bytes(), value.to_string().as_bytes()].concat();
    let mut wrong_type = article(900, 8);
    wrong_type["id"] = "nine hundred".into();
    let mut no_link = article(901, 8);
    no_link.as_object_mut().unwrap().remove("link");
    let mut text_in_vector = article(902, 8);
    text_in_vector["title_vector"][3] = "x".into();
    let bad: Vec<(String, Vec<u8>)> = vec![
        ("wrong-type".into(), framed(wrong_type)),
        ("no-link".into(), framed(no_link)),
        ("text-in-vector".into(), framed(text_in_vector)),
    ];
    produce(&topic, &bad);
    let second_dir = dir.path().join("second");
    std::fs::create_dir_all(&second_dir).unwrap();
    let second = jsonl(&second_dir, &articles(20..40, 8));
    produce_framed(&registry, "json_schema", &topic, &second, 1);

    let p = framed_pipeline(dir.path(), &topic, "json_schema", &registry)
        .errors(&format!("dead_letter_topic = \"{dlq}\""))
        .write();
    let log = run_ok(&p, 3.0);
    assert_summary(
        &log,
        "records_in=43 rows_written=40 failed=3 dead_lettered=3",
    );
    assert_exactly_articles(&uri, &topic, 40);

    let dead = consume(&dlq, 3);
    assert_eq!(dead.len(), 3, "{log}");
    use rdkafka::message::{Headers, Message};
    let mut keys = vec![];
    for m in &dead {
        let header = |name: &str| {
            let h = m.headers().unwrap().iter().find(|h| h.key == name).unwrap();
            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()
        };
        // The topic's partitions are read in no set order: matched by key.
        let (key, value) = bad
            .iter()
            .find(|(key, _)| m.key() == Some(key.as_bytes()))
            .expect("a dead letter of one of the bad records");
        keys.push(key.clone());
        // The record as consumed, and where it was.
        assert_eq!(m.payload(), Some(&value[..]));
        assert_eq!(header("kmv.error.class"), "decode_error", "{key}");
        assert_eq!(header("kmv.source.topic"), topic);
        assert!(header("kmv.source.partition").parse::<i32>().is_ok());
        assert!(header("kmv.source.offset").parse::<i64>().is_ok());
        let reason = header("kmv.error.reason");
        let want: &[&str] = match key.as_str() {
            "wrong-type" => &["at /id:", "\"integer\""],
            "no-link" => &["at the root", "\"link\"", "required"],
            _ => &["at /title_vector/3:", "\"number\""],
        };
        assert!(
            reason.contains("does not match the schema"),
            "{key}: {reason}"
        );
        for want in want {
            assert!(reason.contains(want), "{key}: {reason}");
        }
        assert!(
            reason.ends_with(&format!("(schema id {id})")),
            "{key}: {reason}"
        );
    }
    keys.sort();
    assert_eq!(keys, ["no-link", "text-in-vector", "wrong-type"]);
}

#[test]
fn a_registry_outage_makes_the_records_wait_and_dead_letters_nothing() {
    let (uri, registry) = (milvus(), schema_registry());
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("sr_outage");
    create_seed(&uri, &topic);
    produce_framed(
        &registry,
        "avro",
        &topic,
        &jsonl(dir.path(), &articles(0..100, 8)),
        1,
    );

    // The host reaches the registry through a proxy that is down at first.
    let proxy = Proxy::start(&registry);
    proxy.cut();
    let p = framed_pipeline(dir.path(), &topic, "avro", &proxy.url())
        .errors(&format!("dead_letter_topic = \"{topic}.dlq\""))
        .write();
    let mut host = Host::start(&p, dir.path().join("host.log"), &[]);
    host.wait_for_line("Schema registry unreachable", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    host.assert_running("while the registry is down");
    assert_eq!(milvus_count(&uri, &topic), 0);
    assert_eq!(host.progress("failed"), 0, "{}", host.log());

    proxy.restore();
    host.wait_for_line("Schema registry reachable again", Duration::from_secs(30));
    assert_eq!(wait_count(&uri, None, &topic, 100), 100, "{}", host.log());
    let log = host.term("host");
    assert_summary(
        &log,
        "records_in=100 rows_written=100 failed=0 dead_lettered=0",
    );
}
