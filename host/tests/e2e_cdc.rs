//! Change data capture end to end, on the real broker and Milvus 2.3.5 (REST
//! v1; the REST v2 delete path runs against the stand-in in
//! `e2e_rest_v2.rs`): rows and deletes routed to several collections, and
//! Debezium streams that must leave the collection equal to the table.

mod common;

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// Produces `events` in order to one partition of `topic` (tombstones with
/// a null value).
fn produce_events(topic: &str, events: &[Event]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, value) in events {
        loop {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic).key(key).partition(0);
            if let Some(v) = value {
                record = record.payload(v);
            }
            match producer.send(record) {
                Ok(()) => break,
                Err((e, _)) => {
                    assert!(format!("{e}").contains("Queue full"), "produce failed: {e}");
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Checks that `collection` holds exactly the rows of `table`: every id
/// once, and each row's title, link and vector.
fn assert_table(uri: &str, collection: &str, table: &BTreeMap<i64, Article>) {
    let count = wait_count(uri, None, collection, table.len());
    let rows = query_all(uri, None, collection);
    let got: BTreeMap<i64, &serde_json::Value> = rows
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r))
        .collect();
    assert_eq!(got.len(), rows.len(), "duplicate ids in {collection}");
    let missing: Vec<&i64> = table.keys().filter(|id| !got.contains_key(id)).collect();
    let extra: Vec<&i64> = got.keys().filter(|id| !table.contains_key(id)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{collection}: {count} rows; missing ids {missing:?}, ids that should be gone {extra:?}"
    );
    for (id, want) in table {
        let row = got[id];
        assert_eq!(row["title"], want.title, "title of {id}");
        assert_eq!(row["link"], want.link, "link of {id}");
        let vector: Vec<f32> = serde_json::from_value(row["title_vector"].clone()).unwrap();
        assert_eq!(vector, want.vector, "vector of {id}");
    }
}

/// A router record: a seed article on `shelf`, or its delete.
fn routed(id: i64, shelf: &str, deleted: bool) -> (String, Vec<u8>) {
    let mut v = article(id, 8);
    v["shelf"] = json!(shelf);
    v["deleted"] = json!(deleted);
    (id.to_string(), v.to_string().into_bytes())
}

fn seed_table(ids: impl IntoIterator<Item = i64>) -> BTreeMap<i64, Article> {
    ids.into_iter()
        .map(|id| {
            let a = article(id, 8);
            let row = Article {
                id,
                title: a["title"].as_str().unwrap().into(),
                vector: serde_json::from_value(a["title_vector"].clone()).unwrap(),
                link: a["link"].as_str().unwrap().into(),
            };
            (id, row)
        })
        .collect()
}

/// One topic, two collections: `[sink] collection` and one allowed by a
/// pattern (described when a row first names it); rows and deletes each go
/// where the record says; a record for a collection the pipeline does not
/// write fails alone (`unknown_collection`), and the records behind it go on.
#[test]
fn rows_and_deletes_routed_to_two_collections_from_one_topic() {
    let uri = milvus();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (unique("route_a"), unique("route_b"));
    create_seed(&uri, &a);
    create_seed(&uri, &b);
    let topic = unique("route");
    let mut records = Vec::new();
    for id in 0..200 {
        records.push(routed(id, if id % 2 == 0 { "a" } else { "b" }, false));
    }
    records.push(routed(1000, "nowhere", false));
    // Deletes of every fifth id (half on each shelf), after their rows, some
    // in the same batch (their row is then superseded, not sent).
    for id in (0..200).step_by(5) {
        records.push(routed(id, if id % 2 == 0 { "a" } else { "b" }, true));
    }
    produce(&topic, &records);
    let pattern = format!("{}*", &b[..b.len() - 4]);
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::ROUTER)
        .transform_config(&format!("shelves = {{ a = \"{a}\", b = \"{b}\" }}"))
        .milvus(&uri, &a)
        .sink(&format!(
            "collections = [\"{pattern}\"]\nbatch_max_rows = 64"
        ))
        .errors(r#"policy = "log""#)
        .write();
    let log = run_ok(&p, 3.0);
    assert!(log.contains("unknown_collection"), "{log}");
    assert!(
        log.contains("collection `nowhere` is not one this pipeline writes"),
        "{log}"
    );
    assert_eq!(summary(&log, "failed"), 1, "{log}");
    assert_eq!(summary(&log, "deletes"), 40, "{log}");
    assert_eq!(
        summary(&log, "rows_written") + summary(&log, "superseded"),
        200,
        "{log}"
    );
    let kept = |parity: i64| seed_table((0..200).filter(move |id| id % 2 == parity && id % 5 != 0));
    assert_table(&uri, &a, &kept(0));
    assert_table(&uri, &b, &kept(1));
    let stopped = log
        .lines()
        .rfind(|l| l.contains("Pipeline stopped."))
        .unwrap();
    assert!(
        stopped.contains(&format!("collections=\"{a}: "))
            && stopped.contains(&format!("; {b}: "))
            && stopped.matches(" rows, 20 deleted").count() == 2,
        "{stopped}"
    );
}

/// Deletes run on Milvus 2.3.5's REST v1 (`/v1/vector/delete`), and a
/// replay of the whole stream (a new group) leaves the same collection.
#[test]
fn deletes_on_rest_v1_and_a_replay_changes_nothing() {
    let uri = milvus();
    let dir = tempfile::tempdir().unwrap();
    let a = unique("del_v1");
    create_seed(&uri, &a);
    let topic = unique("del_v1");
    let mut records: Vec<(String, Vec<u8>)> = (0..50).map(|id| routed(id, "a", false)).collect();
    records.extend(
        (0..50)
            .filter(|id| id % 3 == 0)
            .map(|id| routed(id, "a", true)),
    );
    produce(&topic, &records);
    let file = |group: &str| {
        PipelineFile::new(dir.path())
            .group(group)
            .topic(&topic)
            .module(kmv_test_artifacts::ROUTER)
            .transform_config(&format!("shelves = {{ a = \"{a}\" }}"))
            .milvus(&uri, &a)
            .sink("api = \"v1\"")
            .write()
    };
    let want = seed_table((0..50).filter(|id| id % 3 != 0));
    let log = run_ok(&file(&unique("g1")), 3.0);
    assert_eq!(summary(&log, "deletes"), 17, "{log}");
    assert_table(&uri, &a, &want);
    let log = run_ok(&file(&unique("g2")), 3.0);
    assert_eq!(summary(&log, "records_in"), 67, "{log}");
    assert_table(&uri, &a, &want);
}
