//! Change data capture end to end, on the real broker and Milvus 2.3.5 (REST
//! v1; the REST v2 delete path runs against the stand-in in
//! `e2e_rest_v2.rs`): rows and deletes routed to several collections, and
//! Debezium streams that must leave the collection equal to the table.

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

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

/// xorshift64*, seeded from `KMV_CDC_SEED` or the clock (printed, so a
/// failing stream can be replayed).
fn rng(test: &str) -> impl FnMut(u64) -> u64 {
    let seed = std::env::var("KMV_CDC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("{test}: seed {seed} (replay with KMV_CDC_SEED={seed})");
    let mut state = seed.max(1);
    move |n: u64| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A seed-shaped collection for table `articles` and its Debezium topic
/// `cdc.public.<collection>` (the cdc transform routes by the table name).
fn cdc_collection(prefix: &str) -> (String, String) {
    let collection = unique(prefix);
    create_seed(&milvus(), &collection);
    let topic = format!("cdc.public.{collection}");
    (collection, topic)
}

fn cdc_pipeline(dir: &Path, topics: &[&str], collection: &str, sink: &str) -> PipelineFile {
    PipelineFile::new(dir)
        .topics(topics)
        .module(kmv_test_artifacts::CDC)
        .milvus(&milvus(), collection)
        .sink(sink)
        .errors(r#"policy = "stop""#)
}

/// Creates, updates and deletes over a few hundred keys (several per key,
/// in one batch and across batches), in both converter settings, with a
/// tombstone after each delete: the collection ends equal to the table.
#[test]
fn a_debezium_stream_leaves_the_collection_equal_to_the_table() {
    let mut rng = rng("a_debezium_stream_leaves_the_collection_equal_to_the_table");
    let dir = tempfile::tempdir().unwrap();
    let (collection, topic) = cdc_collection("cdc_table");
    let both = [Envelope::Plain, Envelope::Schema];
    let stream = Stream::random(&topic, 300, 2000, &both, &mut rng);
    println!(
        "{} creates, {} updates, {} deletes; {} rows left",
        stream.creates,
        stream.updates,
        stream.deletes,
        stream.table.len()
    );
    produce_events(&topic, &stream.events);
    let p = cdc_pipeline(dir.path(), &[&topic], &collection, "batch_max_rows = 100").write();
    let log = run_ok(&p, 3.0);
    assert_eq!(
        summary(&log, "records_in"),
        stream.events.len() as u64,
        "{log}"
    );
    assert_eq!(summary(&log, "failed"), 0, "{log}");
    assert!(
        summary(&log, "superseded") > 0,
        "no change was superseded: {log}"
    );
    assert_table(&milvus(), &collection, &stream.table);
}

/// The same after SIGKILLs at random points: a replayed suffix of the
/// stream leaves the same collection.
#[test]
fn sigkill_at_random_points_leaves_the_same_table() {
    let mut rng = rng("sigkill_at_random_points_leaves_the_same_table");
    let dir = tempfile::tempdir().unwrap();
    let (collection, topic) = cdc_collection("cdc_kill");
    let both = [Envelope::Plain, Envelope::Schema];
    let stream = Stream::random(&topic, 400, 20_000, &both, &mut rng);
    produce_events(&topic, &stream.events);
    let p = cdc_pipeline(dir.path(), &[&topic], &collection, "batch_max_rows = 200")
        .group(&unique("g_cdc_kill"))
        .session_timeout_ms(3000)
        .write();
    for round in 0..3 {
        let host = Host::start(&p, dir.path().join(format!("run{round}.log")), &[]);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while host.progress("records_in") == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng(150)));
        let consumed = host.progress("records_in");
        let log = host.kill(&format!("run {round}"));
        println!("run {round}: SIGKILL after {consumed} records at the last progress line");
        assert!(!log.contains("Pipeline stopped."), "{log}");
    }
    let host = Host::start(&p, dir.path().join("final.log"), &["--stop-when-idle", "3"]);
    let log = host.finish(Duration::from_secs(90), "final run");
    assert_eq!(summary(&log, "failed"), 0, "{log}");
    assert_table(&milvus(), &collection, &stream.table);
}

/// Two tables' topics into their two collections: `[sink] collection` and
/// one named in `[sink] collections`, each described at start.
#[test]
fn two_topics_into_two_collections() {
    let mut rng = rng("two_topics_into_two_collections");
    let dir = tempfile::tempdir().unwrap();
    let (a, topic_a) = cdc_collection("cdc_two_a");
    let (b, topic_b) = cdc_collection("cdc_two_b");
    let stream_a = Stream::random(&topic_a, 100, 400, &[Envelope::Plain], &mut rng);
    let stream_b = Stream::random(&topic_b, 100, 400, &[Envelope::Schema], &mut rng);
    produce_events(&topic_a, &stream_a.events);
    produce_events(&topic_b, &stream_b.events);
    let sink = format!("collections = [\"{b}\"]\nbatch_max_rows = 50");
    let p = cdc_pipeline(dir.path(), &[&topic_a, &topic_b], &a, &sink).write();
    let log = run_ok(&p, 3.0);
    let records = stream_a.events.len() + stream_b.events.len();
    assert_eq!(summary(&log, "records_in"), records as u64, "{log}");
    assert_table(&milvus(), &a, &stream_a.table);
    assert_table(&milvus(), &b, &stream_b.table);
}
