//! The seed transform compiled into the host (feature `bench-native-seed`,
//! `[transform] module = "native:seed"`) yields what `seed.wasm` yields,
//! record for record, both loaded the way a pipeline loads its transform:
//! so benches/pipeline.rs compares like with like.
//!
//! Run with `cargo test -p kmv-host --features bench-native-seed --test native_seed`.

mod common;

use kmv_host::config::PipelineConfig;
use kmv_host::transform::{
    Contract, Field, Header, KafkaRecord, RecordOutcome, TransformEngine, Value,
};

/// The pipeline's transform from a pipeline file whose `[transform] module`
/// is `module`, as `kmv-host` loads it (checks, path, `init`).
fn load(dir: &std::path::Path, module: &str) -> TransformEngine {
    let path = dir.join(format!("{}.toml", common::unique("p")));
    let cache = std::env::temp_dir().join("kmv-host-test-cache");
    std::fs::write(
        &path,
        format!(
            "[transform]\nmodule = {module:?}\ncache_dir = {:?}\n",
            cache.display().to_string()
        ),
    )
    .unwrap();
    PipelineConfig::load(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .load_transform()
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn record(offset: i64, value: Option<Vec<u8>>) -> KafkaRecord {
    KafkaRecord {
        value,
        ..common::record("topic_0", offset, "")
    }
}

/// Good articles at dim 8 and 768, one with a key, a timestamp and headers,
/// and bad records: a missing field, not JSON, no value.
fn records() -> Vec<KafkaRecord> {
    let article = |id: i64, dim: usize| Some(common::article(id, dim).to_string().into_bytes());
    vec![
        record(0, article(0, 8)),
        record(1, article(1, 768)),
        record(2, Some(br#"{"id": 2, "title": "t"}"#.to_vec())),
        record(3, Some(b"not json".to_vec())),
        record(4, None),
        KafkaRecord {
            key: Some(b"5".to_vec()),
            timestamp: Some(1_700_000_000_000),
            headers: vec![Header {
                key: "h".into(),
                value: Some(b"v".to_vec()),
            }],
            ..record(5, article(5, 8))
        },
    ]
}

fn field<'a>(outcome: &'a RecordOutcome, name: &str) -> &'a Value {
    let RecordOutcome::Rows(rows) = outcome else {
        panic!("expected rows, got {outcome:?}")
    };
    let row: &[Field] = &rows[0];
    &row.iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no {name} in {row:?}"))
        .value
}

#[test]
fn native_seed_yields_what_seed_wasm_yields() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = load(dir.path(), kmv_test_artifacts::SEED);
    let native = load(dir.path(), "native:seed");
    let input = records();
    let from_wasm = wasm.worker().unwrap().process(&input).unwrap();
    let from_native = native.worker().unwrap().process(&input).unwrap();
    assert_eq!(from_native, from_wasm);

    // And they are the outcomes the records call for, not two empty lists.
    assert_eq!(from_native.len(), input.len());
    assert_eq!(field(&from_native[0], "id"), &Value::Int64(0));
    // seed hands the vector over as the JSON text it arrived in.
    match field(&from_native[1], "title_vector") {
        Value::FloatVectorJson(text) => {
            assert_eq!(serde_json::from_str::<Vec<f32>>(text).unwrap().len(), 768)
        }
        other => panic!("expected a float vector's text, got {other:?}"),
    }
    assert_eq!(
        field(&from_native[5], "link"),
        &Value::Varchar("https://example.com/5".into())
    );
    for (i, bad) in [(2, "missing field `title_vector`"), (3, "expected ident")] {
        match &from_native[i] {
            RecordOutcome::Error(reason) => assert!(reason.contains(bad), "{i}: {reason}"),
            other => panic!("{i}: expected an error, got {other:?}"),
        }
    }
    assert!(
        matches!(&from_native[4], RecordOutcome::Error(_)),
        "{:?}",
        from_native[4]
    );
}

#[test]
fn native_seed_matches_over_many_calls() {
    // Past `call_max_records` (500), so the worker splits the batch into
    // calls the same way for both.
    let dir = tempfile::tempdir().unwrap();
    let wasm = load(dir.path(), kmv_test_artifacts::SEED);
    let native = load(dir.path(), "native:seed");
    let input: Vec<KafkaRecord> = (0..1200)
        .map(|i| {
            let value = if i % 7 == 3 {
                format!(r#"{{"id": {i}}}"#)
            } else {
                common::article(i, 8).to_string()
            };
            record(i, Some(value.into_bytes()))
        })
        .collect();
    let from_wasm = wasm.worker().unwrap().process(&input).unwrap();
    let from_native = native.worker().unwrap().process(&input).unwrap();
    assert_eq!(from_native, from_wasm);
    let errors = from_native
        .iter()
        .filter(|o| matches!(o, RecordOutcome::Error(_)))
        .count();
    assert_eq!(errors, (0..1200).filter(|i| i % 7 == 3).count());
}

#[test]
fn native_seed_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let native = load(dir.path(), "native:seed");
    assert!(
        native.identity().short().starts_with("native:seed@"),
        "{}",
        native.identity().short()
    );
    assert_eq!(native.contract(), Contract::V0_3);
}
