//! Avro (Confluent-framed, decoded natively in the host to JSON) against
//! plain JSON, for the seed records at dim 8 and 768, through the unchanged
//! `seed` transform (wasm). Records per second of host decode + transform;
//! figures printed, not asserted. Run: `cargo bench -p kmv-host --bench formats`.

#[path = "../tests/common/mod.rs"]
mod common;

use apache_avro::types::Value;
use kmv_host::config::TransformConfig;
use kmv_host::source::decode::{Decoded, Decoder, Format, Mapping, Schemas, wire};
use kmv_host::transform::{KafkaRecord, TransformEngine};
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
    println!("seed records through the seed transform (wasm), best of 5 runs");
    println!(
        "{:<6} {:>8} {:>11} {:>11} {:>12} {:>14} {:>14} {:>7}",
        "dim",
        "records",
        "json B/rec",
        "avro B/rec",
        "json rec/s",
        "avro rec/s",
        "avro decode/s",
        "ratio"
    );
    for (dim, n) in [(8usize, 50_000usize), (768, 5_000)] {
        let (json, avro) = records(n, dim);
        let size = |r: &[KafkaRecord]| {
            r.iter()
                .map(|r| r.value.as_ref().unwrap().len())
                .sum::<usize>()
                / n
        };
        let chunk = 500;
        let t_json = best_of(5, || {
            for c in json.chunks(chunk) {
                worker.process(c).unwrap();
            }
        });
        let t_decode = best_of(5, || {
            for c in avro.chunks(chunk) {
                decoder.decode_now(c).unwrap();
            }
        });
        let t_avro = best_of(5, || {
            for c in avro.chunks(chunk) {
                let decoded = Decoded::from_results(c.to_vec(), decoder.decode_now(c).unwrap());
                worker.process(decoded.transform_input()).unwrap();
            }
        });
        let rate = |t: Duration| n as f64 / t.as_secs_f64();
        println!(
            "{:<6} {:>8} {:>11} {:>11} {:>12.0} {:>14.0} {:>14.0} {:>6.2}x",
            dim,
            n,
            size(&json),
            size(&avro),
            rate(t_json),
            rate(t_avro),
            rate(t_decode),
            rate(t_avro) / rate(t_json)
        );
    }
}
