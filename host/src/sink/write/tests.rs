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
    MockServer::start(move |r: &Recorded| match r.target.as_str() {
        "/v2/vectordb/collections/describe" => (200, DESCRIBE.into()),
        path if path.starts_with("/v2/vectordb/entities/") => {
            let ids = ids_of(r);
            let mut seen = seen.lock().unwrap();
            if ids.iter().any(|id| bad.contains(id)) {
                seen.rejected_sizes.push(ids.len());
                (
                    200,
                    r#"{"code":1804,"message":"fail to deal the insert data"}"#.into(),
                )
            } else {
                let op = path.rsplit('/').next().unwrap_or("upsert");
                let body = serde_json::json!({"code": 0, "cost": 0,
                    "data": {format!("{op}Count"): ids.len(), format!("{op}Ids"): ids}});
                seen.accepted.push(ids);
                (200, body.to_string())
            }
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
