//! `cdc`: a database table mirrored into Milvus through Debezium.
//!
//! Input: Debezium change events of table `articles` (`id bigint` primary
//! key, `title`, `title_vector` holding 8 floats, `link`) from topic
//! `cdc.public.articles`, written by Kafka Connect's `JsonConverter` with
//! `schemas.enable` true or false (both are read without edits), keys
//! `{"id": 1}` or their `schema`/`payload` envelope.
//!
//! Output: changes to collection `articles` (`id` Int64 primary key, `title`
//! VarChar, `title_vector` FloatVector(8), `link` VarChar):
//! - `c` (insert), `r` (snapshot read), `u` (update): the `after` image's
//!   `id`, `title`, `title_vector` and `link` as a row, an upsert (other
//!   columns are dropped);
//! - `d` (delete): a delete of `id`, from the `before` image or else the key;
//! - the tombstone Debezium sends after each delete: a delete of the key's
//!   `id`, a second delete of the same key, which changes nothing;
//! - `t` (truncate): an error for the record.
//!
//! `title_vector` may come as a JSON array of numbers (a `real[]` column) or
//! as JSON text (a `json` or `jsonb` column, which Debezium sends as a
//! string): the text goes to the host as it is (`float-vector-json`), which
//! checks it against the field.
//!
//! `[transform.config]` (all optional):
//! - `collection = "articles"`: every change goes to this collection; by
//!   default a change goes to the collection named like the table in the
//!   topic name (`cdc.public.articles` -> `articles`);
//! - `embedder = "NAME"`: `title` is embedded into `title_vector` with the
//!   pipeline's `[embedders.NAME]`, unless an update left the title alone and
//!   the `after` image carries its vector (see
//!   [`kmv_guest::embed_changed_field`]); then the table need not hold the
//!   vector.
use kmv_guest::debezium::{Event, Op};
use kmv_guest::{
    Change, Config, Outcome, Record, Row, Transform, Value, embed_changed_field_with,
    export_transform, route,
};

/// The columns written to the collection.
const FIELDS: [&str; 4] = ["id", "title", "title_vector", "link"];

/// `[transform.config]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The collection every change goes to; default: the table of the topic.
    #[serde(default)]
    collection: Option<String>,
    /// The `[embedders.NAME]` that embeds `title` into `title_vector`;
    /// default: none, the table holds the vector.
    #[serde(default)]
    embedder: Option<String>,
}

/// Mirrors table `articles` into a collection.
pub struct Cdc {
    settings: Settings,
}

impl Cdc {
    /// Each record's outcome, with `embed` computing the vectors when an
    /// embedder is configured.
    pub fn process_with(
        &self,
        records: &[Record],
        embed: impl FnOnce(&[String]) -> Result<Vec<Vec<f32>>, String>,
    ) -> Vec<Outcome> {
        let batch = records.iter().map(|r| self.change(r)).collect();
        if self.settings.embedder.is_some() {
            embed_changed_field_with("title", "title_vector", batch, embed)
        } else {
            batch.into_iter().map(|(outcome, _)| outcome).collect()
        }
    }

    /// What one record means for the collection, and the `before` image of
    /// its row (for the embedding rule).
    fn change(&self, record: &Record) -> (Outcome, Option<Row>) {
        let event = match Event::read(record) {
            Ok(event) => event,
            Err(reason) => return (Outcome::Error(reason), None),
        };
        let change = match event.op {
            Op::Create | Op::Read | Op::Update => event
                .after_row()
                .and_then(|after| self.article(after))
                .map(Change::row)
                .map_err(|reason| format!("op `{}`: {reason}", event.op.code())),
            Op::Delete | Op::Tombstone => event.primary_key("id").map(Change::delete),
            // The SDK's error: a truncate names no key to delete.
            Op::Truncate => return (event.changes("id"), None),
        };
        let collection = match &self.settings.collection {
            Some(name) => name.as_str(),
            None => route::table_of_topic(&record.topic),
        };
        match change {
            Ok(change) => (change.to(collection).into(), event.before_row()),
            Err(reason) => (Outcome::Error(reason), None),
        }
    }

    /// The `after` image as a row of the collection.
    fn article(&self, after: Row) -> Result<Row, String> {
        let mut row = after.keep(&FIELDS);
        match row.remove("title_vector") {
            Some(Value::Varchar(text)) => row.set("title_vector", Value::FloatVectorJson(text)),
            Some(Value::Null) | None if self.settings.embedder.is_some() => {}
            Some(Value::Null) | None => {
                return Err(
                    "the `after` image has no `title_vector`: the table must hold it, \
                     or [transform.config] embedder must name an embedder to compute it"
                        .to_string(),
                );
            }
            Some(other) => {
                let vector = other.into_float_vector().map_err(|found| {
                    format!(
                        "`title_vector` must be an array of numbers or its JSON text, found {found}"
                    )
                })?;
                row.set("title_vector", vector);
            }
        }
        Ok(row)
    }
}

impl Transform for Cdc {
    fn init(config: Config) -> Result<Self, String> {
        let settings: Settings = config.deserialize()?;
        if settings.collection.as_deref() == Some("") {
            return Err("[transform.config] collection must not be empty".to_string());
        }
        Ok(Cdc { settings })
    }

    fn process(&mut self, record: Record) -> Outcome {
        self.process_batch(vec![record]).remove(0)
    }

    fn process_batch(&mut self, records: Vec<Record>) -> Vec<Outcome> {
        let embedder = self.settings.embedder.clone().unwrap_or_default();
        self.process_with(&records, |texts| kmv_guest::embed(&embedder, texts))
    }
}

export_transform!(Cdc);

#[cfg(test)]
mod tests {
    use super::*;
    use kmv_guest::{Action, Key, Target};
    use serde_json::{Value as Json, json};

    const TOPIC: &str = "cdc.public.articles";

    fn article(id: i64, title: &str) -> Json {
        json!({"id": id, "title": title, "title_vector": [0.5, -1, 0.25, 0, 1, 2, 3, 4],
               "link": format!("https://example.com/{id}"), "created_at": 1733300000000_i64})
    }

    /// The value Debezium's PostgreSQL connector writes, with the envelope
    /// of `schemas.enable=true` or without it.
    fn event(op: &str, before: Json, after: Json, schemas: bool) -> Json {
        let payload = json!({
            "before": before, "after": after,
            "source": {"version": "2.7.3.Final", "connector": "postgresql", "name": "cdc",
                       "ts_ms": 1733300000000_i64, "snapshot": if op == "r" { "true" } else { "false" },
                       "db": "shop", "sequence": "[null,\"26868976\"]", "schema": "public",
                       "table": "articles", "txId": 750, "lsn": 26868976, "xmin": null},
            "op": op, "ts_ms": 1733300000123_i64, "transaction": null
        });
        if schemas {
            json!({"schema": {"type": "struct", "optional": false,
                              "name": "cdc.public.articles.Envelope", "version": 2,
                              "fields": []},
                   "payload": payload})
        } else {
            payload
        }
    }

    fn key(id: i64, schemas: bool) -> Json {
        if schemas {
            json!({"schema": {"type": "struct", "optional": false, "name": "cdc.public.articles.Key",
                              "fields": [{"type": "int64", "optional": false, "field": "id"}]},
                   "payload": {"id": id}})
        } else {
            json!({"id": id})
        }
    }

    fn record(key: Option<Json>, value: Option<Json>) -> Record {
        let mut r = Record::from_value(b"");
        r.topic = TOPIC.into();
        r.key = key.map(|k| k.to_string().into_bytes());
        r.value = value.map(|v| v.to_string().into_bytes());
        r
    }

    fn cdc(config: Json) -> Cdc {
        Cdc::init(Config::from_value(config).unwrap()).unwrap()
    }

    fn run(t: &Cdc, records: &[Record]) -> Vec<Outcome> {
        t.process_with(records, |_| panic!("no embedder is configured"))
    }

    /// The one change of an outcome.
    fn change(outcome: &Outcome) -> &Change {
        match outcome {
            Outcome::Changes(changes) if changes.len() == 1 => &changes[0],
            other => panic!("{other:?}"),
        }
    }

    fn row(outcome: &Outcome) -> Row {
        match &change(outcome).action {
            Action::Row(row) => Row::from(row.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_op_in_both_envelope_forms() {
        let t = cdc(json!({}));
        for schemas in [false, true] {
            let records = [
                record(
                    Some(key(1, schemas)),
                    Some(event("r", json!(null), article(1, "Snapshot"), schemas)),
                ),
                record(
                    Some(key(2, schemas)),
                    Some(event("c", json!(null), article(2, "New"), schemas)),
                ),
                record(
                    Some(key(2, schemas)),
                    Some(event("u", article(2, "New"), article(2, "Newer"), schemas)),
                ),
                record(
                    Some(key(1, schemas)),
                    Some(event("d", article(1, "Snapshot"), json!(null), schemas)),
                ),
                record(Some(key(1, schemas)), None),
            ];
            let out = run(&t, &records);
            let articles = Target::collection("articles");
            for (i, title) in [(0, "Snapshot"), (1, "New"), (2, "Newer")] {
                assert_eq!(change(&out[i]).target, articles, "schemas {schemas}");
                let row = row(&out[i]);
                assert_eq!(row.field_names(), ["id", "title", "link", "title_vector"]);
                assert_eq!(row.get("title"), Some(&Value::Varchar(title.into())));
                assert_eq!(
                    row.get("title_vector"),
                    Some(&Value::FloatVector(vec![
                        0.5, -1.0, 0.25, 0.0, 1.0, 2.0, 3.0, 4.0
                    ]))
                );
            }
            let delete = Change::delete(1).to("articles");
            assert_eq!(out[3], Outcome::from(delete.clone()), "schemas {schemas}");
            // The tombstone after the delete deletes the same key again.
            assert_eq!(out[4], Outcome::from(delete), "schemas {schemas}");
        }
    }

    #[test]
    fn deletes_without_a_before_image_take_the_key() {
        let t = cdc(json!({}));
        let out = run(
            &t,
            &[record(
                Some(key(9, true)),
                Some(event("d", json!(null), json!(null), true)),
            )],
        );
        assert_eq!(change(&out[0]).action, Action::Delete(vec![Key::Int64(9)]));
    }

    #[test]
    fn collection_from_the_topic_or_the_config() {
        let mut r = record(
            Some(key(1, false)),
            Some(event("c", json!(null), article(1, "t"), false)),
        );
        r.topic = "cdc.public.posts".into();
        assert_eq!(
            change(&run(&cdc(json!({})), &[r.clone()])[0]).target,
            Target::collection("posts")
        );
        let t = cdc(json!({"collection": "articles"}));
        assert_eq!(
            change(&run(&t, &[r.clone()])[0]).target,
            Target::collection("articles")
        );
        r.value = None;
        assert_eq!(
            run(&t, &[r])[0],
            Outcome::from(Change::delete(1).to("articles"))
        );
    }

    #[test]
    fn a_vector_as_json_text_goes_to_the_host_as_it_is() {
        let mut after = article(3, "t");
        after["title_vector"] = json!("[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]");
        let out = run(
            &cdc(json!({})),
            &[record(None, Some(event("c", json!(null), after, false)))],
        );
        assert_eq!(
            row(&out[0]).get("title_vector"),
            Some(&Value::FloatVectorJson(
                "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]".into()
            ))
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let t = cdc(json!({}));
        let mut no_vector = article(4, "t");
        no_vector["title_vector"] = json!(null);
        let mut bad_vector = article(4, "t");
        bad_vector["title_vector"] = json!({"x": 1});
        let out = run(
            &t,
            &[
                record(None, Some(event("c", json!(null), no_vector, false))),
                record(None, Some(event("u", json!(null), bad_vector, true))),
                record(None, Some(event("u", json!(null), json!(null), true))),
                record(None, Some(event("t", json!(null), json!(null), false))),
                record(None, Some(article(5, "not an event"))),
                record(None, None),
            ],
        );
        let reasons: Vec<&str> = out
            .iter()
            .map(|o| match o {
                Outcome::Error(reason) => reason.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(reasons[0].starts_with("op `c`: the `after` image has no `title_vector`"));
        assert_eq!(
            reasons[1],
            "op `u`: `title_vector` must be an array of numbers or its JSON text, found JSON"
        );
        assert_eq!(reasons[2], "op `u` without an `after` image");
        assert!(reasons[3].starts_with("op `t` (truncate) cannot be applied"));
        assert!(reasons[4].starts_with("Debezium event without `op`"));
        assert_eq!(
            reasons[5],
            "op `tombstone`: no primary key `id` in the event's images, and the record has no key"
        );
    }

    #[test]
    fn titles_are_embedded_unless_unchanged_with_their_vector() {
        let t = cdc(json!({"embedder": "minilm"}));
        let mut without_vector = article(6, "Plain");
        without_vector
            .as_object_mut()
            .unwrap()
            .remove("title_vector");
        let mut with_link = article(7, "Same");
        with_link["link"] = json!("https://example.com/moved");
        let records = [
            record(None, Some(event("c", json!(null), without_vector, false))),
            record(None, Some(event("u", article(7, "Same"), with_link, true))),
            record(
                None,
                Some(event("u", article(8, "Old"), article(8, "Changed"), false)),
            ),
            record(Some(key(9, false)), None),
        ];
        let out = t.process_with(&records, |texts| {
            assert_eq!(texts, ["Plain", "Changed"]);
            Ok(texts.iter().map(|_| vec![9.0; 8]).collect())
        });
        assert_eq!(
            row(&out[0]).get("title_vector"),
            Some(&Value::FloatVector(vec![9.0; 8]))
        );
        assert_eq!(
            row(&out[1]).get("title_vector"),
            Some(&Value::FloatVector(vec![
                0.5, -1.0, 0.25, 0.0, 1.0, 2.0, 3.0, 4.0
            ]))
        );
        assert_eq!(
            row(&out[2]).get("title_vector"),
            Some(&Value::FloatVector(vec![9.0; 8]))
        );
        assert_eq!(out[3], Outcome::from(Change::delete(9).to("articles")));
        // Outside kmv-host there is no embedder: the rows that need one fail.
        let out = cdc(json!({"embedder": "minilm"})).process_batch(records.to_vec());
        assert!(matches!(&out[0], Outcome::Error(r) if r.contains("`minilm`")));
        assert!(matches!(&out[1], Outcome::Changes(_)));
    }

    #[test]
    fn config_is_checked() {
        let err = |config: Json| {
            Cdc::init(Config::from_value(config).unwrap())
                .err()
                .unwrap()
        };
        assert!(err(json!({"colection": "x"})).contains("unknown field `colection`"));
        assert_eq!(
            err(json!({"collection": ""})),
            "[transform.config] collection must not be empty"
        );
    }

    /// The records of examples/cdc, read as `kmv-host test` reads its
    /// envelope lines (a string is its text, null is absent, anything else
    /// its JSON), from the pipeline's topic.
    #[test]
    fn example_records() {
        let records: Vec<Record> = include_str!("../../../examples/cdc/records.jsonl")
            .lines()
            .map(|line| {
                let line: Json = serde_json::from_str(line).unwrap();
                let payload = |v: &Json| match v {
                    Json::Null => None,
                    Json::String(s) => Some(s.clone().into_bytes()),
                    other => Some(other.to_string().into_bytes()),
                };
                let mut r = Record::from_value(b"");
                r.topic = TOPIC.into();
                r.key = payload(&line["key"]);
                r.value = payload(&line["value"]);
                r
            })
            .collect();
        let out = run(&cdc(json!({})), &records);
        let summary: Vec<String> = out
            .iter()
            .map(|o| {
                let c = change(o);
                assert_eq!(c.target, Target::collection("articles"));
                match &c.action {
                    Action::Row(row) => {
                        let row = Row::from(row.clone());
                        let Some(Value::FloatVector(v)) = row.get("title_vector") else {
                            panic!("{row:?}")
                        };
                        assert_eq!(v.len(), 8);
                        assert_eq!(row.field_names(), ["id", "title", "link", "title_vector"]);
                        let Some(Value::Int64(id)) = row.get("id") else {
                            panic!("{row:?}")
                        };
                        format!("row {id}")
                    }
                    Action::Delete(keys) => match &keys[..] {
                        [key] => format!("delete {key}"),
                        other => panic!("{other:?}"),
                    },
                }
            })
            .collect();
        assert_eq!(
            summary,
            [
                "row 0", "row 1", "row 2", "row 1", "delete 2", "delete 2", "row 3", "row 3",
                "delete 0", "delete 0", "row 4",
            ]
        );
    }
}
