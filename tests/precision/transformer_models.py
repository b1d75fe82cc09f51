"""A tiny transformer encoder as an ONNX graph (onnx.helper), and token data for it, for the data and INT8 tests.

input_ids, attention_mask [batch, sequence] (int64, dynamic sequence) -> embedding Gather + positions ->
LayerNorm -> one attention block (Q/K/V/out MatMuls, masked Softmax) -> residual + LayerNorm -> MLP
(MatMul -> GELU (Erf form, as exported at opset < 20) -> MatMul) -> residual + LayerNorm -> masked mean
over the sequence -> embedding [batch, dim].

``outliers`` gives a few of the MLP's hidden channels a large gain in the up-projection (their GELU
outputs reach tens while the rest stay near 1) and matching weights in the down-projection, so they
carry the output as real transformers' outlier channels do: the case where one INT8 scale per tensor
leaves every other channel a handful of levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compile.models.spec import InputSpec, ModelInfo

VOCAB = 96
DIM = 32
HIDDEN = 128
SEQUENCE = 16
MAX_POSITIONS = 64
OUTLIER_CHANNELS = (5, 40, 77)


def tiny_encoder(path: Path, outliers: float = 0.0, seed: int = 0) -> Path:
    """Write the encoder to ``path``; ``outliers``: the gain of the outlier channels (0: none)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def w(*shape: int, scale: float = 0.2) -> np.ndarray:
        return rng.normal(0, scale, shape).astype(np.float32)

    up, down = w(DIM, HIDDEN, scale=0.25), w(HIDDEN, DIM, scale=0.15)
    up_bias = w(HIDDEN, scale=0.1)
    if outliers:
        for channel in OUTLIER_CHANNELS:
            up[:, channel] *= outliers
            up_bias[channel] = abs(up_bias[channel]) * outliers
            down[channel] *= 0.5
    constants = {
        "embed": w(VOCAB, DIM, scale=1.0), "positions": w(MAX_POSITIONS, DIM, scale=0.3),
        "ln0.g": 1 + w(DIM, scale=0.1), "ln0.b": w(DIM, scale=0.1),
        "wq": w(DIM, DIM), "bq": w(DIM, scale=0.05), "wk": w(DIM, DIM), "bk": w(DIM, scale=0.05),
        "wv": w(DIM, DIM), "bv": w(DIM, scale=0.05), "wo": w(DIM, DIM), "bo": w(DIM, scale=0.05),
        "ln1.g": 1 + w(DIM, scale=0.1), "ln1.b": w(DIM, scale=0.1),
        "w1": up, "b1": up_bias, "w2": down, "b2": w(DIM, scale=0.05),
        "ln2.g": 1 + w(DIM, scale=0.1), "ln2.b": w(DIM, scale=0.1),
        "att_scale": np.array(1 / np.sqrt(DIM), np.float32), "one": np.array(1.0, np.float32),
        "neg": np.array(-10000.0, np.float32), "half": np.array(0.5, np.float32),
        "inv_sqrt2": np.array(1 / np.sqrt(2), np.float32), "axis1": np.array([1], np.int64),
        "axis2": np.array([-1], np.int64), "zero": np.array([0], np.int64), "eps": np.array(1e-6, np.float32),
    }
    node = helper.make_node
    nodes = [
        node("Shape", ["input_ids"], ["ids_shape"], name="shape"),
        node("Gather", ["ids_shape", "axis1"], ["seq_len"], axis=0, name="seq_len"),
        node("Slice", ["positions", "zero", "seq_len", "zero"], ["pos"], name="positions_slice"),
        node("Gather", ["embed", "input_ids"], ["tok"], axis=0, name="embedding"),
        node("Add", ["tok", "pos"], ["emb"], name="add_positions"),
        node("LayerNormalization", ["emb", "ln0.g", "ln0.b"], ["h0"], axis=-1, name="ln0"),
        node("MatMul", ["h0", "wq"], ["q0"], name="q_proj"), node("Add", ["q0", "bq"], ["q"], name="q_bias"),
        node("MatMul", ["h0", "wk"], ["k0"], name="k_proj"), node("Add", ["k0", "bk"], ["k"], name="k_bias"),
        node("MatMul", ["h0", "wv"], ["v0"], name="v_proj"), node("Add", ["v0", "bv"], ["v"], name="v_bias"),
        node("Transpose", ["k"], ["kt"], perm=[0, 2, 1], name="k_transpose"),
        node("MatMul", ["q", "kt"], ["s0"], name="scores"),
        node("Mul", ["s0", "att_scale"], ["s1"], name="scores_scale"),
        node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT, name="mask_cast"),
        node("Sub", ["one", "mask_f"], ["mask_inv"], name="mask_inv"),
        node("Mul", ["mask_inv", "neg"], ["mask_bias0"], name="mask_bias"),
        node("Unsqueeze", ["mask_bias0", "axis1"], ["mask_bias"], name="mask_unsqueeze"),
        node("Add", ["s1", "mask_bias"], ["s2"], name="scores_mask"),
        node("Softmax", ["s2"], ["p"], axis=-1, name="softmax"),
        node("MatMul", ["p", "v"], ["ctx"], name="context"),
        node("MatMul", ["ctx", "wo"], ["o0"], name="o_proj"), node("Add", ["o0", "bo"], ["o"], name="o_bias"),
        node("Add", ["h0", "o"], ["r1"], name="residual1"),
        node("LayerNormalization", ["r1", "ln1.g", "ln1.b"], ["h1"], axis=-1, name="ln1"),
        node("MatMul", ["h1", "w1"], ["f0"], name="ffn_up"), node("Add", ["f0", "b1"], ["f"], name="ffn_up_bias"),
        node("Mul", ["f", "inv_sqrt2"], ["g0"], name="gelu_div"), node("Erf", ["g0"], ["g1"], name="gelu_erf"),
        node("Add", ["g1", "one"], ["g2"], name="gelu_add"), node("Mul", ["f", "g2"], ["g3"], name="gelu_mul"),
        node("Mul", ["g3", "half"], ["gelu"], name="gelu_half"),
        node("MatMul", ["gelu", "w2"], ["d0"], name="ffn_down"), node("Add", ["d0", "b2"], ["d"], name="ffn_down_bias"),
        node("Add", ["h1", "d"], ["r2"], name="residual2"),
        node("LayerNormalization", ["r2", "ln2.g", "ln2.b"], ["h2"], axis=-1, name="ln2"),
        node("Unsqueeze", ["mask_f", "axis2"], ["mask3"], name="mask_expand"),
        node("Mul", ["h2", "mask3"], ["masked"], name="pool_mask"),
        node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0, name="pool_sum"),
        node("ReduceSum", ["mask3", "axis1"], ["count0"], keepdims=0, name="pool_count"),
        node("Max", ["count0", "eps"], ["count"], name="pool_count_floor"),
        node("Div", ["summed", "count"], ["embedding"], name="pool_mean"),
    ]
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"]) for name in ("input_ids", "attention_mask")]
    outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])]
    graph = helper.make_graph(nodes, "tiny_encoder", inputs, outputs,
                              initializer=[numpy_helper.from_array(value, name) for name, value in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    from compile.onnx_io import set_model_info

    set_model_info(model, encoder_info())
    onnx.save(model, str(path))
    return path


def encoder_info() -> ModelInfo:
    return ModelInfo(name="tiny_encoder", inputs=(InputSpec("input_ids", ("batch", "sequence"), "int64", 1, VOCAB),
                                                  InputSpec("attention_mask", ("batch", "sequence"), "int64", 1, 2)),
                     output_names=("embedding",), task="embedding", dynamic_sizes={"sequence": SEQUENCE})


def token_arrays(count: int, sequence: int = SEQUENCE, seed: int = 1) -> dict[str, np.ndarray]:
    """``count`` padded "sentences": random ids on 4..``sequence`` tokens, id 0 and mask 0 on the padding."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(4, sequence + 1, count)
    mask = (np.arange(sequence)[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(1, VOCAB, (count, sequence)).astype(np.int64) * mask
    return {"input_ids": ids, "attention_mask": mask}


def run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, feeds)[0])


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-sample cosine similarity of two [samples, dim] arrays."""
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12))
