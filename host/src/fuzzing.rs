//! Entry points for the fuzzers (`fuzz/`, coverage-guided, by hand) and
//! for their smoke test in CI (`host/tests/fuzz_smoke.rs`): each takes
//! arbitrary bytes and must return, never panic or hang, whatever they
//! hold. Not an API: hidden from the docs, free to change.

use crate::config::{Loaded, PipelineConfig};
use crate::source::decode::{Decoder, Format, Mapping, Schemas};
use crate::transform::KafkaRecord;
use std::cell::RefCell;
use std::path::Path;

pub use crate::sink::fuzz_targets::{
    EVERY_TYPE, describe_answer, encode_row, every_type_schema, write_answer,
};

/// `data` as pipeline.toml. An error must say where.
pub fn pipeline_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    let checked = PipelineConfig::parse(text, path).and_then(|config| {
        let loaded = Loaded {
            path: path.into(),
            base_dir: ".".into(),
            text: text.into(),
            config,
        };
        loaded.validate()
    });
    if let Err(e) = checked {
        let message = e.to_string();
        assert!(
            message.starts_with("fuzz.toml:"),
            "an error that does not say where: {message}"
        );
    }
}

/// An Avro schema with every kind of type the decoder reads (records,
/// unions, arrays, maps, enums, fixed, and the logical types).
pub const AVRO_SCHEMA: &str = r#"{"type":"record","name":"Article","namespace":"kmv.fuzz","fields":[
{"name":"id","type":"long"},
{"name":"title","type":["null","string"],"default":null},
{"name":"title_vector","type":{"type":"array","items":"float"}},
{"name":"score","type":"double"},
{"name":"ok","type":"boolean"},
{"name":"n","type":"int"},
{"name":"raw","type":"bytes"},
{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["NEWS","SCIENCE"]}},
{"name":"digest","type":{"type":"fixed","name":"Digest","size":4}},
{"name":"tags","type":{"type":"map","values":"string"}},
{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
{"name":"big","type":{"type":"fixed","name":"Big","size":8,"logicalType":"decimal","precision":18,"scale":4}},
{"name":"day","type":{"type":"int","logicalType":"date"}},
{"name":"at_ms","type":{"type":"long","logicalType":"timestamp-millis"}},
{"name":"at_us","type":{"type":"long","logicalType":"timestamp-micros"}},
{"name":"local","type":{"type":"long","logicalType":"local-timestamp-millis"}},
{"name":"t_ms","type":{"type":"int","logicalType":"time-millis"}},
{"name":"t_us","type":{"type":"long","logicalType":"time-micros"}},
{"name":"uuid","type":{"type":"string","logicalType":"uuid"}},
{"name":"inner","type":["null",{"type":"record","name":"Inner","fields":[{"name":"f","type":"float"},{"name":"next","type":["null","Inner"]}]}]}
]}"#;

/// A Protobuf schema with scalars, repeated and map fields, enums, nested
/// messages, oneofs and well-known types.
pub const PROTO_SCHEMA: &str = r#"syntax = "proto3";
package kmv.fuzz;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
message Article {
  int64 id = 1;
  string title = 2;
  repeated float title_vector = 3;
  bytes raw = 4;
  Kind kind = 5;
  google.protobuf.Timestamp at = 6;
  google.protobuf.DoubleValue score = 7;
  map<string, int32> counts = 8;
  Inner inner = 9;
  oneof choice { sint32 a = 10; fixed64 b = 11; double c = 12; }
  uint64 u = 13;
  bool ok = 14;
  message Inner { bytes b = 1; repeated Inner children = 2; }
  enum Kind { NEWS = 0; SCIENCE = 1; }
}
message Second { string s = 1; }
"#;

/// A JSON schema (draft-07) with the keywords payloads are most often
/// checked by: types, required, enums, patterns, formats, bounds, local
/// `$ref`s, combinators and `additionalProperties`.
pub const JSON_SCHEMA: &str = r##"{
"type": "object",
"definitions": {"tag": {"type": "string", "pattern": "^[a-z]{1,8}$"}},
"properties": {
  "id": {"type": "integer", "minimum": 0},
  "v": {"type": "array", "items": {"type": "number"}, "maxItems": 16},
  "title": {"type": "string", "maxLength": 64},
  "kind": {"enum": ["news", "science", null]},
  "at": {"type": "string", "format": "date-time"},
  "tags": {"type": "array", "items": {"$ref": "#/definitions/tag"}, "uniqueItems": true},
  "score": {"oneOf": [{"type": "number", "multipleOf": 0.5}, {"type": "null"}]}
},
"required": ["id"],
"additionalProperties": {"type": ["string", "number", "boolean", "null"]}
}"##;

fn decoder(value: Format, kind: &str, text: &str) -> Decoder {
    Decoder::new(
        Format::Raw,
        value,
        Mapping::default(),
        Schemas::File {
            kind: kind.into(),
            text: text.into(),
        },
    )
}

thread_local! {
    static DECODERS: RefCell<[Decoder; 3]> = RefCell::new([
        decoder(Format::Avro, "AVRO", AVRO_SCHEMA),
        decoder(Format::Protobuf, "PROTOBUF", PROTO_SCHEMA),
        decoder(Format::JsonSchema, "JSON", JSON_SCHEMA),
    ]);
}

/// `data` as a record value in the Confluent wire format: the first byte
/// picks Avro, Protobuf or JSON Schema, the rest is the value (magic byte,
/// schema id, payload). A record that decodes must be JSON (an Avro one
/// MessagePack that converts to JSON); one that does not fails alone, with
/// a reason.
pub fn decode_record(data: &[u8]) {
    let _ = decodes(data);
}

/// [`decode_record`], saying whether the record decoded (`None`: no input).
pub fn decodes(data: &[u8]) -> Option<bool> {
    let (&first, value) = data.split_first()?;
    let record = KafkaRecord {
        topic: "fuzz".into(),
        partition: 0,
        offset: 0,
        timestamp: None,
        key: None,
        value: Some(value.to_vec()),
        headers: vec![],
    };
    DECODERS.with(|decoders| {
        let decoder = &mut decoders.borrow_mut()[first as usize % 3];
        let results = decoder
            .decode_now(std::slice::from_ref(&record))
            .expect("a local schema is always reachable");
        assert_eq!(results.len(), 1, "one result per record");
        match &results[0] {
            Ok(decoded) => {
                let mut json = decoded.value.clone().unwrap_or_default();
                if decoder.value_form() == crate::transform::ValueForm::MessagePack {
                    let mut text = Vec::new();
                    if let Err(e) = crate::common::msgpack::to_json(&json, &mut text) {
                        panic!("a decoded record's MessagePack does not convert to JSON: {e}");
                    }
                    json = text;
                }
                let json = &json[..];
                if let Err(e) = serde_json::from_slice::<serde_json::Value>(json) {
                    panic!(
                        "a decoded record is not JSON ({e}): {}",
                        String::from_utf8_lossy(json)
                    );
                }
                Some(true)
            }
            Err(reason) => {
                assert!(!reason.is_empty(), "a failure without a reason");
                Some(false)
            }
        }
    })
}

/// `data` as an Avro schema (the text after the first byte) and a payload
/// (the rest, after a NUL): a schema a registry hands out may be anything.
pub fn avro_schema(data: &[u8]) {
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let Ok(schema) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let mut value = vec![0, 0, 0, 0, 1];
    value.extend_from_slice(&data[split + 1..]);
    let mut decoder = decoder(Format::Avro, "AVRO", schema);
    let record = KafkaRecord {
        topic: "fuzz".into(),
        partition: 0,
        offset: 0,
        timestamp: None,
        key: None,
        value: Some(value),
        headers: vec![],
    };
    let _ = decoder.decode_now(std::slice::from_ref(&record));
}
