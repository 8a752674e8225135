//! Debezium change events, as Kafka Connect's JSON converter writes them.
//!
//! A Debezium source connector writes one record per changed row to the
//! table's topic (`prefix.schema.table`). Its value is a change event:
//!
//! ```json
//! {"before": null, "after": {"id": 1, "title": "Hi"},
//!  "source": {"connector": "postgresql", "db": "shop", "schema": "public", "table": "articles", ...},
//!  "op": "c", "ts_ms": 1733300000000}
//! ```
//!
//! with `op` one of `c` (create), `r` (read: a row of the initial snapshot),
//! `u` (update), `d` (delete) or `t` (truncate), and `before`/`after` the
//! row's images. With `schemas.enable=true` the event is wrapped in a
//! `{"schema": ..., "payload": ...}` envelope; both forms are read alike. The
//! record's key holds the row's primary key, framed the same way: `{"id":
//! 1}`, or `{"schema": ..., "payload": {"id": 1}}`. With
//! `tombstones.on.delete=true` (the default) each delete is followed by a
//! tombstone: a record with the same key and a null value, so that Kafka's
//! log compaction can drop the key.
//!
//! One line turns a record into what it means for the collection:
//!
//! ```
//! use kmv_guest::{Config, Outcome, Record, Transform, debezium};
//!
//! /// Mirrors a table into `[sink] collection`; its primary key is `id`.
//! struct Mirror;
//!
//! impl Transform for Mirror {
//!     fn init(_config: Config) -> Result<Self, String> {
//!         Ok(Mirror)
//!     }
//!
//!     fn process(&mut self, record: Record) -> Outcome {
//!         debezium::changes(&record, "id")
//!     }
//! }
//!
//! let mut t = Mirror::init(Config::default()).unwrap();
//! let mut delete = Record::from_value(
//!     br#"{"op": "d", "before": {"id": 7, "title": "Hi"}, "after": null, "source": {}}"#,
//! );
//! delete.key = Some(br#"{"id": 7}"#.to_vec());
//! assert_eq!(t.process(delete.clone()), Outcome::delete([7]));
//! // The tombstone after it deletes the key again, which changes nothing.
//! delete.value = None;
//! assert_eq!(t.process(delete), Outcome::delete([7]));
//! ```
//!
//! A primary key that changes (`UPDATE articles SET id = 8 WHERE id = 7`) is
//! sent by Debezium as a delete of the old key (and its tombstone) followed
//! by a create of the new one, so it needs nothing more.

use crate::connect::{field_list, unwrap_envelope};
use crate::record::json_kind;
use crate::{Change, Key, Outcome, Record, Row};
use serde_json::{Map, Value as Json};

/// What happened to the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `c`: a row was inserted.
    Create,
    /// `r`: a row read by the connector's snapshot of the table.
    Read,
    /// `u`: a row was updated.
    Update,
    /// `d`: a row was deleted.
    Delete,
    /// `t`: the table was truncated (the connectors skip these by default).
    Truncate,
    /// Not an `op` Debezium writes: a record with a key and a null value,
    /// sent after each delete (`tombstones.on.delete=true`) for log
    /// compaction.
    Tombstone,
}

impl Op {
    /// The `op` code: `c`, `r`, `u`, `d`, `t`, or `tombstone`.
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Read => "r",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Truncate => "t",
            Op::Tombstone => "tombstone",
        }
    }

    fn parse(code: &str) -> Result<Op, String> {
        match code {
            "c" => Ok(Op::Create),
            "r" => Ok(Op::Read),
            "u" => Ok(Op::Update),
            "d" => Ok(Op::Delete),
            "t" => Ok(Op::Truncate),
            other => Err(format!(
                "Debezium event with unknown op `{other}` (expected c, r, u, d or t)"
            )),
        }
    }
}

/// Where the change happened: the event's `source` block. Each field is
/// `None` when the block does not have it (a tombstone has no block at all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    /// The connector type, e.g. `postgresql`, `mysql`.
    pub connector: Option<String>,
    /// The connector's logical name (its `topic.prefix`).
    pub name: Option<String>,
    /// The database.
    pub db: Option<String>,
    /// The schema (PostgreSQL, SQL Server, Oracle, Db2); MySQL has none.
    pub schema: Option<String>,
    /// The table.
    pub table: Option<String>,
    /// Whether the event comes from a snapshot: `true`, `first`, `last`,
    /// `incremental`, `false`, ...
    pub snapshot: Option<String>,
}

/// A Debezium change event, or a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What happened.
    pub op: Op,
    /// The row before the change: for `u` and `d` (PostgreSQL sends it only
    /// as far as the table's `REPLICA IDENTITY` allows; by default it has
    /// the key columns of a delete and is absent from an update).
    pub before: Option<Map<String, Json>>,
    /// The row after the change: present for `c`, `r` and `u`.
    pub after: Option<Map<String, Json>>,
    /// Where the change happened.
    pub source: Source,
    /// When the connector processed the event, in milliseconds since the
    /// Unix epoch.
    pub ts_ms: Option<i64>,
    /// The record's key, parsed as JSON with any `schema`/`payload`
    /// envelope unwrapped; `None` for a record without a key (a table
    /// without a primary key).
    pub key: Option<Json>,
}

impl Event {
    /// Reads the record as a Debezium change event (with or without the
    /// `schema`/`payload` envelope), or as a tombstone when its value is null.
    ///
    /// The error names what is wrong, e.g. ``Debezium event without `op` ``
    /// or ``op `u` without an `after` image``.
    ///
    /// ```
    /// use kmv_guest::Record;
    /// use kmv_guest::debezium::{Event, Op};
    ///
    /// let record = Record::from_value(br#"{
    ///     "schema": {"type": "struct", "name": "cdc.public.articles.Envelope"},
    ///     "payload": {
    ///         "before": {"id": 1, "title": "Hi"},
    ///         "after": {"id": 1, "title": "Hello"},
    ///         "source": {"connector": "postgresql", "db": "shop", "schema": "public", "table": "articles"},
    ///         "op": "u",
    ///         "ts_ms": 1733300000000
    ///     }
    /// }"#);
    /// let event = Event::read(&record).unwrap();
    /// assert_eq!(event.op, Op::Update);
    /// assert_eq!(event.source.table.as_deref(), Some("articles"));
    /// assert_eq!(event.after_row().unwrap().field_names(), ["id", "title"]);
    ///
    /// let record = Record::from_value(br#"{"op": "u", "after": null, "source": {}}"#);
    /// assert_eq!(Event::read(&record).unwrap_err(), "op `u` without an `after` image");
    /// ```
    pub fn read(record: &Record) -> Result<Event, String> {
        let key = record.key_json()?;
        let payload = match &record.value {
            None => Json::Null,
            Some(_) => unwrap_envelope(record.json::<Json>()?),
        };
        let mut payload = match payload {
            Json::Null => {
                return Ok(Event {
                    op: Op::Tombstone,
                    before: None,
                    after: None,
                    source: Source::default(),
                    ts_ms: None,
                    key,
                });
            }
            Json::Object(map) => map,
            other => {
                return Err(format!(
                    "a Debezium event is a JSON object, found a JSON {}",
                    json_kind(&other)
                ));
            }
        };
        let op = match payload.get("op") {
            Some(Json::String(code)) => Op::parse(code)?,
            Some(other) => {
                return Err(format!(
                    "Debezium event with an `op` that is a JSON {}, not a string",
                    json_kind(other)
                ));
            }
            None => {
                return Err(format!(
                    "Debezium event without `op` (the value has {}; expected `op`, `before`, `after` \
                     and `source`, with or without a `schema`/`payload` envelope)",
                    field_list(&payload)
                ));
            }
        };
        let before = image(&mut payload, "before")?;
        let after = image(&mut payload, "after")?;
        if matches!(op, Op::Create | Op::Read | Op::Update) && after.is_none() {
            return Err(format!("op `{}` without an `after` image", op.code()));
        }
        Ok(Event {
            op,
            before,
            after,
            source: payload
                .get("source")
                .and_then(Json::as_object)
                .map(Source::from_json)
                .unwrap_or_default(),
            ts_ms: payload.get("ts_ms").and_then(Json::as_i64),
            key,
        })
    }

    /// Whether the event removes the row: `d` or a tombstone.
    pub fn is_delete(&self) -> bool {
        matches!(self.op, Op::Delete | Op::Tombstone)
    }

    /// The `after` image as a [`Row`] (see [`Row::from_json_object`] for the
    /// typing rules, as [`Record::json_row`]); an error naming the op when
    /// there is none.
    pub fn after_row(&self) -> Result<Row, String> {
        self.after
            .clone()
            .map(Row::from_json_object)
            .ok_or_else(|| format!("op `{}` without an `after` image", self.op.code()))
    }

    /// The `before` image as a [`Row`], if the event has one.
    pub fn before_row(&self) -> Option<Row> {
        self.before.clone().map(Row::from_json_object)
    }

    /// The row's primary key `field`: from the `before` image, else the
    /// `after` image, else the record's key (see [`Record::primary_key`] for
    /// the forms it may take). An Int64 key is a JSON integer, a VarChar key
    /// a string.
    pub fn primary_key(&self, field: &str) -> Result<Key, String> {
        let image = [&self.before, &self.after]
            .into_iter()
            .flatten()
            .find_map(|image| image.get(field).filter(|v| !v.is_null()));
        if let Some(value) = image {
            return Key::from_json(value).map_err(|e| format!("primary key `{field}`: {e}"));
        }
        let from_key = match &self.key {
            Some(Json::Object(map)) => map.get(field).ok_or_else(|| {
                format!(
                    "the record key has no field `{field}` (it has {})",
                    field_list(map)
                )
            }),
            Some(Json::Null) | None => Err("the record has no key".to_string()),
            Some(other) => Ok(other),
        };
        match from_key {
            Ok(value) => Key::from_json(value).map_err(|e| format!("primary key `{field}`: {e}")),
            Err(reason) => Err(format!(
                "op `{}`: no primary key `{field}` in the event's images, and {reason}",
                self.op.code()
            )),
        }
    }

    /// What the event means for the collection: `c`, `r` and `u` write the
    /// `after` image as a row (an upsert; see [`Event::after_row`]), `d` and
    /// a tombstone delete the primary key `field` (see
    /// [`Event::primary_key`]). A tombstone after a delete deletes the same
    /// key a second time, which changes nothing. `t` (truncate) is an
    /// error: rows are deleted by key, and a truncate names none.
    ///
    /// The changes go to `[sink] collection`; [`Outcome::to`] names another.
    pub fn changes(&self, primary_key: &str) -> Outcome {
        let change = match self.op {
            Op::Create | Op::Read | Op::Update => self.after_row().map(Change::row),
            Op::Delete | Op::Tombstone => self.primary_key(primary_key).map(Change::delete),
            Op::Truncate => Err("op `t` (truncate) cannot be applied: rows are deleted by \
                 primary key, and a truncate names none (leave `t` in the connector's \
                 `skipped.operations`, as by default)"
                .to_string()),
        };
        match change {
            Ok(change) => change.into(),
            Err(reason) => Outcome::Error(reason),
        }
    }
}

/// [`Event::read`] and then [`Event::changes`]: a Debezium record as an
/// upsert of its `after` image (`c`, `r`, `u`) or a delete of its primary
/// key `primary_key` (`d`, tombstone), to `[sink] collection`; an error for
/// anything else, with the reason.
pub fn changes(record: &Record, primary_key: &str) -> Outcome {
    match Event::read(record) {
        Ok(event) => event.changes(primary_key),
        Err(reason) => Outcome::Error(reason),
    }
}

/// Takes image `name` out of the event: an object, or `None` when absent or null.
fn image(payload: &mut Map<String, Json>, name: &str) -> Result<Option<Map<String, Json>>, String> {
    match payload.remove(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(map)) => Ok(Some(map)),
        Some(other) => Err(format!(
            "the `{name}` image is a JSON {}, not an object",
            json_kind(&other)
        )),
    }
}

impl Source {
    fn from_json(map: &Map<String, Json>) -> Source {
        let text = |name: &str| match map.get(name) {
            Some(Json::String(s)) => Some(s.clone()),
            Some(Json::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        Source {
            connector: text("connector"),
            name: text("name"),
            db: text("db"),
            schema: text("schema"),
            table: text("table"),
            snapshot: text("snapshot"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Value};
    use serde_json::json;

    fn record(key: Option<Json>, value: Option<Json>) -> Record {
        let mut r = Record::from_value(b"");
        r.key = key.map(|k| k.to_string().into_bytes());
        r.value = value.map(|v| v.to_string().into_bytes());
        r
    }

    fn wrapped(payload: Json) -> Json {
        json!({"schema": {"type": "struct", "optional": false}, "payload": payload})
    }

    fn source() -> Json {
        json!({"version": "2.7.3.Final", "connector": "postgresql", "name": "cdc", "ts_ms": 1,
               "snapshot": "false", "db": "shop", "schema": "public", "table": "articles"})
    }

    fn row_of(outcome: &Outcome) -> Row {
        match outcome {
            Outcome::Changes(changes) => match &changes[..] {
                [
                    Change {
                        action: Action::Row(row),
                        ..
                    },
                ] => Row::from(row.clone()),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_read_update_write_the_after_image_in_both_forms() {
        for (op, before) in [
            ("c", json!(null)),
            ("r", json!(null)),
            ("u", json!({"id": 1, "title": "old"})),
        ] {
            let payload = json!({"before": before, "after": {"id": 1, "title": "new", "v": [0.5, 1]},
                                 "source": source(), "op": op, "ts_ms": 5});
            for value in [payload.clone(), wrapped(payload)] {
                let out = changes(&record(Some(json!({"id": 1})), Some(value)), "id");
                let row = row_of(&out);
                assert_eq!(row.field_names(), ["id", "title", "v"], "op {op}");
                assert_eq!(row.get("title"), Some(&Value::Varchar("new".into())));
            }
        }
    }

    #[test]
    fn event_fields() {
        let payload = json!({"before": null, "after": {"id": 1}, "source": source(), "op": "r",
                             "ts_ms": 5, "transaction": null});
        let event = Event::read(&record(Some(wrapped(json!({"id": 1}))), Some(payload))).unwrap();
        assert_eq!(event.op, Op::Read);
        assert_eq!(event.ts_ms, Some(5));
        assert_eq!(event.key, Some(json!({"id": 1})));
        assert_eq!(
            event.source,
            Source {
                connector: Some("postgresql".into()),
                name: Some("cdc".into()),
                db: Some("shop".into()),
                schema: Some("public".into()),
                table: Some("articles".into()),
                snapshot: Some("false".into()),
            }
        );
        assert!(!event.is_delete());
        assert_eq!(event.before_row(), None);
    }

    #[test]
    fn deletes_take_the_key_from_before_else_the_record_key() {
        let payload = json!({"before": {"id": 4, "title": null}, "after": null,
                             "source": source(), "op": "d"});
        let out = changes(&record(None, Some(wrapped(payload))), "id");
        assert_eq!(out, Outcome::delete([4]));
        // REPLICA IDENTITY NOTHING: no before image; the key says which row.
        let payload = json!({"before": null, "after": null, "source": source(), "op": "d"});
        let out = changes(
            &record(Some(json!({"id": "a-4"})), Some(payload.clone())),
            "id",
        );
        assert_eq!(out, Outcome::delete(["a-4"]));
        let key = wrapped(json!({"id": 4}));
        assert_eq!(
            changes(&record(Some(key), Some(payload.clone())), "id"),
            Outcome::delete([4])
        );
        assert_eq!(
            changes(&record(None, Some(payload)), "id"),
            Outcome::Error(
                "op `d`: no primary key `id` in the event's images, and the record has no key"
                    .into()
            )
        );
    }

    #[test]
    fn tombstones_delete_the_key_again() {
        for key in [json!({"id": 4}), wrapped(json!({"id": 4}))] {
            let event = Event::read(&record(Some(key.clone()), None)).unwrap();
            assert_eq!(event.op, Op::Tombstone);
            assert!(event.is_delete());
            assert_eq!(event.changes("id"), Outcome::delete([4]));
        }
        // A null payload inside an envelope is a tombstone too.
        let r = record(
            Some(json!({"id": 4})),
            Some(json!({"schema": null, "payload": null})),
        );
        assert_eq!(changes(&r, "id"), Outcome::delete([4]));
        let out = changes(&record(Some(json!({"uid": 4})), None), "id");
        assert_eq!(
            out,
            Outcome::Error(
                "op `tombstone`: no primary key `id` in the event's images, and the record key \
                 has no field `id` (it has `uid`)"
                    .into()
            )
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let err = |value: Json| match changes(&record(None, Some(value)), "id") {
            Outcome::Error(reason) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(json!({"id": 1, "title": "t"})),
            "Debezium event without `op` (the value has `id`, `title`; expected `op`, `before`, \
             `after` and `source`, with or without a `schema`/`payload` envelope)"
        );
        assert_eq!(
            err(json!({"op": "x", "after": {}})),
            "Debezium event with unknown op `x` (expected c, r, u, d or t)"
        );
        assert_eq!(
            err(json!({"op": 1})),
            "Debezium event with an `op` that is a JSON number, not a string"
        );
        assert_eq!(err(json!({"op": "c"})), "op `c` without an `after` image");
        assert_eq!(
            err(json!({"op": "u", "after": "{\"id\": 1}"})),
            "the `after` image is a JSON string, not an object"
        );
        assert_eq!(
            err(json!([1])),
            "a Debezium event is a JSON object, found a JSON array"
        );
        assert!(err(json!({"op": "t", "source": source()})).starts_with("op `t` (truncate)"));
        assert!(
            err(json!({"op": "d", "before": {"id": 1.5}}))
                .starts_with("primary key `id`: a primary key must be an integer")
        );
        let mut not_json = Record::from_value(b"{oops");
        not_json.key = Some(b"{\"id\": 1}".to_vec());
        assert!(
            matches!(changes(&not_json, "id"), Outcome::Error(r) if r.starts_with("the value is not valid JSON"))
        );
    }
}
