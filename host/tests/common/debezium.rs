//! Debezium change events for table `articles` (`id` bigint primary key,
//! `title` text, `title_vector` an 8-float JSON array, `link` text), as the
//! Debezium PostgreSQL connector with the JSON converter writes them (see
//! the README's "Change data capture": `key.converter` and
//! `value.converter` = `org.apache.kafka.connect.json.JsonConverter`,
//! `schemas.enable` true or false, `tombstones.on.delete=true`), and a model
//! of the table they describe.
//!
//! Shapes from Debezium's documentation of the PostgreSQL connector
//! (debezium.io/documentation/reference/stable/connectors/postgresql.html,
//! "Data change events": the key, the `before`/`after`/`source`/`op`/`ts_ms`
//! envelope, the delete event and the tombstone that follows it).

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One record: the key's and the value's bytes (`None`: a tombstone).
pub type Event = (Vec<u8>, Option<Vec<u8>>);

/// A row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: i64,
    pub title: String,
    pub vector: Vec<f32>,
    pub link: String,
}

impl Article {
    pub fn new(id: i64, version: u64) -> Article {
        Article {
            id,
            title: format!("Article {id} v{version}"),
            vector: (0..8)
                .map(|i| ((id as f32) * 0.01 + version as f32 * 0.1 + i as f32).sin())
                .collect(),
            link: format!("https://example.com/{id}/{version}"),
        }
    }

    fn json(&self) -> Value {
        json!({"id": self.id, "title": self.title, "title_vector": self.vector, "link": self.link})
    }
}

/// The connector's `schemas.enable` setting, per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `schemas.enable=false`: the bare payload.
    Plain,
    /// `schemas.enable=true`: `{"schema": ..., "payload": ...}`.
    Schema,
}

fn row_schema(name: &str, optional: bool) -> Value {
    json!({"type": "struct", "optional": optional, "name": name, "fields": [
        {"type": "int64", "optional": false, "field": "id"},
        {"type": "string", "optional": true, "field": "title"},
        {"type": "array", "items": {"type": "float", "optional": false}, "optional": true, "field": "title_vector"},
        {"type": "string", "optional": true, "field": "link"},
    ]})
}

fn key(topic: &str, id: i64, envelope: Envelope) -> Vec<u8> {
    let payload = json!({"id": id});
    let v = match envelope {
        Envelope::Plain => payload,
        Envelope::Schema => json!({
            "schema": {"type": "struct", "optional": false, "name": format!("{topic}.Key"),
                       "fields": [{"type": "int64", "optional": false, "field": "id"}]},
            "payload": payload,
        }),
    };
    v.to_string().into_bytes()
}

fn value(
    topic: &str,
    op: &str,
    before: Option<&Article>,
    after: Option<&Article>,
    ts: u64,
    envelope: Envelope,
) -> Vec<u8> {
    let (db, rest) = topic.split_once('.').unwrap_or(("cdc", topic));
    let (schema, table) = rest.split_once('.').unwrap_or(("public", rest));
    let payload = json!({
        "before": before.map(Article::json),
        "after": after.map(Article::json),
        "source": {"version": "3.0.0.Final", "connector": "postgresql", "name": db,
                   "ts_ms": ts, "snapshot": if op == "r" { "true" } else { "false" },
                   "db": "shop", "sequence": null, "schema": schema, "table": table,
                   "txId": ts, "lsn": ts * 8, "xmin": null},
        "op": op,
        "ts_ms": ts,
        "transaction": null,
    });
    let v = match envelope {
        Envelope::Plain => payload,
        Envelope::Schema => json!({"schema": envelope_schema(topic), "payload": payload}),
    };
    v.to_string().into_bytes()
}

/// The value schema the JSON converter writes with `schemas.enable=true`.
fn envelope_schema(topic: &str) -> Value {
    let row = |field: &str| {
        let mut s = row_schema(&format!("{topic}.Value"), true);
        s["field"] = json!(field);
        s
    };
    let string = |field: &str, optional: bool| json!({"type": "string", "optional": optional, "field": field});
    let int64 = |field: &str, optional: bool| json!({"type": "int64", "optional": optional, "field": field});
    json!({"type": "struct", "optional": false, "name": format!("{topic}.Envelope"), "version": 2, "fields": [
        row("before"),
        row("after"),
        {"type": "struct", "optional": false, "name": "io.debezium.connector.postgresql.Source", "field": "source", "fields": [
            string("version", false), string("connector", false), string("name", false), int64("ts_ms", false),
            string("snapshot", true), string("db", false), string("sequence", true), string("schema", false),
            string("table", false), int64("txId", true), int64("lsn", true), int64("xmin", true),
        ]},
        string("op", false),
        int64("ts_ms", true),
        {"type": "struct", "optional": true, "name": "event.block", "version": 1, "field": "transaction", "fields": [
            string("id", false), int64("total_order", false), int64("data_collection_order", false),
        ]},
    ]})
}

/// A random stream of changes to the table and the table it leaves.
#[derive(Debug, Default)]
pub struct Stream {
    pub events: Vec<Event>,
    pub table: BTreeMap<i64, Article>,
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
}

impl Stream {
    /// `n` changes over keys `0..keys` on `topic`, each record in an
    /// envelope drawn from `envelopes`, from `rng` (a value in `0..m`).
    /// Creates come as `r` (snapshot) or `c`; updates carry `before`
    /// (REPLICA IDENTITY FULL) half of the time; each delete is followed by
    /// its tombstone.
    pub fn random(
        topic: &str,
        keys: i64,
        n: usize,
        envelopes: &[Envelope],
        rng: &mut dyn FnMut(u64) -> u64,
    ) -> Stream {
        let mut s = Stream::default();
        let mut version = 0u64;
        for i in 0..n {
            let id = rng(keys as u64) as i64;
            let env = envelopes[rng(envelopes.len() as u64) as usize];
            let ts = 1_760_000_000_000 + i as u64;
            version += 1;
            let k = key(topic, id, env);
            match s.table.get(&id).cloned() {
                None => {
                    let a = Article::new(id, version);
                    let op = if rng(4) == 0 { "r" } else { "c" };
                    s.events
                        .push((k, Some(value(topic, op, None, Some(&a), ts, env))));
                    s.table.insert(id, a);
                    s.creates += 1;
                }
                Some(old) if rng(10) < 6 => {
                    let a = Article::new(id, version);
                    let before = (rng(2) == 0).then_some(&old);
                    s.events
                        .push((k, Some(value(topic, "u", before, Some(&a), ts, env))));
                    s.table.insert(id, a);
                    s.updates += 1;
                }
                Some(old) => {
                    s.events.push((
                        k.clone(),
                        Some(value(topic, "d", Some(&old), None, ts, env)),
                    ));
                    s.events.push((k, None));
                    s.table.remove(&id);
                    s.deletes += 1;
                }
            }
        }
        s
    }
}

impl Stream {
    /// `n` change events over fresh keys, `delete_share` of them deletes
    /// (each of a row created a few events before, followed by its
    /// tombstone), the rest creates; plain envelopes. For benchmarks.
    pub fn with_deletes(topic: &str, n: usize, delete_share: f64) -> Stream {
        let mut s = Stream::default();
        let every = (1.0 / delete_share).round().max(1.0) as usize;
        let mut next_id = 0i64;
        for i in 0..n {
            let ts = 1_760_000_000_000 + i as u64;
            if delete_share > 0.0 && i % every == every - 1 {
                let id = next_id - 1;
                let old = s.table.remove(&id).expect("the row just created");
                let k = key(topic, id, Envelope::Plain);
                s.events.push((
                    k.clone(),
                    Some(value(topic, "d", Some(&old), None, ts, Envelope::Plain)),
                ));
                s.events.push((k, None));
                s.deletes += 1;
            } else {
                let a = Article::new(next_id, 1);
                s.events.push((
                    key(topic, next_id, Envelope::Plain),
                    Some(value(topic, "c", None, Some(&a), ts, Envelope::Plain)),
                ));
                s.table.insert(next_id, a);
                s.creates += 1;
                next_id += 1;
            }
        }
        s
    }
}
