//! The transform's configuration: the pipeline's `[transform.config]` table.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

/// The pipeline's `[transform.config]` table, as handed to [`crate::Transform::init`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    table: Map<String, Json>,
}

impl Config {
    /// Parses the JSON text the host passes to `init`.
    pub fn from_json(text: &str) -> Result<Config, String> {
        match serde_json::from_str(text) {
            Ok(Json::Object(table)) => Ok(Config { table }),
            Ok(_) => Err("[transform.config] must be a table".into()),
            Err(e) => Err(format!("[transform.config] is not valid JSON: {e}")),
        }
    }

    /// A config with this table: for tests.
    pub fn from_value(value: Json) -> Result<Config, String> {
        Config::from_json(&value.to_string())
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.table.get(key)
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Deserializes the whole table into `T`. The error names the key, e.g.
    /// ``[transform.config]: unknown field `renmaes`, expected `renames` or `exclude` ``.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(Json::Object(self.table.clone()))
            .map_err(|e| format!("[transform.config]: {e}"))
    }
}
