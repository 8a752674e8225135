#!/usr/bin/env python3
"""sentence-transformers (PyTorch, CPU) throughput on tests/embeddings/bench_sentences.txt.

Not run in CI (needs torch): run by hand in the st-venv (tests/embeddings/st_venv.sh), normally via
tests/embeddings/bench.sh, which compares it with the Rust local provider.

Usage: HF_HUB_OFFLINE=1 .kmv/st-venv/bin/python tests/embeddings/bench_st.py MODEL_DIR [SENTENCES_FILE]

torch uses as many intra-op threads as the machine has cores (os.cpu_count()). For each batch size
(1 and 32) it embeds all sentences once as a warm-up, then times one full pass, and prints
  embed-bench {"provider":"sentence-transformers","batch":B,"sentences":N,"seconds":S,"sentences_per_s":R}
"""
import json
import os
import sys
import time
from pathlib import Path

BATCH_SIZES = (1, 32)


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: bench_st.py MODEL_DIR [SENTENCES_FILE]")
    model_dir = sys.argv[1]
    path = Path(sys.argv[2]) if len(sys.argv) == 3 else Path(__file__).with_name("bench_sentences.txt")
    sentences = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    print(
        f"bench_st: torch {torch.__version__}, {threads} threads (= cores), "
        f"{len(sentences)} sentences from {path}",
        file=sys.stderr,
    )
    with torch.inference_mode():
        for batch in BATCH_SIZES:
            model.encode(sentences, batch_size=batch, convert_to_numpy=True)  # warm-up
            t0 = time.perf_counter()
            model.encode(sentences, batch_size=batch, convert_to_numpy=True)
            secs = time.perf_counter() - t0
            rec = {
                "provider": "sentence-transformers",
                "batch": batch,
                "sentences": len(sentences),
                "seconds": round(secs, 4),
                "sentences_per_s": round(len(sentences) / secs, 2),
            }
            print("embed-bench " + json.dumps(rec, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
