//! Helpers on [`Record`]: read the key, value and headers, parse JSON.

use crate::{Record, Row};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

impl Record {
    /// A record with this value on topic `test`, partition 0, offset 0: for tests.
    pub fn from_value(value: &[u8]) -> Record {
        Record {
            topic: "test".into(),
            partition: 0,
            offset: 0,
            timestamp: None,
            key: None,
            value: Some(value.to_vec()),
            headers: Vec::new(),
        }
    }

    /// The value's bytes; `Err` for a tombstone (null value).
    pub fn value_bytes(&self) -> Result<&[u8], String> {
        self.value
            .as_deref()
            .ok_or_else(|| "the record has a null value (a tombstone)".to_string())
    }

    /// The value as UTF-8 text.
    pub fn value_str(&self) -> Result<&str, String> {
        std::str::from_utf8(self.value_bytes()?)
            .map_err(|e| format!("the value is not valid UTF-8: {e}"))
    }

    /// The key as UTF-8 text, if there is one.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value.as_deref())
    }

    /// Parses the value as JSON into `T` (any `serde::Deserialize` type).
    ///
    /// The error says what is wrong and where, e.g.
    /// `the value is not valid JSON: expected value at line 1 column 7`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        self.json_borrowed()
    }

    /// [`Record::json`] into a type that may borrow from the record: a
    /// `&'a RawValue` field keeps a vector's JSON text unparsed (see
    /// [`Value::float_vector_json`]), a `&'a str` or `Cow<'a, str>` a string
    /// without a copy.
    ///
    /// ```
    /// use kmv_guest::{RawValue, Record, Value};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Doc<'a> {
    ///     #[serde(borrow)]
    ///     v: &'a RawValue,
    /// }
    /// let record = Record::from_value(br#"{"v": [0.5, 1]}"#);
    /// let doc: Doc = record.json_borrowed().unwrap();
    /// assert_eq!(Value::float_vector_json(doc.v), Value::FloatVectorJson("[0.5, 1]".into()));
    /// ```
    pub fn json_borrowed<'a, T: Deserialize<'a>>(&'a self) -> Result<T, String> {
        serde_json::from_slice(self.value_bytes()?).map_err(|e| {
            if e.is_data() {
                format!("the value does not have the expected shape: {e}")
            } else {
                format!("the value is not valid JSON: {e}")
            }
        })
    }

    /// Parses the value as a JSON object.
    pub fn json_object(&self) -> Result<Map<String, Json>, String> {
        match self.json::<Json>()? {
            Json::Object(map) => Ok(map),
            other => Err(format!(
                "the value is a JSON {}, not an object",
                json_kind(&other)
            )),
        }
    }

    /// Parses the value as a JSON object and turns it into a [`Row`], one
    /// field per key (see [`Row::from_json_object`] for the typing rules).
    pub fn json_row(&self) -> Result<Row, String> {
        self.json_object().map(Row::from_json_object)
    }

    /// [`Record::json_row`], with the fields named in `vectors` kept as the
    /// JSON text of their arrays ([`crate::Value::FloatVectorJson`]), the
    /// fast path for big vectors: see [`Row::from_json_raw_vectors`].
    pub fn json_row_raw_vectors(&self, vectors: &[&str]) -> Result<Row, String> {
        Row::from_json_raw_vectors(self.value_str()?, vectors)
    }
}

/// The name of a JSON value's kind, for messages.
pub(crate) fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_problem() {
        let r = Record::from_value(b"{\"a\": ");
        assert!(
            r.json_object()
                .unwrap_err()
                .starts_with("the value is not valid JSON")
        );
        let r = Record::from_value(b"[1, 2]");
        assert_eq!(
            r.json_object().unwrap_err(),
            "the value is a JSON array, not an object"
        );
        let mut r = Record::from_value(b"");
        r.value = None;
        assert!(r.json_object().unwrap_err().contains("tombstone"));
        let r = Record::from_value(&[0xff, 0xfe]);
        assert!(r.value_str().unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn typed_json() {
        #[derive(Debug, serde::Deserialize)]
        struct Doc {
            id: i64,
        }
        let r = Record::from_value(br#"{"id": 7}"#);
        assert_eq!(r.json::<Doc>().unwrap().id, 7);
        let r = Record::from_value(br#"{"id": "x"}"#);
        assert!(r.json::<Doc>().unwrap_err().contains("expected shape"));
    }

    #[test]
    fn headers_and_key() {
        let mut r = Record::from_value(b"{}");
        r.key = Some(b"k1".to_vec());
        r.headers.push(crate::Header {
            key: "source".into(),
            value: Some(b"web".to_vec()),
        });
        assert_eq!(r.key_str(), Some("k1"));
        assert_eq!(r.header("source"), Some(&b"web"[..]));
        assert_eq!(r.header("other"), None);
    }
}
