//! `[sink.create]`: the collection to create when it does not exist, on
//! REST v1 (Milvus 2.3: only its one shape) or v2; and, when it does exist,
//! the differences between it and what the table describes (a collection
//! is never changed).

use super::RestApi;
use super::answer::Answer;
use super::error::SinkError;
use super::request_builder::Endpoint;
use super::schema::{CollectionSchema, DataType, ElementType};
use crate::common::invalid::Invalid;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use tracing::{info, warn};

/// `[sink.create]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateConfig {
    /// The fields, in order; one of them is `primary_key`.
    pub fields: Vec<CreateField>,
    /// The primary key field (Int64 or VarChar).
    pub primary_key: String,
    /// Milvus generates the primary key.
    #[serde(default)]
    pub auto_id: bool,
    /// Keys that are not fields go into the dynamic field.
    #[serde(default)]
    pub dynamic_fields: bool,
    /// Vector indexes (REST v2; on v1 the one vector gets Milvus's default).
    #[serde(default)]
    pub indexes: Vec<CreateIndex>,
    /// Load the collection once created (REST v2 loads when indexes are
    /// given; a collection without an index cannot be loaded).
    #[serde(default = "yes")]
    pub load: bool,
}

fn yes() -> bool {
    true
}

/// One field of `[sink.create]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateField {
    pub name: String,
    /// `Bool`, `Int8`, `Int16`, `Int32`, `Int64`, `Float`, `Double`,
    /// `VarChar`, `JSON`, `Array`, `FloatVector`, `BinaryVector`,
    /// `Float16Vector`, `BFloat16Vector`, `SparseFloatVector`, `Int8Vector`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Vectors (not sparse).
    pub dim: Option<u32>,
    /// VarChar, and Array of VarChar.
    pub max_length: Option<u32>,
    /// Array: the element type.
    pub element: Option<String>,
    /// Array: the most elements.
    pub max_capacity: Option<u32>,
    #[serde(default)]
    pub nullable: bool,
    #[serde(default)]
    pub partition_key: bool,
}

/// One index of `[sink.create]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateIndex {
    pub field: String,
    /// e.g. `COSINE`, `L2`, `IP`, `BM25`.
    pub metric: String,
    /// e.g. `AUTOINDEX` (default), `HNSW`, `FLAT`.
    #[serde(rename = "type", default = "autoindex")]
    pub index_type: String,
}

fn autoindex() -> String {
    "AUTOINDEX".into()
}

impl CreateField {
    /// The field's type, checked: what Milvus would describe.
    pub fn data_type(&self) -> Result<DataType, String> {
        let need = |v: Option<u32>, key: &str| {
            v.ok_or_else(|| format!("field `{}` ({}) needs `{key}`", self.name, self.data_type))
        };
        Ok(match self.data_type.as_str() {
            "Bool" => DataType::Bool,
            "Int8" => DataType::Int8,
            "Int16" => DataType::Int16,
            "Int32" => DataType::Int32,
            "Int64" => DataType::Int64,
            "Float" => DataType::Float,
            "Double" => DataType::Double,
            "VarChar" => DataType::VarChar {
                max_length: need(self.max_length, "max_length")?,
            },
            "JSON" => DataType::Json,
            "Array" => DataType::Array {
                element: Some(self.element_type()?),
                max_capacity: Some(need(self.max_capacity, "max_capacity")?),
            },
            "FloatVector" => DataType::FloatVector {
                dim: need(self.dim, "dim")?,
            },
            "BinaryVector" => DataType::BinaryVector {
                dim: need(self.dim, "dim")?,
            },
            "Float16Vector" => DataType::Float16Vector {
                dim: need(self.dim, "dim")?,
            },
            "BFloat16Vector" => DataType::BFloat16Vector {
                dim: need(self.dim, "dim")?,
            },
            "SparseFloatVector" => DataType::SparseFloatVector,
            "Int8Vector" => DataType::Int8Vector {
                dim: need(self.dim, "dim")?,
            },
            other => {
                return Err(format!(
                    "field `{}`: unknown type `{other}` (Bool, Int8, Int16, Int32, Int64, Float, Double, VarChar, JSON, Array, FloatVector, BinaryVector, Float16Vector, BFloat16Vector, SparseFloatVector, Int8Vector)",
                    self.name
                ));
            }
        })
    }

    fn element_type(&self) -> Result<ElementType, String> {
        let element = self.element.as_deref().unwrap_or("");
        Ok(match element {
            "Bool" => ElementType::Bool,
            "Int8" => ElementType::Int8,
            "Int16" => ElementType::Int16,
            "Int32" => ElementType::Int32,
            "Int64" => ElementType::Int64,
            "Float" => ElementType::Float,
            "Double" => ElementType::Double,
            "VarChar" => ElementType::VarChar {
                max_length: self.max_length,
            },
            other => {
                return Err(format!(
                    "field `{}`: an Array needs `element` (Bool, Int8..Int64, Float, Double, VarChar), not `{other}`",
                    self.name
                ));
            }
        })
    }

    fn is_vector(&self) -> bool {
        self.data_type.ends_with("Vector")
    }
}

impl CreateConfig {
    /// Checks the table on its own.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        let invalid = |message: String| Err(Invalid::key("sink.create", "fields", message));
        for f in &self.fields {
            if let Err(e) = f.data_type() {
                return invalid(e);
            }
        }
        match self.fields.iter().find(|f| f.name == self.primary_key) {
            None => {
                return Err(Invalid::key(
                    "sink.create",
                    "primary_key",
                    format!("`{}` is not one of the fields", self.primary_key),
                ));
            }
            Some(f) if f.data_type != "Int64" && f.data_type != "VarChar" => {
                return Err(Invalid::key(
                    "sink.create",
                    "primary_key",
                    format!(
                        "`{}` is {}; a primary key is Int64 or VarChar",
                        f.name, f.data_type
                    ),
                ));
            }
            Some(_) => {}
        }
        if !self.fields.iter().any(CreateField::is_vector) {
            return invalid("a collection needs at least one vector field".into());
        }
        if let Some(i) = self
            .indexes
            .iter()
            .find(|i| !self.fields.iter().any(|f| f.name == i.field))
        {
            return Err(Invalid::key(
                "sink.create",
                "indexes",
                format!("`{}` is not one of the fields", i.field),
            ));
        }
        Ok(())
    }

    /// The `collections/create` body for `api`, or why this schema cannot be
    /// created over it.
    pub(crate) fn request_body(
        &self,
        api: RestApi,
        collection: &str,
        database: Option<&str>,
    ) -> Result<Json, String> {
        match api {
            RestApi::V2 => Ok(self.v2_body(collection, database)),
            RestApi::V1 => self.v1_body(collection, database),
        }
    }

    /// REST v2 `collections/create` (handler_v2.go `createCollection`,
    /// `CollectionReq`/`CollectionSchema`/`FieldSchema`).
    fn v2_body(&self, collection: &str, database: Option<&str>) -> Json {
        let fields: Vec<Json> = self
            .fields
            .iter()
            .map(|f| {
                let mut params = serde_json::Map::new();
                for (key, value) in [
                    ("dim", f.dim),
                    ("max_length", f.max_length),
                    ("max_capacity", f.max_capacity),
                ] {
                    if let Some(v) = value {
                        params.insert(key.into(), json!(v.to_string()));
                    }
                }
                let mut field = json!({
                    "fieldName": f.name,
                    "dataType": f.data_type,
                    "isPrimary": f.name == self.primary_key,
                    "elementTypeParams": params,
                });
                if let Some(e) = &f.element {
                    field["elementDataType"] = json!(e);
                }
                if f.nullable {
                    field["nullable"] = json!(true);
                }
                if f.partition_key {
                    field["isPartitionKey"] = json!(true);
                }
                field
            })
            .collect();
        let mut body = json!({
            "collectionName": collection,
            "schema": {"autoId": self.auto_id, "enableDynamicField": self.dynamic_fields, "fields": fields},
        });
        if let Some(db) = database {
            body["dbName"] = json!(db);
        }
        if !self.indexes.is_empty() {
            body["indexParams"] = self
                .indexes
                .iter()
                .map(|i| json!({"fieldName": i.field, "indexName": i.field, "metricType": i.metric, "indexType": i.index_type}))
                .collect();
        }
        body
    }

    /// REST v1 `collections/create` (v2.3 handler_v1.go `createCollection`):
    /// an Int64 auto-id primary key, one FloatVector, dynamic fields on,
    /// and nothing else.
    fn v1_body(&self, collection: &str, database: Option<&str>) -> Result<Json, String> {
        let pk = self.fields.iter().find(|f| f.name == self.primary_key);
        let vectors: Vec<&CreateField> = self.fields.iter().filter(|f| f.is_vector()).collect();
        let simple = self.fields.len() == 2
            && pk.is_some_and(|f| f.data_type == "Int64")
            && self.auto_id
            && self.dynamic_fields
            && vectors.len() == 1
            && vectors[0].data_type == "FloatVector";
        if !simple {
            return Err("REST v1 (Milvus 2.3) creates only an Int64 auto-id primary key, one FloatVector and dynamic fields (auto_id = true, dynamic_fields = true, two fields); create this collection with pymilvus or Attu".into());
        }
        let vector = vectors[0];
        let mut body = json!({
            "collectionName": collection,
            "dimension": vector.dim.unwrap_or(0),
            "primaryField": self.primary_key,
            "vectorField": vector.name,
        });
        if let Some(i) = self.indexes.first() {
            body["metricType"] = json!(i.metric);
        }
        if let Some(db) = database {
            body["dbName"] = json!(db);
        }
        Ok(body)
    }

    /// How `existing` differs from this table, one line each (empty: the same).
    pub fn differences(&self, existing: &CollectionSchema) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.fields {
            let Ok(want) = f.data_type() else { continue };
            match existing.field(&f.name) {
                None => out.push(format!(
                    "field `{}` ({want}) is not in the collection",
                    f.name
                )),
                Some(have) if have.data_type != want => out.push(format!(
                    "field `{}` is {} in the collection, {want} in [sink.create]",
                    f.name, have.data_type
                )),
                Some(have) if have.nullable != f.nullable => out.push(format!(
                    "field `{}` is {}nullable in the collection",
                    f.name,
                    if have.nullable { "" } else { "not " }
                )),
                Some(_) => {}
            }
        }
        for have in &existing.fields {
            if !have.function_output && !self.fields.iter().any(|f| f.name == have.name) {
                out.push(format!(
                    "field `{}` ({}) is in the collection, not in [sink.create]",
                    have.name, have.data_type
                ));
            }
        }
        if existing.primary != self.primary_key {
            out.push(format!(
                "the primary key is `{}`, not `{}`",
                existing.primary, self.primary_key
            ));
        }
        if existing.auto_id != self.auto_id {
            out.push(format!("auto_id is {} in the collection", existing.auto_id));
        }
        if existing.dynamic != self.dynamic_fields {
            out.push(format!(
                "dynamic fields are {} in the collection",
                if existing.dynamic { "on" } else { "off" }
            ));
        }
        out
    }
}

/// Creating the collection over the wire.
impl Endpoint {
    /// Creates `collection` as `[sink.create]` says.
    pub(super) async fn create(
        &self,
        api: RestApi,
        collection: &str,
        create: &CreateConfig,
    ) -> Result<(), SinkError> {
        let failed = |reason: String| SinkError::CreateFailed {
            endpoint: self.base.clone(),
            collection: collection.into(),
            reason,
        };
        let body = create
            .request_body(api, collection, self.database.as_deref())
            .map_err(failed)?;
        let path = match api {
            RestApi::V2 => "/v2/vectordb/collections/create",
            RestApi::V1 => "/v1/vector/collections/create",
        };
        let request = self
            .post(path, api, Bytes::from(body.to_string()))
            .map_err(failed)?;
        let (status, answer) = self.send(request).await?;
        let answer = Answer::read(status, &answer, self.token.as_ref());
        if !answer.is_success(api) {
            return Err(failed(answer.describe()));
        }
        info!(
            endpoint = %self.base,
            collection,
            fields = create.fields.len(),
            "Created the collection from [sink.create]."
        );
        if api == RestApi::V2 && create.load && create.indexes.is_empty() {
            warn!(
                collection,
                "[sink.create] has no indexes: the collection is not loaded (rows are written; searches need an index and a load)."
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> CreateConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn bad_tables_are_refused_naming_the_key() {
        let no_vector =
            table("primary_key = \"id\"\nfields = [{ name = \"id\", type = \"Int64\" }]");
        let e = no_vector.validate().unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.message.as_str()),
            ("fields", "a collection needs at least one vector field")
        );
        let float_key = table(
            "primary_key = \"f\"\nfields = [{ name = \"f\", type = \"Float\" }, { name = \"v\", type = \"FloatVector\", dim = 2 }]",
        );
        let e = float_key.validate().unwrap_err();
        assert_eq!(e.key, "primary_key");
        assert!(
            e.message.contains("a primary key is Int64 or VarChar"),
            "{}",
            e.message
        );
        let no_dim = table(
            "primary_key = \"id\"\nfields = [{ name = \"id\", type = \"Int64\" }, { name = \"v\", type = \"FloatVector\" }]",
        );
        assert_eq!(
            no_dim.validate().unwrap_err().message,
            "field `v` (FloatVector) needs `dim`"
        );
        let typo = table(
            "primary_key = \"id\"\nfields = [{ name = \"id\", type = \"Int64\" }, { name = \"v\", type = \"FloatVec\", dim = 2 }]",
        );
        assert!(
            typo.validate()
                .unwrap_err()
                .message
                .starts_with("field `v`: unknown type `FloatVec`")
        );
    }

    /// The v2 body follows handler_v2.go's `CollectionReq`: string params in
    /// `elementTypeParams`, `elementDataType` for arrays, `indexParams`.
    #[test]
    fn the_v2_body_has_the_handlers_shape() {
        let t = table(
            r#"primary_key = "id"
dynamic_fields = true
fields = [
  { name = "id", type = "Int64" },
  { name = "tags", type = "Array", element = "VarChar", max_capacity = 4, max_length = 8 },
  { name = "v", type = "FloatVector", dim = 2, nullable = false },
]
indexes = [{ field = "v", metric = "COSINE" }]"#,
        );
        t.validate().unwrap();
        let body = t.request_body(RestApi::V2, "c", Some("db")).unwrap();
        assert_eq!(body["dbName"], "db");
        assert_eq!(body["schema"]["enableDynamicField"], true);
        assert_eq!(body["schema"]["fields"][0]["isPrimary"], true);
        assert_eq!(
            body["schema"]["fields"][1],
            json!({"fieldName": "tags", "dataType": "Array", "elementDataType": "VarChar", "isPrimary": false,
                   "elementTypeParams": {"max_capacity": "4", "max_length": "8"}})
        );
        assert_eq!(
            body["indexParams"],
            json!([{"fieldName": "v", "indexName": "v", "metricType": "COSINE", "indexType": "AUTOINDEX"}])
        );
        assert!(t.request_body(RestApi::V1, "c", None).is_err());
    }
}
