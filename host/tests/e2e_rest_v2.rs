//! The pipeline end to end (tansu, kmv-host, a transform) into Milvus 2.4,
//! 2.5, 2.6 and 3.0 over REST v2, for a collection with every field type the
//! release has, including those REST v1 on 2.3.5 cannot insert (JSON,
//! Array, Float16/BFloat16, sparse, nullable and default fields, dynamic
//! fields, a partition key, a function output; Int8Vector, Timestamptz and
//! Geometry from 2.6; a nullable struct-array field on 3.0).
//!
//! No Milvus 2.4+ server runs here: the server is the stand-in
//! `tests/services/milvus_v2.py`, which decodes and stores what it is sent
//! by the rules of Milvus's own REST v2 handler at each release (its header
//! cites release, file and line). What is read back is what Milvus would
//! have stored: a dynamic `1e-6` written without a `.` would read back as 0,
//! a Float16 vector sent as a JSON array would be refused by 2.4.

mod common;

use common::*;
use serde_json::{Value as Json, json};

/// Release lines and what each adds.
const RELEASES: [&str; 4] = ["2.4", "2.5", "2.6", "3.0"];

fn field(name: &str, data_type: &str, params: Json) -> Json {
    json!({"fieldName": name, "dataType": data_type, "elementTypeParams": params})
}

/// The schema for `release`: every type it has.
fn schema(release: &str) -> Json {
    let at_least = |v: &str| release >= v;
    let mut fields = vec![
        json!({"fieldName": "id", "dataType": "Int64", "isPrimary": true}),
        field("title", "VarChar", json!({"max_length": "64"})),
        json!({"fieldName": "tenant", "dataType": "VarChar", "isPartitionKey": true,
               "elementTypeParams": {"max_length": "16"}}),
        field("small", "Int8", json!({})),
        field("score", "Float", json!({})),
        field("weight", "Double", json!({})),
        field("flag", "Bool", json!({})),
        field("meta", "JSON", json!({})),
        json!({"fieldName": "tags", "dataType": "Array", "elementDataType": "VarChar",
               "elementTypeParams": {"max_capacity": "4", "max_length": "16"}}),
        field("v", "FloatVector", json!({"dim": "4"})),
        field("h", "Float16Vector", json!({"dim": "4"})),
        field("bh", "BFloat16Vector", json!({"dim": "4"})),
        field("bin", "BinaryVector", json!({"dim": "16"})),
        field("sparse", "SparseFloatVector", json!({})),
    ];
    if at_least("2.5") {
        fields.push(
            json!({"fieldName": "note", "dataType": "VarChar", "nullable": true,
                           "elementTypeParams": {"max_length": "32"}}),
        );
        fields.push(json!({"fieldName": "count", "dataType": "Int32", "defaultValue": 7}));
        fields.push(json!({"fieldName": "bm25", "dataType": "SparseFloatVector",
                           "isFunctionOutput": true}));
    }
    if at_least("2.6") {
        fields.push(field("i8v", "Int8Vector", json!({"dim": "4"})));
        fields.push(field("at", "Timestamptz", json!({})));
        fields.push(field("shape", "Geometry", json!({})));
        // A text-embedding function's output (2.6+): Milvus computes it.
        fields.push(json!({"fieldName": "emb", "dataType": "FloatVector",
                           "isFunctionOutput": true, "elementTypeParams": {"dim": "4"}}));
    }
    let mut schema = json!({"autoId": false, "enableDynamicField": true, "fields": fields});
    if at_least("3.0") {
        schema["structFields"] = json!([{"fieldName": "chunks", "nullable": true}]);
    }
    schema
}

/// Record `id` for `release`: every field set (some left out on purpose),
/// plus dynamic keys.
fn record(id: i64, release: &str) -> Json {
    let tenant = ["a", "b"][id as usize % 2];
    let mut r = json!({
        "id": id, "title": format!("t{id}"), "tenant": tenant,
        "small": -128 + id, "score": 0.25, "weight": 1.0e-300, "flag": id % 2 == 0,
        "meta": {"k": id, "nested": [1, 2]}, "tags": ["x", "y"],
        "v": [0.5, -1.0, 2.0, id as f64],
        "h": [0.5, -1.0, 2.0, 1024.0], "bh": [0.5, -1.0, 2.0, 3.0e38],
        "bin": [1, 128], "sparse": {"3": 0.5, "1000": 1.5},
        // Dynamic keys: doubles without a '.' in their shortest form.
        "tiny": 1e-6, "huge": 2e20, "plain": 3
    });
    if release >= "2.5" && id % 2 == 0 {
        r["note"] = json!(format!("n{id}"));
        r["count"] = json!(id);
    }
    if release >= "2.6" {
        r["i8v"] = json!([-128, 0, 1, 127]);
        r["at"] = json!("2026-12-04T11:00:00+01:00");
        r["shape"] = json!(format!("POINT ({id} 1)"));
    }
    r
}

fn close(got: &Json, want: &[f64], tolerance: f64) -> bool {
    got.as_array().is_some_and(|g| {
        g.len() == want.len()
            && g.iter().zip(want).all(|(g, w)| {
                g.as_f64()
                    .is_some_and(|g| (g - w).abs() <= tolerance * w.abs().max(1.0))
            })
    })
}

/// What the stand-in stored for record `id` is what was produced.
fn check_row(row: &Json, id: i64, release: &str) {
    let want = record(id, release);
    for key in [
        "title", "tenant", "small", "score", "flag", "tags", "meta", "plain",
    ] {
        assert_eq!(row[key], want[key], "{release} id {id} `{key}`: {row}");
    }
    assert_eq!(row["weight"].as_f64(), Some(1.0e-300), "{row}");
    assert!(close(&row["v"], &[0.5, -1.0, 2.0, id as f64], 0.0), "{row}");
    assert!(
        close(&row["h"], &[0.5, -1.0, 2.0, 1024.0], 1e-3),
        "{release} h: {row}"
    );
    assert!(
        close(&row["bh"], &[0.5, -1.0, 2.0, 3.0e38], 1e-2),
        "{release} bh: {row}"
    );
    // Milvus would have stored the two dynamic doubles as 0 without the '.'.
    assert_eq!(row["tiny"].as_f64(), Some(1e-6), "{release} tiny: {row}");
    assert_eq!(row["huge"].as_f64(), Some(2e20), "{release} huge: {row}");
    if release >= "2.5" {
        let (note, count) = if id % 2 == 0 {
            (json!(format!("n{id}")), json!(id))
        } else {
            (Json::Null, json!(7))
        };
        assert_eq!((&row["note"], &row["count"]), (&note, &count), "{row}");
    }
    if release >= "2.6" {
        assert_eq!(row["i8v"], json!([-128, 0, 1, 127]), "{row}");
        assert_eq!(row["at"], want["at"], "{row}");
        assert_eq!(row["shape"], want["shape"], "{row}");
    }
}

#[test]
fn every_field_type_of_each_release_is_stored_as_sent() {
    let n = 20i64;
    for release in RELEASES {
        let server = RestV2::start(release);
        let collection = "every";
        let created = server.post(
            "/v2/vectordb/collections/create",
            json!({"collectionName": collection, "schema": schema(release)}),
        );
        assert_eq!(created["code"], 0, "{release}: {created}");
        let topic = unique(&format!("rest_v2_{}", release.replace('.', "_")));
        create_topic(&topic, 1);
        let records: Vec<(String, Vec<u8>)> = (0..n)
            .map(|id| (id.to_string(), record(id, release).to_string().into_bytes()))
            .collect();
        produce(&topic, &records);
        let dir = tempfile::tempdir().unwrap();
        let p = PipelineFile::new(dir.path())
            .topic(&topic)
            .module(kmv_test_artifacts::EVERY_TYPE)
            .milvus(&server.uri, collection)
            .sink("api = \"v2\"\nbatch_max_rows = 8")
            .errors("policy = \"stop\"")
            .write();
        let log = run_ok(&p, 3.0);
        assert_summary(&log, &format!("records_in={n} rows_written={n}"));
        let rows = server.rows(collection);
        assert_eq!(rows.len(), n as usize, "{release}: {log}");
        for (id, row) in rows.iter().enumerate() {
            check_row(row, id as i64, release);
        }
    }
}

/// 2.4 reads Float16/BFloat16 only as base64 bytes: the stand-in refuses a
/// JSON array there (1804), as `json.Unmarshal` into []byte does (v2.4.23
/// H/utils.go:289-311); kmv-host's rows are taken (the test above).
#[test]
fn release_2_4_refuses_half_precision_as_a_float_array() {
    let server = RestV2::start("2.4");
    let created = server.post(
        "/v2/vectordb/collections/create",
        json!({"collectionName": "h", "schema": {"autoId": false, "enableDynamicField": false,
               "fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": true},
                          field("h", "Float16Vector", json!({"dim": "2"}))]}}),
    );
    assert_eq!(created["code"], 0, "{created}");
    let answer = server.post(
        "/v2/vectordb/entities/insert",
        json!({"collectionName": "h", "data": [{"id": 1, "h": [0.5, 1.0]}]}),
    );
    assert_eq!(answer["code"], 1804, "{answer}");
}

/// The stand-in's own checks of the handler's rules (each version, each
/// field type, the error codes): the fixture the tests above trust.
#[test]
fn the_stand_in_passes_its_selftest() {
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/services/milvus_v2_selftest.py"))
        .output()
        .expect("running python3 tests/services/milvus_v2_selftest.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.ends_with(" passed, 0 failed")),
        "{text}"
    );
}

/// The seed schema (table `articles`) over REST v2.
fn articles_schema() -> Json {
    json!({"autoId": false, "enableDynamicField": false, "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": true},
        field("title", "VarChar", json!({"max_length": "512"})),
        field("title_vector", "FloatVector", json!({"dim": "8"})),
        field("link", "VarChar", json!({"max_length": "512"})),
    ]})
}

fn create(server: &RestV2, collection: &str, schema: Json) {
    let created = server.post(
        "/v2/vectordb/collections/create",
        json!({"collectionName": collection, "schema": schema}),
    );
    assert_eq!(created["code"], 0, "{created}");
}

/// The delete path over REST v2: a Debezium stream (creates, updates,
/// deletes and tombstones, several per key in one batch) through the `cdc`
/// transform into each release's stand-in, which applies
/// `entities/delete` filters and refuses duplicate keys in one upsert
/// from 2.6 (v2.6.20 internal/proxy/task_upsert.go, cited in the
/// stand-in): what it holds at the end is the table.
#[test]
fn a_debezium_stream_over_rest_v2_leaves_the_table() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rng = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for release in RELEASES {
        let server = RestV2::start(release);
        let collection = format!("articles_{}", release.replace('.', "_"));
        create(&server, &collection, articles_schema());
        let topic = format!("cdc.public.{collection}_{}", unique("t"));
        let both = [Envelope::Plain, Envelope::Schema];
        let stream = Stream::random(&topic, 60, 400, &both, &mut rng);
        produce_events(&topic, &stream.events);
        let dir = tempfile::tempdir().unwrap();
        let p = PipelineFile::new(dir.path())
            .topic(&topic)
            .module(kmv_test_artifacts::CDC)
            .transform_config(&format!("collection = \"{collection}\""))
            .milvus(&server.uri, &collection)
            .sink("api = \"v2\"\nbatch_max_rows = 50")
            .errors("policy = \"stop\"")
            .write();
        let log = run_ok(&p, 3.0);
        assert!(summary(&log, "deletes") > 0, "{release}: {log}");
        let rows = server.rows(&collection);
        let got: Vec<(i64, &str)> = rows
            .iter()
            .map(|r| (r["id"].as_i64().unwrap(), r["title"].as_str().unwrap()))
            .collect();
        let want: Vec<(i64, &str)> = stream
            .table
            .values()
            .map(|a| (a.id, a.title.as_str()))
            .collect();
        assert_eq!(got, want, "{release}: {log}");
    }
}

/// Rows and deletes for named partitions (REST v2 `partitionName`): each
/// lands in, and is deleted from, its own partition.
#[test]
fn rows_and_deletes_in_named_partitions() {
    let server = RestV2::start("2.6");
    create(&server, "shelf", articles_schema());
    server.create_partition("shelf", "p1");
    server.create_partition("shelf", "p2");
    let topic = unique("rest_v2_partitions");
    let record = |id: i64, partition: &str, deleted: bool| {
        let mut v = article(id, 8);
        v["shelf"] = json!("shelf");
        v["partition"] = json!(partition);
        v["deleted"] = json!(deleted);
        (id.to_string(), v.to_string().into_bytes())
    };
    let mut records: Vec<(String, Vec<u8>)> = (0..10)
        .map(|id| record(id, if id < 5 { "p1" } else { "p2" }, false))
        .collect();
    records.push(record(1, "p1", true));
    records.push(record(7, "p2", true));
    // A delete in the wrong partition deletes nothing.
    records.push(record(2, "p2", true));
    produce(&topic, &records);
    let dir = tempfile::tempdir().unwrap();
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::ROUTER)
        .transform_config("shelves = {}")
        .milvus(&server.uri, "shelf")
        .sink("api = \"v2\"")
        .errors("policy = \"stop\"")
        .write();
    let log = run_ok(&p, 3.0);
    let ids = |partition| -> Vec<i64> {
        server
            .rows_in("shelf", Some(partition))
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids("p1"), [0, 2, 3, 4], "{log}");
    assert_eq!(ids("p2"), [5, 6, 8, 9], "{log}");
}
