//! Vectors, checked against their field and written the way each Milvus
//! release reads them.

use super::RowError;
use super::values::{err, exact_float, write_num, write_seq};
use crate::sink::RestApi;
use crate::sink::schema::{DataType, FieldSchema};
use crate::transform::{ArrayValue, Value};
use std::io::Write as _;

pub(super) fn is_float_list(v: &Value) -> bool {
    matches!(
        v,
        Value::FloatVector(_) | Value::Array(ArrayValue::Floats(_) | ArrayValue::Ints(_))
    )
}

pub(super) fn write_float_vector(
    fs: &FieldSchema,
    dim: u32,
    v: &Value,
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    let name = fs.name.as_str();
    let len = match v {
        Value::FloatVector(x) => x.len(),
        Value::Array(ArrayValue::Floats(x)) => x.len(),
        Value::Array(ArrayValue::Ints(x)) => x.len(),
        _ => unreachable!("is_float_list checked the kind"),
    };
    if len != dim as usize {
        let t = match fs.data_type {
            DataType::Float16Vector { .. } => "Float16Vector",
            DataType::BFloat16Vector { .. } => "BFloat16Vector",
            _ => "FloatVector",
        };
        return Err(err(
            name,
            format!("field `{name}`: expected {dim} values ({t} dim {dim}), got {len}"),
        ));
    }
    if let (Value::FloatVector(xs), DataType::FloatVector { .. }) = (v, &fs.data_type) {
        return write_f32_vector(fs, xs, out);
    }
    // Float16 overflows to infinity past 65504; bfloat16 has f32's range.
    let max = if matches!(fs.data_type, DataType::Float16Vector { .. }) {
        65504.0
    } else {
        f64::from(f32::MAX)
    };
    let check = |i: usize, x: f64| -> Result<f32, RowError> {
        if !x.is_finite() || x.abs() > max {
            return Err(err(
                name,
                format!(
                    "field `{name}`: value {i} of the vector is {x}, not a number {} can hold",
                    fs.data_type
                ),
            ));
        }
        Ok(x as f32)
    };
    let values = (0..len).map(|i| {
        let x = match v {
            Value::FloatVector(x) => f64::from(x[i]),
            Value::Array(ArrayValue::Floats(x)) => x[i],
            Value::Array(ArrayValue::Ints(x)) => {
                exact_float(name, x[i], true).map_err(|e| at_value(e, i))?
            }
            _ => unreachable!("is_float_list checked the kind"),
        };
        check(i, x)
    });
    match fs.data_type {
        DataType::Float16Vector { .. } => {
            write_halves(values, len, out, |x| half::f16::from_f32(x).to_le_bytes())
        }
        DataType::BFloat16Vector { .. } => {
            write_halves(values, len, out, |x| half::bf16::from_f32(x).to_le_bytes())
        }
        _ => {
            out.push(b'[');
            for (i, x) in values.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_num(out, x?);
            }
            out.push(b']');
            Ok(())
        }
    }
}

/// The common case, an f32 vector into a FloatVector field, without the
/// general path's f64 round trip: every finite f32 fits, and each is printed
/// as serde_json prints an f32 (zmij's shortest round trip) into room reserved
/// once for the whole vector. At dim 768 this was about a fifth of the
/// host's CPU per record through the general path (perf, pipeline bench).
fn write_f32_vector(fs: &FieldSchema, xs: &[f32], out: &mut Vec<u8>) -> Result<(), RowError> {
    if let Some(i) = xs.iter().position(|x| !x.is_finite()) {
        let name = fs.name.as_str();
        return Err(err(
            name,
            format!(
                "field `{name}`: value {i} of the vector is {}, not a number {} can hold",
                f64::from(xs[i]),
                fs.data_type
            ),
        ));
    }
    // Room for 16 bytes a value (a comma and up to 9 digits, sign, point and
    // exponent); a longer one grows the buffer as usual.
    out.reserve(2 + 16 * xs.len());
    out.push(b'[');
    let mut buffer = zmij::Buffer::new();
    for (i, &x) in xs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(buffer.format_finite(x).as_bytes());
    }
    out.push(b']');
    Ok(())
}

/// A Float16 or BFloat16 vector as base64 of its little-endian bytes
/// (`to_bytes` gives one value's): the only form 2.4 reads (`json.Unmarshal`
/// into []byte, v2.4.23 H/utils.go:289-311); 2.5+ reads it too (v2.5.27
/// :369-395, v2.6.20 :448-478, v3.0.0 :573-603).
fn write_halves(
    values: impl Iterator<Item = Result<f32, RowError>>,
    len: usize,
    out: &mut Vec<u8>,
    to_bytes: impl Fn(f32) -> [u8; 2],
) -> Result<(), RowError> {
    let mut bytes = Vec::with_capacity(2 * len);
    for x in values {
        bytes.extend_from_slice(&to_bytes(x?));
    }
    out.push(b'"');
    base64_into(&bytes, out);
    out.push(b'"');
    Ok(())
}

/// `e` about value `i` of a vector.
fn at_value(e: RowError, i: usize) -> RowError {
    RowError {
        reason: format!("{} (value {i} of the vector)", e.reason),
        ..e
    }
}

pub(super) fn write_sparse(
    name: &str,
    pairs: &[(u32, f32)],
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    let mut indices: Vec<u32> = pairs.iter().map(|(i, _)| *i).collect();
    indices.sort_unstable();
    if let Some(w) = indices.windows(2).find(|w| w[0] == w[1]) {
        return Err(err(
            name,
            format!(
                "field `{name}`: index {} appears twice in the sparse vector",
                w[0]
            ),
        ));
    }
    out.push(b'{');
    for (n, (index, value)) in pairs.iter().enumerate() {
        // Milvus refuses these rows itself (v2.5.27 pkg/util/typeutil/schema.go:1763,
        // :1773, `ValidateSparseFloatRows`): caught here, the record names why.
        if *index == u32::MAX {
            return Err(err(
                name,
                format!(
                    "field `{name}`: index {index} (2^32-1) is reserved; sparse indices go up to 4294967294"
                ),
            ));
        }
        if !value.is_finite() || *value < 0.0 {
            return Err(err(
                name,
                format!(
                    "field `{name}`: the value at index {index} is {value}; Milvus stores only finite values of 0 or more in a sparse vector"
                ),
            ));
        }
        if n > 0 {
            out.push(b',');
        }
        write!(out, "\"{index}\":").expect("writing to a Vec cannot fail");
        write_num(out, *value);
    }
    out.push(b'}');
    Ok(())
}

/// Standard base64 with padding, as Go's encoding/json reads a []byte.
pub(super) fn base64_into(bytes: &[u8], out: &mut Vec<u8>) {
    use base64::Engine as _;
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).expect("a vector's base64 fits in usize");
    out.resize(start + len, 0);
    base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .expect("the buffer was sized by encoded_len");
}

/// An Int8Vector (Milvus 2.6+): `dim` integers from -128 to 127, as a JSON
/// array (`json.Unmarshal` into `[]int8`, v2.6.20 H/utils.go:480-486).
pub(super) fn write_int8_vector(
    name: &str,
    dim: u32,
    x: &[i64],
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    if x.len() != dim as usize {
        return Err(err(
            name,
            format!(
                "field `{name}`: expected {dim} values (Int8Vector dim {dim}), got {}",
                x.len()
            ),
        ));
    }
    if let Some((i, v)) = x
        .iter()
        .enumerate()
        .find(|(_, v)| i8::try_from(**v).is_err())
    {
        return Err(err(
            name,
            format!("field `{name}`: value {i} of the vector is {v}, outside Int8 (-128 to 127)"),
        ));
    }
    write_seq(out, x.iter().copied());
    Ok(())
}

/// A BinaryVector: `dim` bits in `dim / 8` bytes (rounded up).
pub(super) fn write_binary_vector(
    name: &str,
    dim: u32,
    bytes: &[u8],
    api: RestApi,
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    let want = (dim as usize).div_ceil(8);
    if bytes.len() != want {
        return Err(err(
            name,
            format!(
                "field `{name}`: expected {want} bytes (BinaryVector dim {dim}), got {}",
                bytes.len()
            ),
        ));
    }
    match api {
        // v1 (2.3) casts each element of a number array to a byte.
        RestApi::V1 => write_seq(out, bytes.iter().map(|b| i64::from(*b))),
        // v2 unmarshals into Go []byte: base64 (handler_v2 tests send "AQ==").
        RestApi::V2 => {
            out.push(b'"');
            base64_into(bytes, out);
            out.push(b'"');
        }
    }
    Ok(())
}
