//! Rows to JSON: each value is checked against its field and written in the
//! same pass, straight into the request bytes (nothing is parsed back).
//!
//! Milvus 2.3 and 2.4 accept some bad input silently (a number into a VarChar,
//! an Int8 out of range, extra keys dropped), so every check that Milvus
//! would skip is made here, and a bad row is an error that names its field.

mod keys;
mod values;
mod vector_json;
mod vectors;

use super::RestApi;
use super::schema::{CollectionSchema, DataType, FieldSchema};
use crate::transform::{ArrayValue, Field, Value};
use keys::*;
use std::collections::HashMap;
use std::fmt;
use values::*;
use vectors::*;

/// A row that does not fit the collection. The reason names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RowError {
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// What is wrong, e.g. "field `v`: expected 8 values (FloatVector dim 8), got 7".
    pub reason: String,
    /// The field is not in the collection (which may have gained it since).
    pub unknown_field: bool,
}

/// A primary key value, as written or as acknowledged by Milvus.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrimaryKey {
    /// An Int64 key.
    Int(i64),
    /// A VarChar key.
    Str(String),
}

impl fmt::Display for PrimaryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrimaryKey::Int(i) => write!(f, "{i}"),
            PrimaryKey::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// One row, checked and written as a JSON object.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedRow {
    /// The row's JSON object.
    pub json: Vec<u8>,
    /// Its primary key; `None` on auto-id collections.
    pub pk: Option<PrimaryKey>,
}

impl EncodedRow {
    /// Bytes of JSON.
    pub fn len(&self) -> usize {
        self.json.len()
    }

    /// Never true for a row that was encoded (`{}` at least).
    pub fn is_empty(&self) -> bool {
        self.json.is_empty()
    }
}

/// Never prints the row: it may hold vectors.
impl fmt::Debug for EncodedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedRow")
            .field("bytes", &self.json.len())
            .field("pk", &self.pk)
            .finish()
    }
}

/// Checks rows against one collection's schema and writes them as JSON for
/// one REST API version.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    schema: CollectionSchema,
    api: RestApi,
    by_name: HashMap<String, usize>,
}

impl RowEncoder {
    /// An encoder for `schema`, writing what `api` expects.
    pub fn new(schema: CollectionSchema, api: RestApi) -> Self {
        let by_name = schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        RowEncoder {
            schema,
            api,
            by_name,
        }
    }

    /// The schema rows are checked against.
    pub fn schema(&self) -> &CollectionSchema {
        &self.schema
    }

    /// Checks `row` and writes it as a JSON object.
    pub fn encode(&self, row: &[Field]) -> Result<EncodedRow, RowError> {
        let mut json = Vec::with_capacity(64 + 16 * row.len());
        let pk = self.encode_into(row, &mut json)?;
        Ok(EncodedRow { json, pk })
    }

    /// Checks `row` and appends it to `out` as a JSON object; returns its
    /// primary key (`None` on auto-id collections). On error `out` is left
    /// as it was.
    pub fn encode_into(
        &self,
        row: &[Field],
        out: &mut Vec<u8>,
    ) -> Result<Option<PrimaryKey>, RowError> {
        let start = out.len();
        let result = self.write_row(row, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write_row(&self, row: &[Field], out: &mut Vec<u8>) -> Result<Option<PrimaryKey>, RowError> {
        let mut seen = vec![false; self.schema.fields.len()];
        let mut pk = None;
        let mut first = true;
        out.push(b'{');
        for (i, field) in row.iter().enumerate() {
            let name = field.name.as_str();
            match self.by_name.get(name) {
                Some(&idx) => {
                    let fs = &self.schema.fields[idx];
                    if seen[idx] {
                        return Err(err(name, format!("field `{name}`: set twice in one row")));
                    }
                    seen[idx] = true;
                    if fs.primary && self.schema.auto_id && !self.schema.allow_insert_auto_id {
                        return Err(err(
                            name,
                            format!(
                                "field `{name}`: primary key must not be set on an auto-id collection (Milvus generates it)"
                            ),
                        ));
                    }
                    if fs.function_output {
                        return Err(err(
                            name,
                            format!(
                                "field `{name}`: computed by a Milvus function; rows must not set it"
                            ),
                        ));
                    }
                    if matches!(field.value, Value::Null) && !(fs.nullable || fs.has_default) {
                        return Err(err(
                            name,
                            format!("field `{name}`: null, but the field is not nullable"),
                        ));
                    }
                    key(out, &mut first, name);
                    if fs.primary {
                        pk = Some(write_pk(fs, &field.value, out)?);
                    } else {
                        self.write_value(fs, &field.value, out)?;
                    }
                }
                None => {
                    if !self.schema.dynamic {
                        return Err(RowError {
                            unknown_field: true,
                            ..err(
                                name,
                                format!(
                                    "field `{name}`: not in collection `{}` and dynamic fields are off",
                                    self.schema.name
                                ),
                            )
                        });
                    }
                    if name == "$meta" {
                        return Err(err(
                            name,
                            "field `$meta`: reserved for Milvus' dynamic field; name the keys it should hold instead".into(),
                        ));
                    }
                    if row[..i].iter().any(|f| f.name == name) {
                        return Err(err(name, format!("field `{name}`: set twice in one row")));
                    }
                    if matches!(field.value, Value::Null) {
                        continue; // Milvus skips null dynamic values too.
                    }
                    key(out, &mut first, name);
                    write_dynamic(name, &field.value, out)?;
                }
            }
        }
        self.check_missing(&seen)?;
        out.push(b'}');
        Ok(pk)
    }

    fn check_missing(&self, seen: &[bool]) -> Result<(), RowError> {
        let mut missing = self
            .schema
            .fields
            .iter()
            .zip(seen)
            .filter(|(f, seen)| {
                let optional = (f.primary && self.schema.auto_id)
                    || f.function_output
                    || f.nullable
                    || f.has_default;
                !**seen && !optional
            })
            .map(|(f, _)| f);
        let Some(first) = missing.next() else {
            return Ok(());
        };
        if first.primary {
            return Err(err(
                &first.name,
                format!("field `{}`: missing primary key", first.name),
            ));
        }
        let rest: Vec<&str> = missing.map(|f| f.name.as_str()).collect();
        let reason = if rest.is_empty() {
            format!("field `{}`: missing", first.name)
        } else {
            format!("fields `{}`, `{}`: missing", first.name, rest.join("`, `"))
        };
        Err(err(&first.name, reason))
    }

    fn write_value(
        &self,
        fs: &FieldSchema,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), RowError> {
        let name = fs.name.as_str();
        match (&fs.data_type, value) {
            (_, Value::Null) => out.extend_from_slice(b"null"),
            (DataType::Bool, Value::Boolean(b)) => out.extend_from_slice(bool_text(*b)),
            (DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64, v) => {
                write_int(fs, v, out)?
            }
            (DataType::Float, Value::Int64(i)) => {
                exact_float(name, *i, true)?;
                write_num(out, *i)
            }
            (DataType::Float, Value::Double(d)) => write_num(out, to_f32(name, *d)?),
            (DataType::Double, Value::Int64(i)) => {
                exact_float(name, *i, false)?;
                write_num(out, *i)
            }
            (DataType::Double, Value::Double(d)) => write_num(out, finite(name, *d)?),
            (DataType::VarChar { max_length }, Value::Varchar(s)) => {
                check_len(name, s, *max_length, "VarChar max_length")?;
                write_str(out, s);
            }
            (DataType::Json, Value::Json(text)) => write_json_field(name, text, out)?,
            (
                DataType::Array {
                    element,
                    max_capacity,
                },
                Value::Array(a),
            ) => write_array(name, *element, *max_capacity, a, out)?,
            (
                DataType::FloatVector { .. }
                | DataType::Float16Vector { .. }
                | DataType::BFloat16Vector { .. },
                Value::FloatVectorJson(text),
            ) => write_vector_json(fs, text, out)?,
            (
                DataType::FloatVector { dim }
                | DataType::Float16Vector { dim }
                | DataType::BFloat16Vector { dim },
                v,
            ) if is_float_list(v) => write_float_vector(fs, *dim, v, out)?,
            (DataType::BinaryVector { dim }, Value::BinaryVector(bytes)) => {
                write_binary_vector(name, *dim, bytes, self.api, out)?
            }
            (DataType::SparseFloatVector, Value::SparseVector(pairs)) => {
                write_sparse(name, pairs, out)?
            }
            (DataType::Int8Vector { dim }, Value::Array(ArrayValue::Ints(x))) => {
                write_int8_vector(name, *dim, x, out)?
            }
            (DataType::Timestamptz, Value::Varchar(s)) => write_timestamptz(name, s, out)?,
            (DataType::Geometry, Value::Varchar(s)) => write_geometry(name, s, out)?,
            (DataType::StructArray, _) => {
                return Err(err(
                    name,
                    format!(
                        "field `{name}`: a struct-array field, which kmv-host does not write; leave it out (it is nullable)"
                    ),
                ));
            }
            (t, v) => {
                return Err(err(
                    name,
                    format!("field `{name}`: expected {t}, got {}", kind(v)),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::schema::ElementType;
    use crate::transform::ArrayValue;

    fn f(name: &str, value: Value) -> Field {
        Field {
            name: name.into(),
            value,
        }
    }

    fn field(name: &str, data_type: DataType) -> FieldSchema {
        FieldSchema {
            name: name.into(),
            data_type,
            primary: false,
            auto_id: false,
            nullable: false,
            has_default: false,
            function_output: false,
        }
    }

    /// The seed collection of tests/services/milvus_admin.py, dim 8.
    fn seed(auto_id: bool) -> CollectionSchema {
        let mut id = field("id", DataType::Int64);
        id.primary = true;
        id.auto_id = auto_id;
        CollectionSchema {
            name: "topic_0".into(),
            fields: vec![
                id,
                field("title", DataType::VarChar { max_length: 512 }),
                field("title_vector", DataType::FloatVector { dim: 8 }),
                field("link", DataType::VarChar { max_length: 512 }),
            ],
            primary: "id".into(),
            auto_id,
            dynamic: false,
            allow_insert_auto_id: false,
            loaded: Some(true),
        }
    }

    fn seed_row(id: Option<i64>, dim: usize) -> Vec<Field> {
        let mut row = Vec::new();
        if let Some(id) = id {
            row.push(f("id", Value::Int64(id)));
        }
        row.push(f("title", Value::Varchar("A \"title\"".into())));
        row.push(f(
            "title_vector",
            Value::FloatVector((0..dim).map(|i| i as f32 * 0.1).collect()),
        ));
        row.push(f("link", Value::Varchar("https://x".into())));
        row
    }

    fn text(r: &EncodedRow) -> &str {
        std::str::from_utf8(&r.json).unwrap()
    }

    fn reason(e: RowEncoder, row: &[Field]) -> String {
        e.encode(row).unwrap_err().reason
    }

    #[test]
    fn seed_row_is_written_in_one_pass() {
        let e = RowEncoder::new(seed(false), RestApi::V1);
        let r = e.encode(&seed_row(Some(7), 8)).unwrap();
        assert_eq!(r.pk, Some(PrimaryKey::Int(7)));
        assert_eq!(
            text(&r),
            r#"{"id":7,"title":"A \"title\"","title_vector":[0.0,0.1,0.2,0.3,0.4,0.5,0.6,0.7],"link":"https://x"}"#
        );
        let parsed: serde_json::Value = serde_json::from_slice(&r.json).unwrap();
        assert_eq!(parsed["title_vector"].as_array().unwrap().len(), 8);
    }

    #[test]
    fn float_vectors_print_as_serde_json_prints_f32_and_read_back_exactly() {
        let e = RowEncoder::new(seed(false), RestApi::V1);
        let vector = vec![
            -0.0,
            f32::MIN_POSITIVE,
            1e-45, // the least subnormal
            f32::MAX,
            f32::MIN,
            0.1,
            -1.234_567_8e-38,
            16_777_216.0,
        ];
        let mut row = seed_row(Some(1), 8);
        row[2].value = Value::FloatVector(vector.clone());
        let r = e.encode(&row).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&r.json).unwrap();
        assert_eq!(
            parsed["title_vector"].to_string(),
            serde_json::to_string(&vector).unwrap()
        );
        let back: Vec<f32> = serde_json::from_value(parsed["title_vector"].clone()).unwrap();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            vector.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        row[2].value = Value::FloatVector(vec![0.0, 1.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(
            reason(e, &row),
            "field `title_vector`: value 2 of the vector is NaN, not a number FloatVector dim 8 can hold"
        );
    }

    #[test]
    fn wrong_dimension_names_field_and_dims() {
        let e = RowEncoder::new(seed(false), RestApi::V1);
        let err = e.encode(&seed_row(Some(1), 7)).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("title_vector"));
        assert_eq!(
            err.reason,
            "field `title_vector`: expected 8 values (FloatVector dim 8), got 7"
        );
        assert_eq!(err.to_string(), err.reason);
    }

    #[test]
    fn primary_key_rules() {
        assert_eq!(
            reason(
                RowEncoder::new(seed(false), RestApi::V1),
                &seed_row(None, 8)
            ),
            "field `id`: missing primary key"
        );
        let e = RowEncoder::new(seed(true), RestApi::V1);
        assert_eq!(
            reason(e.clone(), &seed_row(Some(1), 8)),
            "field `id`: primary key must not be set on an auto-id collection (Milvus generates it)"
        );
        let r = e.encode(&seed_row(None, 8)).unwrap();
        assert_eq!(r.pk, None);
        assert!(text(&r).starts_with(r#"{"title":"#));
        // 2.6's `allow_insert_auto_id` property lets a row bring its own key
        // (v2.6.20 H/utils.go:941-945), and still lets Milvus make one.
        let mut allowed = seed(true);
        allowed.allow_insert_auto_id = true;
        let e2 = RowEncoder::new(allowed, RestApi::V2);
        assert_eq!(
            e2.encode(&seed_row(Some(1), 8)).unwrap().pk,
            Some(PrimaryKey::Int(1))
        );
        assert_eq!(e2.encode(&seed_row(None, 8)).unwrap().pk, None);
        // A whole double is a fine Int64 key; 1.5 is not.
        let mut row = seed_row(None, 8);
        row.insert(0, f("id", Value::Double(42.0)));
        let e = RowEncoder::new(seed(false), RestApi::V1);
        assert_eq!(e.encode(&row).unwrap().pk, Some(PrimaryKey::Int(42)));
        row[0].value = Value::Double(1.5);
        assert_eq!(
            reason(e.clone(), &row),
            "field `id`: 1.5 is not a whole number (Int64)"
        );
        // "7" is not an Int64 key (Milvus 2.3 would accept it).
        row[0].value = Value::Varchar("7".into());
        assert_eq!(
            reason(e, &row),
            "field `id`: expected Int64 (primary key), got varchar"
        );
    }

    #[test]
    fn varchar_primary_key_and_length() {
        let mut s = seed(false);
        s.fields[0].data_type = DataType::VarChar { max_length: 4 };
        let e = RowEncoder::new(s, RestApi::V2);
        let mut row = seed_row(None, 8);
        row.push(f("id", Value::Varchar("abcd".into())));
        assert_eq!(
            e.encode(&row).unwrap().pk,
            Some(PrimaryKey::Str("abcd".into()))
        );
        row[3].value = Value::Varchar("abcde".into());
        assert_eq!(
            reason(e, &row),
            "field `id`: 5 bytes, over VarChar max_length 4"
        );
    }

    #[test]
    fn varchar_too_long_and_numbers_are_not_text() {
        let e = RowEncoder::new(seed(false), RestApi::V1);
        let mut row = seed_row(Some(1), 8);
        row[1].value = Value::Varchar("é".repeat(300));
        assert_eq!(
            reason(e.clone(), &row),
            "field `title`: 600 bytes, over VarChar max_length 512"
        );
        row[1].value = Value::Int64(5);
        assert_eq!(
            reason(e, &row),
            "field `title`: expected VarChar(max_length 512), got int64"
        );
    }

    #[test]
    fn extra_and_missing_fields() {
        let e = RowEncoder::new(seed(false), RestApi::V1);
        let mut row = seed_row(Some(1), 8);
        row.push(f("extra", Value::Int64(1)));
        assert_eq!(
            reason(e.clone(), &row),
            "field `extra`: not in collection `topic_0` and dynamic fields are off"
        );
        let row: Vec<Field> = seed_row(Some(1), 8).into_iter().take(2).collect();
        let err = e.encode(&row).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("title_vector"));
        assert_eq!(err.reason, "fields `title_vector`, `link`: missing");
        let mut row = seed_row(Some(1), 8);
        row.pop();
        assert_eq!(reason(e.clone(), &row), "field `link`: missing");
        let mut row = seed_row(Some(1), 8);
        row.push(f("title", Value::Varchar("again".into())));
        assert_eq!(
            reason(e.clone(), &row),
            "field `title`: set twice in one row"
        );
        let mut row = seed_row(Some(1), 8);
        row[3].value = Value::Null;
        assert_eq!(
            reason(e, &row),
            "field `link`: null, but the field is not nullable"
        );
    }

    #[test]
    fn nullable_and_default_fields_may_be_left_out() {
        let mut s = seed(false);
        s.fields[3].nullable = true;
        s.fields[1].has_default = true;
        let e = RowEncoder::new(s, RestApi::V2);
        let mut row = seed_row(Some(1), 8);
        row.retain(|f| f.name != "title");
        row[2].value = Value::Null;
        let r = e.encode(&row).unwrap();
        assert!(text(&r).ends_with(r#""link":null}"#));
    }

    fn scalars() -> CollectionSchema {
        let mut s = seed(false);
        s.dynamic = true;
        s.fields.extend([
            field("i8", DataType::Int8),
            field("i16", DataType::Int16),
            field("i32", DataType::Int32),
            field("f", DataType::Float),
            field("d", DataType::Double),
            field("b", DataType::Bool),
            field("meta", DataType::Json),
        ]);
        s
    }

    fn scalar_row() -> Vec<Field> {
        let mut row = seed_row(Some(1), 8);
        row.extend([
            f("i8", Value::Int64(-128)),
            f("i16", Value::Double(300.0)),
            f("i32", Value::Int64(70_000)),
            f("f", Value::Double(0.1)),
            f("d", Value::Int64(3)),
            f("b", Value::Boolean(true)),
            f("meta", Value::Json(r#" {"a": [1, 2]} "#.into())),
        ]);
        row
    }

    #[test]
    fn lossless_coercions() {
        let e = RowEncoder::new(scalars(), RestApi::V2);
        let r = e.encode(&scalar_row()).unwrap();
        assert!(
            text(&r).ends_with(
                r#""i8":-128,"i16":300,"i32":70000,"f":0.1,"d":3,"b":true,"meta":{"a": [1, 2]}}"#
            ),
            "{}",
            text(&r)
        );
        // Ints and floats into a FloatVector.
        let mut row = scalar_row();
        row[2].value = Value::Array(ArrayValue::Ints(vec![1, 2, 3, 4, 5, 6, 7, 8]));
        let r = e.encode(&row).unwrap();
        assert!(text(&r).contains(r#""title_vector":[1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0]"#));
        row[2].value = Value::Array(ArrayValue::Floats(vec![0.5; 8]));
        assert!(e.encode(&row).is_ok());
        row[2].value = Value::Array(ArrayValue::Floats(vec![0.5; 9]));
        assert_eq!(
            reason(e, &row),
            "field `title_vector`: expected 8 values (FloatVector dim 8), got 9"
        );
    }

    #[test]
    fn out_of_range_and_non_finite_values() {
        let e = RowEncoder::new(scalars(), RestApi::V2);
        let cases: [(usize, Value, &str); 7] = [
            (
                4,
                Value::Int64(128),
                "field `i8`: 128 is out of Int8 range (-128..=127)",
            ),
            (
                5,
                Value::Int64(-40_000),
                "field `i16`: -40000 is out of Int16 range (-32768..=32767)",
            ),
            (
                6,
                Value::Int64(1 << 40),
                "field `i32`: 1099511627776 is out of Int32 range (-2147483648..=2147483647)",
            ),
            (
                7,
                Value::Double(f64::NAN),
                "field `f`: NaN is not a number Milvus can store",
            ),
            (
                7,
                Value::Double(1e300),
                "field `f`: 1e300 is out of Float range",
            ),
            (
                8,
                Value::Double(f64::INFINITY),
                "field `d`: inf is not a number Milvus can store",
            ),
            (9, Value::Int64(1), "field `b`: expected Bool, got int64"),
        ];
        for (i, value, want) in cases {
            let mut row = scalar_row();
            row[i].value = value;
            assert_eq!(reason(e.clone(), &row), want);
        }
        let mut row = seed_row(Some(1), 8);
        if let Value::FloatVector(v) = &mut row[2].value {
            v[3] = f32::INFINITY;
        }
        assert_eq!(
            reason(e, &row),
            "field `title_vector`: value 3 of the vector is inf, not a number FloatVector dim 8 can hold"
        );
    }

    #[test]
    fn json_fields() {
        let e = RowEncoder::new(scalars(), RestApi::V1);
        let mut row = scalar_row();
        row[10].value = Value::Json("{oops".into());
        assert!(reason(e.clone(), &row).starts_with("field `meta`: not valid JSON text: "),);
        row[10].value = Value::Json(r#""text""#.into());
        assert!(
            reason(e.clone(), &row)
                .starts_with("field `meta`: a JSON string cannot go into a JSON field")
        );
        row[10].value = Value::Varchar("{}".into());
        assert_eq!(
            reason(e.clone(), &row),
            "field `meta`: expected JSON, got varchar"
        );
        row[10].value = Value::Json("[1, 2]".into());
        assert!(text(&e.encode(&row).unwrap()).ends_with(r#""meta":[1, 2]}"#));
    }

    #[test]
    fn dynamic_fields_go_at_the_top_level() {
        let e = RowEncoder::new(scalars(), RestApi::V2);
        let mut row = scalar_row();
        row.extend([
            f("n", Value::Int64(5)),
            f("s", Value::Varchar("x".into())),
            f("j", Value::Json(r#"{"k":true}"#.into())),
            f("skip", Value::Null),
            f("tags", Value::Array(ArrayValue::Varchars(vec!["a".into()]))),
        ]);
        let r = e.encode(&row).unwrap();
        assert!(
            text(&r).ends_with(r#""n":5,"s":"x","j":{"k":true},"tags":["a"]}"#),
            "{}",
            text(&r)
        );
        let mut row = scalar_row();
        row.push(f("other_vector", Value::FloatVector(vec![0.0; 3])));
        assert_eq!(
            reason(e.clone(), &row),
            "field `other_vector`: a float-vector cannot go into the dynamic field (there is no vector field `other_vector` in the collection)"
        );
        let mut row = scalar_row();
        row.push(f("$meta", Value::Int64(1)));
        assert!(reason(e.clone(), &row).starts_with("field `$meta`: reserved"));
        let mut row = scalar_row();
        row.push(f("n", Value::Int64(1)));
        row.push(f("n", Value::Int64(2)));
        assert_eq!(reason(e, &row), "field `n`: set twice in one row");
    }

    #[test]
    fn arrays() {
        let mut s = seed(false);
        s.fields.push(field(
            "tags",
            DataType::Array {
                element: Some(ElementType::VarChar {
                    max_length: Some(3),
                }),
                max_capacity: Some(2),
            },
        ));
        s.fields.push(field(
            "small",
            DataType::Array {
                element: Some(ElementType::Int8),
                max_capacity: Some(4),
            },
        ));
        s.fields.push(field(
            "weights",
            DataType::Array {
                element: Some(ElementType::Float),
                max_capacity: None,
            },
        ));
        let e = RowEncoder::new(s, RestApi::V2);
        let mut row = seed_row(Some(1), 8);
        row.extend([
            f(
                "tags",
                Value::Array(ArrayValue::Varchars(vec!["a".into(), "bc".into()])),
            ),
            f("small", Value::Array(ArrayValue::Ints(vec![1, -2]))),
            f("weights", Value::Array(ArrayValue::Ints(vec![1]))),
        ]);
        let r = e.encode(&row).unwrap();
        assert!(text(&r).ends_with(r#""tags":["a","bc"],"small":[1,-2],"weights":[1]}"#));
        let mut bad = row.clone();
        bad[4].value = Value::Array(ArrayValue::Varchars(vec!["a".into(); 3]));
        assert_eq!(
            reason(e.clone(), &bad),
            "field `tags`: 3 elements, over Array max_capacity 2"
        );
        bad[4].value = Value::Array(ArrayValue::Varchars(vec!["abcd".into()]));
        assert_eq!(
            reason(e.clone(), &bad),
            "field `tags`: 4 bytes, over VarChar max_length 3 (element 0)"
        );
        bad[4].value = Value::Array(ArrayValue::Ints(vec![1]));
        assert_eq!(
            reason(e.clone(), &bad),
            "field `tags`: expected Array of VarChar, got array of ints"
        );
        let mut bad = row.clone();
        bad[5].value = Value::Array(ArrayValue::Ints(vec![1, 200]));
        assert_eq!(
            reason(e.clone(), &bad),
            "field `small`: 200 is out of Int8 range (-128..=127) (element 1)"
        );
        let mut bad = row;
        bad[6].value = Value::Array(ArrayValue::Floats(vec![f64::NAN]));
        assert_eq!(
            reason(e, &bad),
            "field `weights`: element 0 is NaN, not a number the Array can hold"
        );
    }

    #[test]
    fn other_vectors() {
        let mut s = seed(false);
        s.fields[2] = field("bv", DataType::BinaryVector { dim: 16 });
        let row = |bytes: Vec<u8>| {
            vec![
                f("id", Value::Int64(1)),
                f("title", Value::Varchar(String::new())),
                f("bv", Value::BinaryVector(bytes)),
                f("link", Value::Varchar(String::new())),
            ]
        };
        let v1 = RowEncoder::new(s.clone(), RestApi::V1);
        assert!(text(&v1.encode(&row(vec![1, 255])).unwrap()).contains(r#""bv":[1,255]"#));
        let v2 = RowEncoder::new(s.clone(), RestApi::V2);
        assert!(text(&v2.encode(&row(vec![1, 255])).unwrap()).contains(r#""bv":"Af8=""#));
        assert_eq!(
            reason(v2, &row(vec![1])),
            "field `bv`: expected 2 bytes (BinaryVector dim 16), got 1"
        );

        s.fields[2] = field("sv", DataType::SparseFloatVector);
        let e = RowEncoder::new(s.clone(), RestApi::V2);
        let mut r = row(vec![]);
        r[2] = f("sv", Value::SparseVector(vec![(3, 0.5), (10, 1.0)]));
        assert!(text(&e.encode(&r).unwrap()).contains(r#""sv":{"3":0.5,"10":1.0}"#));
        r[2].value = Value::SparseVector(vec![(3, 0.5), (3, 1.0)]);
        assert_eq!(
            reason(e, &r),
            "field `sv`: index 3 appears twice in the sparse vector"
        );

        s.fields[2] = field("h", DataType::Float16Vector { dim: 2 });
        let e = RowEncoder::new(s, RestApi::V2);
        r[2] = f("h", Value::FloatVector(vec![1.0, 70000.0]));
        assert_eq!(
            reason(e, &r),
            "field `h`: value 1 of the vector is 70000, not a number Float16Vector dim 2 can hold"
        );
    }

    #[test]
    fn function_output_fields_must_not_be_set() {
        let mut s = seed(false);
        let mut sparse = field("sparse", DataType::SparseFloatVector);
        sparse.function_output = true;
        s.fields.push(sparse);
        let e = RowEncoder::new(s, RestApi::V2);
        assert!(e.encode(&seed_row(Some(1), 8)).is_ok());
        let mut row = seed_row(Some(1), 8);
        row.push(f("sparse", Value::SparseVector(vec![])));
        assert_eq!(
            reason(e, &row),
            "field `sparse`: computed by a Milvus function; rows must not set it"
        );
    }

    #[test]
    fn errors_leave_the_buffer_as_it_was() {
        let e = RowEncoder::new(seed(false), RestApi::V1);
        let mut out = b"[prefix".to_vec();
        assert!(e.encode_into(&seed_row(Some(1), 3), &mut out).is_err());
        assert_eq!(out, b"[prefix");
    }

    #[test]
    fn base64_matches_go() {
        let mut out = Vec::new();
        base64_into(b"\x01", &mut out);
        assert_eq!(out, b"AQ==");
        out.clear();
        base64_into(b"Man!", &mut out);
        assert_eq!(out, b"TWFuIQ==");
    }

    #[test]
    fn encoded_row_debug_hides_the_values() {
        let e = RowEncoder::new(seed(false), RestApi::V1);
        let r = e.encode(&seed_row(Some(1), 8)).unwrap();
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("0.1"), "{dbg}");
        assert!(dbg.contains("bytes"));
    }

    // ------------------------------------------------ the server's own rules

    /// Milvus types a top-level dynamic number by whether its text holds a
    /// `.`: without one it is `cast.ToInt64`'d, and `1e-6` is stored as 0
    /// with a success answer (H/utils.go: v2.4.23 :501, v2.5.27 :586, v2.6.20
    /// :677, v3.0.0 :802; cast v1.3.1 caste.go:213-218).
    #[test]
    fn dynamic_doubles_always_carry_a_dot() {
        let mut s = seed(false);
        s.dynamic = true;
        let e = RowEncoder::new(s, RestApi::V2);
        let doubles = [1e-6, 3e-6, 2e20, 1e16, 0.5, 5.0, -2.5e-7];
        let mut row = seed_row(Some(1), 8);
        for (i, d) in doubles.iter().enumerate() {
            row.push(f(&format!("d{i}"), Value::Double(*d)));
        }
        row.push(f("n", Value::Int64(3)));
        let r = e.encode(&row).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&r.json).unwrap();
        for (i, d) in doubles.iter().enumerate() {
            let key = format!("\"d{i}\":");
            let at = text(&r).find(&key).unwrap() + key.len();
            let raw: String = text(&r)[at..]
                .chars()
                .take_while(|c| *c != ',' && *c != '}')
                .collect();
            assert!(
                raw.contains('.'),
                "{d} written as {raw}: Milvus would store an integer"
            );
            assert_eq!(parsed[format!("d{i}")].as_f64(), Some(*d), "{raw}");
        }
        assert!(text(&r).contains(r#""d0":1.0e-6"#), "{}", text(&r));
        assert!(text(&r).ends_with(r#""n":3}"#), "an integer stays one");
    }

    /// The WIT contract converts "where no information is lost"; Milvus would
    /// narrow silently (`cast.ToFloat32E`, v2.5.27 H/utils.go:550-555).
    #[test]
    fn integers_that_a_float_cannot_hold_are_refused() {
        let e = RowEncoder::new(scalars(), RestApi::V2);
        let with = |i: usize, v: Value| {
            let mut row = scalar_row();
            row[i].value = v;
            e.encode(&row)
        };
        // f (Float) is field 7, d (Double) field 8 of scalar_row.
        assert!(with(7, Value::Int64(1 << 24)).is_ok());
        assert_eq!(
            with(7, Value::Int64((1 << 24) + 1)).unwrap_err().reason,
            "field `f`: the integer 16777217 has no exact Float value (integers past 2^24 lose digits); send it as a double or store it in an Int64 field"
        );
        assert!(with(8, Value::Int64(1 << 53)).is_ok());
        assert!(with(8, Value::Int64((1 << 53) + 1)).is_err());
        assert!(with(8, Value::Int64(i64::MAX)).is_err());
        let mut ints = vec![1i64; 8];
        ints[3] = (1 << 24) + 1;
        assert!(
            with(2, Value::Array(ArrayValue::Ints(ints)))
                .unwrap_err()
                .reason
                .ends_with("(value 3 of the vector)")
        );
    }

    /// Float16/BFloat16 go as base64 of little-endian bytes, the only form
    /// 2.4 reads (v2.4.23 H/utils.go:289-311) and one 2.5+ reads too
    /// (v2.5.27 :369-395); Milvus' own REST tests send it
    /// (3.0 tests/restful_client_v2/utils/utils.py:263-329).
    #[test]
    fn half_precision_vectors_are_base64_of_little_endian_bytes() {
        let mut s = seed(false);
        s.fields[2] = field("h", DataType::Float16Vector { dim: 2 });
        let mut row = seed_row(Some(1), 0);
        row[2] = f("h", Value::FloatVector(vec![1.0, -2.0]));
        let r = RowEncoder::new(s.clone(), RestApi::V2)
            .encode(&row)
            .unwrap();
        // struct.pack('<e', 1.0) + struct.pack('<e', -2.0) = 00 3c 00 c0
        assert!(text(&r).contains(r#""h":"ADwAwA==""#), "{}", text(&r));
        s.fields[2] = field("h", DataType::BFloat16Vector { dim: 2 });
        let r = RowEncoder::new(s, RestApi::V2).encode(&row).unwrap();
        // The high halves of the f32s 1.0 and -2.0: 80 3f 00 c0
        assert!(text(&r).contains(r#""h":"gD8AwA==""#), "{}", text(&r));
    }

    #[test]
    fn types_of_milvus_2_6_and_3_0() {
        let mut s = seed(false);
        s.fields.extend([
            field("i8v", DataType::Int8Vector { dim: 3 }),
            field("at", DataType::Timestamptz),
            field("shape", DataType::Geometry),
        ]);
        let mut chunks = field("chunks", DataType::StructArray);
        chunks.nullable = true;
        s.fields.push(chunks);
        let e = RowEncoder::new(s, RestApi::V2);
        let row = |i8v: Vec<i64>, at: &str, shape: &str| {
            let mut row = seed_row(Some(1), 8);
            row.extend([
                f("i8v", Value::Array(ArrayValue::Ints(i8v))),
                f("at", Value::Varchar(at.into())),
                f("shape", Value::Varchar(shape.into())),
            ]);
            row
        };
        let ok = e
            .encode(&row(
                vec![-128, 0, 127],
                "2026-12-04T11:00:00+01:00",
                "POINT (1 2)",
            ))
            .unwrap();
        assert!(
            text(&ok).ends_with(
                r#""i8v":[-128,0,127],"at":"2026-12-04T11:00:00+01:00","shape":"POINT (1 2)"}"#
            ),
            "{}",
            text(&ok)
        );
        let cases = [
            (
                row(vec![1, 128, 0], "2026-12-04T10:00:00Z", "POINT (1 2)"),
                "field `i8v`: value 1 of the vector is 128, outside Int8 (-128 to 127)",
            ),
            (
                row(vec![1, 2], "2026-12-04T10:00:00Z", "POINT (1 2)"),
                "field `i8v`: expected 3 values (Int8Vector dim 3), got 2",
            ),
            (
                row(vec![1, 2, 3], "2026-12-04 10:00", "POINT (1 2)"),
                "field `at`: \"2026-12-04 10:00\" is not an RFC 3339 time with an offset",
            ),
            (
                row(vec![1, 2, 3], "2026-12-04T10:00:00Z", "(1 2)"),
                "field `shape`: not WKT text",
            ),
        ];
        for (row, want) in cases {
            let got = reason(e.clone(), &row);
            assert!(got.starts_with(want), "{got}");
        }
        let mut with_struct = row(vec![1, 2, 3], "2026-12-04T10:00:00Z", "POINT (1 2)");
        with_struct.push(f("chunks", Value::Json("[]".into())));
        assert!(reason(e, &with_struct).starts_with("field `chunks`: a struct-array field"));
    }

    /// Milvus refuses negative values and index 2^32-1 (v2.5.27
    /// pkg/util/typeutil/schema.go:1763, :1773): caught before sending, so
    /// the record fails as schema_mismatch with the reason.
    #[test]
    fn sparse_vectors_milvus_refuses() {
        let mut s = seed(false);
        s.fields[2] = field("sv", DataType::SparseFloatVector);
        let e = RowEncoder::new(s, RestApi::V2);
        let mut row = seed_row(Some(1), 0);
        row[2] = f("sv", Value::SparseVector(vec![(1, -0.5)]));
        assert!(reason(e.clone(), &row).contains("the value at index 1 is -0.5"));
        row[2] = f("sv", Value::SparseVector(vec![(u32::MAX, 0.5)]));
        assert!(reason(e.clone(), &row).contains("index 4294967295 (2^32-1) is reserved"));
        row[2] = f("sv", Value::SparseVector(vec![(u32::MAX - 1, 0.0)]));
        assert!(e.encode(&row).is_ok());
    }
}
