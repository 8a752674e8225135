//! A transform built directly against the frozen `kmv:transform@0.2.0`
//! contract (`guest-sdk/wit-0.2.0`), without the SDK, which builds the
//! newest version: the host must keep running components built for 0.2.0,
//! and hand them decoded (Avro) values as JSON text, as 0.2.0 promised.
//!
//! It reads the seed tutorial's articles like `transforms/seed`,
//! `{"id": 0, "title": "...", "title_vector": [8 floats], "link": "..."}`,
//! from the value's JSON text only, and returns each as `outcome::rows`
//! with one row whose vector is `float-vector-json` (new in 0.2.0); `init`
//! writes a debug line through the 0.2.0 `log` import.
#![allow(unsafe_code)]

wit_bindgen::generate!({ path: "../../../guest-sdk/wit-0.2.0", world: "transform" });

use kmv::transform::host::log;
use kmv::transform::types::{Field, Level, Value};
use serde_json::value::RawValue;

/// One article of the seed tutorial.
#[derive(serde::Deserialize)]
struct Article<'a> {
    id: i64,
    title: String,
    #[serde(borrow)]
    title_vector: &'a RawValue,
    link: String,
}

struct Contract02;

impl Guest for Contract02 {
    fn init(_config: String) -> Result<(), String> {
        log(Level::Debug, "contract-0-2: built for kmv:transform@0.2.0");
        Ok(())
    }

    fn process(records: Vec<KafkaRecord>) -> Vec<Outcome> {
        records.iter().map(article).collect()
    }
}

fn article(record: &KafkaRecord) -> Outcome {
    let Some(value) = &record.value else {
        return Outcome::Error("the record has a null value (a tombstone)".to_string());
    };
    match serde_json::from_slice::<Article>(value) {
        Ok(a) => Outcome::Rows(vec![vec![
            field("id", Value::Int64(a.id)),
            field("title", Value::Varchar(a.title)),
            field(
                "title_vector",
                Value::FloatVectorJson(a.title_vector.get().to_string()),
            ),
            field("link", Value::Varchar(a.link)),
        ]]),
        Err(e) => Outcome::Error(format!("the value is not a seed article: {e}")),
    }
}

fn field(name: &str, value: Value) -> Field {
    Field {
        name: name.to_string(),
        value,
    }
}

export!(Contract02);
