#![allow(dead_code)] // each user of this module (lib tests, integration tests) needs a part.
//! `RestV2`: the REST v2 stand-in (`tests/services/milvus_v2.py`) for one
//! release line, started for one test and killed when dropped. No Milvus
//! 2.4+ server can run here; the stand-in decodes requests by the rules of
//! Milvus's own handler (its header cites release, file and line).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running stand-in.
pub struct RestV2 {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub uri: String,
}

impl RestV2 {
    /// Starts the stand-in answering as Milvus `version` (2.4, 2.5, 2.6 or 3.0).
    pub fn start(version: &str) -> RestV2 {
        let script = super::repo().join("tests/services/milvus_v2.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--port", "0", "--version", version])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("milvus_v2.py said {line:?}, not `listening on ADDR`"))
            .to_string();
        RestV2 {
            child,
            uri: format!("http://{addr}"),
        }
    }

    /// POSTs `body` to `path`; the answer's JSON.
    pub fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.uri))
            .json(&body)
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Every row of `collection`, as the stand-in stored it, by primary key `id`.
    pub fn rows(&self, collection: &str) -> Vec<serde_json::Value> {
        self.rows_in(collection, None)
    }

    /// The rows of `collection` in `partition` (all partitions when `None`),
    /// by primary key `id` (Int64 or VarChar).
    pub fn rows_in(&self, collection: &str, partition: Option<&str>) -> Vec<serde_json::Value> {
        let mut body = serde_json::json!({"collectionName": collection});
        if let Some(partition) = partition {
            body["partitionNames"] = serde_json::json!([partition]);
        }
        let answer = self.post("/v2/vectordb/entities/query", body);
        assert_eq!(answer["code"], 0, "{answer}");
        let mut rows = answer["data"].as_array().cloned().unwrap_or_default();
        rows.sort_by(|a, b| {
            (a["id"].as_i64(), a["id"].as_str()).cmp(&(b["id"].as_i64(), b["id"].as_str()))
        });
        rows
    }

    /// Creates `partition` in `collection` (a no-op when it exists).
    pub fn create_partition(&self, collection: &str, partition: &str) {
        let answer = self.post(
            "/v2/vectordb/partitions/create",
            serde_json::json!({"collectionName": collection, "partitionName": partition}),
        );
        assert_eq!(answer["code"], 0, "{answer}");
    }
}

impl Drop for RestV2 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
