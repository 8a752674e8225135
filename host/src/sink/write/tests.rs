//! `write_rows` against a local server speaking Milvus' REST v2 shapes
//! (`sink::mock`), which rejects any batch holding one of the chosen rows
//! with code 1804, as Milvus does for data it cannot take.

use super::*;
use crate::sink::SinkConfig;
use crate::sink::mock::{MockServer, Recorded};
use crate::transform::{Field, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// id Int64 primary key, v FloatVector(2) (shape of handler_v2.go's describe).
const DESCRIBE: &str = r#"{"code":0,"data":{"aliases":[],"autoId":false,"collectionID":1,"collectionName":"c","consistencyLevel":"Bounded","description":"","enableDynamicField":false,"fields":[{"autoId":false,"description":"","id":100,"name":"id","partitionKey":false,"primaryKey":true,"type":"Int64"},{"autoId":false,"description":"","id":101,"name":"v","params":[{"key":"dim","value":"2"}],"partitionKey":false,"primaryKey":false,"type":"FloatVector"}],"indexes":[],"load":"LoadStateLoaded","partitionsNum":1,"properties":[],"shardsNum":1},"message":""}"#;

/// What the server saw: the ids of each batch it took, and the size of each
/// batch it rejected.
#[derive(Default)]
struct Seen {
    accepted: Vec<Vec<i64>>,
    rejected_sizes: Vec<usize>,
}

fn ids_of(r: &Recorded) -> Vec<i64> {
    r.json()["data"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|row| row["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// A server that rejects every batch holding one of `bad`.
fn server(bad: BTreeSet<i64>, seen: Arc<Mutex<Seen>>) -> MockServer {
    server_with(seen, move |ids| {
        ids.iter().any(|id| bad.contains(id)).then(|| {
            (
                200,
                r#"{"code":1804,"message":"fail to deal the insert data"}"#.into(),
            )
        })
    })
}

/// A server that answers `refuse(ids)` to a batch when it is `Some`, and
/// takes the batch otherwise.
fn server_with(
    seen: Arc<Mutex<Seen>>,
    refuse: impl Fn(&[i64]) -> Option<(u16, String)> + Send + Sync + 'static,
) -> MockServer {
    MockServer::start(move |r: &Recorded| match r.target.as_str() {
        "/v2/vectordb/collections/describe" => (200, DESCRIBE.into()),
        path if path.starts_with("/v2/vectordb/entities/") => {
            let ids = ids_of(r);
            if let Some(answer) = refuse(&ids) {
                seen.lock().unwrap().rejected_sizes.push(ids.len());
                return answer;
            }
            let op = path.rsplit('/').next().unwrap_or("upsert");
            let body = serde_json::json!({"code": 0, "cost": 0,
                "data": {format!("{op}Count"): ids.len(), format!("{op}Ids"): ids}});
            seen.lock().unwrap().accepted.push(ids);
            (200, body.to_string())
        }
        _ => (404, "not found".into()),
    })
}

async fn sink(server: &MockServer, extra: &str) -> MilvusSink {
    let config: SinkConfig = toml::from_str(&format!(
        "endpoint = \"{}\"\napi = \"v2\"\ncollection = \"c\"\nrequest_timeout_ms = 2000\nretry_initial_backoff_ms = 1\n{extra}",
        server.url
    ))
    .unwrap();
    MilvusSink::connect(&config).await.unwrap()
}

/// Rows tagged with their id.
fn rows(sink: &MilvusSink, ids: impl IntoIterator<Item = i64>) -> Vec<(EncodedRow, i64)> {
    ids.into_iter()
        .map(|id| {
            let row = [
                Field {
                    name: "id".into(),
                    value: Value::Int64(id),
                },
                Field {
                    name: "v".into(),
                    value: Value::FloatVector(vec![0.5, id as f32]),
                },
            ];
            (sink.encoder().encode(&row).unwrap(), id)
        })
        .collect()
}

#[tokio::test]
async fn halving_isolates_exactly_the_bad_rows() {
    let bad: BTreeSet<i64> = [3, 17, 18, 29].into();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = server(bad.clone(), seen.clone());
    let sink = sink(&server, "batch_max_rows = 10").await;
    let rows = rows(&sink, 0..30);
    let counters = Counters::default();
    let mut failed = vec![];
    let report = sink
        .write_rows(
            &rows,
            &AtomicBool::new(false),
            &counters,
            &mut |id: &i64, why: RowFailure| {
                failed.push((*id, why));
                ControlFlow::Continue(())
            },
        )
        .await
        .unwrap();

    let rejected = |id| {
        (
            id,
            RowFailure::Rejected {
                code: 1804,
                message: "fail to deal the insert data".into(),
            },
        )
    };
    assert_eq!(
        failed,
        bad.iter().map(|&id| rejected(id)).collect::<Vec<_>>()
    );
    let seen = seen.lock().unwrap();
    let mut accepted: Vec<i64> = seen.accepted.iter().flatten().copied().collect();
    // Halves are written depth first, left before right: in row order.
    assert!(accepted.is_sorted(), "{accepted:?}");
    accepted.sort_unstable();
    let good: Vec<i64> = (0..30).filter(|id| !bad.contains(id)).collect();
    assert_eq!(accepted, good, "every good row written once, no bad one");
    assert!(seen.rejected_sizes.iter().any(|&s| s > 1));
    assert_eq!(
        seen.rejected_sizes.iter().filter(|&&s| s == 1).count(),
        bad.len()
    );
    assert_eq!(report.rows, good.len() as u64);
    assert_eq!(report.batches, seen.accepted.len() as u64);
    assert_eq!((report.retries, report.stopped), (0, false));
    let got = counters.summary();
    assert_eq!(
        (got.rows_written, got.batches, got.retries),
        (report.rows, report.batches, 0)
    );
}

#[tokio::test]
async fn break_stops_at_the_first_bad_row() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = server([3, 17].into(), seen.clone());
    let sink = sink(&server, "batch_max_rows = 10").await;
    let rows = rows(&sink, 0..30);
    let mut failed = vec![];
    let report = sink
        .write_rows(
            &rows,
            &AtomicBool::new(false),
            &Counters::default(),
            &mut |id: &i64, _: RowFailure| {
                failed.push(*id);
                ControlFlow::Break(())
            },
        )
        .await
        .unwrap();
    assert_eq!(failed, vec![3]);
    assert!(report.stopped);
    // Nothing after the bad row's half was written: rows 0..3 at most.
    let seen = seen.lock().unwrap();
    let accepted: Vec<i64> = seen.accepted.iter().flatten().copied().collect();
    assert!(accepted.iter().all(|&id| id < 3), "{accepted:?}");
    assert_eq!(report.rows, accepted.len() as u64);
}

#[tokio::test]
async fn duplicate_keys_close_the_batch_under_upsert_and_fail_under_insert() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = server(BTreeSet::new(), seen.clone());
    let upsert = sink(&server, "").await;
    let rows = rows(&upsert, [1, 2, 1, 3]);
    let report = upsert
        .write_rows(
            &rows,
            &AtomicBool::new(false),
            &Counters::default(),
            &mut |_: &i64, why: RowFailure| panic!("{why:?}"),
        )
        .await
        .unwrap();
    assert_eq!((report.rows, report.batches), (4, 2));
    assert_eq!(
        seen.lock().unwrap().accepted,
        vec![vec![1, 2], vec![1, 3]],
        "the later record wins, in the next batch"
    );

    let insert = sink(&server, "write_mode = \"insert\"").await;
    let mut failed = vec![];
    let report = insert
        .write_rows(
            &rows,
            &AtomicBool::new(false),
            &Counters::default(),
            &mut |id: &i64, why: RowFailure| {
                failed.push((*id, why));
                ControlFlow::Continue(())
            },
        )
        .await
        .unwrap();
    assert_eq!(
        failed,
        vec![(
            1,
            RowFailure::Refused(PushRefusal::DuplicateKey {
                key: crate::sink::PrimaryKey::Int(1)
            })
        )]
    );
    assert_eq!((report.rows, report.batches), (3, 1));
}

/// Writes ids `0..n` through `sink` (retry_forever as configured); the ids
/// handed to `on_failed_row`, and the outcome.
async fn write_all(sink: &MilvusSink, n: i64) -> (Vec<i64>, Result<WriteReport, WriteError>) {
    let rows = rows(sink, 0..n);
    let mut failed = vec![];
    let result = sink
        .write_rows(
            &rows,
            &AtomicBool::new(false),
            &Counters::default(),
            &mut |id: &i64, _: RowFailure| {
                failed.push(*id);
                ControlFlow::Continue(())
            },
        )
        .await;
    (failed, result)
}

/// HTTP 500 `{"code":500}` is a handler panic (v2.5.27
/// H/timeout_middleware.go:194, the `panicChan` branch), the same for the
/// same rows: retried a few times, even under retry_forever, then halved,
/// and only the rows that make it panic fail.
#[tokio::test]
async fn a_handler_panic_is_retried_a_few_times_then_isolated() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = server_with(seen.clone(), |ids| {
        ids.contains(&7)
            .then(|| (500, r#"{"code":500,"message":"panic"}"#.into()))
    });
    let sink = sink(&server, "batch_max_rows = 10\nretry_forever = true").await;
    let (failed, result) = write_all(&sink, 10).await;
    assert_eq!(failed, vec![7]);
    assert_eq!(result.unwrap().rows, 9);
    let seen = seen.lock().unwrap();
    // Each size down to the single row was tried FEW_ATTEMPTS times.
    assert_eq!(
        seen.rejected_sizes.iter().filter(|&&s| s == 1).count(),
        FEW_ATTEMPTS as usize
    );
    assert_eq!(
        seen.rejected_sizes.iter().filter(|&&s| s == 10).count(),
        FEW_ATTEMPTS as usize
    );
}

/// A batch too slow for the request timeout (e.g. a 2.6 text-embedding
/// function calling its provider inside insert) is halved after a few
/// timeouts in a row, until batches are small enough: nothing fails.
#[tokio::test]
async fn a_batch_that_keeps_timing_out_is_halved_until_it_fits() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = server_with(seen.clone(), |ids| {
        (ids.len() > 3).then(|| (408, r#"{"code":10001,"message":"request timeout"}"#.into()))
    });
    let sink = sink(&server, "batch_max_rows = 12\nretry_forever = true").await;
    let (failed, result) = write_all(&sink, 12).await;
    assert_eq!(failed, Vec::<i64>::new());
    assert_eq!(result.unwrap().rows, 12);
    let mut accepted: Vec<i64> = seen.lock().unwrap().accepted.concat();
    accepted.sort_unstable();
    assert_eq!(accepted, (0..12).collect::<Vec<_>>());
}

/// 65535 (any error merr does not know, e.g. a WAL append failure; v2.5.27
/// pkg/util/merr/utils.go:37-56) is retried a few times, then stops the
/// pipeline, even under retry_forever.
#[tokio::test]
async fn an_unclassified_internal_error_is_retried_then_fatal() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = server_with(seen.clone(), |_| {
        Some((
            200,
            r#"{"code":65535,"message":"append to wal failed"}"#.into(),
        ))
    });
    let sink = sink(&server, "retry_forever = true").await;
    let (failed, result) = write_all(&sink, 3).await;
    assert_eq!(failed, Vec::<i64>::new());
    let err = result.unwrap_err();
    assert!(matches!(err, WriteError::Fatal { .. }), "{err:?}");
    assert!(err.to_string().contains("append to wal failed"), "{err}");
    assert_eq!(
        seen.lock().unwrap().rejected_sizes.len(),
        FEW_ATTEMPTS as usize
    );
}

/// A server whose collection changes after the sink connected: the first
/// describe answers `DESCRIBE`, later ones `now`; every batch holding a
/// `bad` row is rejected (1804).
fn changing_server(now: String, bad: i64, seen: Arc<Mutex<Seen>>) -> MockServer {
    let describes = std::sync::atomic::AtomicUsize::new(0);
    MockServer::start(move |r: &Recorded| match r.target.as_str() {
        "/v2/vectordb/collections/describe" => match describes.fetch_add(1, Ordering::SeqCst) {
            0 => (200, DESCRIBE.into()),
            _ => (200, now.clone()),
        },
        path if path.starts_with("/v2/vectordb/entities/") => {
            let ids = ids_of(r);
            let mut seen = seen.lock().unwrap();
            if ids.contains(&bad) {
                seen.rejected_sizes.push(ids.len());
                return (
                    200,
                    r#"{"code":1804,"message":"fail to deal the insert data"}"#.into(),
                );
            }
            let body = serde_json::json!({"code": 0, "cost": 0,
                "data": {"upsertCount": ids.len(), "upsertIds": ids}});
            seen.accepted.push(ids);
            (200, body.to_string())
        }
        _ => (404, "not found".into()),
    })
}

/// A collection recreated with another vector dim: the rejected batch
/// stops the pipeline (uncommitted) with what changed, and no good row is
/// failed for it.
#[tokio::test]
async fn a_collection_that_changed_stops_instead_of_failing_good_rows() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let now = DESCRIBE.replace(r#""value":"2""#, r#""value":"4""#);
    let server = changing_server(now, 3, seen.clone());
    let sink = sink(&server, "batch_max_rows = 10").await;
    let (failed, result) = write_all(&sink, 10).await;
    assert_eq!(failed, Vec::<i64>::new());
    let err = result.unwrap_err();
    assert!(
        err.to_string().contains(
            "collection `c` changed since kmv-host connected: field `v` is now FloatVector dim 4 (was FloatVector dim 2)"
        ),
        "{err}"
    );
    assert_eq!(seen.lock().unwrap().rejected_sizes, vec![10]);
}

/// A nullable field added meanwhile is taken on without a restart; the
/// rejection is then the row's, isolated as before.
#[tokio::test]
async fn an_added_nullable_field_is_taken_on() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let now = DESCRIBE.replace(
        r#""type":"FloatVector"}]"#,
        r#""type":"FloatVector"},{"name":"note","type":"VarChar","nullable":true,"params":[{"key":"max_length","value":"16"}]}]"#,
    );
    assert_ne!(now, DESCRIBE);
    let server = changing_server(now, 3, seen.clone());
    let sink = sink(&server, "batch_max_rows = 10").await;
    assert!(sink.schema().field("note").is_none());
    let (failed, result) = write_all(&sink, 10).await;
    assert_eq!(failed, vec![3]);
    assert_eq!(result.unwrap().rows, 9);
    assert!(sink.schema().field("note").is_some_and(|f| f.nullable));
}
