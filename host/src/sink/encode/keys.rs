//! Primary keys of deletes, checked against the collection's key field, and
//! the float vectors a transform hands over as JSON text.

use super::values::{check_len, err};
use super::vector_json::{self, VectorTextError};
use super::vectors::write_float_vector;
use super::{PrimaryKey, RowEncoder, RowError};
use crate::sink::schema::{DataType, FieldSchema};
use crate::transform::{Key, Value};

impl RowEncoder {
    /// A delete's key, checked against the primary key field: its type, and
    /// a VarChar's max_length (a longer key cannot be in the collection,
    /// and Milvus would refuse the whole delete).
    pub fn key(&self, key: &Key) -> Result<PrimaryKey, RowError> {
        let schema = self.schema();
        let name = schema.primary.as_str();
        let Some(fs) = schema.field(name) else {
            return Err(err(
                name,
                format!("the collection has no primary key field `{name}`"),
            ));
        };
        match (&fs.data_type, key) {
            (DataType::Int64, Key::Int64(i)) => Ok(PrimaryKey::Int(*i)),
            (DataType::VarChar { max_length }, Key::Varchar(s)) => {
                check_len(name, s, *max_length, "VarChar max_length")?;
                Ok(PrimaryKey::Str(s.clone()))
            }
            (t, k) => Err(err(
                name,
                format!(
                    "delete: the primary key `{name}` is {t}, got a {} key",
                    match k {
                        Key::Int64(_) => "int64",
                        Key::Varchar(_) => "varchar",
                    }
                ),
            )),
        }
    }
}

/// A float vector given as JSON array text: a FloatVector's text checked
/// and written as it is; a Float16/BFloat16's values converted like any
/// other float list (base64 bytes on REST v2).
pub(super) fn write_vector_json(
    fs: &FieldSchema,
    text: &str,
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    let name = fs.name.as_str();
    match fs.data_type {
        DataType::FloatVector { dim } => write_float_vector_json(name, dim, text, out),
        DataType::Float16Vector { dim } | DataType::BFloat16Vector { dim } => {
            let v = Value::FloatVector(parse_float_vector_json(name, text)?);
            write_float_vector(fs, dim, &v, out)
        }
        _ => unreachable!("called for float vector fields only"),
    }
}

/// A FloatVector given as JSON array text: checked natively by one scan
/// (an array of exactly `dim` numbers an f32 can hold, no value built) and
/// written as it is.
fn write_float_vector_json(
    name: &str,
    dim: u32,
    text: &str,
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    let count = vector_json::scan(text).map_err(|e| {
        err(
            name,
            match e {
                VectorTextError::Syntax(what) => format!(
                    "field `{name}`: the float-vector-json is not a JSON array of numbers: {what}"
                ),
                VectorTextError::OutOfRange { index, value } => format!(
                    "field `{name}`: value {index} of the vector is {value}, not a number FloatVector can hold"
                ),
            },
        )
    })?;
    if count != dim as usize {
        return Err(err(
            name,
            format!("field `{name}`: expected {dim} values (FloatVector dim {dim}), got {count}"),
        ));
    }
    out.extend_from_slice(text.trim_matches([' ', '\n', '\r', '\t']).as_bytes());
    Ok(())
}

/// The values of a float-vector-json, for fields that are not written as
/// text (Float16Vector, BFloat16Vector: converted to bytes on REST v2).
fn parse_float_vector_json(name: &str, text: &str) -> Result<Vec<f32>, RowError> {
    let values: Vec<f64> = serde_json::from_str(text).map_err(|e| {
        err(
            name,
            format!("field `{name}`: the float-vector-json is not a JSON array of numbers: {e}"),
        )
    })?;
    // Range checks follow in `write_float_vector`, on the f32 values; an f64
    // beyond f32's range becomes infinity there and is refused.
    Ok(values.into_iter().map(|x| x as f32).collect())
}
