//! The local embedder against sentence-transformers: the vectors stored in
//! `tests/embeddings/reference.json` were made once with sentence-transformers
//! (the file records the command and version) for the same model; the local
//! provider must give each sentence a vector with cosine >= 0.999 to its
//! reference, including non-ASCII text and a text longer than the model's
//! `max_seq_length` (cut the same way). Needs the model fetched by
//! `tests/setup.sh` (`tests/embeddings/fetch_model.sh`), or `KMV_MODEL_DIR`.

mod common;

use common::{model_dir, repo};
use kmv_host::embed::{Engine, LocalEmbedder};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Reference {
    model: String,
    command: String,
    sentence_transformers_version: String,
    sentences: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn local_vectors_match_sentence_transformers() {
    matches_sentence_transformers(&Engine::Candle);
}

/// The ONNX Runtime engine: PyPI's onnxruntime library and the model written
/// to `model.onnx` by tests/embeddings/build_onnx.py (tests/setup.sh installs
/// both).
#[cfg(feature = "onnx-embedder")]
#[test]
fn onnx_engine_vectors_match_sentence_transformers() {
    matches_sentence_transformers(&Engine::Onnx {
        library: common::onnxruntime_library(),
    });
}

/// A wrong library path and a model directory without `model.onnx` are
/// refused at load, naming the file and how to make it.
#[cfg(feature = "onnx-embedder")]
#[test]
fn onnx_engine_refuses_a_missing_library_or_model_naming_the_file() {
    let missing = std::env::temp_dir().join("kmv-no-such-dir/libonnxruntime.so.1.32.0");
    let err = match LocalEmbedder::load(
        &model_dir(),
        32,
        &Engine::Onnx {
            library: missing.clone(),
        },
    ) {
        Ok(_) => panic!("a missing ONNX Runtime library was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("no such file"), "{err}");
    assert!(err.contains("pip install onnxruntime"), "{err}");

    // The model directory's files without model.onnx.
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
    ] {
        std::fs::copy(model_dir().join(file), dir.path().join(file)).unwrap();
    }
    std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
    std::fs::copy(
        model_dir().join("1_Pooling/config.json"),
        dir.path().join("1_Pooling/config.json"),
    )
    .unwrap();
    let err = match LocalEmbedder::load(
        dir.path(),
        32,
        &Engine::Onnx {
            library: common::onnxruntime_library(),
        },
    ) {
        Ok(_) => panic!("a model directory without model.onnx was accepted"),
        Err(e) => e.to_string(),
    };
    let onnx = dir.path().join("model.onnx");
    assert!(err.contains(&onnx.display().to_string()), "{err}");
    assert!(err.contains("build_onnx.py"), "{err}");
}

fn matches_sentence_transformers(engine: &Engine) {
    let path = std::env::var_os("KMV_EMBED_REFERENCE").map_or_else(
        || repo().join("tests/embeddings/reference.json"),
        PathBuf::from,
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the reference vectors {}: {e}", path.display()));
    let reference: Reference = serde_json::from_str(&text).expect("reference.json is valid");
    assert_eq!(reference.sentences.len(), reference.vectors.len());
    assert!(
        reference.sentences.len() >= 3,
        "too few reference sentences"
    );
    assert!(
        reference.model.contains("all-MiniLM-L6-v2"),
        "reference made with {}",
        reference.model
    );

    let dir = model_dir();
    let embedder = LocalEmbedder::load(&dir, 32, engine).unwrap_or_else(|e| {
        panic!("{e} (run tests/setup.sh, or set KMV_MODEL_DIR to the model directory)")
    });
    assert_eq!(embedder.dimension(), 384);
    assert!(
        reference
            .sentences
            .iter()
            .any(|s| embedder.token_count(s).unwrap().1),
        "the reference set must hold a text longer than max_seq_length ({})",
        embedder.max_seq_length()
    );
    assert!(
        reference.sentences.iter().any(|s| !s.is_ascii()),
        "the reference set must hold non-ASCII text"
    );

    // All at once (sorted and batched), and one by one (no padding at all):
    // both must match.
    let together = embedder.embed(&reference.sentences).unwrap();
    let mut failures = vec![];
    for (i, (sentence, expected)) in reference
        .sentences
        .iter()
        .zip(&reference.vectors)
        .enumerate()
    {
        assert_eq!(expected.len(), 384);
        let alone = embedder.embed(std::slice::from_ref(sentence)).unwrap();
        for (how, got) in [("batched", &together[i]), ("alone", &alone[0])] {
            let c = cosine(got, expected);
            let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "not normalized: {norm}");
            if c < 0.999 {
                let short: String = sentence.chars().take(60).collect();
                failures.push(format!("#{i} {how} {short:?}: cosine {c}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "vectors differ from sentence-transformers {} (made by `{}`):\n{}",
        reference.sentence_transformers_version,
        reference.command,
        failures.join("\n")
    );
}

mod in_the_transform {
    //! The local embedder behind the guest's `embed` import, with the
    //! `embed-title` transform.
    use super::*;
    use kmv_host::config::TransformConfig;
    use kmv_host::embed::{Embedder, Embedders};
    use kmv_host::transform::{KafkaRecord, RecordOutcome, TransformEngine, Value};
    use std::collections::BTreeMap;
    use std::path::Path;

    fn config(extra: &str) -> TransformConfig {
        let cache = std::env::temp_dir().join("kmv-host-test-cache");
        let text = format!(
            "module = {:?}\ncache_dir = {:?}\n{extra}",
            kmv_test_artifacts::EMBED_TITLE,
            cache.display().to_string()
        );
        toml::from_str(&text).unwrap()
    }

    fn record(id: i64, title: &str) -> KafkaRecord {
        let value = serde_json::json!({"id": id, "title": title, "link": "l"});
        common::record("t", id, value.to_string())
    }

    /// 500 records in one call with a 20 ms call timeout: embedding them
    /// takes far longer than that, and must not count against the guest.
    #[test]
    fn embedding_time_does_not_count_against_the_call_deadline() {
        let local = LocalEmbedder::load(&model_dir(), 32, &Engine::Candle).unwrap();
        let titles: Vec<String> = (0..500)
            .map(|i| format!("Title number {i} about topic {}", i % 13))
            .collect();
        let direct = local.embed(&titles[..3]).unwrap();
        let embedders = Embedders::from_map(BTreeMap::from([(
            "minilm".to_string(),
            Embedder::Local(Box::new(local)),
        )]));
        let config =
            config("call_timeout_ms = 20\ncall_max_records = 500\ncall_max_bytes = 1048576");
        let engine = TransformEngine::builder(Path::new(kmv_test_artifacts::EMBED_TITLE), &config)
            .embedders(embedders)
            .load()
            .unwrap();
        let mut worker = engine.worker().unwrap();
        let records: Vec<KafkaRecord> = titles
            .iter()
            .enumerate()
            .map(|(i, t)| record(i as i64, t))
            .collect();
        let out = worker.process(&records).unwrap();
        assert_eq!(out.len(), 500);
        let faults: Vec<_> = out
            .iter()
            .filter(|o| matches!(o, RecordOutcome::Fault { .. }))
            .take(3)
            .collect();
        assert!(faults.is_empty(), "{faults:?}");
        for (i, o) in out.iter().enumerate() {
            let RecordOutcome::Rows(rows) = o else {
                panic!("record {i}: {o:?}")
            };
            let v = rows[0]
                .iter()
                .find(|f| f.name == "title_vector")
                .map(|f| &f.value);
            let Some(Value::FloatVector(v)) = v else {
                panic!("record {i}: {rows:?}")
            };
            assert_eq!(v.len(), 384);
            if i < 3 {
                assert!(cosine(v, &direct[i]) > 0.9999);
            }
        }
    }

    #[test]
    fn an_embedder_not_configured_is_a_per_record_error() {
        let config = config("[config]\nembedder = \"nope\"");
        let engine = TransformEngine::builder(Path::new(kmv_test_artifacts::EMBED_TITLE), &config)
            .embedders(Embedders::none())
            .load()
            .unwrap();
        let out = engine
            .worker()
            .unwrap()
            .process(&[record(1, "a"), record(2, "b")])
            .unwrap();
        assert_eq!(out.len(), 2);
        for o in out {
            let RecordOutcome::Error(reason) = o else {
                panic!("{o:?}")
            };
            assert!(
                reason.contains("no embedder `nope` is configured")
                    && reason.contains("[embedders.nope]"),
                "{reason}"
            );
        }
    }
}
