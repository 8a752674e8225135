//! Fields kmv-host cannot write: each named with why, all of them at once,
//! so a collection is fixed in one go.

use super::{FieldSchema, SchemaError};

/// A field kmv-host cannot write, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwritable {
    /// The field.
    pub field: String,
    /// The type Milvus named.
    pub type_name: String,
    /// Why it cannot be written.
    pub why: String,
}

pub(super) fn unwritable_list(fields: &[Unwritable]) -> String {
    let each: Vec<String> = fields
        .iter()
        .map(|u| format!("field `{}` ({}): {}", u.field, u.type_name, u.why))
        .collect();
    format!("kmv-host cannot write {}", each.join("; "))
}

/// Why a type Milvus named cannot be written.
fn why_unwritable(type_name: &str) -> String {
    match type_name {
        // No case in checkAndSetData (2.6.20 H/utils.go:657, 3.0.0 :782 default).
        "Text" | "Mol" => {
            "Milvus' REST insert has no case for this type (handler utils.go checkAndSetData); write it over gRPC".into()
        }
        "ArrayOfStruct" => {
            "struct-array fields are not written by kmv-host; make the field nullable to stream the other fields".into()
        }
        "ArrayOfVector" => "arrays of vectors are only written inside struct-array fields".into(),
        _ => "kmv-host does not know this type (it writes Bool, Int8-64, Float, Double, VarChar, JSON, Array, Timestamptz, Geometry, and Float, Binary, Float16, BFloat16, Int8 and SparseFloat vectors)".into(),
    }
}

/// The fields, or every field that cannot be written (not just the first).
pub(super) fn all_or_every_unwritable(
    fields: Vec<Result<FieldSchema, SchemaError>>,
) -> Result<Vec<FieldSchema>, SchemaError> {
    let mut ok = Vec::with_capacity(fields.len());
    let mut unwritable = Vec::new();
    for f in fields {
        match f {
            Ok(f) => ok.push(f),
            Err(SchemaError::Unwritable(mut u)) => unwritable.append(&mut u),
            Err(e) => return Err(e),
        }
    }
    if unwritable.is_empty() {
        Ok(ok)
    } else {
        Err(SchemaError::Unwritable(unwritable))
    }
}

pub(super) fn unwritable(field: &str, type_name: &str, base: &str) -> SchemaError {
    SchemaError::Unwritable(vec![Unwritable {
        field: field.into(),
        type_name: type_name.into(),
        why: why_unwritable(base),
    }])
}
