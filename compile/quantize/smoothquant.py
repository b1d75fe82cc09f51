"""SmoothQuant: move activation outliers into the weights before static INT8 (Xiao et al., ICML 2023).

A transformer's activations have a few channels far larger than the rest (after GELU, in the
LayerNorm outputs); one INT8 scale per tensor must cover them and leaves the other channels a handful
of levels. The weights have no such channels. For a layer ``Y = X W`` (``X``: ``[..., K]``, ``W``:
``[K, N]``), each input channel ``j`` gets a factor ``s_j = max|X_j|^a / max|W_j|^(1-a)``; then
``Y = (X / s) (s W)`` exactly, with ``X / s`` flat enough for one scale and ``s W`` still easy per
output channel. ``max|X_j|`` is measured on the calibration data, ``a`` (``alpha``) ~ 0.5.

Layers reading the same tensor (the Q, K, V projections after one LayerNorm) share one ``s`` (the
weight maxima taken over all of them). ``1 / s`` goes, by preference, into the op that writes ``X``
when nothing else reads ``X``: a LayerNormalization's scale and bias, or the constant of a Mul (the
``0.5`` of an exported GELU ``x * (0.5 * (1 + erf(x / sqrt 2)))``), looked for through Muls whose
other input only feeds them; elsewhere an explicit ``Mul(X, 1 / s)`` is inserted before the layers
(one elementwise op in float before the layers' quantizer). The float function is
unchanged up to rounding (tests check it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compile.calibration.exposed import exposed_tensors, first_inputs
from compile.errors import PassError

#: Layers smoothed: a constant 2-D weight as second input (Gemm without transA).
SMOOTHED_OPS = ("MatMul", "Gemm")
DEFAULT_ALPHA = 0.5
#: Factors are kept within [1/limit, limit] (a dead channel would otherwise give 0 or infinity).
FACTOR_LIMIT = 1e4


@dataclass
class SmoothGroup:
    """Layers reading one activation ``tensor``: weight initializer per node, and whether it is transposed
    (Gemm ``transB = 1``: ``[N, K]``)."""

    tensor: str
    nodes: list[str] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)
    transposed: list[bool] = field(default_factory=list)


@dataclass
class SmoothRecord:
    alpha: float
    layers: int = 0
    #: Activation -> where ``1 / s`` went ("LayerNormalization ln", "Mul gelu_half", "inserted Mul").
    placed: dict[str, str] = field(default_factory=dict)
    #: Activation -> max channel maximum over median, before and after smoothing.
    outlier_ratio: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Activation -> the tensor its layers now read (itself when ``1 / s`` was folded), and ``s``.
    reads: dict[str, str] = field(default_factory=dict)
    factors: dict[str, np.ndarray] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        folded = sum(1 for where in self.placed.values() if not where.startswith("inserted"))
        worst = max(self.outlier_ratio.items(), key=lambda item: item[1][0], default=None)
        return {"method": "smoothquant", "alpha": self.alpha, "layers": self.layers, "activations": len(self.placed),
                "folded": folded, "inserted_muls": len(self.placed) - folded,
                **({"worst_outlier_ratio": {"tensor": worst[0], "before": round(worst[1][0], 2), "after": round(worst[1][1], 2)}}
                   if worst else {})}


def smooth_groups(model: Any, nodes: Iterable[str] | None = None) -> list[SmoothGroup]:
    """The MatMul/Gemm layers with a constant 2-D weight, grouped by the activation they read (``nodes``
    limits them to these names), in graph order."""
    from onnx import helper

    wanted = set(nodes) if nodes is not None else None
    weights = {init.name: init for init in model.graph.initializer}
    groups: dict[str, SmoothGroup] = {}
    for node in model.graph.node:
        if node.op_type not in SMOOTHED_OPS or not node.name or len(node.input) < 2 or node.input[1] not in weights:
            continue
        if wanted is not None and node.name not in wanted:
            continue
        if node.input[0] in weights or len(weights[node.input[1]].dims) != 2:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("transA", 0):
            continue
        group = groups.setdefault(node.input[0], SmoothGroup(node.input[0]))
        group.nodes.append(node.name)
        group.weights.append(node.input[1])
        group.transposed.append(node.op_type == "Gemm" and bool(attrs.get("transB", 0)))
    return list(groups.values())


@dataclass
class ChannelStats:
    """One activation over the calibration data: lowest and highest value per last-axis channel, and a
    sample of its rows (``[rows, K]``, spread evenly over the inputs) for the layer-wise search."""

    low: np.ndarray
    high: np.ndarray
    rows: np.ndarray

    @property
    def maxima(self) -> np.ndarray:
        """``max |x|`` per channel."""
        return np.maximum(np.abs(self.low), np.abs(self.high))


def channel_stats(model_path: Path, tensors: list[str], batches: Iterable[dict[str, np.ndarray]], limit: int,
                  rows: int = 1024) -> dict[str, ChannelStats]:
    """Per-channel ranges of each of ``tensors`` over the first ``limit`` inputs of ``batches`` (one run of the
    float model per batch, the tensors exposed as outputs), with up to ``rows`` sampled rows each."""
    import onnx

    low: dict[str, np.ndarray] = {}
    high: dict[str, np.ndarray] = {}
    sampled: dict[str, list[np.ndarray]] = {tensor: [] for tensor in tensors}
    per_input = max(1, -(-rows // limit))  # rows kept per calibration input, so the sample spans them all
    with exposed_tensors(onnx.load(str(model_path)), tensors, "smoothquant") as run:
        for feed, count in first_inputs(batches, limit):
            values = run(feed)
            for tensor in tensors:
                flat = values[tensor].reshape(-1, values[tensor].shape[-1])
                low[tensor] = np.minimum(low[tensor], flat.min(0)) if tensor in low else flat.min(0)
                high[tensor] = np.maximum(high[tensor], flat.max(0)) if tensor in high else flat.max(0)
                take = np.unique(np.linspace(0, len(flat) - 1, min(len(flat), per_input * count)).astype(np.int64))
                sampled[tensor].append(flat[take].astype(np.float32))
    if not low:
        raise PassError("smoothquant: no calibration batch was produced")
    return {tensor: ChannelStats(low[tensor], high[tensor], np.concatenate(sampled[tensor])[:rows]) for tensor in tensors}


def smoothing_factors(activation_max: np.ndarray, weight_max: np.ndarray, alpha: float) -> np.ndarray:
    """``s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)``, 1 where either maximum is 0, within [1/1e4, 1e4]."""
    a = activation_max.astype(np.float64)
    w = weight_max.astype(np.float64)
    alive = (a > 0) & (w > 0)
    factors = np.ones_like(a)
    factors[alive] = np.power(a[alive], alpha) / np.power(w[alive], 1.0 - alpha)
    return np.clip(factors, 1.0 / FACTOR_LIMIT, FACTOR_LIMIT)


def smooth_model(model: Any, maxima: dict[str, np.ndarray], alpha: float | dict[str, float] = DEFAULT_ALPHA,
                 nodes: Iterable[str] | None = None) -> SmoothRecord:
    """Smooth ``model`` in place: each group whose activation has ``maxima`` (``max |x|`` per channel) and an
    ``alpha`` (one for all, or activation -> alpha: groups left out are not smoothed)."""
    from onnx import numpy_helper

    record = SmoothRecord(alpha if isinstance(alpha, float) else DEFAULT_ALPHA)
    editor = _Editor(model)
    for group in smooth_groups(model, nodes):
        group_alpha = alpha.get(group.tensor) if isinstance(alpha, dict) else alpha
        if group.tensor not in maxima or group_alpha is None:
            continue
        rows = [numpy_helper.to_array(editor.initializers[name]).astype(np.float32) for name in group.weights]
        rows = [w.T if t else w for w, t in zip(rows, group.transposed, strict=True)]  # each [K, N]
        channels = maxima[group.tensor]
        if any(r.shape[0] != channels.shape[0] for r in rows):
            continue
        factors = smoothing_factors(channels, weight_maxima(rows), group_alpha)
        for node_name, matrix, transposed in zip(group.nodes, rows, group.transposed, strict=True):
            scaled = (matrix * factors[:, None].astype(np.float32)).astype(np.float32)
            editor.set_input_constant(editor.nodes[node_name], 1, scaled.T if transposed else scaled)
        inverse = (1.0 / factors).astype(np.float32)
        where = editor.fold(group, inverse) or editor.insert_mul(group, inverse)
        record.placed[group.tensor] = where
        record.reads[group.tensor] = group.tensor if not where.startswith("inserted") else f"{group.tensor}__smoothed"
        record.factors[group.tensor] = factors
        record.layers += len(group.nodes)
        record.outlier_ratio[group.tensor] = (_ratio(channels), _ratio(channels / factors))
    return record


def weight_maxima(rows: list[np.ndarray]) -> np.ndarray:
    """``max |W_j|`` per input channel over the ``[K, N]`` weights of a group."""
    return np.asarray(np.max(np.stack([np.abs(r).max(axis=1) for r in rows]), axis=0))


def _ratio(channels: np.ndarray) -> float:
    median = float(np.median(channels))
    return float(channels.max()) / median if median > 0 else 0.0


class _Editor:
    """Graph edits with the bookkeeping they need: initializers, uses, producers."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.initializers = {init.name: init for init in model.graph.initializer}
        self.nodes = {node.name: node for node in model.graph.node if node.name}
        self.producer = {out: node for node in model.graph.node for out in node.output}
        self.uses: dict[str, int] = {}
        for node in model.graph.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1
        for output in model.graph.output:
            self.uses[output.name] = self.uses.get(output.name, 0) + 1

    def set_input_constant(self, node: Any, index: int, value: np.ndarray) -> None:
        """Make ``node``'s input ``index`` the constant ``value``: in place when only ``node`` reads that
        initializer, else as a new initializer of its own (a constant shared with other nodes stays)."""
        from onnx import numpy_helper

        name = node.input[index]
        if self.uses.get(name, 0) <= 1:
            self.initializers[name].CopyFrom(numpy_helper.from_array(value, name))
            return
        own = f"{name}__smoothed_{node.name}"
        self.model.graph.initializer.append(numpy_helper.from_array(value, own))
        self.initializers[own] = self.model.graph.initializer[-1]
        node.input[index] = own
        self.uses[name] -= 1
        self.uses[own] = 1

    def fold(self, group: SmoothGroup, inverse: np.ndarray) -> str | None:
        """Fold ``X * inverse`` into the op writing ``X`` when only the group reads ``X``; where it went."""
        if self.uses.get(group.tensor, 0) != len(group.nodes):
            return None
        return self._fold_into(group.tensor, inverse, depth=0)

    def _fold_into(self, tensor: str, inverse: np.ndarray, depth: int) -> str | None:
        from onnx import helper, numpy_helper

        node = self.producer.get(tensor)
        if node is None or depth > 3:
            return None
        if node.op_type == "LayerNormalization":
            axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), -1)
            indices = [i for i in (1, 2) if i < len(node.input) and node.input[i]]
            if axis != -1 or any(node.input[i] not in self.initializers for i in indices):
                return None
            values = [numpy_helper.to_array(self.initializers[node.input[i]]) for i in indices]
            if any(v.shape != inverse.shape for v in values):
                return None
            for index, value in zip(indices, values, strict=True):
                self.set_input_constant(node, index, (value * inverse).astype(value.dtype))
            return f"LayerNormalization {node.name}"
        if node.op_type != "Mul" or len(node.input) != 2:
            return None
        for index, name in enumerate(node.input):
            if name in self.initializers:
                value = numpy_helper.to_array(self.initializers[name])
                if value.ndim and (value.shape[-1] not in (1, inverse.shape[0]) or any(d != 1 for d in value.shape[:-1])):
                    return None
                # A scalar or [..., K] constant becomes [K]: it broadcasts against X's last axis as before.
                self.set_input_constant(node, index, (value.reshape(-1) * inverse).astype(value.dtype))
                return f"Mul {node.name}"
        for name in node.input:  # x * t with t = c * (...): scaling t scales the product
            if self.uses.get(name, 0) == 1 and (where := self._fold_into(name, inverse, depth + 1)) is not None:
                return where
        return None

    def insert_mul(self, group: SmoothGroup, inverse: np.ndarray) -> str:
        """``Mul(X, inverse)`` before the group's layers (placed right before the first of them)."""
        from onnx import helper, numpy_helper

        constant = f"{group.tensor}__smooth_inverse"
        output = f"{group.tensor}__smoothed"
        self.model.graph.initializer.append(numpy_helper.from_array(inverse, constant))
        self.initializers[constant] = self.model.graph.initializer[-1]
        mul = helper.make_node("Mul", [group.tensor, constant], [output], name=f"{group.nodes[0]}__smooth")
        members = set(group.nodes)
        nodes = list(self.model.graph.node)
        first = next(i for i, n in enumerate(nodes) if n.name in members)
        for node in nodes:
            if node.name in members:
                node.input[0] = output
        self.model.graph.node.insert(first, mul)
        return f"inserted Mul {mul.name}"
