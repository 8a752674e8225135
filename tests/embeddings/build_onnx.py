#!/usr/bin/env python3
"""Write a sentence-transformers BERT model's transformer (the body, no pooling) as an ONNX graph,
from its config.json and model.safetensors, without PyTorch: for the local provider's
`engine = "onnx"` (host/src/embed/onnx.rs) and tests/embeddings/bench_ort.py.

Needs only `onnx`, `safetensors` and `numpy` (and `onnxruntime` and `tokenizers` for the check):
small wheels from PyPI, installed by tests/embeddings/onnx_venv.sh, so CI builds the file on a
fresh machine. (tests/embeddings/export_onnx.py exports the same body through torch.onnx, by
hand, from the several-GB st-venv; both files give the same vectors.)

Usage: python build_onnx.py MODEL_DIR OUT_FILE

The graph: inputs input_ids, attention_mask, token_type_ids (int64, [batch, sequence], both
axes dynamic), output last_hidden_state (float32, [batch, sequence, hidden]); opset 17 and
ONNX Runtime's com.microsoft contrib operators for the parts its CPU provider runs as one fused
kernel (what its transformer optimizer writes for a torch export): Attention (packed Q/K/V
projection, the raw 0/1 attention mask, softmax(QK^T/sqrt(d))V), SkipLayerNormalization (the
residual add with LayerNorm) and BiasGelu (exact erf GELU). The file is therefore for ONNX
Runtime only. Weights are inside the one file (~90 MB).

BERT as Hugging Face's BertModel computes it (transformers/models/bert/modeling_bert.py):
embeddings = LayerNorm(word[ids] + position[0..S) + token_type[types]); per layer
x = LayerNorm(x + Dense(Attention(x))), x = LayerNorm(x + Dense(GELU(Dense(x)))). Only
hidden_act = "gelu" (erf), absolute positions and no cross-attention are supported; anything
else is refused by name.

The check: the 8 sentences of tests/embeddings/reference.json (sentence-transformers' own
vectors) go through ONNX Runtime at batch 8 (padded) and one by one, with mean pooling over the
attention mask and L2 normalisation; the lowest cosine similarity is printed and the script exits
non-zero below 0.9999. The file is written to OUT_FILE.tmp and renamed only after the check.
"""
import json
import sys
from pathlib import Path

OPSET = 17
MIN_COSINE = 0.9999
HERE = Path(__file__).resolve().parent


def fail(msg: str) -> None:
    sys.exit(f"build_onnx: {msg}")


def build(model_dir: Path):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "bert":
        fail(f"{model_dir}/config.json: model_type {config.get('model_type')!r}; only 'bert' is supported")
    if config.get("hidden_act", "gelu") != "gelu":
        fail(f"{model_dir}/config.json: hidden_act {config['hidden_act']!r}; only 'gelu' (erf) is supported")
    if config.get("position_embedding_type", "absolute") != "absolute":
        fail(f"{model_dir}/config.json: position_embedding_type must be 'absolute'")
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    if hidden % heads:
        fail(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}")

    raw = load_file(str(model_dir / "model.safetensors"))
    weights = {(k[len("bert."):] if k.startswith("bert.") else k): v for k, v in raw.items()}

    def w(name: str):
        if name not in weights:
            fail(f"{model_dir}/model.safetensors has no tensor {name!r}")
        return weights[name].astype(np.float32)

    inits, nodes = [], []

    def const(name: str, array) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs, name: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, domain=domain or None, **attrs))
        return name

    def add_norm(out: str, residual: str, prefix: str, tag: str, name: str) -> str:
        """LayerNorm(residual + out + dense bias), one fused SkipLayerNormalization: `prefix`
        names the dense layer's bias (`dense.bias`) and the LayerNorm's weights."""
        return node(
            "SkipLayerNormalization",
            [
                out,
                residual,
                const(tag + "ln_w", w(prefix + "LayerNorm.weight")),
                const(tag + "ln_b", w(prefix + "LayerNorm.bias")),
                const(tag + "b", w(prefix + "dense.bias")),
            ],
            name,
            domain="com.microsoft",
            epsilon=eps,
        )

    # Embeddings: the first S rows of the position table, S from the input's shape.
    seq = node("Shape", ["input_ids"], "seq_len", start=1, end=2)
    word = node("Gather", [const("word_embeddings", w("embeddings.word_embeddings.weight")), "input_ids"], "word")
    pos = node(
        "Slice",
        [
            const("position_embeddings", w("embeddings.position_embeddings.weight")),
            const("zero_1d", np.array([0], np.int64)),
            seq,
            const("axis_0", np.array([0], np.int64)),
        ],
        "pos",
    )
    kind = node(
        "Gather", [const("token_type_embeddings", w("embeddings.token_type_embeddings.weight")), "token_type_ids"], "kind"
    )
    summed = node("Add", [node("Add", [word, kind], "word_kind"), pos], "embedded")
    x = node(
        "LayerNormalization",
        [summed, const("emb_ln_w", w("embeddings.LayerNorm.weight")), const("emb_ln_b", w("embeddings.LayerNorm.bias"))],
        "emb_ln",
        axis=-1,
        epsilon=eps,
    )
    mask = node("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)

    for i in range(layers):
        p = f"encoder.layer.{i}."
        a = f"l{i}_"
        # Packed Q/K/V: x [B,S,H] @ W [H,3H] + b [3H] (torch keeps [out, in]: transposed here).
        qkv_w = np.concatenate(
            [w(p + f"attention.self.{n}.weight").T for n in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate([w(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
        ctx = node(
            "Attention",
            [x, const(a + "qkv_w", qkv_w), const(a + "qkv_b", qkv_b), mask],
            a + "attention",
            domain="com.microsoft",
            num_heads=heads,
        )
        out = node("MatMul", [ctx, const(a + "ao_w", w(p + "attention.output.dense.weight").T)], a + "attn_dense")
        x = add_norm(out, x, p + "attention.output.", a + "ao_", a + "attn_ln")
        up = node("MatMul", [x, const(a + "up_w", w(p + "intermediate.dense.weight").T)], a + "up")
        act = node("BiasGelu", [up, const(a + "up_b", w(p + "intermediate.dense.bias"))], a + "gelu", domain="com.microsoft")
        down = node("MatMul", [act, const(a + "down_w", w(p + "output.dense.weight").T)], a + "down")
        x = add_norm(down, x, p + "output.", a + "out_", a + "out_ln")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state"))

    ints = lambda n: helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
    graph = helper.make_graph(
        nodes,
        "bert",
        [ints("input_ids"), ints("attention_mask"), ints("token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="kmv-host tests/embeddings/build_onnx.py",
    )
    model.ir_version = 8
    return model


def check(model_dir: Path, onnx_file: Path) -> float:
    """The lowest cosine similarity to sentence-transformers' reference vectors."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    reference = json.loads((HERE / "reference.json").read_text(encoding="utf-8"))
    texts = reference["sentences"]
    expected = np.array(reference["vectors"], np.float32)
    limit = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))["max_seq_length"]
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=limit)
    tokenizer.enable_padding()
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])

    def embed(batch):
        enc = tokenizer.encode_batch(batch)
        feed = {
            "input_ids": np.array([e.ids for e in enc], np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], np.int64),
        }
        hidden = session.run(["last_hidden_state"], feed)[0]
        m = feed["attention_mask"][:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    got_batch = embed(texts)
    got_single = np.concatenate([embed([t]) for t in texts])
    unit = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    return float(min((got_batch * unit).sum(1).min(), (got_single * unit).sum(1).min()))


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: build_onnx.py MODEL_DIR OUT_FILE")
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    import onnx
    import onnxruntime as ort

    model = build(model_dir)
    onnx.checker.check_model(model, full_check=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save(model, str(tmp))
    cosine = check(model_dir, tmp)
    print(
        f"build_onnx: onnx {onnx.__version__}, onnxruntime {ort.__version__}, opset {OPSET}; "
        f"lowest cosine to reference.json {cosine:.7f} (minimum {MIN_COSINE})",
        file=sys.stderr,
    )
    if not cosine >= MIN_COSINE:
        tmp.unlink()
        fail(f"FAILED: cosine {cosine:.7f} < {MIN_COSINE}; {out} not written")
    tmp.replace(out)
    print(f"build_onnx: wrote {out} ({out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
