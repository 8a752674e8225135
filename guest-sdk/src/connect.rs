//! Records written by Kafka Connect's JSON converter, and keys and
//! tombstones.
//!
//! With `schemas.enable=true` (the converter's default), Kafka Connect's
//! `JsonConverter` wraps every key and value in an envelope, an object with
//! exactly two keys: `{"schema": {...}, "payload": ...}`. With
//! `schemas.enable=false` it writes the payload alone. The `connect_*`
//! methods of [`Record`] read both forms alike, so a transform works with
//! either converter setting without edits:
//!
//! ```
//! use kmv_guest::Record;
//!
//! let plain = Record::from_value(br#"{"id": 1, "title": "Hi"}"#);
//! let wrapped = Record::from_value(
//!     br#"{"schema": {"type": "struct", "fields": []}, "payload": {"id": 1, "title": "Hi"}}"#,
//! );
//! assert_eq!(plain.connect_json_row(), wrapped.connect_json_row());
//! ```
//!
//! A tombstone is a record with a key and a null value: for a compacted
//! topic it means "this key is gone". [`Record::tombstone_delete`] turns it
//! into a delete of the key's primary key.

use crate::record::json_kind;
use crate::{Key, Outcome, Record, Row};
use serde_json::{Map, Value as Json};

/// The payload of a Kafka Connect JSON envelope (an object with exactly the
/// keys `schema` and `payload`), or `json` itself when it is not one.
///
/// ```
/// use kmv_guest::connect::unwrap_envelope;
/// use serde_json::json;
///
/// assert_eq!(unwrap_envelope(json!({"schema": null, "payload": {"id": 1}})), json!({"id": 1}));
/// assert_eq!(unwrap_envelope(json!({"id": 1})), json!({"id": 1}));
/// ```
pub fn unwrap_envelope(json: Json) -> Json {
    match json {
        Json::Object(mut map)
            if map.len() == 2 && map.contains_key("schema") && map.contains_key("payload") =>
        {
            map.remove("payload").unwrap_or(Json::Null)
        }
        other => other,
    }
}

impl Record {
    /// Whether the record is a tombstone: its value is null.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    /// Parses the value as JSON, unwrapping a Kafka Connect envelope
    /// (see [`unwrap_envelope`]).
    pub fn connect_json(&self) -> Result<Json, String> {
        self.json::<Json>().map(unwrap_envelope)
    }

    /// [`Record::connect_json`], which must be a JSON object.
    pub fn connect_json_object(&self) -> Result<Map<String, Json>, String> {
        match self.connect_json()? {
            Json::Object(map) => Ok(map),
            other => Err(format!(
                "the value's payload is a JSON {}, not an object",
                json_kind(&other)
            )),
        }
    }

    /// [`Record::connect_json_object`] as a [`Row`], like [`Record::json_row`].
    pub fn connect_json_row(&self) -> Result<Row, String> {
        self.connect_json_object().map(Row::from_json_object)
    }

    /// The key parsed as JSON, unwrapping a Kafka Connect envelope; `None`
    /// when the record has no key. A key that is not JSON (a plain string
    /// key) is returned as a JSON string.
    pub fn key_json(&self) -> Result<Option<Json>, String> {
        let Some(key) = self.key.as_deref() else {
            return Ok(None);
        };
        match serde_json::from_slice::<Json>(key) {
            Ok(json) => Ok(Some(unwrap_envelope(json))),
            Err(_) => match std::str::from_utf8(key) {
                Ok(text) => Ok(Some(Json::String(text.to_string()))),
                Err(_) => Err("the record key is neither JSON nor UTF-8 text".to_string()),
            },
        }
    }

    /// The primary key `field` held in the record's key.
    ///
    /// The key may be a JSON object with that field, as Kafka Connect and
    /// Debezium frame keys (`{"id": 1}`, or `{"schema": ..., "payload":
    /// {"id": 1}}`), or a bare JSON integer or string, or plain text. An
    /// integer is an Int64 key and a string a VarChar key, so a plain-text
    /// key `17` is the integer 17.
    ///
    /// ```
    /// use kmv_guest::{Key, Record};
    ///
    /// let mut record = Record::from_value(b"{}");
    /// record.key = Some(br#"{"schema": {"type": "struct"}, "payload": {"id": 17}}"#.to_vec());
    /// assert_eq!(record.primary_key("id"), Ok(Key::Int64(17)));
    /// record.key = Some(b"article-17".to_vec());
    /// assert_eq!(record.primary_key("id"), Ok(Key::Varchar("article-17".into())));
    /// record.key = None;
    /// assert_eq!(record.primary_key("id").unwrap_err(), "the record has no key");
    /// ```
    pub fn primary_key(&self, field: &str) -> Result<Key, String> {
        match self.key_json()? {
            None => Err("the record has no key".to_string()),
            Some(Json::Object(map)) => match map.get(field) {
                Some(value) => {
                    Key::from_json(value).map_err(|e| format!("the record key's `{field}`: {e}"))
                }
                None => Err(format!(
                    "the record key has no field `{field}` (it has {})",
                    field_list(&map)
                )),
            },
            Some(Json::Null) => Err("the record key is JSON null".to_string()),
            Some(other) => Key::from_json(&other).map_err(|e| format!("the record key: {e}")),
        }
    }

    /// For a tombstone (a null value), a delete of the primary key `field`
    /// held in the record's key (see [`Record::primary_key`]), or an error
    /// when the key does not hold one; `None` for any other record.
    ///
    /// ```
    /// use kmv_guest::{Config, Outcome, Record, Transform};
    ///
    /// /// JSON objects as rows; a tombstone deletes its key's `id`.
    /// struct Compacted;
    ///
    /// impl Transform for Compacted {
    ///     fn init(_config: Config) -> Result<Self, String> {
    ///         Ok(Compacted)
    ///     }
    ///
    ///     fn process(&mut self, record: Record) -> Outcome {
    ///         if let Some(delete) = record.tombstone_delete("id") {
    ///             return delete;
    ///         }
    ///         record.connect_json_row().into()
    ///     }
    /// }
    ///
    /// let mut tombstone = Record::from_value(b"");
    /// tombstone.value = None;
    /// tombstone.key = Some(br#"{"id": 5}"#.to_vec());
    /// let outcome = Compacted::init(Config::default()).unwrap().process(tombstone);
    /// assert_eq!(outcome, Outcome::delete([5]));
    /// ```
    pub fn tombstone_delete(&self, field: &str) -> Option<Outcome> {
        if !self.is_tombstone() {
            return None;
        }
        Some(match self.primary_key(field) {
            Ok(key) => Outcome::delete([key]),
            Err(reason) => Outcome::Error(format!(
                "a tombstone (null value) whose key gives no primary key to delete: {reason}"
            )),
        })
    }
}

/// `` `a`, `b` `` for messages; "no fields" when empty.
pub(crate) fn field_list(map: &Map<String, Json>) -> String {
    if map.is_empty() {
        return "no fields".to_string();
    }
    map.keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keyed(key: &[u8]) -> Record {
        let mut r = Record::from_value(b"{}");
        r.key = Some(key.to_vec());
        r
    }

    #[test]
    fn envelope_only_with_exactly_schema_and_payload() {
        let three = json!({"schema": 1, "payload": 2, "other": 3});
        assert_eq!(unwrap_envelope(three.clone()), three);
        assert_eq!(
            unwrap_envelope(json!({"payload": 2})),
            json!({"payload": 2})
        );
        assert_eq!(unwrap_envelope(json!([1])), json!([1]));
        let r = Record::from_value(br#"{"schema": {}, "payload": [1]}"#);
        assert_eq!(
            r.connect_json_object().unwrap_err(),
            "the value's payload is a JSON array, not an object"
        );
        let r = Record::from_value(br#"{"schema": {}, "payload": {"a": 1}}"#);
        assert_eq!(r.connect_json_row().unwrap().field_names(), ["a"]);
    }

    #[test]
    fn primary_keys_as_connect_frames_them() {
        assert_eq!(keyed(br#"{"id": 3}"#).primary_key("id"), Ok(Key::Int64(3)));
        assert_eq!(
            keyed(br#"{"schema": null, "payload": {"id": "a"}}"#).primary_key("id"),
            Ok(Key::Varchar("a".into()))
        );
        assert_eq!(keyed(b"42").primary_key("id"), Ok(Key::Int64(42)));
        assert_eq!(
            keyed(br#""42""#).primary_key("id"),
            Ok(Key::Varchar("42".into()))
        );
        assert_eq!(
            keyed(br#"{"uid": 3, "org": 1}"#)
                .primary_key("id")
                .unwrap_err(),
            "the record key has no field `id` (it has `uid`, `org`)"
        );
        assert_eq!(
            keyed(br#"{"id": true}"#).primary_key("id").unwrap_err(),
            "the record key's `id`: a primary key must be an integer or a string, found a boolean"
        );
        assert_eq!(
            keyed(b"null").primary_key("id").unwrap_err(),
            "the record key is JSON null"
        );
        assert!(
            keyed(&[0xff])
                .primary_key("id")
                .unwrap_err()
                .contains("UTF-8")
        );
    }

    #[test]
    fn tombstones() {
        let mut r = keyed(br#"{"id": 9}"#);
        assert_eq!(r.tombstone_delete("id"), None);
        r.value = None;
        assert!(r.is_tombstone());
        assert_eq!(r.tombstone_delete("id"), Some(Outcome::delete([9])));
        r.key = None;
        let Some(Outcome::Error(reason)) = r.tombstone_delete("id") else {
            panic!()
        };
        assert_eq!(
            reason,
            "a tombstone (null value) whose key gives no primary key to delete: the record has no key"
        );
    }
}
