//! `rename`: renames, drops or keeps fields, like Kafka Connect's ReplaceField.
//!
//! ```toml
//! [transform.config]
//! renames = { headline = "title", url = "link" }  # from = to
//! exclude = ["internal"]                           # fields to drop
//! include = []                                     # if not empty: keep only these (after renames)
//! vectors = ["title_vector"]                       # fields to write as float vectors
//! ```
use kmv_guest::{Config, Outcome, Record, Row, Transform, export_transform};
use std::collections::BTreeMap;

/// The `[transform.config]` of the rename transform.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameConfig {
    /// Fields to rename, `from = "to"`.
    #[serde(default)]
    pub renames: BTreeMap<String, String>,
    /// Fields to drop.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// When not empty, the only fields kept (names after renaming).
    #[serde(default)]
    pub include: Vec<String>,
    /// Fields to turn into float vectors (names after renaming).
    #[serde(default)]
    pub vectors: Vec<String>,
}

/// Applies a [`RenameConfig`] to each JSON object.
pub struct Rename {
    config: RenameConfig,
}

impl Rename {
    fn reshape(&self, mut row: Row) -> Result<Row, String> {
        for name in &self.config.exclude {
            row = row.drop(name);
        }
        for (from, to) in &self.config.renames {
            row = row.rename(from, to);
        }
        if !self.config.include.is_empty() {
            row = row.keep(&self.config.include);
        }
        for name in &self.config.vectors {
            row = row.vector(name).map_err(|e| e.to_string())?;
        }
        Ok(row)
    }
}

impl Transform for Rename {
    fn init(config: Config) -> Result<Self, String> {
        let config: RenameConfig = config.deserialize()?;
        if let Some((from, _)) = config.renames.iter().find(|(from, to)| from == to) {
            return Err(format!("renames: `{from}` is renamed to itself"));
        }
        Ok(Rename { config })
    }

    fn process(&mut self, record: Record) -> Outcome {
        record.json_row().and_then(|row| self.reshape(row)).into()
    }
}

export_transform!(Rename);

#[cfg(test)]
mod tests {
    use super::*;
    use kmv_guest::Value;

    fn config(toml_like: serde_json::Value) -> Config {
        Config::from_value(toml_like).unwrap()
    }

    #[test]
    fn renames_drops_and_keeps() {
        let mut t = Rename::init(config(serde_json::json!({
            "renames": {"headline": "title"}, "exclude": ["internal"], "vectors": ["v"]
        })))
        .unwrap();
        let out = t.process(Record::from_value(
            br#"{"id": 1, "headline": "h", "internal": 1, "v": [1, 2]}"#,
        ));
        let Outcome::Rows(rows) = out else {
            panic!("{out:?}")
        };
        let row = Row::from(rows[0].clone());
        assert_eq!(row.field_names(), ["id", "title", "v"]);
        assert_eq!(row.get("v"), Some(&Value::FloatVector(vec![1.0, 2.0])));
    }

    #[test]
    fn bad_config_is_refused() {
        let e = Rename::init(config(serde_json::json!({"renmaes": {}})))
            .err()
            .unwrap();
        assert!(e.contains("unknown field `renmaes`"), "{e}");
    }
}
