//! Sentences per second of the local embedding provider, at batch sizes 1
//! and 32, over the sentences of `tests/embeddings/bench_sentences.txt` (one
//! per line; a generated set when the file is absent). The model comes from
//! `KMV_MODEL_DIR`, or `$KMV_STATE/models/all-MiniLM-L6-v2` (default state:
//! `.kmv/` in the repository), as fetched by `tests/embeddings/fetch_model.sh`.
//!
//! Runs both engines of the local provider: candle (`"provider":"local"`)
//! and, in a build with the `onnx-embedder` feature (the default), ONNX
//! Runtime (`"provider":"local-onnx"`: `KMV_ONNXRUNTIME` or
//! `$KMV_STATE/lib/libonnxruntime.so`, and `model.onnx`, both from
//! `tests/embeddings/onnx_model.sh`). Prints one line per engine and batch size:
//! `embed-bench {"provider":"local","batch":B,"sentences":N,"seconds":S,"sentences_per_s":R,"tokens":T,"padded_tokens":P,"gflop":G,"gflop_per_s":F,"cpu_s":C}`,
//! which `tests/embeddings/bench.sh` compares with sentence-transformers
//! (PyTorch, CPU) on the same sentences. `tokens` counts the texts' tokens,
//! `padded_tokens` those the model computes (each batch is padded to its
//! longest text); `gflop` is the matrix products' work on them (the linear
//! layers, 2·hidden·(4·hidden + 2·intermediate) per token and layer, and the
//! attention, 4·hidden·len per token and layer; the element-wise operations
//! are left out); `cpu_s` is the process's user and system CPU time over the
//! run (above `seconds` when both cores work). candle's matrix products use all
//! cores (rayon; `RAYON_NUM_THREADS` to limit them), as PyTorch does.
//!
//! Run with `cargo bench -p kmv-host --bench embed`; `-- 32` runs only the
//! batch sizes given (e.g. to profile one of them).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{model_dir, repo};
use kmv_host::embed::{Engine, LocalEmbedder};
use std::time::Instant;

fn sentences() -> Vec<String> {
    let path = repo().join("tests/embeddings/bench_sentences.txt");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if !lines.is_empty() {
            return lines;
        }
    }
    eprintln!(
        "embed-bench: {} not found; using generated sentences",
        path.display()
    );
    let subjects = [
        "The committee",
        "A small startup",
        "My neighbour",
        "The new model",
        "Researchers",
    ];
    let verbs = [
        "announced",
        "questioned",
        "celebrated",
        "rebuilt",
        "explained",
    ];
    let objects = [
        "a plan to cut energy use in old buildings",
        "the results of last year's field study on river pollution",
        "how vector databases index millions of embeddings",
        "a recipe for bread",
        "why the train was late again on Monday morning",
    ];
    (0..500)
        .map(|i| {
            format!(
                "{} {} {} ({i}).",
                subjects[i % 5],
                verbs[(i / 5) % 5],
                objects[(i / 25) % 5]
            )
        })
        .collect()
}

/// The model's sizes that set its matrix products' work.
#[derive(serde::Deserialize)]
struct Sizes {
    num_hidden_layers: usize,
    hidden_size: usize,
    intermediate_size: usize,
}

/// Tokens, padded tokens and GFLOP of embedding `sentences` in batches of
/// `batch`, sorted by length as `LocalEmbedder::embed` does.
fn work(
    embedder: &LocalEmbedder,
    sizes: &Sizes,
    sentences: &[String],
    batch: usize,
) -> (usize, usize, f64) {
    // As `LocalEmbedder::embed` batches: by number of tokens, longest first.
    let counts: Vec<usize> = sentences
        .iter()
        .map(|s| embedder.token_count(s).unwrap().0)
        .collect();
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(counts[i]));
    let (h, i) = (sizes.hidden_size as f64, sizes.intermediate_size as f64);
    let (mut tokens, mut padded, mut flop) = (0, 0, 0.0);
    for chunk in order.chunks(batch) {
        let counts: Vec<usize> = chunk.iter().map(|&k| counts[k]).collect();
        let len = counts.iter().copied().max().unwrap_or(0);
        tokens += counts.iter().sum::<usize>();
        padded += len * chunk.len();
        let per_token = 2.0 * h * (4.0 * h + 2.0 * i) + 4.0 * h * len as f64;
        flop += (len * chunk.len()) as f64 * per_token * sizes.num_hidden_layers as f64;
    }
    (tokens, padded, flop / 1e9)
}

fn main() {
    let dir = model_dir();
    let sentences = sentences();
    let sizes: Sizes = serde_json::from_str(
        &std::fs::read_to_string(dir.join("config.json")).expect("the model's config.json"),
    )
    .expect("config.json has the BERT sizes");
    let mut batches: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if batches.is_empty() {
        batches = vec![1, 32];
    }
    // candle, and ONNX Runtime when the build has it (tests/setup.sh installs
    // the runtime and writes model.onnx).
    #[allow(unused_mut)]
    let mut engines = vec![("local", Engine::Candle)];
    #[cfg(feature = "onnx-embedder")]
    engines.push((
        "local-onnx",
        Engine::Onnx {
            library: common::onnxruntime_library(),
        },
    ));
    for (provider, engine) in &engines {
        for &batch in &batches {
            run(provider, engine, &dir, &sizes, &sentences, batch);
        }
    }
}

fn run(
    provider: &str,
    engine: &Engine,
    dir: &std::path::Path,
    sizes: &Sizes,
    sentences: &[String],
    batch: usize,
) {
    {
        let embedder = LocalEmbedder::load(dir, batch, engine).unwrap_or_else(|e| {
            panic!("{e} (run tests/embeddings/fetch_model.sh or set KMV_MODEL_DIR)")
        });
        // Warm-up: first allocations and thread pool start.
        embedder
            .embed(&sentences[..sentences.len().min(32)])
            .unwrap();
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let mut dims = 0;
        // Batch 1 is handed one sentence at a time, as a caller with one text would.
        if batch == 1 {
            for s in sentences {
                dims += embedder.embed(std::slice::from_ref(s)).unwrap()[0].len();
            }
        } else {
            dims += embedder
                .embed(sentences)
                .unwrap()
                .iter()
                .map(Vec::len)
                .sum::<usize>();
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_started;
        assert_eq!(dims, sentences.len() * embedder.dimension());
        let (tokens, padded, gflop) = work(&embedder, sizes, sentences, batch);
        println!(
            "embed-bench {{\"provider\":\"{provider}\",\"batch\":{batch},\"sentences\":{},\"seconds\":{seconds:.3},\"sentences_per_s\":{:.1},\"tokens\":{tokens},\"padded_tokens\":{padded},\"gflop\":{gflop:.2},\"gflop_per_s\":{:.1},\"cpu_s\":{cpu:.3}}}",
            sentences.len(),
            sentences.len() as f64 / seconds,
            gflop / seconds
        );
    }
}

/// The process's user and system CPU time so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}
