//! [`Record`]: one Kafka record as the transform gets it; read the key,
//! value and headers, parse JSON.
//!
//! A value the host decoded from Avro comes as MessagePack
//! ([`ValueForm::MessagePack`]): [`Record::json`], [`Record::json_row`] and
//! [`Record::json_object`] read it typed, with no JSON text printed or
//! parsed, and read JSON values as before, so one transform serves both.

use crate::__bindings::kmv::transform::types::KafkaRecord;
use crate::{Header, RawValue, Row, Value, ValueForm};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value as Json};
use std::cell::OnceCell;

/// A Kafka record as the host hands it over.
#[derive(Debug, Clone)]
pub struct Record {
    /// The topic the record was consumed from.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch, when the broker gave one.
    pub timestamp: Option<i64>,
    /// The key's bytes (JSON text for a key the host decoded).
    pub key: Option<Vec<u8>>,
    /// The value's bytes, in [`Record::value_form`]; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The record's headers, in order (Kafka allows repeated keys).
    pub headers: Vec<Header>,
    /// How `value` is encoded: as consumed (or JSON text), or as the
    /// MessagePack of a value the host decoded.
    pub value_form: ValueForm,
    /// `value` as JSON text, made the first time it is asked for
    /// (MessagePack values only).
    json_text: OnceCell<Result<Vec<u8>, String>>,
}

impl PartialEq for Record {
    /// Records are equal when their fields are (a JSON text made on demand
    /// is not compared).
    fn eq(&self, other: &Record) -> bool {
        self.topic == other.topic
            && self.partition == other.partition
            && self.offset == other.offset
            && self.timestamp == other.timestamp
            && self.key == other.key
            && self.value == other.value
            && self.headers == other.headers
            && self.value_form == other.value_form
    }
}

impl Record {
    /// A record with this value on topic `test`, partition 0, offset 0: for tests.
    pub fn from_value(value: &[u8]) -> Record {
        Record::from_wit(
            KafkaRecord {
                topic: "test".into(),
                partition: 0,
                offset: 0,
                timestamp: None,
                key: None,
                value: Some(value.to_vec()),
                headers: Vec::new(),
            },
            ValueForm::Bytes,
        )
    }

    /// A record whose value is `value` as the host hands over a decoded
    /// Avro value (MessagePack), on topic `test`, partition 0, offset 0: for
    /// tests of a transform on Avro topics. An `f32` field is written as
    /// Avro's `float` is.
    ///
    /// ```
    /// use kmv_guest::Record;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Doc {
    ///     id: i64,
    ///     v: Vec<f32>,
    /// }
    /// let record = Record::from_decoded(&Doc { id: 7, v: vec![0.1, -2.5] });
    /// assert_eq!(record.json::<Doc>().unwrap().v, [0.1, -2.5]);
    /// assert_eq!(record.value_str().unwrap(), r#"{"id":7,"v":[0.1,-2.5]}"#);
    /// ```
    pub fn from_decoded(value: &impl Serialize) -> Record {
        let mut record = Record::from_value(b"");
        // Writing MessagePack into a Vec fails only for a map with non-string
        // keys or a `Serialize` that fails; the value is then empty.
        record.value = Some(rmp_serde::to_vec_named(value).unwrap_or_default());
        record.value_form = ValueForm::MessagePack;
        record
    }

    /// The record as the contract hands it over, with its values' form.
    #[doc(hidden)]
    pub fn from_wit(r: KafkaRecord, value_form: ValueForm) -> Record {
        Record {
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers,
            value_form,
            json_text: OnceCell::new(),
        }
    }

    /// The value's bytes as a transform for JSON reads them: the bytes as
    /// consumed, or a decoded value's JSON text (made once, from the
    /// MessagePack); `Err` for a tombstone (null value).
    pub fn value_bytes(&self) -> Result<&[u8], String> {
        let value = self
            .value
            .as_deref()
            .ok_or_else(|| "the record has a null value (a tombstone)".to_string())?;
        match self.value_form {
            ValueForm::Bytes => Ok(value),
            ValueForm::MessagePack => self
                .json_text
                .get_or_init(|| packed_to_json(value))
                .as_deref()
                .map_err(Clone::clone),
        }
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
    ///
    /// A decoded (MessagePack) value is read into `T` directly. A type that
    /// only JSON text can give (a `&RawValue`; use [`RawVector`] for
    /// vectors) or a value that does not fit `T` is read again from the
    /// value's JSON text, so the result and the error are those of a JSON
    /// record.
    pub fn json_borrowed<'a, T: Deserialize<'a>>(&'a self) -> Result<T, String> {
        if let (ValueForm::MessagePack, Some(packed)) = (self.value_form, &self.value)
            && let Ok(value) = rmp_serde::from_slice(packed)
        {
            return Ok(value);
        }
        serde_json::from_slice(self.value_bytes()?).map_err(|e| {
            if e.is_data() {
                format!("the value does not have the expected shape: {e}")
            } else {
                format!("the value is not valid JSON: {e}")
            }
        })
    }

    /// Parses the value as a JSON object. A decoded value's `float` is
    /// widened to the `f64` it is exactly (`0.1f32` reads as
    /// `0.10000000149011612`, as Avro's own readers give it), its `double`
    /// is as it was.
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
    ///
    /// For a decoded value the fields named in `vectors` become
    /// [`Value::FloatVector`] straight from its floats (nothing to parse).
    pub fn json_row_raw_vectors(&self, vectors: &[&str]) -> Result<Row, String> {
        if self.value_form == ValueForm::MessagePack {
            return self.json_object().and_then(|map| packed_row(map, vectors));
        }
        Row::from_json_raw_vectors(self.value_str()?, vectors)
    }
}

/// A decoded object as a row, the fields named in `vectors` as float vectors.
fn packed_row(map: Map<String, Json>, vectors: &[&str]) -> Result<Row, String> {
    let mut row = Row::new();
    for (name, v) in map {
        let value = match v {
            Json::Array(items) if vectors.contains(&name.as_str()) => Value::FloatVector(
                items
                    .iter()
                    .map(|x| x.as_f64().map(|x| x as f32))
                    .collect::<Option<_>>()
                    .ok_or_else(|| format!("field `{name}` must be an array of numbers"))?,
            ),
            Json::Null => Value::Null,
            other if vectors.contains(&name.as_str()) => {
                return Err(format!(
                    "field `{name}` must be a JSON array of numbers, found a JSON {}",
                    json_kind(&other)
                ));
            }
            other => other.into(),
        };
        row = row.with(&name, value);
    }
    Ok(row)
}

/// A decoded value's MessagePack as JSON text: the text a transform built
/// for an older contract gets from the host (an `f32` printed at its
/// shortest, as serde_json prints one).
fn packed_to_json(packed: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(packed.len() * 2);
    let mut de = rmp_serde::Deserializer::from_read_ref(packed);
    serde_transcode::transcode(&mut de, &mut serde_json::Serializer::new(&mut out))
        .map_err(|e| format!("the decoded value cannot be read: {e}"))?;
    Ok(out)
}

/// A float vector field as it arrived, read without its floats being
/// parsed from text or printed again: from a JSON record, the array's JSON
/// text (the host checks it and writes it as it is, see
/// [`Value::float_vector_json`]); from a decoded Avro record, its floats.
/// Read it with [`Record::json_borrowed`] and hand it on with
/// [`Value::from`].
///
/// ```
/// use kmv_guest::{RawVector, Record, Value};
///
/// #[derive(serde::Deserialize)]
/// struct Doc<'a> {
///     #[serde(borrow)]
///     v: RawVector<'a>,
/// }
/// let json = Record::from_value(br#"{"v": [0.5, 1]}"#);
/// let doc: Doc = json.json_borrowed().unwrap();
/// assert_eq!(Value::from(doc.v), Value::FloatVectorJson("[0.5, 1]".into()));
///
/// #[derive(serde::Serialize)]
/// struct Avro {
///     v: Vec<f32>,
/// }
/// let avro = Record::from_decoded(&Avro { v: vec![0.5, 1.0] });
/// let doc: Doc = avro.json_borrowed().unwrap();
/// assert_eq!(Value::from(doc.v), Value::FloatVector(vec![0.5, 1.0]));
/// ```
#[derive(Debug, Clone)]
pub enum RawVector<'a> {
    /// The JSON text of the array.
    Json(&'a RawValue),
    /// The floats of a decoded array.
    Floats(Vec<f32>),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawVector<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawVector<'a>, D::Error> {
        // serde_json is human-readable, MessagePack is not.
        if deserializer.is_human_readable() {
            <&'a RawValue>::deserialize(deserializer).map(RawVector::Json)
        } else {
            Vec::<f32>::deserialize(deserializer).map(RawVector::Floats)
        }
    }
}

impl From<RawVector<'_>> for Value {
    fn from(v: RawVector<'_>) -> Value {
        match v {
            RawVector::Json(raw) => Value::float_vector_json(raw),
            RawVector::Floats(floats) => Value::FloatVector(floats),
        }
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

    /// A decoded Avro article as the host writes it: f32 floats, a nested
    /// record, a null.
    #[derive(serde::Serialize)]
    struct Decoded {
        id: i64,
        title: &'static str,
        v: Vec<f32>,
        inner: Inner,
        gone: Option<i64>,
    }

    #[derive(serde::Serialize)]
    struct Inner {
        d: f64,
    }

    fn decoded() -> Record {
        Record::from_decoded(&Decoded {
            id: 7,
            title: "hi",
            v: vec![0.1, -2.5],
            inner: Inner { d: 0.1 },
            gone: None,
        })
    }

    #[test]
    fn decoded_values_read_typed() {
        #[derive(Debug, serde::Deserialize, PartialEq)]
        struct Doc<'a> {
            id: i64,
            title: &'a str,
            v: Vec<f32>,
        }
        let r = decoded();
        assert_eq!(r.value_form, ValueForm::MessagePack);
        let doc: Doc = r.json_borrowed().unwrap();
        assert_eq!(
            doc,
            Doc {
                id: 7,
                title: "hi",
                v: vec![0.1, -2.5]
            }
        );
        // Read typed, no JSON text was made.
        assert!(r.json_text.get().is_none());
        // The text is what the host gives older contracts (f32 at its shortest).
        assert_eq!(
            r.value_str().unwrap(),
            r#"{"id":7,"title":"hi","v":[0.1,-2.5],"inner":{"d":0.1},"gone":null}"#
        );
    }

    #[test]
    fn decoded_values_fall_back_to_text_with_the_json_reasons() {
        // `&RawValue` reads only JSON: the same result from the JSON text.
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            #[serde(borrow)]
            v: &'a RawValue,
        }
        let r = decoded();
        assert_eq!(r.json_borrowed::<Raw>().unwrap().v.get(), "[0.1,-2.5]");
        // A shape that does not fit: the JSON path's own reason.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Other {
            missing: i64,
        }
        let e = r.json::<Other>().unwrap_err();
        assert!(
            e.starts_with("the value does not have the expected shape: missing field `missing`"),
            "{e}"
        );
        let mut tombstone = decoded();
        tombstone.value = None;
        assert!(tombstone.json::<Json>().unwrap_err().contains("tombstone"));
    }

    #[test]
    fn decoded_rows_and_objects() {
        let r = decoded();
        let map = r.json_object().unwrap();
        // An f32 is widened to the f64 it is exactly; an f64 stays.
        assert_eq!(map["v"][0].as_f64(), Some(f64::from(0.1f32)));
        assert_eq!(map["inner"]["d"].as_f64(), Some(0.1));
        let row = r.json_row().unwrap();
        assert_eq!(row.field_names(), ["id", "title", "v", "inner", "gone"]);
        assert_eq!(row.get("id"), Some(&Value::Int64(7)));
        assert_eq!(row.get("gone"), Some(&Value::Null));
        let row = r.json_row_raw_vectors(&["v"]).unwrap();
        assert_eq!(row.get("v"), Some(&Value::FloatVector(vec![0.1, -2.5])));
        assert_eq!(row.get("title"), Some(&Value::Varchar("hi".into())));
        let e = r.json_row_raw_vectors(&["title"]).unwrap_err();
        assert_eq!(
            e,
            "field `title` must be a JSON array of numbers, found a JSON string"
        );
        assert!(r.json_row_raw_vectors(&["gone"]).is_ok());
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
