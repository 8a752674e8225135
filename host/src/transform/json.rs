//! Rows as JSON, written straight from the typed values (no re-parsing).

use super::{ArrayValue, Field, Value};
use serde::Serialize;
use serde::ser::{Error as _, SerializeMap, SerializeSeq, Serializer};

/// Serializes a row as a JSON object, one key per field.
#[derive(Debug, Clone, Copy)]
pub struct RowJson<'a>(pub &'a [Field]);

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for field in self.0 {
            map.serialize_entry(&field.name, &ValueJson(&field.value))?;
        }
        map.end()
    }
}

/// Serializes one value as JSON.
#[derive(Debug, Clone, Copy)]
pub struct ValueJson<'a>(pub &'a Value);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Boolean(b) => s.serialize_bool(*b),
            Value::Int64(i) => s.serialize_i64(*i),
            Value::Double(d) if d.is_finite() => s.serialize_f64(*d),
            Value::Double(d) => Err(S::Error::custom(format!("{d} is not a JSON number"))),
            Value::Varchar(v) => s.serialize_str(v),
            Value::Json(text) | Value::FloatVectorJson(text) => {
                let raw: &serde_json::value::RawValue = serde_json::from_str(text)
                    .map_err(|e| S::Error::custom(format!("not valid JSON text: {e}")))?;
                raw.serialize(s)
            }
            Value::Array(ArrayValue::Bools(v)) => v.serialize(s),
            Value::Array(ArrayValue::Ints(v)) => v.serialize(s),
            Value::Array(ArrayValue::Floats(v)) => finite_seq(s, v.iter().copied()),
            Value::Array(ArrayValue::Varchars(v)) => v.serialize(s),
            Value::FloatVector(v) => finite_seq(s, v.iter().copied()),
            Value::BinaryVector(v) => v.serialize(s),
            Value::SparseVector(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (index, value) in pairs {
                    map.serialize_entry(&index.to_string(), value)?;
                }
                map.end()
            }
        }
    }
}

fn finite_seq<S: Serializer, F: Into<f64> + Serialize + Copy>(
    s: S,
    items: impl ExactSizeIterator<Item = F>,
) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(items.len()))?;
    for x in items {
        if !x.into().is_finite() {
            return Err(S::Error::custom(format!(
                "{} is not a JSON number",
                x.into()
            )));
        }
        seq.serialize_element(&x)?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, value: Value) -> Field {
        Field {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn typed_values_become_json() {
        let row = vec![
            field("id", Value::Int64(7)),
            field("t", Value::Varchar("x\"y".into())),
            field("v", Value::FloatVector(vec![0.1, -2.5])),
            field("meta", Value::Json(r#"{"a": [1, 2]}"#.into())),
            field("tags", Value::Array(ArrayValue::Varchars(vec!["a".into()]))),
            field("s", Value::SparseVector(vec![(3, 0.5)])),
            field("n", Value::Null),
        ];
        let text = serde_json::to_string(&RowJson(&row)).unwrap();
        assert_eq!(
            text,
            r#"{"id":7,"t":"x\"y","v":[0.1,-2.5],"meta":{"a": [1, 2]},"tags":["a"],"s":{"3":0.5},"n":null}"#
        );
    }

    #[test]
    fn bad_values_are_errors() {
        let row = vec![field("v", Value::FloatVector(vec![f32::NAN]))];
        assert!(
            serde_json::to_string(&RowJson(&row))
                .unwrap_err()
                .to_string()
                .contains("NaN is not a JSON number")
        );
        let row = vec![field("j", Value::Json("{oops".into()))];
        assert!(
            serde_json::to_string(&RowJson(&row))
                .unwrap_err()
                .to_string()
                .contains("not valid JSON text")
        );
    }
}
