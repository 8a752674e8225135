#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2's transformer (the BERT body, no pooling) to ONNX, once, for
tests/embeddings/bench_ort.py, and check that ONNX Runtime computes what torch computes.

Not run in CI (needs torch): run by hand in the st-venv (tests/embeddings/st_venv.sh, which also
installs onnxruntime and onnx), normally via tests/embeddings/bench.sh, which writes
$KMV_STATE/models/all-MiniLM-L6-v2/model.onnx when it is missing.

Usage: HF_HUB_OFFLINE=1 .kmv/st-venv/bin/python tests/embeddings/export_onnx.py MODEL_DIR OUT_FILE

The graph: inputs input_ids, attention_mask, token_type_ids (int64, [batch, sequence], both axes
dynamic), output last_hidden_state (float32, [batch, sequence, hidden]); opset 17, the
TorchScript exporter (torch.onnx.export(..., dynamo=False); the default torch.export-based one
would also need onnxscript), eager attention, weights inside the one file (~90 MB). The exporter
needs the `onnx` package, which also checks the graph. Pooling and normalisation are left to the
caller, as in the Rust local provider. The check embeds two sentences of different lengths (a batch shape that differs from
the export's example input, so a shape baked into the graph fails it) with torch and with
onnxruntime, prints the largest absolute difference of last_hidden_state over the real (not
padded) tokens, and exits non-zero above 1e-4. The file is written to OUT_FILE.tmp and renamed
only after the check passes.
"""
import os
import sys
from pathlib import Path

OPSET = 17
TOLERANCE = 1e-4
EXAMPLE = [  # export example input: 3 texts
    "An example input for the exporter.",
    "Kafka to Milvus.",
    "A third text, a little longer than the other two, so that the batch is padded.",
]
CHECK = [  # check input: 2 texts, another batch size and sequence length
    "A man is eating a piece of bread.",
    "Die Bäckerei in München öffnet um sieben Uhr; Grüße an Jürgen! Kafka records are embedded "
    "on the way into Milvus, 384 dims.",
]


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: export_onnx.py MODEL_DIR OUT_FILE")
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from transformers import AutoModel, AutoTokenizer

    class Body(torch.nn.Module):
        """The BERT body with positional inputs and last_hidden_state as its only output."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    body = Body(model).eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]

    def encode(texts):
        enc = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        return tuple(enc[n].to(torch.int64) for n in names)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with torch.inference_mode():
        torch.onnx.export(
            body,
            encode(EXAMPLE),
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={
                **{n: {0: "batch", 1: "sequence"} for n in names},
                "last_hidden_state": {0: "batch", 1: "sequence"},
            },
            opset_version=OPSET,
            dynamo=False,
        )

        check = encode(CHECK)
        expected = body(*check).numpy()
    onnx.checker.check_model(str(tmp))
    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    got = session.run(["last_hidden_state"], {n: t.numpy() for n, t in zip(names, check)})[0]
    if got.shape != expected.shape:
        tmp.unlink()
        sys.exit(f"export_onnx: FAILED: onnxruntime shape {got.shape} != torch shape {expected.shape}")
    real = check[1].numpy().astype(bool)  # attention_mask: compare the real tokens only
    diff = float(np.abs(got - expected)[real].max())
    diff_all = float(np.abs(got - expected).max())
    print(
        f"export_onnx: torch {torch.__version__}, onnxruntime {ort.__version__}, opset {OPSET}; "
        f"check on {len(CHECK)} sentences, shape {tuple(got.shape)}: max abs diff {diff:.3g} "
        f"(real tokens; {diff_all:.3g} incl. padding), tolerance {TOLERANCE:g}",
        file=sys.stderr,
    )
    if not diff <= TOLERANCE:
        tmp.unlink()
        sys.exit(f"export_onnx: FAILED: max abs diff {diff:.3g} > {TOLERANCE:g}; {out} not written")
    tmp.replace(out)
    print(f"export_onnx: wrote {out} ({out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
