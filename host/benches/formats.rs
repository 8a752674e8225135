//! Avro (Confluent-framed, decoded natively in the host, handed over typed)
//! against plain JSON, for the seed records at dim 8 and 768, through the
//! `seed` transform (wasm). Records per second of host decode + transform;
//! figures printed, not asserted. Run: `cargo bench -p kmv-host --bench formats`.

#[path = "../tests/common/mod.rs"]
mod common;

use apache_avro::types::Value;
use kmv_host::config::TransformConfig;
use kmv_host::sink::{CollectionSchema, DataType, FieldSchema, RestApi, RowEncoder};
use kmv_host::source::decode::{Decoded, Decoder, Format, Mapping, Schemas, to_json, wire};
use kmv_host::transform::{KafkaRecord, RecordOutcome, TransformEngine, Worker};
use std::path::Path;
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"{"type":"record","name":"Article","namespace":"kmv.seed","fields":[
  {"name":"id","type":"long"},{"name":"title","type":"string"},
  {"name":"title_vector","type":{"type":"array","items":"float"}},{"name":"link","type":"string"}]}"#;

/// (JSON records, Avro records) of the same `n` articles.
fn records(n: usize, dim: usize) -> (Vec<KafkaRecord>, Vec<KafkaRecord>) {
    let schema = apache_avro::Schema::parse_str(SCHEMA).unwrap();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let (mut json, mut avro) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let vector: Vec<f32> = (0..dim)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed % 2_000_000_000) as f64 / 1e10 - 0.1) as f32
            })
            .collect();
        let title = format!("The Reported Mortality Rate of Coronavirus Is Not Important {i}");
        let link = "https://medium.com/swlh/the-reported-mortality-rate-of-coronavirus-is-not-important-369989c8d912";
        let text =
            serde_json::json!({"id": i, "title": title, "title_vector": vector, "link": link});
        json.push(KafkaRecord::new(
            "t",
            0,
            i as i64,
            Some(text.to_string().into_bytes()),
        ));
        let value = Value::Record(vec![
            ("id".into(), Value::Long(i as i64)),
            ("title".into(), Value::String(title)),
            (
                "title_vector".into(),
                Value::Array(vector.into_iter().map(Value::Float).collect()),
            ),
            ("link".into(), Value::String(link.into())),
        ]);
        let datum = apache_avro::to_avro_datum(&schema, value).unwrap();
        avro.push(KafkaRecord::new(
            "t",
            0,
            i as i64,
            Some(wire::frame(1, &datum)),
        ));
    }
    (json, avro)
}

/// The seed collection (`topic_0`) at `dim`, for the request body.
fn encoder(dim: usize) -> RowEncoder {
    let field = |name: &str, data_type| FieldSchema {
        name: name.into(),
        data_type,
        primary: name == "id",
        auto_id: false,
        nullable: false,
        has_default: false,
        function_output: false,
    };
    let schema = CollectionSchema {
        name: "topic_0".into(),
        fields: vec![
            field("id", DataType::Int64),
            field("title", DataType::VarChar { max_length: 512 }),
            field("title_vector", DataType::FloatVector { dim: dim as u32 }),
            field("link", DataType::VarChar { max_length: 512 }),
        ],
        primary: "id".into(),
        auto_id: false,
        dynamic: false,
        allow_insert_auto_id: false,
        loaded: Some(true),
    };
    RowEncoder::new(schema, RestApi::V2)
}

/// The rows of `out` written as the request body's JSON (checked against
/// the schema): the host's last step per record.
fn encode(encoder: &RowEncoder, out: &[RecordOutcome], body: &mut Vec<u8>) {
    body.clear();
    for o in out {
        let RecordOutcome::Rows(rows) = o else {
            panic!("not rows: {o:?}")
        };
        for row in rows {
            encoder.encode_into(row, body).unwrap();
        }
    }
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let module = kmv_test_artifacts::SEED;
    let config: TransformConfig = toml::from_str(&format!("module = {module:?}")).unwrap();
    let engine = TransformEngine::builder(Path::new(module), &config)
        .load()
        .expect("loading seed.wasm");
    let mut worker = engine.worker().unwrap();
    let mut decoder = Decoder::new(
        Format::Raw,
        Format::Avro,
        Mapping::default(),
        Schemas::File {
            kind: "AVRO".into(),
            text: SCHEMA.into(),
        },
    );
    println!("seed records through the seed transform (wasm), best of 5 runs, records per second");
    println!(
        "json: JSON records; avro: decoded in the host and handed over typed (MessagePack, contract 0.3.0); \
         avro-as-text: decoded and handed over as JSON text (contracts 0.1.0 / 0.2.0); \
         +body: and the rows written as the request body (checked against the collection schema)"
    );
    println!(
        "{:<5} {:>7} {:>9} {:>9} {:>10} {:>10} {:>13} {:>11} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "dim",
        "records",
        "json B",
        "avro B",
        "json",
        "avro",
        "avro-as-text",
        "decode",
        "avro/json",
        "json+body",
        "avro+body",
        "text+body",
        "avro/json"
    );
    for (dim, n) in [(8usize, 50_000usize), (768, 5_000)] {
        let (json, avro) = records(n, dim);
        let size = |r: &[KafkaRecord]| {
            r.iter()
                .map(|r| r.value.as_ref().unwrap().len())
                .sum::<usize>()
                / n
        };
        let encoder = encoder(dim);
        let mut body = Vec::new();
        let chunk = 500;
        let form = decoder.value_form();
        // One path over every chunk; `body`: also write the request body.
        let mut run = |path: Path3, with_body: bool| {
            best_of(5, || {
                for c in match path {
                    Path3::Json => json.chunks(chunk),
                    _ => avro.chunks(chunk),
                } {
                    let out = through(&mut worker, &mut decoder, path, c, form);
                    if with_body {
                        encode(&encoder, &out, &mut body);
                    }
                }
            })
        };
        let t_json = run(Path3::Json, false);
        let t_avro = run(Path3::Avro, false);
        let t_text = run(Path3::AvroAsText, false);
        let t_json_body = run(Path3::Json, true);
        let t_avro_body = run(Path3::Avro, true);
        let t_text_body = run(Path3::AvroAsText, true);
        let t_decode = best_of(5, || {
            for c in avro.chunks(chunk) {
                decoder.decode_now(c).unwrap();
            }
        });
        let rate = |t: Duration| n as f64 / t.as_secs_f64();
        println!(
            "{:<5} {:>7} {:>9} {:>9} {:>10.0} {:>10.0} {:>13.0} {:>11.0} {:>9.2}x {:>10.0} {:>10.0} {:>10.0} {:>9.2}x",
            dim,
            n,
            size(&json),
            size(&avro),
            rate(t_json),
            rate(t_avro),
            rate(t_text),
            rate(t_decode),
            rate(t_avro) / rate(t_json),
            rate(t_json_body),
            rate(t_avro_body),
            rate(t_text_body),
            rate(t_avro_body) / rate(t_json_body)
        );
    }
}

/// How a chunk reaches the transform.
#[derive(Debug, Clone, Copy)]
enum Path3 {
    Json,
    Avro,
    AvroAsText,
}

fn through(
    worker: &mut Worker,
    decoder: &mut Decoder,
    path: Path3,
    chunk: &[KafkaRecord],
    form: kmv_host::transform::ValueForm,
) -> Vec<RecordOutcome> {
    match path {
        Path3::Json => worker.process(chunk).unwrap(),
        Path3::Avro => {
            let decoded =
                Decoded::from_results(chunk.to_vec(), decoder.decode_now(chunk).unwrap(), form);
            worker
                .process_in(decoded.transform_input(), decoded.form())
                .unwrap()
        }
        Path3::AvroAsText => {
            let decoded =
                Decoded::from_results(chunk.to_vec(), decoder.decode_now(chunk).unwrap(), form);
            let text: Vec<KafkaRecord> = decoded
                .transform_input()
                .iter()
                .map(|r| {
                    let mut json = Vec::new();
                    to_json(r.value.as_deref().unwrap(), &mut json).unwrap();
                    KafkaRecord::new(r.topic.clone(), r.partition, r.offset, Some(json))
                })
                .collect();
            worker.process(&text).unwrap()
        }
    }
}
