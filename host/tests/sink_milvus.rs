//! The Milvus sink against a real Milvus 2.3.5 (REST v1).
//!
//! Needs the test services (see tests/services/README.md):
//!
//! ```sh
//! tests/services/install.sh
//! tests/services/milvus.sh start                       # KMV_MILVUS_URI, default http://127.0.0.1:19530
//! tests/services/milvus.sh start --port 19560 --auth   # KMV_MILVUS_AUTH_URI, default http://127.0.0.1:19560
//! cargo test -p kmv-host --test sink_milvus
//! tests/services/milvus.sh stop; tests/services/milvus.sh stop --port 19560
//! ```
//!
//! Every test fails (never passes silently) when its server does not answer.
//! Each test uses its own collection and drops it at the end.

mod common;

use common::{admin, milvus, milvus_auth, try_admin, unique};
use kmv_host::sink::{
    FailureClass, MilvusSink, PushRefusal, RestApi, SinkConfig, SinkError, WriteError, WriteOp,
};
use kmv_host::transform::{Field, Value};
use std::time::Duration;

const DIM: usize = 8;
const AUTH_TOKEN: &str = "root:Milvus";

/// Fails the test, saying how to start the server, unless Milvus answers
/// REST v1 at `uri` (with code 200, or HTTP 401 for an auth server asked
/// without a token).
async fn require_milvus(uri: &str, auth: bool) {
    let how = if auth {
        format!(
            "start it with `tests/services/install.sh && tests/services/milvus.sh start --port 19560 --auth` (or set KMV_MILVUS_AUTH_URI; now {uri})"
        )
    } else {
        format!(
            "start it with `tests/services/install.sh && tests/services/milvus.sh start` (or set KMV_MILVUS_URI; now {uri})"
        )
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let answer = client
        .get(format!("{uri}/v1/vector/collections"))
        .send()
        .await;
    match answer {
        Ok(r) if r.status().as_u16() == 401 && auth => {}
        Ok(r) if r.status().is_success() => {
            let body = r.text().await.unwrap_or_default();
            assert!(
                body.contains("\"code\":200"),
                "{uri} answers, but not as Milvus REST v1 ({body}); {how}"
            );
            assert!(
                !auth,
                "{uri} answers without a token: it is not a Milvus with auth on; {how}"
            );
        }
        Ok(r) => panic!(
            "{uri} answered HTTP {} to GET /v1/vector/collections; {how}",
            r.status()
        ),
        Err(e) => panic!("no Milvus answers at {uri} ({e}); {how}"),
    }
}

/// Drops the collection when the test ends, pass or fail.
struct Collection {
    name: String,
    uri: String,
    token: Option<&'static str>,
}

impl Collection {
    fn seed(test: &str, uri: &str, token: Option<&'static str>, extra: &[&str]) -> Self {
        let name = unique(test);
        let dim = DIM.to_string();
        let mut args = vec!["create-seed", "--collection", &name, "--dim", &dim];
        args.extend_from_slice(extra);
        admin(uri, token, &args);
        Collection {
            name,
            uri: uri.into(),
            token,
        }
    }

    fn from_schema(test: &str, schema: &str, extra: &[&str]) -> Self {
        let name = unique(test);
        let file = std::env::temp_dir().join(format!("{name}.json"));
        std::fs::write(&file, schema).unwrap();
        let path = file.to_str().unwrap().to_string();
        let mut args = vec!["create", "--collection", &name, "--schema", &path];
        args.extend_from_slice(extra);
        admin(&milvus(), None, &args);
        std::fs::remove_file(&file).ok();
        Collection {
            name,
            uri: milvus(),
            token: None,
        }
    }

    fn expect_count(&self, n: usize) {
        let n = n.to_string();
        admin(
            &self.uri,
            self.token,
            &[
                "count",
                "--collection",
                &self.name,
                "--expect",
                &n,
                "--timeout",
                "20",
            ],
        );
    }

    /// Rows as JSON, sorted by primary key.
    fn query(&self, fields: &str) -> Vec<serde_json::Value> {
        admin(
            &self.uri,
            self.token,
            &["query", "--collection", &self.name, "--fields", fields],
        )
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    }
}

impl Drop for Collection {
    fn drop(&mut self) {
        // Best effort: a failed drop must not hide the test's own failure.
        let _ = try_admin(&self.uri, self.token, &["drop", "--collection", &self.name]);
    }
}

fn config(uri: &str, collection: &str, extra: &str) -> SinkConfig {
    toml::from_str(&format!(
        "endpoint = \"{uri}\"\ncollection = \"{collection}\"\nrequest_timeout_ms = 10000\n{extra}"
    ))
    .unwrap()
}

fn f(name: &str, value: Value) -> Field {
    Field {
        name: name.into(),
        value,
    }
}

/// A row of the seed collection; `id` is left out on auto-id collections.
fn seed_row(id: Option<i64>, title: &str, dim: usize) -> Vec<Field> {
    let mut row = Vec::new();
    if let Some(id) = id {
        row.push(f("id", Value::Int64(id)));
    }
    let seed = id.unwrap_or(1) as f32;
    row.extend([
        f("title", Value::Varchar(title.into())),
        f(
            "title_vector",
            Value::FloatVector((0..dim).map(|i| seed + i as f32 / 10.0).collect()),
        ),
        f(
            "link",
            Value::Varchar(format!("https://example.com/{title}")),
        ),
    ]);
    row
}

/// Encodes `rows` into one batch (tags: the row index) and writes it.
async fn write_rows(sink: &MilvusSink, rows: &[Vec<Field>]) -> kmv_host::sink::WriteOk {
    let mut b = sink.batch_builder::<usize>();
    for (i, row) in rows.iter().enumerate() {
        b.push(sink.encoder().encode(row).unwrap(), i).unwrap();
    }
    let batch = b.take().unwrap();
    assert_eq!(batch.tags, (0..rows.len()).collect::<Vec<_>>());
    sink.write(&batch.body).await.unwrap()
}

#[tokio::test]
async fn connect_detects_v1_and_reads_the_schema() {
    require_milvus(&milvus(), false).await;
    let c = Collection::seed("describe", &milvus(), None, &[]);
    let sink = MilvusSink::connect(&config(&milvus(), &c.name, ""))
        .await
        .unwrap();
    assert_eq!(sink.api(), RestApi::V1, "Milvus 2.3.5 speaks REST v1 only");
    assert_eq!(sink.write_op(), WriteOp::Upsert, "auto + primary key");
    let s = sink.schema();
    assert_eq!(s.name, c.name);
    assert_eq!(s.primary, "id");
    assert!(!s.auto_id && !s.dynamic);
    assert_eq!(s.loaded, Some(true));
    let names: Vec<_> = s.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "title", "title_vector", "link"]);
    assert_eq!(
        s.field("title_vector").unwrap().data_type.to_string(),
        "FloatVector dim 8"
    );
    assert_eq!(
        s.field("title").unwrap().data_type.to_string(),
        "VarChar(max_length 512)"
    );
}

#[tokio::test]
async fn insert_into_an_auto_id_collection() {
    require_milvus(&milvus(), false).await;
    let c = Collection::seed("autoid", &milvus(), None, &["--auto-id"]);
    let sink = MilvusSink::connect(&config(&milvus(), &c.name, ""))
        .await
        .unwrap();
    assert_eq!(sink.write_op(), WriteOp::Insert);
    let rows: Vec<_> = (0..5)
        .map(|i| seed_row(None, &format!("t{i}"), DIM))
        .collect();
    let ok = write_rows(&sink, &rows).await;
    assert_eq!(ok.rows, 5);
    assert_eq!(ok.ids.len(), 5, "Milvus reports the generated ids");
    c.expect_count(5);

    // Setting the key on an auto-id collection is refused before sending.
    let err = sink
        .encoder()
        .encode(&seed_row(Some(1), "x", DIM))
        .unwrap_err();
    assert_eq!(
        err.reason,
        "field `id`: primary key must not be set on an auto-id collection (Milvus generates it)"
    );
    // And upsert is refused at connect.
    let err = MilvusSink::connect(&config(&milvus(), &c.name, "write_mode = \"upsert\""))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::UpsertOnAutoId { .. }), "{err}");
}

#[tokio::test]
async fn upsert_replay_leaves_no_duplicates() {
    require_milvus(&milvus(), false).await;
    let c = Collection::seed("upsert", &milvus(), None, &[]);
    let sink = MilvusSink::connect(&config(&milvus(), &c.name, ""))
        .await
        .unwrap();
    assert_eq!(sink.write_op(), WriteOp::Upsert);
    let first: Vec<_> = (0..10).map(|i| seed_row(Some(i), "old", DIM)).collect();
    let ok = write_rows(&sink, &first).await;
    assert_eq!(ok.rows, 10);
    c.expect_count(10);

    // A replay of the same records (a restart before the offsets were
    // committed), with newer values for half of them.
    let replay: Vec<_> = (0..10)
        .map(|i| seed_row(Some(i), if i < 5 { "new" } else { "old" }, DIM))
        .collect();
    write_rows(&sink, &replay).await;
    c.expect_count(10);
    let rows = c.query("id,title");
    assert_eq!(rows.len(), 10);
    for row in &rows {
        let id = row["id"].as_i64().unwrap();
        assert_eq!(row["title"], if id < 5 { "new" } else { "old" }, "{row}");
    }

    // One key twice in one batch: Milvus 2.3 would store both. The builder
    // refuses the second; written in the next batch, the later row wins.
    let mut b = sink.batch_builder::<&str>();
    let a = sink.encoder().encode(&seed_row(Some(3), "a", DIM)).unwrap();
    let again = sink
        .encoder()
        .encode(&seed_row(Some(3), "latest", DIM))
        .unwrap();
    b.push(a, "record a").unwrap();
    let refused = b.push(again, "record b").unwrap_err();
    assert_eq!(
        refused.refusal,
        PushRefusal::DuplicateKey {
            key: kmv_host::sink::PrimaryKey::Int(3)
        }
    );
    assert_eq!(
        refused.to_string(),
        "primary key 3 is already in this batch"
    );
    sink.write(&b.take().unwrap().body).await.unwrap();
    b.push(refused.row, refused.tag).unwrap();
    let batch = b.take().unwrap();
    assert_eq!(batch.tags, ["record b"]);
    sink.write(&batch.body).await.unwrap();
    c.expect_count(10);
    let rows = c.query("id,title");
    let three = rows.iter().find(|r| r["id"] == 3).unwrap();
    assert_eq!(three["title"], "latest");
}

#[tokio::test]
async fn bad_rows_are_refused_with_field_and_reason_good_rows_are_written() {
    require_milvus(&milvus(), false).await;
    let c = Collection::seed("badrows", &milvus(), None, &[]);
    let sink = MilvusSink::connect(&config(&milvus(), &c.name, ""))
        .await
        .unwrap();
    let mut too_long = seed_row(Some(4), "x", DIM);
    too_long[1].value = Value::Varchar("é".repeat(300));
    let mut number_title = seed_row(Some(5), "x", DIM);
    number_title[1].value = Value::Int64(5);
    let mut extra = seed_row(Some(6), "x", DIM);
    extra.push(f("extra", Value::Int64(1)));
    let candidates = vec![
        (seed_row(Some(1), "good1", DIM), None),
        (
            seed_row(Some(2), "short", DIM - 1),
            Some((
                "title_vector",
                "field `title_vector`: expected 8 values (FloatVector dim 8), got 7",
            )),
        ),
        (seed_row(Some(3), "good3", DIM), None),
        (
            too_long,
            Some((
                "title",
                "field `title`: 600 bytes, over VarChar max_length 512",
            )),
        ),
        (
            number_title,
            Some((
                "title",
                "field `title`: expected VarChar(max_length 512), got int64",
            )),
        ),
        (
            extra,
            Some((
                "extra",
                // The collection name is unique per run; checked by prefix.
                "field `extra`: not in collection `",
            )),
        ),
        (
            seed_row(None, "nokey", DIM),
            Some(("id", "field `id`: missing primary key")),
        ),
    ];
    let mut batch = sink.batch_builder::<usize>();
    for (i, (row, want)) in candidates.into_iter().enumerate() {
        match (sink.encoder().encode(&row), want) {
            (Ok(encoded), None) => batch.push(encoded, i).unwrap(),
            (Err(e), Some((field, reason))) => {
                assert_eq!(e.field.as_deref(), Some(field));
                assert!(e.reason.starts_with(reason), "{}", e.reason);
            }
            (got, want) => panic!("row {i}: got {got:?}, want {want:?}"),
        }
    }
    let batch = batch.take().unwrap();
    assert_eq!(batch.tags, [0, 2]);
    let ok = sink.write(&batch.body).await.unwrap();
    assert_eq!(ok.rows, 2);
    c.expect_count(2);
    let ids: Vec<_> = c
        .query("id")
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 3]);
}

/// A body the server itself refuses (rows built for dim 8, collection of
/// dim 4): a Rejected outcome with Milvus' code, not a retry.
#[tokio::test]
async fn a_batch_milvus_refuses_is_rejected_not_retried() {
    require_milvus(&milvus(), false).await;
    let wide = Collection::seed("wide", &milvus(), None, &[]);
    let narrow = Collection::seed("narrow", &milvus(), None, &["--dim", "4"]);
    let wide_sink = MilvusSink::connect(&config(&milvus(), &wide.name, ""))
        .await
        .unwrap();
    let narrow_sink = MilvusSink::connect(&config(&milvus(), &narrow.name, ""))
        .await
        .unwrap();
    // Rows checked against the wide schema, addressed to the narrow collection.
    let mut b = narrow_sink.batch_builder::<()>();
    b.push(
        wide_sink
            .encoder()
            .encode(&seed_row(Some(1), "x", DIM))
            .unwrap(),
        (),
    )
    .unwrap();
    let err = narrow_sink
        .write(&b.take().unwrap().body)
        .await
        .unwrap_err();
    assert_eq!(err.class(), FailureClass::Rejected, "{err}");
    assert!(
        matches!(&err, WriteError::Rejected { code: 1804, message } if message.contains("dimension")),
        "{err:?}"
    );
    assert!(!narrow_sink.retry_policy().should_retry(&err));
}

#[tokio::test]
async fn a_missing_collection_is_a_clear_error() {
    require_milvus(&milvus(), false).await;
    let other = Collection::seed("present", &milvus(), None, &[]);
    let missing = unique("missing");
    let err = MilvusSink::connect(&config(&milvus(), &missing, ""))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "collection `{missing}` does not exist in database `default` at {} (it has: ",
            milvus()
        )),
        "{text}"
    );
    // The list is cut after 20 names; other tests' collections may come first.
    assert!(
        text.contains(&format!("`{}`", other.name)) || text.contains(" more); create it first"),
        "{text}"
    );
    assert!(text.ends_with("; create it first"), "{text}");
}

/// Insert and full upsert need no loaded collection (no load check in the
/// insert task: v2.5.27 internal/proxy/task_insert.go; in v2.6.20 only a
/// `partialUpdate` upsert reads existing rows, internal/proxy/task_upsert.go:
/// 1639-1648), and a collection without an index cannot be loaded at all: so
/// "stream first, index and load later" works, with a warning at connect.
#[tokio::test]
async fn a_collection_that_is_not_loaded_is_written_to() {
    require_milvus(&milvus(), false).await;
    let c = Collection::from_schema(
        "unloaded",
        r#"{"fields": [{"name": "id", "type": "Int64", "primary": true},
                       {"name": "v", "type": "FloatVector", "params": {"dim": 2}}]}"#,
        &["--no-load"],
    );
    let sink = MilvusSink::connect(&config(&milvus(), &c.name, ""))
        .await
        .unwrap();
    assert_eq!(sink.schema().loaded, Some(false));
    let rows: Vec<Vec<Field>> = (0..3)
        .map(|i| {
            vec![
                f("id", Value::Int64(i)),
                f("v", Value::FloatVector(vec![0.5, i as f32])),
            ]
        })
        .collect();
    assert_eq!(write_rows(&sink, &rows).await.rows, 3);
}

/// Milvus 2.3.5's REST v1 answers code 1100 for every insert into a
/// collection with a JSON field: refused at connect, naming the field.
#[tokio::test]
async fn a_json_field_on_rest_v1_is_refused_at_connect() {
    require_milvus(&milvus(), false).await;
    let c = Collection::from_schema(
        "json",
        r#"{"fields": [{"name": "id", "type": "Int64", "primary": true},
                       {"name": "v", "type": "FloatVector", "params": {"dim": 2}},
                       {"name": "meta", "type": "JSON"}]}"#,
        &[],
    );
    let err = MilvusSink::connect(&config(&milvus(), &c.name, ""))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::UnsupportedOnV1 { .. }), "{err}");
    assert!(err.to_string().contains("field `meta` (JSON)"), "{err}");
}

#[tokio::test]
async fn api_v2_on_milvus_2_3_is_a_clear_error() {
    require_milvus(&milvus(), false).await;
    let c = Collection::seed("v2", &milvus(), None, &[]);
    let err = MilvusSink::connect(&config(&milvus(), &c.name, "api = \"v2\""))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not answer REST v2 (HTTP 404 for /v2/vectordb/collections/describe); Milvus 2.3 speaks only REST v1: set sink.api = \"v1\" or \"auto\"",
            milvus()
        )
    );
    // api = "v1" skips detection.
    let sink = MilvusSink::connect(&config(&milvus(), &c.name, "api = \"v1\""))
        .await
        .unwrap();
    assert_eq!(sink.api(), RestApi::V1);
}

#[tokio::test]
async fn auth_right_token_writes() {
    let uri = milvus_auth();
    require_milvus(&uri, true).await;
    let c = Collection::seed("auth", &uri, Some(AUTH_TOKEN), &[]);
    let sink = MilvusSink::connect(&config(&uri, &c.name, &format!("token = \"{AUTH_TOKEN}\"")))
        .await
        .unwrap();
    assert!(!format!("{sink:?}").contains(AUTH_TOKEN));
    let rows: Vec<_> = (0..3).map(|i| seed_row(Some(i), "t", DIM)).collect();
    assert_eq!(write_rows(&sink, &rows).await.rows, 3);
    c.expect_count(3);
}

#[tokio::test]
async fn auth_wrong_or_missing_token_fails_fast_and_never_shows_it() {
    let uri = milvus_auth();
    require_milvus(&uri, true).await;
    let c = Collection::seed("authbad", &uri, Some(AUTH_TOKEN), &[]);
    let wrong = "root:Wr0ngPassw0rd";
    let err = MilvusSink::connect(&config(&uri, &c.name, &format!("token = \"{wrong}\"")))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Auth { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "Milvus at {uri} refused the token (check sink.token)"
        )),
        "{text}"
    );
    for shown in [text, format!("{err:?}")] {
        assert!(!shown.contains("Wr0ngPassw0rd"), "{shown}");
    }
    let err = MilvusSink::connect(&config(&uri, &c.name, ""))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Auth { .. }), "{err:?}");
}
