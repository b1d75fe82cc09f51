"""Which INT8 recipe a graph gets, and the static one for transformers (SmoothQuant + per-layer ranges).

ONNX Runtime's ``quantize_static`` defaults suit CNNs. On a transformer (all-MiniLM-L6-v2, 600
sentences, cosine per sentence against FP32) they give 0.35: every op is quantized (residual Adds,
LayerNorm, Softmax, GELU), and even with the MatMuls alone (0.935) each MatMul's *output* gets a
Q/DQ pair, which rounds the residual stream's wide range to 8 bits. A transformer-like graph
therefore gets Q/DQ on the inputs of MatMul/Gemm only (weights per channel, activations per
tensor, outputs in float), keeping the embedding Gather, LayerNorm, Softmax, GELU and the residual
Adds in float; and, before calibration, SmoothQuant with the ``alpha`` and activation range chosen
per layer by simulated INT8 error (:mod:`compile.quantize.search`).

A graph is transformer-like when it has attention (a Softmax read by a MatMul) or a Softmax and a
LayerNorm (the fused op or the ReduceMean form), and more MatMul/Gemm layers with constant weights than
convolutions: CNNs (no Softmax inside, or convolutions dominating) keep today's recipe unchanged. A
lone attention block without LayerNorm (``../shared/cases/masked_attention``) goes from cosine 0.933
(every op quantized, the cpu gate fails) to 0.9997.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from compile.onnx_io import load_onnx, save_onnx
from compile.quantize.search import ALPHAS, choose
from compile.quantize.smoothquant import channel_stats, smooth_groups, smooth_model

Family = Literal["transformer", "cnn-or-other"]
#: Ops quantized on transformer-like graphs: the layers with weights.
TRANSFORMER_OPS = ("MatMul", "Gemm")


def graph_family(model: Any) -> Family:
    """``"transformer"`` for a transformer-like graph (see the module's docstring), else ``"cnn-or-other"``."""
    ops = [node.op_type for node in model.graph.node]
    constants = {init.name for init in model.graph.initializer}
    weighted = sum(1 for node in model.graph.node
                   if node.op_type in TRANSFORMER_OPS and len(node.input) > 1 and node.input[1] in constants)
    softmax = {out for node in model.graph.node if node.op_type == "Softmax" for out in node.output}
    attention = any(node.op_type == "MatMul" and softmax & set(node.input) for node in model.graph.node)
    layer_norm = "LayerNormalization" in ops or "ReduceMean" in ops
    transformer = (attention or (bool(softmax) and layer_norm)) and weighted > ops.count("Conv")
    return "transformer" if transformer else "cnn-or-other"


@dataclass
class StaticPlan:
    """What the transformer preparation did: the model to calibrate and quantize, and ranges to override."""

    model: Path
    #: Tensor -> (low, high) replacing the calibrated range (the per-layer range fraction).
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


def prepare_static(source: Path, out: Path, batches: Any, limit: int, symmetric: bool, alpha: float | None,
                   rows: int, smooth: bool) -> StaticPlan:
    """SmoothQuant ``source`` into ``out`` for static INT8 of its MatMul/Gemm layers.

    ``alpha`` ``None``: per layer group, ``alpha`` (or none) and the activation range fraction are chosen by
    simulated error on ``rows`` sampled rows of the first ``limit`` calibration inputs (``batches``);
    a number: that ``alpha`` for every group, full ranges. ``smooth`` False: the model is left as it is
    (only the range fractions are searched). Returns the plan (``out`` holds the model to use)."""
    from onnx import numpy_helper

    model = load_onnx(source)
    groups = smooth_groups(model)
    if not groups:
        return StaticPlan(source, record={"method": "none", "why": "no MatMul/Gemm layer with a constant weight"})
    stats = channel_stats(source, [g.tensor for g in groups], batches, limit, rows)
    initializers = {init.name: init for init in model.graph.initializer}
    choices: dict[str, Any] = {}
    for group in groups:
        weights = [numpy_helper.to_array(initializers[name]).astype(np.float32) for name in group.weights]
        weights = [w.T if t else w for w, t in zip(weights, group.transposed, strict=True)]
        if alpha is None:
            choices[group.tensor] = choose(stats[group.tensor], weights, symmetric, ALPHAS if smooth else (None,))
        else:
            choices[group.tensor] = choose(stats[group.tensor], weights, symmetric, (alpha if smooth else None,), (1.0,))
    alphas = {tensor: choice.alpha for tensor, choice in choices.items() if choice.alpha is not None}
    smoothed = smooth_model(model, {tensor: stats[tensor].maxima for tensor in alphas}, alphas)
    save_onnx(model, out)
    ranges: dict[str, tuple[float, float]] = {}
    for group in groups:
        choice = choices[group.tensor]
        if choice.clip == 1.0:
            continue
        factors = smoothed.factors.get(group.tensor, np.ones_like(stats[group.tensor].low, dtype=np.float64))
        low = float(np.min(stats[group.tensor].low / factors)) * choice.clip
        high = float(np.max(stats[group.tensor].high / factors)) * choice.clip
        ranges[smoothed.reads.get(group.tensor, group.tensor)] = (low, high)
    plain = sum(c.plain_error for c in choices.values())
    chosen = sum(c.error for c in choices.values())
    record = {**smoothed.to_dict(), "alpha": "per layer" if alpha is None else alpha, "groups": len(groups),
              "smoothed_groups": len(alphas), "clipped_ranges": len(ranges),
              "simulated_error": {"plain": round(plain, 6), "chosen": round(chosen, 6)},
              "layers_chosen": {tensor: {**choice.to_dict(), "nodes": next(g.nodes for g in groups if g.tensor == tensor)}
                                for tensor, choice in choices.items()}}
    return StaticPlan(out, ranges, record)


def override_ranges(ranges_path: Path, overrides: dict[str, tuple[float, float]], out: Path) -> Path:
    """A copy of the range file ``ranges_path`` (``quantize_static``'s ``calibration_cache_path``) with
    ``overrides`` (tensor -> (low, high)) in place of the calibrated ranges; ``ranges_path`` when none."""
    if not overrides:
        return ranges_path
    from onnxruntime.quantization.calibrate import (
        TensorData,
        TensorsData,
        load_tensors_data,
        save_tensors_data,
    )

    data = load_tensors_data(ranges_path)
    merged = dict(data.data)
    for tensor, (low, high) in overrides.items():
        merged[tensor] = TensorData(lowest=np.array(low, dtype=np.float32), highest=np.array(high, dtype=np.float32))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_tensors_data(TensorsData(data.calibration_method, merged), out)
    return out


def keep_float_readers(model: Any, op_types: tuple[str, ...] | list[str]) -> list[str]:
    """Give every reader of a quantized activation that is not one of ``op_types`` the float tensor back.

    ONNX Runtime's quantizer replaces a quantized tensor for all its readers, so a LayerNorm output read
    by the Q/K/V projections (INT8) is also read through Q/DQ by the residual Add (float): the residual
    stream then carries 8-bit values. Returns the nodes rewired; a Q/DQ pair left unread is removed."""
    producer = {out: node for node in model.graph.node for out in node.output}
    graph_outputs = {output.name for output in model.graph.output}
    rewired: list[str] = []
    for dq in [node for node in model.graph.node if node.op_type == "DequantizeLinear"]:
        q = producer.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear":
            continue  # a constant (weight) dequantized
        for node in model.graph.node:
            if node.op_type in op_types or node.op_type in ("QuantizeLinear", "DequantizeLinear"):
                continue
            for index, name in enumerate(node.input):
                if name == dq.output[0]:
                    node.input[index] = q.input[0]
                    rewired.append(node.name or node.output[0])
    readers = {name for node in model.graph.node for name in node.input} | graph_outputs
    for dq in [node for node in model.graph.node if node.op_type == "DequantizeLinear"]:
        q = producer.get(dq.input[0])
        if dq.output[0] not in readers and q is not None and q.op_type == "QuantizeLinear":
            model.graph.node.remove(dq)
            if not any(q.output[0] in node.input for node in model.graph.node):
                model.graph.node.remove(q)
    return rewired
