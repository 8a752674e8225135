//! [`Row`]: a typed row for the target collection, and the field-level
//! helpers transforms use most (rename, drop, keep, take a vector).

use crate::{ArrayValue, Field, Value};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};
use std::fmt;

/// A row for the target collection: named, typed fields in order.
///
/// Build one field by field with [`Row::with`], or from a JSON object with
/// [`Row::from_json_object`] and then reshape it:
///
/// ```
/// use kmv_guest::Row;
///
/// let row = Row::new()
///     .with("id", 7_i64)
///     .with("title", "Hello")
///     .with("title_vector", vec![0.1_f32, 0.2])
///     .rename("title", "headline");
/// assert_eq!(row.field_names(), ["id", "headline", "title_vector"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    fields: Vec<Field>,
}

/// Why a field could not be read or converted.
#[derive(Debug, Clone, PartialEq)]
pub enum RowError {
    /// The row has no field of this name.
    Missing(String),
    /// The field holds something else than what was asked for.
    WrongType {
        /// The field's name.
        field: String,
        /// What was asked for.
        expected: &'static str,
        /// What the field holds.
        found: String,
    },
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowError::Missing(name) => write!(f, "field `{name}` is missing"),
            RowError::WrongType {
                field,
                expected,
                found,
            } => write!(f, "field `{field}` must be {expected}, found {found}"),
        }
    }
}

impl std::error::Error for RowError {}

impl Row {
    /// An empty row.
    pub fn new() -> Row {
        Row::default()
    }

    /// Turns a JSON object into a row, one field per key, in order:
    /// null, booleans, integers (`int64`), other numbers (`double`) and
    /// strings (`varchar`) map to their kind; arrays of booleans, integers,
    /// numbers or strings become Milvus arrays (the host turns a number
    /// array into a float vector where the collection has one); objects and
    /// mixed arrays become JSON.
    pub fn from_json_object(map: Map<String, Json>) -> Row {
        Row {
            fields: map
                .into_iter()
                .map(|(name, v)| Field {
                    name,
                    value: Value::from(v),
                })
                .collect(),
        }
    }

    /// Parses a JSON object into a row like [`Row::from_json_object`],
    /// except that the fields named in `vectors` become
    /// [`Value::FloatVectorJson`] with the JSON text they arrived in, not
    /// parsed: the fast path for big vectors. The transform does not parse
    /// their floats, nor the host print them again; the host checks the
    /// text against the collection's FloatVector field (a JSON array of
    /// exactly `dim` finite numbers) and fails the record, naming the
    /// field, when it does not fit. A vector field that is JSON `null`
    /// stays null; one that is not an array is an error.
    ///
    /// ```
    /// use kmv_guest::{Row, Value};
    ///
    /// let text = r#"{"id": 1, "title_vector": [0.25, -1, 3e-2], "title": "Hi"}"#;
    /// let row = Row::from_json_raw_vectors(text, &["title_vector"]).unwrap();
    /// assert_eq!(row.field_names(), ["id", "title_vector", "title"]);
    /// assert_eq!(row.get("title_vector"), Some(&Value::FloatVectorJson("[0.25, -1, 3e-2]".into())));
    /// ```
    pub fn from_json_raw_vectors(text: &str, vectors: &[&str]) -> Result<Row, String> {
        let RawEntries(entries) = serde_json::from_str(text).map_err(|e| {
            if e.is_data() {
                format!("the value does not have the expected shape: {e}")
            } else {
                format!("the value is not valid JSON: {e}")
            }
        })?;
        let mut fields = Vec::with_capacity(entries.len());
        for (name, raw) in entries {
            let value = if vectors.contains(&name.as_str()) {
                match raw.get().as_bytes().first() {
                    Some(b'[') => Value::float_vector_json(raw),
                    Some(b'n') => Value::Null,
                    _ => {
                        let found = serde_json::from_str::<Json>(raw.get())
                            .map(|v| crate::record::json_kind(&v))
                            .unwrap_or("invalid JSON");
                        return Err(format!(
                            "field `{name}` must be a JSON array of numbers, found a JSON {found}"
                        ));
                    }
                }
            } else {
                serde_json::from_str::<Json>(raw.get())
                    .map_err(|e| format!("field `{name}`: {e}"))?
                    .into()
            };
            fields.push(Field { name, value });
        }
        Ok(Row { fields })
    }

    /// Sets field `name` to `value`, replacing a field of that name.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Row {
        self.set(name, value);
        self
    }

    /// Sets field `name` to `value`, replacing a field of that name.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.fields.iter_mut().find(|f| f.name == name) {
            Some(field) => field.value = value,
            None => self.fields.push(Field {
                name: name.to_string(),
                value,
            }),
        }
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// Removes field `name` and returns its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.fields.iter().position(|f| f.name == name)?;
        Some(self.fields.remove(i).value)
    }

    /// Renames field `from` to `to` (a no-op when `from` is absent). A field
    /// already named `to` is replaced.
    pub fn rename(mut self, from: &str, to: &str) -> Row {
        if from != to && self.get(from).is_some() {
            self.fields.retain(|f| f.name != to);
            if let Some(f) = self.fields.iter_mut().find(|f| f.name == from) {
                f.name = to.to_string();
            }
        }
        self
    }

    /// Drops field `name` (a no-op when absent).
    pub fn drop(mut self, name: &str) -> Row {
        self.fields.retain(|f| f.name != name);
        self
    }

    /// Keeps only the fields named in `names`.
    pub fn keep<S: AsRef<str>>(mut self, names: &[S]) -> Row {
        self.fields
            .retain(|f| names.iter().any(|n| n.as_ref() == f.name));
        self
    }

    /// Removes field `name` and returns it as a float vector; numbers arrays
    /// are converted.
    pub fn take_vector(&mut self, name: &str) -> Result<Vec<f32>, RowError> {
        let value = self
            .remove(name)
            .ok_or_else(|| RowError::Missing(name.to_string()))?;
        value
            .into_float_vector()
            .map_err(|found| RowError::WrongType {
                field: name.to_string(),
                expected: "a vector of numbers",
                found,
            })
    }

    /// Turns field `name` into a float vector in place (see [`Row::take_vector`]).
    pub fn vector(mut self, name: &str) -> Result<Row, RowError> {
        let v = self.take_vector(name)?;
        self.set(name, v);
        Ok(self)
    }

    /// The field names, in order.
    pub fn field_names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name.as_str()).collect()
    }

    /// The fields.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }
}

impl From<Row> for Vec<Field> {
    fn from(row: Row) -> Vec<Field> {
        row.fields
    }
}

impl From<Vec<Field>> for Row {
    fn from(fields: Vec<Field>) -> Row {
        Row { fields }
    }
}

impl Value {
    /// A FloatVector as the raw JSON text of an array, as it arrived
    /// ([`Value::FloatVectorJson`]); the host checks it against the field
    /// (see [`Row::from_json_raw_vectors`]). With a borrowed
    /// [`RawValue`] a typed record keeps its vector unparsed:
    ///
    /// ```
    /// use kmv_guest::{RawValue, Record, Row, Value};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Article<'a> {
    ///     id: i64,
    ///     #[serde(borrow)]
    ///     title_vector: &'a RawValue,
    /// }
    ///
    /// let record = Record::from_value(br#"{"id": 1, "title_vector": [0.5,1]}"#);
    /// let a: Article = record.json_borrowed().unwrap();
    /// let row = Row::new().with("id", a.id).with("title_vector", Value::float_vector_json(a.title_vector));
    /// assert_eq!(row.get("title_vector"), Some(&Value::FloatVectorJson("[0.5,1]".into())));
    /// ```
    pub fn float_vector_json(raw: &RawValue) -> Value {
        Value::FloatVectorJson(raw.get().to_string())
    }

    /// The value as a float vector, or a description of what it is. A
    /// [`Value::FloatVectorJson`] is parsed.
    pub fn into_float_vector(self) -> Result<Vec<f32>, String> {
        match self {
            Value::FloatVector(v) => Ok(v),
            Value::FloatVectorJson(text) => serde_json::from_str(&text)
                .map_err(|_| "JSON text that is not an array of numbers".to_string()),
            Value::Array(ArrayValue::Floats(v)) => Ok(v.into_iter().map(|x| x as f32).collect()),
            Value::Array(ArrayValue::Ints(v)) => Ok(v.into_iter().map(|x| x as f32).collect()),
            other => Err(other.kind().to_string()),
        }
    }

    /// A short name of the value's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Boolean(_) => "a boolean",
            Value::Int64(_) => "an integer",
            Value::Double(_) => "a number",
            Value::Varchar(_) => "a string",
            Value::Json(_) => "JSON",
            Value::Array(ArrayValue::Bools(_)) => "an array of booleans",
            Value::Array(ArrayValue::Ints(_)) => "an array of integers",
            Value::Array(ArrayValue::Floats(_)) => "an array of numbers",
            Value::Array(ArrayValue::Varchars(_)) => "an array of strings",
            Value::FloatVector(_) => "a float vector",
            Value::BinaryVector(_) => "a binary vector",
            Value::SparseVector(_) => "a sparse vector",
            Value::FloatVectorJson(_) => "a float vector as JSON text",
        }
    }
}

impl From<Json> for Value {
    fn from(v: Json) -> Value {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Boolean(b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int64(i),
                None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Json::String(s) => Value::Varchar(s),
            Json::Array(items) => array_value(items),
            obj @ Json::Object(_) => Value::Json(obj.to_string()),
        }
    }
}

/// A JSON object's entries with their values unparsed, in order.
struct RawEntries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawEntries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = RawEntries<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, &'de RawValue)> = Vec::new();
                while let Some((name, raw)) = map.next_entry::<String, &'de RawValue>()? {
                    // A repeated key: the last one wins, as in a JSON object.
                    entries.retain(|(n, _)| *n != name);
                    entries.push((name, raw));
                }
                Ok(RawEntries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

fn array_value(items: Vec<Json>) -> Value {
    if items.iter().all(|v| v.as_i64().is_some()) {
        return Value::Array(ArrayValue::Ints(
            items.iter().filter_map(Json::as_i64).collect(),
        ));
    }
    if items.iter().all(Json::is_number) {
        return Value::Array(ArrayValue::Floats(
            items.iter().filter_map(Json::as_f64).collect(),
        ));
    }
    if items.iter().all(Json::is_boolean) {
        return Value::Array(ArrayValue::Bools(
            items.iter().filter_map(Json::as_bool).collect(),
        ));
    }
    if items.iter().all(Json::is_string) {
        return Value::Array(ArrayValue::Varchars(
            items
                .into_iter()
                .map(|v| match v {
                    Json::String(s) => s,
                    _ => unreachable!("checked above"),
                })
                .collect(),
        ));
    }
    Value::Json(Json::Array(items).to_string())
}

macro_rules! value_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(v as $as)
            }
        }
    )*};
}

value_from!(i8 => Int64 as i64, i16 => Int64 as i64, i32 => Int64 as i64, i64 => Int64 as i64,
    u8 => Int64 as i64, u16 => Int64 as i64, u32 => Int64 as i64, f32 => Double as f64, f64 => Double as f64);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Boolean(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Varchar(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Varchar(v.to_string())
    }
}

impl From<Vec<f32>> for Value {
    fn from(v: Vec<f32>) -> Value {
        Value::FloatVector(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Json) -> Row {
        match v {
            Json::Object(m) => Row::from_json_object(m),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn json_typing() {
        let r = row(json!({
            "id": 1, "score": 0.5, "title": "t", "ok": true, "none": null,
            "v": [0.5, 1], "ints": [1, 2], "tags": ["a"], "meta": {"k": 1}, "mixed": [1, "a"]
        }));
        assert_eq!(r.get("id"), Some(&Value::Int64(1)));
        assert_eq!(r.get("score"), Some(&Value::Double(0.5)));
        assert_eq!(r.get("title"), Some(&Value::Varchar("t".into())));
        assert_eq!(r.get("ok"), Some(&Value::Boolean(true)));
        assert_eq!(r.get("none"), Some(&Value::Null));
        assert_eq!(
            r.get("v"),
            Some(&Value::Array(ArrayValue::Floats(vec![0.5, 1.0])))
        );
        assert_eq!(
            r.get("ints"),
            Some(&Value::Array(ArrayValue::Ints(vec![1, 2])))
        );
        assert_eq!(
            r.get("tags"),
            Some(&Value::Array(ArrayValue::Varchars(vec!["a".into()])))
        );
        assert_eq!(r.get("meta"), Some(&Value::Json(r#"{"k":1}"#.into())));
        assert_eq!(r.get("mixed"), Some(&Value::Json(r#"[1,"a"]"#.into())));
    }

    #[test]
    fn rename_drop_keep() {
        let r = row(json!({"a": 1, "b": 2, "c": 3}));
        assert_eq!(r.clone().rename("a", "x").field_names(), ["x", "b", "c"]);
        assert_eq!(r.clone().rename("a", "b").field_names(), ["b", "c"]);
        assert_eq!(r.clone().rename("a", "b").get("b"), Some(&Value::Int64(1)));
        assert_eq!(r.clone().rename("zz", "x"), r);
        assert_eq!(r.clone().drop("b").field_names(), ["a", "c"]);
        assert_eq!(r.clone().keep(&["c", "a"]).field_names(), ["a", "c"]);
    }

    #[test]
    fn vectors() {
        let mut r = row(json!({"v": [1, 0.5], "s": "x"}));
        assert_eq!(r.clone().take_vector("v").unwrap(), vec![1.0, 0.5]);
        assert_eq!(
            r.clone().vector("v").unwrap().get("v"),
            Some(&Value::FloatVector(vec![1.0, 0.5]))
        );
        assert_eq!(
            r.take_vector("s").unwrap_err().to_string(),
            "field `s` must be a vector of numbers, found a string"
        );
        assert_eq!(
            r.take_vector("nope").unwrap_err().to_string(),
            "field `nope` is missing"
        );
    }

    #[test]
    fn raw_vectors_keep_their_text() {
        let text = r#"{"id": 1, "v": [1,2.5e0 , 3], "w": null, "m": {"k": [1]}, "s": "x"}"#;
        let r = Row::from_json_raw_vectors(text, &["v", "w"]).unwrap();
        assert_eq!(
            r.get("v"),
            Some(&Value::FloatVectorJson("[1,2.5e0 , 3]".into()))
        );
        assert_eq!(r.get("w"), Some(&Value::Null));
        assert_eq!(r.get("m"), Some(&Value::Json(r#"{"k":[1]}"#.into())));
        assert_eq!(r.get("s"), Some(&Value::Varchar("x".into())));
        assert_eq!(r.clone().take_vector("v").unwrap(), vec![1.0, 2.5, 3.0]);
        assert_eq!(
            Row::from_json_raw_vectors(r#"{"v": "[1]"}"#, &["v"]).unwrap_err(),
            "field `v` must be a JSON array of numbers, found a JSON string"
        );
        assert!(
            Row::from_json_raw_vectors("[1]", &["v"])
                .unwrap_err()
                .starts_with("the value does not have the expected shape: invalid type: sequence, expected a JSON object")
        );
        assert!(
            Row::from_json_raw_vectors(r#"{"v": [1,}"#, &["v"])
                .unwrap_err()
                .starts_with("the value is not valid JSON")
        );
        let r = Row::from_json_raw_vectors(r#"{"a": 1, "b": 2, "a": 3}"#, &[]).unwrap();
        assert_eq!(r.field_names(), ["b", "a"]);
        let mut bad = Row::new().with("v", Value::FloatVectorJson("[\"a\"]".into()));
        assert_eq!(
            bad.take_vector("v").unwrap_err().to_string(),
            "field `v` must be a vector of numbers, found JSON text that is not an array of numbers"
        );
    }

    #[test]
    fn builder_replaces() {
        let r = Row::new()
            .with("a", 1)
            .with("a", "x")
            .with("b", Some(2.5))
            .with("c", None::<i64>);
        assert_eq!(r.get("a"), Some(&Value::Varchar("x".into())));
        assert_eq!(r.get("b"), Some(&Value::Double(2.5)));
        assert_eq!(r.get("c"), Some(&Value::Null));
    }
}
