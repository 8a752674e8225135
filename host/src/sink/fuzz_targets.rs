//! The sink's fuzzing entry points, re-exported by the top-level `fuzzing`
//! module: describe answers, write answers and row encoding, each from
//! arbitrary bytes.

use super::client::MilvusSink;
use super::encode::RowEncoder;
use super::request_builder::Endpoint;
use super::schema::CollectionSchema;
use super::{RestApi, SinkConfig};
use crate::transform::{ArrayValue, Field, Value};
use std::sync::OnceLock;

/// A REST v2 describe answer with a field of every type the encoder writes
/// (shapes as in `schema.rs`'s tests, from handler_v2.go v2.5.27 and 3.0.0).
pub const EVERY_TYPE: &str = r#"{"code":0,"data":{"collectionName":"c","autoId":false,"enableDynamicField":true,"load":"LoadStateLoaded","fields":[
{"name":"id","type":"Int64","primaryKey":true,"autoId":false},
{"name":"s","type":"VarChar","nullable":true,"params":[{"key":"max_length","value":"16"}]},
{"name":"b","type":"Bool"},
{"name":"i8","type":"Int8"},
{"name":"i16","type":"Int16"},
{"name":"i32","type":"Int32","nullable":true},
{"name":"f","type":"Float"},
{"name":"d","type":"Double","defaultValue":{"Data":{"DoubleData":0.5}}},
{"name":"j","type":"JSON"},
{"name":"ai","type":"Array","elementType":"Int32","params":[{"key":"max_capacity","value":"4"}]},
{"name":"as","type":"Array","elementType":"VarChar","params":[{"key":"max_capacity","value":"4"},{"key":"max_length","value":"8"}]},
{"name":"v","type":"FloatVector","params":[{"key":"dim","value":"4"}]},
{"name":"bv","type":"BinaryVector","params":[{"key":"dim","value":"16"}]},
{"name":"h","type":"Float16Vector","params":[{"key":"dim","value":"4"}]},
{"name":"bh","type":"BFloat16Vector","params":[{"key":"dim","value":"4"}]},
{"name":"sp","type":"SparseFloatVector"},
{"name":"i8v","type":"Int8Vector","params":[{"key":"dim","value":"4"}]},
{"name":"at","type":"Timestamptz","nullable":true},
{"name":"g","type":"Geometry","nullable":true}
]}}"#;

/// The field names rows are built from: the schema's, and two it lacks
/// (dynamic fields).
const NAMES: [&str; 21] = [
    "id", "s", "b", "i8", "i16", "i32", "f", "d", "j", "ai", "as", "v", "bv", "h", "bh", "sp",
    "i8v", "at", "g", "extra", "$meta",
];

fn endpoint() -> &'static Endpoint {
    static ENDPOINT: OnceLock<Endpoint> = OnceLock::new();
    ENDPOINT.get_or_init(|| Endpoint::new(&config("insert"), None).expect("a valid endpoint"))
}

fn config(mode: &str) -> SinkConfig {
    toml::from_str(&format!(
        "endpoint = \"http://127.0.0.1:9\"\ncollection = \"c\"\nwrite_mode = \"{mode}\""
    ))
    .expect("a valid [sink]")
}

/// The schema with a field of every type.
pub fn every_type_schema() -> CollectionSchema {
    endpoint()
        .describe_answer(RestApi::V2, "c", 200, EVERY_TYPE.as_bytes())
        .expect("the every-type answer describes")
}

/// Reads values off the fuzzer's bytes; zeros when they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let head = self.take(8);
        b[..head.len()].copy_from_slice(head);
        u64::from_le_bytes(b)
    }

    fn f32(&mut self) -> f32 {
        f32::from_bits(self.u64() as u32)
    }

    fn text(&mut self) -> String {
        let n = self.byte() as usize % 24;
        String::from_utf8_lossy(self.take(n)).into_owned()
    }

    fn len(&mut self) -> usize {
        self.byte() as usize % 9
    }

    fn value(&mut self) -> Value {
        match self.byte() % 12 {
            0 => Value::Null,
            1 => Value::Boolean(self.byte() & 1 == 1),
            2 => Value::Int64(self.u64() as i64),
            3 => Value::Double(f64::from_bits(self.u64())),
            4 => Value::Varchar(self.text()),
            5 => Value::Json(self.text()),
            6 => Value::Array(self.array()),
            7 => Value::FloatVector((0..self.len()).map(|_| self.f32()).collect()),
            8 => Value::BinaryVector(self.take(3).to_vec()),
            9 => Value::SparseVector(
                (0..self.len())
                    .map(|_| (self.u64() as u32, self.f32()))
                    .collect(),
            ),
            10 => Value::FloatVectorJson(self.text()),
            _ => Value::Int64(self.byte() as i64 - 128),
        }
    }

    fn array(&mut self) -> ArrayValue {
        let n = self.len();
        match self.byte() % 4 {
            0 => ArrayValue::Bools((0..n).map(|_| self.byte() & 1 == 1).collect()),
            1 => ArrayValue::Ints((0..n).map(|_| self.u64() as i64).collect()),
            2 => ArrayValue::Floats((0..n).map(|_| f64::from_bits(self.u64())).collect()),
            _ => ArrayValue::Varchars((0..n).map(|_| self.text()).collect()),
        }
    }

    fn row(&mut self) -> Vec<Field> {
        (0..self.byte() % 24)
            .map(|_| Field {
                name: NAMES[self.byte() as usize % NAMES.len()].to_string(),
                value: self.value(),
            })
            .collect()
    }
}

/// A row built from `data` through the encoder of the every-type schema,
/// over REST v1 and v2. An encoded row must be JSON.
pub fn encode_row(data: &[u8]) {
    static ENCODERS: OnceLock<[RowEncoder; 2]> = OnceLock::new();
    let encoders = ENCODERS.get_or_init(|| {
        let schema = every_type_schema();
        [
            RowEncoder::new(schema.clone(), RestApi::V2),
            RowEncoder::new(schema, RestApi::V1),
        ]
    });
    let row = Bytes(data).row();
    for encoder in encoders {
        if let Ok(encoded) = encoder.encode(&row) {
            let text = String::from_utf8_lossy(&encoded.json);
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                panic!("an encoded row is not JSON ({e}): {text}");
            }
        }
    }
}

/// `data` as the answer to a describe: the first byte picks the API and
/// the HTTP status. A schema that comes out gets an encoder.
pub fn describe_answer(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let api = if first & 1 == 0 {
        RestApi::V2
    } else {
        RestApi::V1
    };
    let status = [200, 200, 200, 401, 404, 500, 503, 429][(first >> 1) as usize % 8];
    if let Ok(schema) = endpoint().describe_answer(api, "c", status, body) {
        let _ = RowEncoder::new(schema, api).encode(&[]);
    }
}

/// `data` as the answer to a write of 3 rows: the first byte picks the API,
/// insert or upsert, and the HTTP status.
pub fn write_answer(data: &[u8]) {
    static SINKS: OnceLock<Vec<MilvusSink>> = OnceLock::new();
    let sinks = SINKS.get_or_init(|| {
        let mut sinks = Vec::new();
        for mode in ["insert", "upsert"] {
            for api in [RestApi::V2, RestApi::V1] {
                let config = config(mode);
                let endpoint = Endpoint::new(&config, None).expect("a valid endpoint");
                let mut schema = every_type_schema();
                // REST v1 cannot write the newer types: the seed's shape.
                if api == RestApi::V1 {
                    schema
                        .fields
                        .retain(|f| ["id", "s", "v"].contains(&f.name.as_str()));
                }
                sinks.push(
                    MilvusSink::from_parts(&config, endpoint, api, schema)
                        .expect("a sink over the every-type schema"),
                );
            }
        }
        sinks
    });
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let sink = &sinks[first as usize % sinks.len()];
    let status = [200, 200, 200, 400, 401, 429, 500, 503][(first >> 2) as usize % 8];
    let _ = sink.write_answer(status, body, 3, None);
}
