//! Why a record failed, in one vocabulary for every stage: the
//! `kmv.error.class` dead-letter header, the `class` log field and metric label.

use std::fmt;

/// Why a record failed: the `kmv.error.class` header and the `class` log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The record's key or value could not be decoded by `[source]`'s
    /// format (no Confluent framing, a schema id the registry does not
    /// know, bytes that do not match the schema).
    DecodeError,
    /// The transform returned an error for the record.
    TransformError,
    /// The transform instance trapped, ran out of time or memory on the record.
    TransformFault,
    /// A row of the record does not fit the collection schema.
    SchemaMismatch,
    /// A change names a collection the pipeline does not write, or one
    /// that cannot be described.
    UnknownCollection,
    /// Milvus refused the row (alone in its batch).
    MilvusRejected,
}

impl ErrorClass {
    /// The class as written in headers and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::DecodeError => "decode_error",
            ErrorClass::TransformError => "transform_error",
            ErrorClass::TransformFault => "transform_fault",
            ErrorClass::SchemaMismatch => "schema_mismatch",
            ErrorClass::UnknownCollection => "unknown_collection",
            ErrorClass::MilvusRejected => "milvus_rejected",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
