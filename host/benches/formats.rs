//! Avro (Confluent-framed, decoded natively in the host and handed over typed,
//! or decoded in the guest)
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
    let mut seed = engine.worker().unwrap();
    // Decoding in the guest instead: the framed bytes handed over as they
    // are, apache-avro compiled into the transform.
    let module = kmv_test_artifacts::AVRO_IN_GUEST;
    let config: TransformConfig = toml::from_str(&format!(
        "module = {module:?}\n[config]\nschema = {:?}",
        SCHEMA.replace('\n', " ")
    ))
    .unwrap();
    let engine = TransformEngine::builder(Path::new(module), &config)
        .load()
        .expect("loading avro_in_guest.wasm");
    let mut in_guest = engine.worker().unwrap();
    let mut decoder = Decoder::new(
        Format::Raw,
        Format::Avro,
        Mapping::default(),
        Schemas::File {
            kind: "AVRO".into(),
            text: SCHEMA.into(),
        },
    );
    println!("seed records, best of 5 runs, records per second");
    println!(
        "json: JSON records through the seed transform (wasm); avro: decoded in the host and handed over typed \
         (MessagePack, contract 0.3.0) to the seed transform; as-text: decoded in the host and handed over as \
         JSON text (contracts 0.1.0 / 0.2.0); in-guest: the framed bytes handed over, decoded in the transform \
         (apache-avro in wasm); host-decode: the host's decode alone; +body: and the rows written as the \
         request body (checked against the collection schema)"
    );
    println!(
        "{:<4} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>11} {:>9} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "dim",
        "recs",
        "json B",
        "avro B",
        "json",
        "avro",
        "as-text",
        "in-guest",
        "host-decode",
        "avro/json",
        "json+body",
        "avro+body",
        "text+body",
        "guest+body",
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
        // The same rows either way (the vector as f32s from both), so the
        // two do the same work.
        let first = &avro[..chunk];
        assert_eq!(
            in_guest.process(first).unwrap(),
            through(&mut seed, &mut decoder, Way::Avro, first, form)
        );
        // One path over every chunk; `with_body`: also write the request body.
        let mut run = |path: Way, with_body: bool| {
            best_of(5, || {
                for c in match path {
                    Way::Json => json.chunks(chunk),
                    _ => avro.chunks(chunk),
                } {
                    let out = match path {
                        Way::InGuest => in_guest.process(c).unwrap(),
                        _ => through(&mut seed, &mut decoder, path, c, form),
                    };
                    if with_body {
                        encode(&encoder, &out, &mut body);
                    }
                }
            })
        };
        let t = [Way::Json, Way::Avro, Way::AsText, Way::InGuest].map(|w| run(w, false));
        let b = [Way::Json, Way::Avro, Way::AsText, Way::InGuest].map(|w| run(w, true));
        let t_decode = best_of(5, || {
            for c in avro.chunks(chunk) {
                decoder.decode_now(c).unwrap();
            }
        });
        let rate = |t: Duration| n as f64 / t.as_secs_f64();
        println!(
            "{:<4} {:>6} {:>6} {:>6} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>11.0} {:>8.2}x {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>8.2}x",
            dim,
            n,
            size(&json),
            size(&avro),
            rate(t[0]),
            rate(t[1]),
            rate(t[2]),
            rate(t[3]),
            rate(t_decode),
            rate(t[1]) / rate(t[0]),
            rate(b[0]),
            rate(b[1]),
            rate(b[2]),
            rate(b[3]),
            rate(b[1]) / rate(b[0])
        );
    }
}

/// How a chunk reaches a transform.
#[derive(Debug, Clone, Copy)]
enum Way {
    Json,
    Avro,
    AsText,
    InGuest,
}

fn through(
    worker: &mut Worker,
    decoder: &mut Decoder,
    path: Way,
    chunk: &[KafkaRecord],
    form: kmv_host::transform::ValueForm,
) -> Vec<RecordOutcome> {
    match path {
        Way::Json | Way::InGuest => worker.process(chunk).unwrap(),
        Way::Avro => {
            let decoded =
                Decoded::from_results(chunk.to_vec(), decoder.decode_now(chunk).unwrap(), form);
            worker
                .process_in(decoded.transform_input(), decoded.form())
                .unwrap()
        }
        Way::AsText => {
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
