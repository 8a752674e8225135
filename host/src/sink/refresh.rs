//! The collection as it is now. A batch Milvus rejects whole may be rejected
//! for the schema, not its rows: the collection was dropped and recreated,
//! or gained a field. The sink then describes it again before failing any
//! row: a collection that only gained fields rows may leave out (nullable,
//! with a default, or computed) is taken on without a restart; any other
//! change stops the pipeline, uncommitted, with what changed.

use super::client::MilvusSink;
use super::encode::RowEncoder;
use super::error::{SinkError, WriteError};
use super::schema::{CollectionSchema, FieldSchema};
use std::ops::Deref;
use std::sync::Arc;
use tracing::{info, warn};

/// The schema rows are checked against now (kept alive while borrowed).
pub struct SchemaRef(pub(super) Arc<RowEncoder>);

impl Deref for SchemaRef {
    type Target = CollectionSchema;

    fn deref(&self) -> &CollectionSchema {
        self.0.schema()
    }
}

/// How the schema described again compares with the one in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaChange {
    /// Nothing rows depend on changed.
    Same,
    /// Only fields rows may leave out were added (their names).
    Added(Vec<String>),
    /// What changed that rows written for the old schema may not fit.
    Incompatible(Vec<String>),
}

/// Compares `new` with `old` field by field.
pub fn compare(old: &CollectionSchema, new: &CollectionSchema) -> SchemaChange {
    let mut changed = Vec::new();
    for f in &old.fields {
        match new.field(&f.name) {
            None => changed.push(format!("field `{}` was removed", f.name)),
            Some(n) if n != f => changed.push(format!(
                "field `{}` is now {} (was {})",
                f.name,
                describe(n),
                describe(f)
            )),
            Some(_) => {}
        }
    }
    if old.auto_id != new.auto_id {
        changed.push(format!("auto-id is now {}", new.auto_id));
    }
    if old.dynamic && !new.dynamic {
        changed.push("dynamic fields were turned off".into());
    }
    let mut added = Vec::new();
    for f in new.fields.iter().filter(|f| old.field(&f.name).is_none()) {
        if f.nullable || f.has_default || f.function_output {
            added.push(f.name.clone());
        } else {
            changed.push(format!(
                "field `{}` ({}) was added and rows must set it",
                f.name, f.data_type
            ));
        }
    }
    match (changed.is_empty(), added.is_empty()) {
        (false, _) => SchemaChange::Incompatible(changed),
        (true, false) => SchemaChange::Added(added),
        (true, true) => SchemaChange::Same,
    }
}

fn describe(f: &FieldSchema) -> String {
    let mut s = f.data_type.to_string();
    for (on, what) in [
        (f.primary, "primary key"),
        (f.nullable, "nullable"),
        (f.has_default, "with a default"),
        (f.function_output, "computed"),
    ] {
        if on {
            s.push_str(", ");
            s.push_str(what);
        }
    }
    s
}

impl MilvusSink {
    /// Describes the collection again and compares: takes on added fields
    /// rows may leave out; `Err` (fatal) when it changed otherwise or is
    /// gone. A describe that fails for another reason changes nothing (the
    /// rejection is then treated as the rows').
    pub async fn refresh_schema(&self) -> Result<SchemaChange, WriteError> {
        let old = self.schema();
        let new = match self.describe_again().await {
            Ok(new) => new,
            Err(e @ SinkError::CollectionNotFound { .. }) => {
                return Err(WriteError::Fatal {
                    reason: format!("after a rejected batch: {e}"),
                });
            }
            Err(e) => {
                warn!(error = %e, "Could not describe the collection again after a rejected batch; treating the rejection as the rows'.");
                return Ok(SchemaChange::Same);
            }
        };
        let change = compare(&old, &new);
        match &change {
            SchemaChange::Same => {}
            SchemaChange::Added(names) => {
                info!(
                    collection = %new.name,
                    added = %names.join(","),
                    "The collection gained fields; rows may set them from now on."
                );
                self.set_encoder(RowEncoder::new(new, self.api()));
            }
            SchemaChange::Incompatible(what) => {
                return Err(WriteError::Fatal {
                    reason: format!(
                        "collection `{}` changed since kmv-host connected: {}; nothing after the last committed offset is lost: fix the collection or the transform, then start kmv-host again",
                        old.name,
                        what.join("; ")
                    ),
                });
            }
        }
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::schema::DataType;

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

    fn schema(fields: Vec<FieldSchema>) -> CollectionSchema {
        CollectionSchema {
            name: "c".into(),
            primary: "id".into(),
            fields,
            auto_id: false,
            dynamic: false,
            allow_insert_auto_id: false,
            loaded: Some(true),
        }
    }

    #[test]
    fn what_counts_as_a_compatible_change() {
        let mut id = field("id", DataType::Int64);
        id.primary = true;
        let v = field("v", DataType::FloatVector { dim: 2 });
        let old = schema(vec![id.clone(), v.clone()]);
        assert_eq!(compare(&old, &old.clone()), SchemaChange::Same);

        let mut note = field("note", DataType::VarChar { max_length: 8 });
        note.nullable = true;
        let added = schema(vec![id.clone(), v.clone(), note.clone()]);
        assert_eq!(
            compare(&old, &added),
            SchemaChange::Added(vec!["note".into()])
        );

        note.nullable = false;
        let required = schema(vec![id.clone(), v.clone(), note]);
        assert_eq!(
            compare(&old, &required),
            SchemaChange::Incompatible(vec![
                "field `note` (VarChar(max_length 8)) was added and rows must set it".into()
            ])
        );

        let recreated = schema(vec![id, field("v", DataType::FloatVector { dim: 4 })]);
        assert_eq!(
            compare(&old, &recreated),
            SchemaChange::Incompatible(vec![
                "field `v` is now FloatVector dim 4 (was FloatVector dim 2)".into()
            ])
        );
    }
}
