//! `[sink.create]`: a missing collection is created (REST v1 on the real
//! Milvus 2.3.5, in the one shape v1 can create; REST v2 against the
//! stand-in, with any schema), rows then flow into it; a collection that
//! exists with another schema is never changed, and the error names the
//! differences.

mod common;

use common::*;
use serde_json::json;

/// The seed tutorial's rows into a v1-creatable collection: Int64 auto-id
/// key, one FloatVector, the other keys in the dynamic field.
#[test]
fn a_missing_collection_is_created_on_rest_v1_and_filled() {
    let uri = milvus();
    let collection = unique("create_v1");
    let topic = unique("create_v1");
    let records: Vec<(String, Vec<u8>)> = (0..30)
        .map(|id| {
            let mut a = article(id, 8);
            a.as_object_mut().unwrap().remove("id");
            a["n"] = json!(id);
            (id.to_string(), a.to_string().into_bytes())
        })
        .collect();
    produce(&topic, &records);
    let dir = tempfile::tempdir().unwrap();
    let create = r#"
[sink.create]
primary_key = "pk"
auto_id = true
dynamic_fields = true
fields = [
  { name = "pk", type = "Int64" },
  { name = "title_vector", type = "FloatVector", dim = 8 },
]
indexes = [{ field = "title_vector", metric = "COSINE" }]
"#;
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::PASSTHROUGH)
        .milvus(&uri, &collection)
        .sink("api = \"v1\"")
        .tables(create)
        .write();
    let log = run_ok(&p, 3.0);
    assert!(
        log.contains("Created the collection from [sink.create]."),
        "{log}"
    );
    assert_summary(&log, "records_in=30 rows_written=30 failed=0");
    assert_eq!(wait_count(&uri, None, &collection, 30), 30);
    let rows = query_all(&uri, None, &collection);
    let mut ns: Vec<i64> = rows.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..30).collect::<Vec<_>>());
    // A second run finds it as described: no change, no error.
    let log = run_ok(&p, 2.0);
    assert!(!log.contains("Created the collection"), "{log}");
    admin(&uri, None, &["drop", "--collection", &collection]);
}

fn start_error(p: &std::path::Path) -> String {
    let out = run_host(p, 2.0, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    text(&out)
}

/// What v1 cannot create is refused at start, saying what it can; a
/// collection that exists with another schema is named with each
/// difference, and left as it is.
#[test]
fn what_cannot_be_created_or_differs_is_refused_at_start() {
    let uri = milvus();
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("create_refused");
    create_topic(&topic, 1);
    let missing = unique("create_rich");
    let rich = r#"
[sink.create]
primary_key = "id"
fields = [
  { name = "id", type = "VarChar", max_length = 64 },
  { name = "tags", type = "Array", element = "VarChar", max_capacity = 4, max_length = 16 },
  { name = "v", type = "FloatVector", dim = 8 },
]
"#;
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &missing)
        .sink("api = \"v1\"")
        .tables(rich)
        .write();
    let said = start_error(&p);
    assert!(
        said.contains("REST v1 (Milvus 2.3) creates only an Int64 auto-id primary key"),
        "{said}"
    );

    let seed = unique("create_differs");
    create_seed(&uri, &seed);
    let differs = r#"
[sink.create]
primary_key = "id"
fields = [
  { name = "id", type = "Int64" },
  { name = "title", type = "VarChar", max_length = 512 },
  { name = "title_vector", type = "FloatVector", dim = 16 },
]
"#;
    let p = PipelineFile::new(dir.path())
        .group(&unique("g"))
        .topic(&topic)
        .module(kmv_test_artifacts::SEED)
        .milvus(&uri, &seed)
        .tables(differs)
        .write();
    let said = start_error(&p);
    for want in [
        "exists with another schema than [sink.create] describes (kmv-host never changes a collection)",
        "field `title_vector` is FloatVector dim 8 in the collection, FloatVector dim 16 in [sink.create]",
        "field `link` (VarChar(max_length 512)) is in the collection, not in [sink.create]",
    ] {
        assert!(said.contains(want), "{want:?} not in {said}");
    }
    let described = admin(&uri, None, &["describe", "--collection", &seed]);
    assert!(
        described.contains("\"dim\": 8") || described.contains("\"dim\":8"),
        "{described}"
    );
}

/// Over REST v2 any schema can be created: a VarChar key, an Array, a
/// nullable field, JSON, dynamic fields.
#[test]
fn a_missing_collection_is_created_on_rest_v2() {
    let server = RestV2::start("2.6");
    let topic = unique("create_v2");
    let records: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            let v = json!({"key": format!("k{i}"), "tags": ["a"], "meta": {"i": i},
                           "v": [0.5, 0.25], "note": null, "extra": i});
            (i.to_string(), v.to_string().into_bytes())
        })
        .collect();
    produce(&topic, &records);
    let dir = tempfile::tempdir().unwrap();
    let create = r#"
[sink.create]
primary_key = "key"
dynamic_fields = true
fields = [
  { name = "key", type = "VarChar", max_length = 16 },
  { name = "tags", type = "Array", element = "VarChar", max_capacity = 4, max_length = 8 },
  { name = "meta", type = "JSON" },
  { name = "v", type = "FloatVector", dim = 2 },
  { name = "note", type = "VarChar", max_length = 8, nullable = true },
]
indexes = [{ field = "v", metric = "L2" }]
"#;
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::PASSTHROUGH)
        .milvus(&server.uri, "made")
        .sink("api = \"v2\"")
        .tables(create)
        .errors("policy = \"stop\"")
        .write();
    let log = run_ok(&p, 3.0);
    assert_summary(&log, "records_in=5 rows_written=5 failed=0");
    let described = server.post(
        "/v2/vectordb/collections/describe",
        json!({"collectionName": "made"}),
    );
    assert_eq!(described["data"]["enableDynamicField"], true, "{described}");
    let mut rows = server.rows("made");
    rows.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows[0]["key"], "k0");
    assert_eq!(rows[0]["tags"], json!(["a"]));
    assert_eq!(rows[0]["extra"], 0, "{}", rows[0]);
}
