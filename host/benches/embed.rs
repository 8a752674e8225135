//! Sentences per second of the local embedding provider, at batch sizes 1
//! and 32, over the sentences of `tests/embeddings/bench_sentences.txt` (one
//! per line; a generated set when the file is absent). The model comes from
//! `KMV_MODEL_DIR`, or `$KMV_STATE/models/all-MiniLM-L6-v2` (default state:
//! `.kmv/` in the repository), as fetched by `tests/embeddings/fetch_model.sh`.
//!
//! Prints one line per batch size:
//! `embed-bench {"provider":"local","batch":B,"sentences":N,"seconds":S,"sentences_per_s":R}`,
//! which `tests/embeddings/bench.sh` compares with sentence-transformers
//! (PyTorch, CPU) on the same sentences. candle's matrix products use all
//! cores (rayon; `RAYON_NUM_THREADS` to limit them), as PyTorch does.
//!
//! Run with `cargo bench -p kmv-host --bench embed`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{model_dir, repo};
use kmv_host::embed::LocalEmbedder;
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

fn main() {
    let dir = model_dir();
    let sentences = sentences();
    for batch in [1usize, 32] {
        let embedder = LocalEmbedder::load(&dir, batch).unwrap_or_else(|e| {
            panic!("{e} (run tests/embeddings/fetch_model.sh or set KMV_MODEL_DIR)")
        });
        // Warm-up: first allocations and thread pool start.
        embedder
            .embed(&sentences[..sentences.len().min(32)])
            .unwrap();
        let started = Instant::now();
        let mut dims = 0;
        // Batch 1 is handed one sentence at a time, as a caller with one text would.
        if batch == 1 {
            for s in &sentences {
                dims += embedder.embed(std::slice::from_ref(s)).unwrap()[0].len();
            }
        } else {
            dims += embedder
                .embed(&sentences)
                .unwrap()
                .iter()
                .map(Vec::len)
                .sum::<usize>();
        }
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(dims, sentences.len() * embedder.dimension());
        println!(
            "embed-bench {{\"provider\":\"local\",\"batch\":{batch},\"sentences\":{},\"seconds\":{seconds:.3},\"sentences_per_s\":{:.1}}}",
            sentences.len(),
            sentences.len() as f64 / seconds
        );
    }
}
