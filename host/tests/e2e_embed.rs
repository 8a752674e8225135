//! Embeddings end to end against real servers: tansu (Kafka) and Milvus
//! 2.3.5, started by tests/run.sh, and the all-MiniLM-L6-v2 model fetched by
//! tests/setup.sh. Seed articles without vectors go through the real
//! `kmv-host` binary and the `embed-title` transform, whose titles the host
//! embeds with its local model; then a query sentence, embedded with the same
//! local embedder through the library, is searched in Milvus (REST v1) and
//! must find the matching article first.

mod common;

use common::*;
use kmv_host::embed::{Engine, LocalEmbedder};
use serde_json::{Value as Json, json};

/// Titles with one clear topic each, at these ids; the other records are
/// look-alike filler.
const TOPICS: &[(i64, &str, &str)] = &[
    (
        7,
        "A beginner's guide to baking sourdough bread at home",
        "how do I make bread with a sourdough starter",
    ),
    (
        123,
        "Training a neural network to recognise handwritten digits",
        "deep learning model for reading handwriting",
    ),
    (
        345,
        "The best hiking trails in the Swiss Alps for summer",
        "mountain walks in Switzerland",
    ),
    (
        499,
        "Wie man im Winter Energie spart: Heizkosten senken",
        "reduce heating bills in winter",
    ),
];

#[test]
fn titles_embedded_by_the_host_are_found_by_a_query_sentence() {
    titles_are_found(Engine::Candle, "");
}

/// The same with `engine = "onnx"`: ONNX Runtime and `model.onnx` as
/// tests/setup.sh installs them, named in the pipeline file.
#[cfg(feature = "onnx-embedder")]
#[test]
fn titles_embedded_by_the_onnx_engine_are_found_by_a_query_sentence() {
    let library = onnxruntime_library();
    let keys = format!(
        "engine = \"onnx\"\nonnxruntime = {:?}\n",
        library.display().to_string()
    );
    titles_are_found(Engine::Onnx { library }, &keys);
}

/// `engine_keys` go into the `[embedders.minilm]` table.
fn titles_are_found(engine: Engine, engine_keys: &str) {
    let (uri, topic) = (milvus(), unique("e2e_embed"));
    admin(
        &uri,
        None,
        &[
            "create-seed",
            "--collection",
            &topic,
            "--dim",
            "384",
            "--metric",
            "IP",
            "--drop",
        ],
    );
    // 500 records: one transform call of 500 texts, whose embedding takes
    // far longer than the call timeout of 100 ms below; host time must not
    // count against the guest's deadline.
    let records: Vec<(String, Vec<u8>)> = (0..500)
        .map(|id| {
            let title = TOPICS.iter().find(|t| t.0 == id).map_or_else(
                || {
                    format!(
                        "Quarterly inventory report number {id} for warehouse {}",
                        id % 17
                    )
                },
                |t| t.1.to_string(),
            );
            let record =
                json!({"id": id, "title": title, "link": format!("https://example.com/{id}")});
            (id.to_string(), record.to_string().into_bytes())
        })
        .collect();
    produce(&topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let embedders = format!(
        "[embedders.minilm]\nprovider = \"local\"\nmodel_dir = {:?}\nbatch_size = 32\n{engine_keys}",
        model_dir().display().to_string()
    );
    let p = PipelineFile::new(dir.path())
        .topic(&topic)
        .module(kmv_test_artifacts::EMBED_TITLE)
        .transform_config("embedder = \"minilm\"")
        .milvus(&uri, &topic)
        .sink("batch_max_rows = 500")
        .transform_keys("call_timeout_ms = 100")
        .tables(&embedders)
        .write();
    let log = run_ok(&p, 4.0);
    assert_summary(&log, "records_in=500 rows_written=500 skipped=0 failed=0");
    assert_eq!(wait_count(&uri, None, &topic, 500), 500);

    let embedder = LocalEmbedder::load(&model_dir(), 32, &engine).unwrap();
    let queries: Vec<String> = TOPICS.iter().map(|t| t.2.to_string()).collect();
    let vectors = embedder.embed(&queries).unwrap();
    let client = reqwest::blocking::Client::new();
    for ((id, title, query), vector) in TOPICS.iter().zip(vectors) {
        let answer: Json = client
            .post(format!("{uri}/v1/vector/search"))
            .json(&json!({
                "collectionName": topic,
                "vector": vector,
                "limit": 3,
                "outputFields": ["id", "title"],
            }))
            .send()
            .and_then(|r| r.json())
            .expect("searching Milvus");
        let hits = answer["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"));
        // REST v1 gives Int64 ids as strings (JSON numbers lose precision).
        let first = match &hits[0]["id"] {
            Json::String(s) => s.parse::<i64>().ok(),
            other => other.as_i64(),
        };
        assert_eq!(
            first,
            Some(*id),
            "query {query:?} should find {title:?} first: {answer}"
        );
        assert_eq!(hits[0]["title"].as_str(), Some(*title));
    }
}
