//! The value writers of `encode`: one field's value checked against its
//! type and written as JSON (scalars, JSON, arrays, vectors, the dynamic
//! field), plus the small JSON helpers they share.

use super::{PrimaryKey, RowError};
use crate::sink::schema::{DataType, ElementType, FieldSchema};
use crate::transform::{ArrayValue, Value};
use serde_json::value::RawValue;

pub(super) fn err(field: &str, reason: String) -> RowError {
    RowError {
        field: Some(field.to_string()),
        reason,
        unknown_field: false,
    }
}

pub(super) fn key(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    write_str(out, name);
    out.push(b':');
}

pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing JSON to a Vec cannot fail");
}

pub(super) fn write_num<N: serde::Serialize>(out: &mut Vec<u8>, n: N) {
    serde_json::to_writer(&mut *out, &n).expect("writing JSON to a Vec cannot fail");
}

pub(super) fn write_seq<N: serde::Serialize>(out: &mut Vec<u8>, items: impl Iterator<Item = N>) {
    out.push(b'[');
    for (i, n) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_num(out, n);
    }
    out.push(b']');
}

pub(super) fn bool_text(b: bool) -> &'static [u8] {
    if b { b"true" } else { b"false" }
}

/// The WIT name of a value's kind, for messages (never the value itself).
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int64(_) => "int64",
        Value::Double(_) => "double",
        Value::Varchar(_) => "varchar",
        Value::Json(_) => "json",
        Value::Array(a) => array_kind(a),
        Value::FloatVector(_) => "float-vector",
        Value::FloatVectorJson(_) => "float-vector-json",
        Value::BinaryVector(_) => "binary-vector",
        Value::SparseVector(_) => "sparse-vector",
    }
}

pub(super) fn array_kind(a: &ArrayValue) -> &'static str {
    match a {
        ArrayValue::Bools(_) => "array of bools",
        ArrayValue::Ints(_) => "array of ints",
        ArrayValue::Floats(_) => "array of floats",
        ArrayValue::Varchars(_) => "array of varchars",
    }
}

pub(super) fn write_pk(
    fs: &FieldSchema,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<PrimaryKey, RowError> {
    let name = fs.name.as_str();
    match (&fs.data_type, value) {
        (DataType::Int64, v @ (Value::Int64(_) | Value::Double(_))) => {
            let i = int_value(fs, v)?;
            write_num(out, i);
            Ok(PrimaryKey::Int(i))
        }
        (DataType::VarChar { max_length }, Value::Varchar(s)) => {
            check_len(name, s, *max_length, "VarChar max_length")?;
            write_str(out, s);
            Ok(PrimaryKey::Str(s.clone()))
        }
        (t, v) => Err(err(
            name,
            format!(
                "field `{name}`: expected {t} (primary key), got {}",
                kind(v)
            ),
        )),
    }
}

/// An Int8/16/32/64 field's value, checked against the field's range.
pub(super) fn write_int(fs: &FieldSchema, v: &Value, out: &mut Vec<u8>) -> Result<(), RowError> {
    let i = int_value(fs, v)?;
    let bounds = match fs.data_type {
        DataType::Int8 => Some(INT8),
        DataType::Int16 => Some(INT16),
        DataType::Int32 => Some(INT32),
        _ => None,
    };
    check_int_range(&fs.name, bounds, i)?;
    write_num(out, i);
    Ok(())
}

/// An integer from an `int64`, or from a `double` holding a whole number.
pub(super) fn int_value(fs: &FieldSchema, v: &Value) -> Result<i64, RowError> {
    let name = fs.name.as_str();
    match v {
        Value::Int64(i) => Ok(*i),
        // 2^63 as f64; every whole f64 below it converts exactly.
        Value::Double(d)
            if d.is_finite() && d.fract() == 0.0 && d.abs() < 9.223_372_036_854_776e18 =>
        {
            Ok(*d as i64)
        }
        Value::Double(d) => Err(err(
            name,
            format!(
                "field `{name}`: {d} is not a whole number ({})",
                fs.data_type
            ),
        )),
        other => Err(err(
            name,
            format!(
                "field `{name}`: expected {}, got {}",
                fs.data_type,
                kind(other)
            ),
        )),
    }
}

/// A narrow integer type: its name and range.
pub(super) type IntBounds = (&'static str, i64, i64);
pub(super) const INT8: IntBounds = ("Int8", i8::MIN as i64, i8::MAX as i64);
pub(super) const INT16: IntBounds = ("Int16", i16::MIN as i64, i16::MAX as i64);
pub(super) const INT32: IntBounds = ("Int32", i32::MIN as i64, i32::MAX as i64);

pub(super) fn check_int_range(
    name: &str,
    bounds: Option<IntBounds>,
    i: i64,
) -> Result<(), RowError> {
    if let Some((type_name, lo, hi)) = bounds
        && !(lo..=hi).contains(&i)
    {
        return Err(err(
            name,
            format!("field `{name}`: {i} is out of {type_name} range ({lo}..={hi})"),
        ));
    }
    Ok(())
}

pub(super) fn finite(name: &str, d: f64) -> Result<f64, RowError> {
    if d.is_finite() {
        Ok(d)
    } else {
        Err(err(
            name,
            format!("field `{name}`: {d} is not a number Milvus can store"),
        ))
    }
}

pub(super) fn to_f32(name: &str, d: f64) -> Result<f32, RowError> {
    let d = finite(name, d)?;
    if d.abs() > f64::from(f32::MAX) {
        return Err(err(
            name,
            format!("field `{name}`: {d:e} is out of Float range"),
        ));
    }
    Ok(d as f32)
}

pub(super) fn check_len(name: &str, s: &str, max: u32, what: &str) -> Result<(), RowError> {
    if s.len() > max as usize {
        return Err(err(
            name,
            format!("field `{name}`: {} bytes, over {what} {max}", s.len()),
        ));
    }
    Ok(())
}

pub(super) fn write_json_field(name: &str, text: &str, out: &mut Vec<u8>) -> Result<(), RowError> {
    let raw: &RawValue = serde_json::from_str(text)
        .map_err(|e| err(name, format!("field `{name}`: not valid JSON text: {e}")))?;
    let raw = raw.get();
    if raw.starts_with('"') {
        // Milvus would store the string's unquoted content, which is not JSON.
        return Err(err(
            name,
            format!(
                "field `{name}`: a JSON string cannot go into a JSON field (Milvus would store its content unquoted); wrap it in an object"
            ),
        ));
    }
    out.extend_from_slice(raw.as_bytes());
    Ok(())
}

/// An Array field's value (or an array in the dynamic field when `element`
/// is `None`): capacity, element type and each element checked.
pub(super) fn write_array(
    name: &str,
    element: Option<ElementType>,
    max_capacity: Option<u32>,
    a: &ArrayValue,
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    let len = match a {
        ArrayValue::Bools(x) => x.len(),
        ArrayValue::Ints(x) => x.len(),
        ArrayValue::Floats(x) => x.len(),
        ArrayValue::Varchars(x) => x.len(),
    };
    if let Some(cap) = max_capacity
        && len > cap as usize
    {
        return Err(err(
            name,
            format!("field `{name}`: {len} elements, over Array max_capacity {cap}"),
        ));
    }
    match (element, a) {
        (None | Some(ElementType::Bool), ArrayValue::Bools(x)) => write_seq(out, x.iter().copied()),
        (
            None
            | Some(ElementType::Int8 | ElementType::Int16 | ElementType::Int32 | ElementType::Int64),
            ArrayValue::Ints(x),
        ) => {
            check_int_elements(name, element, x)?;
            write_seq(out, x.iter().copied())
        }
        (Some(e @ (ElementType::Float | ElementType::Double)), ArrayValue::Ints(x)) => {
            for (i, v) in x.iter().enumerate() {
                exact_float(name, *v, e == ElementType::Float).map_err(|e| RowError {
                    reason: format!("{} (element {i})", e.reason),
                    ..e
                })?;
            }
            write_seq(out, x.iter().copied())
        }
        (None | Some(ElementType::Float | ElementType::Double), ArrayValue::Floats(x)) => {
            check_float_elements(name, element, x)?;
            write_seq(out, x.iter().copied())
        }
        (None | Some(ElementType::VarChar { .. }), ArrayValue::Varchars(x)) => {
            write_varchars(name, element, x, out)?
        }
        (Some(e), _) => {
            return Err(err(
                name,
                format!(
                    "field `{name}`: expected Array of {e}, got {}",
                    array_kind(a)
                ),
            ));
        }
    }
    Ok(())
}

/// Each element of an Int8/16/32 array in its type's range.
fn check_int_elements(name: &str, element: Option<ElementType>, x: &[i64]) -> Result<(), RowError> {
    let bounds = match element {
        Some(ElementType::Int8) => Some(INT8),
        Some(ElementType::Int16) => Some(INT16),
        Some(ElementType::Int32) => Some(INT32),
        _ => None,
    };
    for (i, v) in x.iter().enumerate() {
        check_int_range(name, bounds, *v).map_err(|e| RowError {
            reason: format!("{} (element {i})", e.reason),
            ..e
        })?;
    }
    Ok(())
}

/// Each element finite, and within f32's range for an Array of Float.
fn check_float_elements(
    name: &str,
    element: Option<ElementType>,
    x: &[f64],
) -> Result<(), RowError> {
    let float = matches!(element, Some(ElementType::Float));
    for (i, v) in x.iter().enumerate() {
        if !v.is_finite() || (float && v.abs() > f64::from(f32::MAX)) {
            return Err(err(
                name,
                format!("field `{name}`: element {i} is {v}, not a number the Array can hold"),
            ));
        }
    }
    Ok(())
}

/// An array of strings, each within the element's `max_length`.
fn write_varchars(
    name: &str,
    element: Option<ElementType>,
    x: &[String],
    out: &mut Vec<u8>,
) -> Result<(), RowError> {
    if let Some(ElementType::VarChar {
        max_length: Some(max),
    }) = element
    {
        for (i, s) in x.iter().enumerate() {
            check_len(name, s, max, "VarChar max_length").map_err(|e| RowError {
                reason: format!("{} (element {i})", e.reason),
                ..e
            })?;
        }
    }
    out.push(b'[');
    for (i, s) in x.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, s);
    }
    out.push(b']');
    Ok(())
}

/// A value for the dynamic field: any scalar, JSON or array; no vectors.
pub(super) fn write_dynamic(name: &str, v: &Value, out: &mut Vec<u8>) -> Result<(), RowError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(bool_text(*b)),
        Value::Int64(i) => write_num(out, *i),
        Value::Double(d) => write_double(out, finite(name, *d)?),
        Value::Varchar(s) => write_str(out, s),
        Value::Json(text) => {
            let raw: &RawValue = serde_json::from_str(text)
                .map_err(|e| err(name, format!("field `{name}`: not valid JSON text: {e}")))?;
            out.extend_from_slice(raw.get().as_bytes());
        }
        Value::Array(a) => write_array(name, None, None, a, out)?,
        Value::FloatVector(_)
        | Value::FloatVectorJson(_)
        | Value::BinaryVector(_)
        | Value::SparseVector(_) => {
            return Err(err(
                name,
                format!(
                    "field `{name}`: a {} cannot go into the dynamic field (there is no vector field `{name}` in the collection)",
                    kind(v)
                ),
            ));
        }
    }
    Ok(())
}

/// A double as JSON with a `.` in its mantissa (`1.0e-6`, not `1e-6`).
/// Milvus types a dynamic-field number by whether its text holds a `.`; one
/// without goes through `cast.ToInt64` and is stored as an integer, or as 0
/// for `1e-6` and `2e+20`, with a success answer (`strings.Contains(mapValue.Raw,
/// ".")` in H/utils.go: v2.4.23 :501, v2.5.27 :586, v2.6.20 :677, v3.0.0 :802).
pub(super) fn write_double(out: &mut Vec<u8>, d: f64) {
    let start = out.len();
    write_num(out, d);
    if !out[start..].contains(&b'.') {
        let at = out[start..]
            .iter()
            .position(|&b| b == b'e' || b == b'E')
            .map_or(out.len(), |p| start + p);
        out.splice(at..at, *b".0");
    }
}

/// `i` as a Float (`float32`) or Double when it converts exactly; Milvus
/// would narrow it silently (`cast.ToFloat32E`, v2.5.27 H/utils.go:550-555).
pub(super) fn exact_float(name: &str, i: i64, float32: bool) -> Result<f64, RowError> {
    let (back, what, limit) = if float32 {
        (i128::from(i) == (i as f32) as i128, "Float", "2^24")
    } else {
        (i128::from(i) == (i as f64) as i128, "Double", "2^53")
    };
    if back {
        Ok(i as f64)
    } else {
        Err(err(
            name,
            format!(
                "field `{name}`: the integer {i} has no exact {what} value (integers past {limit} lose digits); send it as a double or store it in an Int64 field"
            ),
        ))
    }
}

/// A Timestamptz value (Milvus 2.6+): an RFC 3339 time with its offset,
/// written as a string (v2.6.20 H/utils.go:651). One without an offset
/// would be read in the collection's time zone, which the row cannot see.
pub(super) fn write_timestamptz(name: &str, s: &str, out: &mut Vec<u8>) -> Result<(), RowError> {
    if let Err(e) = chrono::DateTime::parse_from_rfc3339(s) {
        return Err(err(
            name,
            format!(
                "field `{name}`: {s:?} is not an RFC 3339 time with an offset ({e}); e.g. 2026-12-04T10:00:00Z or 2026-12-04T11:00:00+01:00"
            ),
        ));
    }
    write_str(out, s);
    Ok(())
}

/// The WKT keywords of the geometries Milvus stores (OGC simple features).
const WKT_TYPES: [&str; 7] = [
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
];

/// A Geometry value (Milvus 2.6+): WKT text, written as a string
/// (v2.6.20 H/utils.go:637). Only its keyword is checked here; Milvus
/// parses the rest and refuses bad text (the row is then isolated).
pub(super) fn write_geometry(name: &str, s: &str, out: &mut Vec<u8>) -> Result<(), RowError> {
    let word: String = s
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    if !WKT_TYPES.contains(&word.as_str()) {
        return Err(err(
            name,
            format!(
                "field `{name}`: not WKT text (it must start with one of {}), e.g. POINT (1 2)",
                WKT_TYPES.join(", ")
            ),
        ));
    }
    write_str(out, s);
    Ok(())
}
