#!/usr/bin/env python3
"""ONNX Runtime (CPU, from PyPI) throughput on tests/embeddings/bench_sentences.txt.

Not run in CI: run by hand in the st-venv (tests/embeddings/st_venv.sh installs onnxruntime),
normally via tests/embeddings/bench.sh, which compares it with the Rust local provider and
sentence-transformers. ONNX_FILE comes from tests/embeddings/export_onnx.py (exported once).

Usage: .kmv/st-venv/bin/python tests/embeddings/bench_ort.py MODEL_DIR ONNX_FILE [SENTENCES_FILE]

The same work as the Rust local provider (host/src/embed/local.rs, host/benches/embed.rs):
tokenizer.json through the `tokenizers` library (truncation at max_seq_length = 256, padding to
the longest text of the batch), texts sorted by number of tokens (longest first) and run in
batches of B (batch 1: one text per call, as a caller with one text would), mean pooling over the
attention mask and L2 normalisation in numpy; tokenization, pooling and normalisation are timed
with the model. One InferenceSession: intra-op threads = cores (os.cpu_count(), as torch and
candle use), inter-op 1 (sequential), ORT_ENABLE_ALL graph optimisation, CPUExecutionProvider.

Before timing, it embeds the 8 sentences of tests/embeddings/reference.json (sentence-transformers'
vectors) at batch 1 and batch 32 (one batch of 8, padded; one text is cut at 256 tokens), prints
the lowest cosine similarity and exits non-zero if any is below 0.999.

Then, as bench_st.py does, for each batch size (1 and 32) it embeds all sentences once as a
warm-up, then times one full pass, and prints
  embed-bench {"provider":"onnxruntime","batch":B,"sentences":N,"seconds":S,"sentences_per_s":R,
               "tokens":T,"padded_tokens":P}
(tokens and padded_tokens, counted outside the timing, are those of the local provider's line).
"""
import json
import os
import sys
import time
from pathlib import Path

BATCH_SIZES = (1, 32)
MIN_COSINE = 0.999
HERE = Path(__file__).resolve().parent


def max_seq_length(model_dir: Path) -> int:
    """sentence_bert_config.json's max_seq_length, capped by max_position_embeddings."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    limit = config["max_position_embeddings"]
    st = model_dir / "sentence_bert_config.json"
    if st.is_file():
        limit = min(json.loads(st.read_text(encoding="utf-8")).get("max_seq_length") or limit, limit)
    return limit


def check_model_dir(model_dir: Path) -> None:
    """This script does mean pooling and normalisation: the model must ask for exactly that."""
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    if not pooling.get("pooling_mode_mean_tokens") or not any(
        m["type"].endswith("Normalize") for m in modules
    ):
        sys.exit(f"bench_ort: {model_dir} is not mean pooling + Normalize; not supported here")


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: bench_ort.py MODEL_DIR ONNX_FILE [SENTENCES_FILE]")
    model_dir, onnx_file = Path(sys.argv[1]), Path(sys.argv[2])
    path = Path(sys.argv[3]) if len(sys.argv) == 4 else HERE / "bench_sentences.txt"
    sentences = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    check_model_dir(model_dir)
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    max_len = max_seq_length(model_dir)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_len)
    tokenizer.enable_padding()  # to the longest text of the batch, [PAD] = 0

    threads = os.cpu_count() or 1
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(onnx_file), sess_options=opts, providers=["CPUExecutionProvider"])
    input_names = {i.name for i in session.get_inputs()}

    def embed_batch(texts):
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in input_names:
            feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        hidden = session.run(["last_hidden_state"], feed)[0]  # [n, len, hidden]
        m = mask.astype(np.float32)
        pooled = np.einsum("nlh,nl->nh", hidden, m) / np.maximum(m.sum(1, keepdims=True), 1e-9)
        norm = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled / norm

    plain = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    plain.enable_truncation(max_length=max_len)
    plain.no_padding()

    def order_and_chunks(texts, batch):
        # Stable sort on the number of tokens, longest first, as LocalEmbedder::embed does
        # (Rust's sort_by_key(Reverse(encoding.len()))); the counting is timed too.
        counts = [len(e.ids) for e in plain.encode_batch(texts)]
        order = sorted(range(len(texts)), key=lambda i: -counts[i])
        return [order[k : k + batch] for k in range(0, len(order), batch)]

    def embed(texts, batch):
        if batch == 1:  # one text per call, as the Rust bench does at batch 1
            return np.concatenate([embed_batch([t]) for t in texts])
        out = None
        for chunk in order_and_chunks(texts, batch):
            vectors = embed_batch([texts[i] for i in chunk])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[chunk] = vectors
        return out

    def work(texts, batch):
        """Tokens and padded tokens (what the model computes), as host/benches/embed.rs counts."""
        tokens = padded = 0
        for chunk in order_and_chunks(texts, batch):
            counts = [len(plain.encode(texts[i]).ids) for i in chunk]
            tokens += sum(counts)
            padded += max(counts) * len(counts)
        return tokens, padded

    print(
        f"bench_ort: onnxruntime {ort.__version__}, {threads} intra-op threads (= cores), inter-op 1, "
        f"ORT_ENABLE_ALL, {onnx_file}; max_seq_length {max_len}; {len(sentences)} sentences from {path}",
        file=sys.stderr,
    )

    # Correctness first, outside the timing: against sentence-transformers' reference vectors.
    ref = json.loads((HERE / "reference.json").read_text(encoding="utf-8"))
    expected = np.array(ref["vectors"], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    worst = []
    for batch in BATCH_SIZES:
        cos = (embed(ref["sentences"], batch) * expected).sum(1)
        worst.append(float(cos.min()))
        print(
            f"bench_ort: cosine vs reference.json (sentence-transformers {ref['sentence_transformers_version']}),"
            f" batch {batch}: min {cos.min():.7f} (1 - cos <= {1 - cos.min():.2g})"
            f" [{' '.join(f'{c:.7f}' for c in cos)}]",
            file=sys.stderr,
        )
    if min(worst) < MIN_COSINE:
        sys.exit(f"bench_ort: FAILED: cosine {min(worst):.6f} < {MIN_COSINE} against reference.json")

    for batch in BATCH_SIZES:
        embed(sentences, batch)  # warm-up
        t0 = time.perf_counter()
        vectors = embed(sentences, batch)
        secs = time.perf_counter() - t0
        assert vectors.shape[0] == len(sentences)
        tokens, padded = work(sentences, batch)
        rec = {
            "provider": "onnxruntime",
            "batch": batch,
            "sentences": len(sentences),
            "seconds": round(secs, 4),
            "sentences_per_s": round(len(sentences) / secs, 2),
            "tokens": tokens,
            "padded_tokens": padded,
        }
        print("embed-bench " + json.dumps(rec, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
