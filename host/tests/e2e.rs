//! End to end against real servers: tansu (Kafka protocol) and Milvus 2.3.5
//! (REST v1), both started by tests/run.sh. Records go through the real
//! `kmv-host` binary; Milvus is read back independently with pymilvus.

mod common;

use common::*;
use serde_json::Value as Json;
use std::path::Path;

/// The seed transform from `topic` into the Milvus collection of that name.
fn seed_pipeline(dir: &Path, uri: &str, topic: &str) -> PipelineFile {
    PipelineFile::new(dir)
        .topic(topic)
        .module(kmv_test_artifacts::SEED)
        .milvus(uri, topic)
}

#[test]
fn records_land_in_milvus_exactly() {
    let (uri, topic) = (milvus(), unique("e2e_exact"));
    create_seed(&uri, &topic);
    let records = articles(0..300, 8);
    produce(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let p = seed_pipeline(dir.path(), &uri, &topic)
        .sink("batch_max_rows = 64")
        .write();
    let log = run_ok(&p, 3.0);
    assert_summary(&log, "records_in=300 rows_written=300 skipped=0 failed=0");

    assert_eq!(wait_count(&uri, None, &topic, 300), 300);
    let rows = query_all(&uri, None, &topic);
    assert_eq!(rows.len(), 300);
    for (row, (_, produced)) in rows.iter().zip(&records) {
        let produced: Json = serde_json::from_slice(produced).unwrap();
        assert_eq!(row["id"], produced["id"]);
        assert_eq!(row["title"], produced["title"]);
        assert_eq!(row["link"], produced["link"]);
        let got: Vec<f64> = row["title_vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want: Vec<f64> = produced["title_vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), 8);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-6,
                "vector of {}: {got:?} vs {want:?}",
                row["id"]
            );
        }
    }
}

#[test]
fn replay_with_upsert_leaves_no_duplicates() {
    let (uri, topic) = (milvus(), unique("e2e_replay"));
    create_seed(&uri, &topic);
    produce(&topic, &articles(0..150, 8));
    let dir = tempfile::tempdir().unwrap();

    let group = unique("g");
    let p = seed_pipeline(dir.path(), &uri, &topic)
        .group(&group)
        .write();
    let log = run_ok(&p, 3.0);
    let write = field(&log, "Consuming.", "write");
    assert_eq!(write.as_deref(), Some("Upsert"), "{log}");
    assert_eq!(wait_count(&uri, None, &topic, 150), 150);

    // A restart in the same group resumes after the committed offsets: nothing is read again.
    produce(&topic, &articles(150..160, 8));
    assert_summary(&run_ok(&p, 3.0), "records_in=10");

    // A new group replays the whole topic: upserts leave one row per key.
    let p = seed_pipeline(dir.path(), &uri, &topic)
        .group(&unique("g2"))
        .write();
    assert_summary(&run_ok(&p, 3.0), "records_in=160 rows_written=160");
    assert_eq!(wait_count(&uri, None, &topic, 160), 160);
}

#[test]
fn auto_id_collection_gets_inserts() {
    let (uri, topic) = (milvus(), unique("e2e_autoid"));
    admin(
        &uri,
        None,
        &["create-seed", "--collection", &topic, "--auto-id", "--drop"],
    );
    produce(&topic, &articles(0..120, 8));
    let dir = tempfile::tempdir().unwrap();
    // The rename transform drops the id: Milvus generates one per row.
    let config = "exclude = [\"id\"]\nvectors = [\"title_vector\"]";
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::RENAME)
        .transform_config(config)
        .milvus(&uri, &topic)
        .write();
    let log = run_ok(&p, 3.0);
    let write = field(&log, "Consuming.", "write");
    assert_eq!(write.as_deref(), Some("Insert"), "{log}");
    assert_eq!(wait_count(&uri, None, &topic, 120), 120);
    let rows = query_all(&uri, None, &topic);
    let mut titles: Vec<&str> = rows.iter().map(|r| r["title"].as_str().unwrap()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 120, "each record once");
}

#[test]
fn rows_that_break_the_schema_are_reported_and_good_rows_written() {
    let (uri, topic) = (milvus(), unique("e2e_schema"));
    create_seed(&uri, &topic);
    let mut records = articles(0..40, 8);
    let mut bad = |id: i64, f: &dyn Fn(&mut Json)| {
        let mut a = article(id, 8);
        f(&mut a);
        records.insert(
            id as usize % 37,
            (id.to_string(), a.to_string().into_bytes()),
        );
    };
    bad(1001, &|a| {
        a["title_vector"] = serde_json::json!([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    });
    bad(1002, &|a| a["title"] = Json::String("x".repeat(600)));
    bad(1003, &|a| {
        a["title_vector"] = serde_json::json!(["a", 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    });
    produce(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let p = seed_pipeline(dir.path(), &uri, &topic).write();
    let log = run_ok(&p, 3.0);
    assert_summary(&log, "records_in=43 rows_written=40 skipped=0 failed=3");
    assert!(
        log.contains("field `title_vector`") && log.contains("got 7"),
        "wrong dimension not explained: {log}"
    );
    assert!(
        log.contains("field `title`") && log.contains("512"),
        "over-long VarChar not explained: {log}"
    );
    // The seed transform hands the vector over as its JSON text: the host's
    // check refuses a string in it, naming the field and what it found.
    assert!(
        log.contains(
            "the float-vector-json is not a JSON array of numbers: expected a number at character 2"
        ),
        "string in the vector not explained: {log}"
    );
    assert!(!log.contains("class=\"transform_error\""), "{log}");
    assert_eq!(wait_count(&uri, None, &topic, 40), 40);
    let ids: Vec<i64> = query_all(&uri, None, &topic)
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (0..40).collect::<Vec<_>>());
}

#[test]
fn authorization_right_token_works_wrong_token_fails_fast() {
    let (uri, topic) = (milvus_auth(), unique("e2e_auth"));
    admin(
        &uri,
        Some("root:Milvus"),
        &["create-seed", "--collection", &topic, "--drop"],
    );
    produce(&topic, &articles(0..50, 8));
    let dir = tempfile::tempdir().unwrap();
    let p = seed_pipeline(dir.path(), &uri, &topic)
        .sink("token = \"${KMV_TEST_TOKEN}\"")
        .write();

    let started = std::time::Instant::now();
    let out = run_host(&p, 3.0, &[("KMV_TEST_TOKEN", "root:NotThePassword")]);
    let log = text(&out);
    assert!(
        !out.status.success(),
        "a wrong token must stop the pipeline: {log}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        log.to_lowercase().contains("token"),
        "the message should point at the token: {log}"
    );
    assert!(
        !log.contains("NotThePassword"),
        "the token leaked into the output: {log}"
    );

    let out = run_host(&p, 3.0, &[("KMV_TEST_TOKEN", "root:Milvus")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("root:Milvus"),
        "the token leaked into the output"
    );
    assert_eq!(wait_count(&uri, Some("root:Milvus"), &topic, 50), 50);
}
