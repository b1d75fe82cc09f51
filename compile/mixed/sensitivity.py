"""Per-layer sensitivity in one pass: the output error each quantized node adds.

Both models (the float one and its all-INT8 Q/DQ version) are augmented with ONNX Runtime's Q/DQ
debugging helper (``qdq_loss_debug.modify_model_output_intermediate_tensors``) so that every float
tensor is an output, then run side by side on a few inputs, one batch at a time. A Q/DQ graph keeps
the float graph's tensor names for the values before quantization, so each tensor of the INT8 model, as
its consumers see it (after its Q/DQ), is compared with the same tensor of the float model, as a
noise-to-signal ratio ``NSR = |float - int8|^2 / |float|^2``.

A node's score is the NSR of its output minus the largest NSR of the activations it reads: the error
that quantizing the node (its weights, and the Q/DQ of what it writes) adds to what arrived. Leaving the node in float removes exactly that, so the ranking is by score. One pass costs
two inferences per batch, however many layers the model has.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compile.calibration.exposed import quiet_ort
from compile.errors import PassError, error_cause
from compile.onnx_io import load_onnx

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
#: Below this signal energy a tensor is treated as constant zero (its NSR is meaningless).
_TINY = 1e-20


@dataclass
class LayerSensitivity:
    node: str
    op_type: str
    #: Output NSR minus the largest input NSR: the error this node's quantization adds.
    score: float
    output_nsr: float
    input_nsr: float

    def to_dict(self) -> dict[str, Any]:
        return {key: (round(value, 8) if isinstance(value, float) else value) for key, value in asdict(self).items()}


#: A tensor as the float model names it and as the Q/DQ model's consumers see it (after its Q/DQ).
Pair = tuple[str, str]


@dataclass
class QuantizedNode:
    """A node of the Q/DQ model that reads dequantized values, with the tensors around it."""

    name: str
    op_type: str
    #: Activations it reads (weights left out): (float name, dequantized name).
    inputs: list[Pair]
    #: What it writes: (float name, name after its Q/DQ when it has one, else the same name).
    outputs: list[Pair]


def quantized_nodes(qdq_model: Any) -> list[QuantizedNode]:
    """The nodes that run in INT8: every non-Q/DQ node with a dequantized input, in graph order.

    Tensors are compared after their Q/DQ, because the quantizer may fold an activation into the
    range (a Relu after a Conv disappears: the Conv's raw output then differs from the float tensor
    of the same name, but its dequantized value matches it)."""
    producer = {out: node for node in qdq_model.graph.node for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in qdq_model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def after_qdq(tensor: str) -> str:
        for quantize in consumers.get(tensor, []):
            if quantize.op_type == "QuantizeLinear":
                for dequantize in consumers.get(quantize.output[0], []):
                    if dequantize.op_type == "DequantizeLinear":
                        return str(dequantize.output[0])
        return tensor

    nodes = []
    for node in qdq_model.graph.node:
        if node.op_type in QDQ_OPS or not node.name:
            continue
        dq_inputs = [name for name in node.input if name in producer and producer[name].op_type == "DequantizeLinear"]
        if not dq_inputs:
            continue
        activations = []
        for name in dq_inputs:
            quantize = producer.get(producer[name].input[0])
            if quantize is not None and quantize.op_type == "QuantizeLinear":
                activations.append((str(quantize.input[0]), name))
        outputs = [(str(o), after_qdq(o)) for o in node.output if o]
        nodes.append(QuantizedNode(node.name, node.op_type, activations, outputs))
    return nodes


def tensor_nsr(float_model: Path, qdq_model: Path, batches: Iterable[dict[str, np.ndarray]],
               pairs: Iterable[Pair]) -> dict[Pair, float]:
    """NSR of each (float tensor, Q/DQ tensor) pair both models compute, accumulated over ``batches``."""
    import onnxruntime as ort
    from onnxruntime.quantization.qdq_loss_debug import modify_model_output_intermediate_tensors

    wanted = set(pairs)
    signal: dict[Pair, float] = {}
    noise: dict[Pair, float] = {}
    with tempfile.TemporaryDirectory(prefix="compile-sensitivity-") as scratch, quiet_ort():
        sessions = []
        for label, path in (("float", float_model), ("int8", qdq_model)):
            augmented = Path(scratch) / f"{label}.augmented.onnx"
            try:
                modify_model_output_intermediate_tensors(str(path), str(augmented))
                options = ort.SessionOptions()
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                options.log_severity_level = 3
                sessions.append(ort.InferenceSession(str(augmented), options, providers=["CPUExecutionProvider"]))
            except Exception as err:  # noqa: BLE001 - ORT raises anything on graphs it cannot augment or load

                raise PassError(f"sensitivity: cannot augment the {label} model: {error_cause(err)}") from err
        names = [[o.name for o in s.get_outputs()] for s in sessions]
        seen = 0
        for feed in batches:
            seen += 1
            values = [dict(zip(n, s.run(None, feed), strict=True)) for n, s in zip(names, sessions, strict=True)]
            float_values, int8_values = (_by_tensor(v) for v in values)
            for pair in wanted:
                reference, candidate = float_values.get(pair[0]), int8_values.get(pair[1])
                if reference is None or candidate is None or candidate.shape != reference.shape:
                    continue
                ref = reference.astype(np.float64)
                signal[pair] = signal.get(pair, 0.0) + float(np.square(ref).sum())
                noise[pair] = noise.get(pair, 0.0) + float(np.square(ref - candidate.astype(np.float64)).sum())
        if seen == 0:
            raise PassError("sensitivity: no input batch was given")
    return {pair: (noise[pair] / signal[pair] if signal[pair] > _TINY else 0.0) for pair in signal}


def _by_tensor(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from onnxruntime.quantization.qdq_loss_debug import _TENSOR_SAVE_POSTFIX

    return {name[: -len(_TENSOR_SAVE_POSTFIX)]: value for name, value in outputs.items() if name.endswith(_TENSOR_SAVE_POSTFIX)}


def score_nodes(nodes: list[QuantizedNode], nsr: dict[Pair, float]) -> list[LayerSensitivity]:
    """Each node's added error, most sensitive first (nodes whose output was not compared are left out)."""
    scored = []
    for node in nodes:
        outputs = [nsr[pair] for pair in node.outputs if pair in nsr]
        if not outputs:
            continue
        inputs = [nsr.get(pair, 0.0) for pair in node.inputs]
        out_nsr, in_nsr = max(outputs), max(inputs, default=0.0)
        scored.append(LayerSensitivity(node.name, node.op_type, out_nsr - in_nsr, out_nsr, in_nsr))
    return sorted(scored, key=lambda s: s.score, reverse=True)


def rank_layers(float_model: Path, qdq_model: Path, batches: Iterable[dict[str, np.ndarray]]) -> list[LayerSensitivity]:
    """The quantized nodes of ``qdq_model``, the one whose quantization adds the most error first."""

    nodes = quantized_nodes(load_onnx(qdq_model, load_external_data=False))
    if not nodes:
        raise PassError(f"sensitivity: {qdq_model.name} has no quantized node")
    pairs = {pair for node in nodes for pair in (*node.inputs, *node.outputs)}
    return score_nodes(nodes, tensor_nsr(float_model, qdq_model, batches, pairs))


#: Activations the INT8 quantizer folds into the preceding node's output range (a Conv+Clip pair becomes
#: one quantized Conv): leaving the node in float must leave them in float too, else the activation is
#: quantized on its own, with the wider range of its raw input, and the "float" layer gets worse.
FOLDED_ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh")


def folded_activations(float_model: Any) -> dict[str, list[str]]:
    """Node name -> the activation nodes that follow it alone (its only consumer, chained)."""
    consumers: dict[str, list[Any]] = {}
    for node in float_model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in float_model.graph.output}
    groups: dict[str, list[str]] = {}
    for node in float_model.graph.node:
        chain, current = [], node
        while len(current.output) == 1 and current.output[0] not in graph_outputs:
            following = consumers.get(current.output[0], [])
            if len(following) != 1 or following[0].op_type not in FOLDED_ACTIVATIONS or not following[0].name:
                break
            current = following[0]
            chain.append(str(current.name))
        if chain and node.name:
            groups[str(node.name)] = chain
    return groups


#: Ops whose weights and input the single-layer measurement quantizes (the ops INT8 speeds up).
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def top1_margins(outputs: np.ndarray) -> np.ndarray:
    """Per input: the top score minus the runner-up (how far the input is from a top-1 flip)."""
    flat = outputs.reshape(len(outputs), -1).astype(np.float64)
    if flat.shape[1] < 2:
        return np.full(len(flat), np.inf)
    top2 = np.partition(flat, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def margin_risk(reference: list[np.ndarray], candidate: list[np.ndarray]) -> float:
    """Mean squared shift of each input's top-1 margin, as a share of that margin: a shift of 1 flips
    the input. What a top-1 agreement gate feels, where the output NSR weighs every class alike."""
    ref = np.concatenate([r.reshape(len(r), -1) for r in reference]).astype(np.float64)
    cand = np.concatenate([c.reshape(len(c), -1) for c in candidate]).astype(np.float64)
    top = ref.argmax(axis=1)
    rows = np.arange(len(ref))
    margin = top1_margins(ref)
    others = cand.copy()
    others[rows, top] = -np.inf
    shifted = cand[rows, top] - others.max(axis=1)
    return float(np.mean(np.square((margin - shifted) / np.maximum(margin, 1e-12))))


def output_nsr(reference: list[np.ndarray], candidate: list[np.ndarray]) -> float:
    """Noise-to-signal ratio of the whole output."""
    signal = sum(float(np.square(r).sum()) for r in reference)
    noise = sum(float(np.square(r - c).sum()) for r, c in zip(reference, candidate, strict=True))
    return noise / signal if signal > _TINY else 0.0


@dataclass
class SingleLayerErrors:
    #: Node name -> error of the model's first output with only that node quantized (``score``'s measure).
    errors: dict[str, float]
    seconds: float
    inputs: int


def fake_quant_weight(weight: np.ndarray, axis: int) -> np.ndarray:
    """Symmetric per-channel INT8 quantize-dequantize along ``axis`` (what quantize-int8 does to weights)."""
    moved = np.moveaxis(weight.astype(np.float64), axis, 0)
    peak = np.abs(moved.reshape(len(moved), -1)).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).reshape((-1,) + (1,) * (moved.ndim - 1))
    quantized = np.clip(np.round(moved / scale), -127, 127) * scale
    return np.moveaxis(quantized, 0, axis).astype(weight.dtype)


def activation_qparams(low: float, high: float, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point for one activation tensor: u8 asymmetric, or s8 symmetric (TensorRT)."""
    if signed:
        peak = max(abs(low), abs(high), 1e-12)
        return np.array(peak / 127.0, dtype=np.float32), np.array(0, dtype=np.int8)
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max(high - low, 1e-12) / 255.0
    return np.array(scale, dtype=np.float32), np.array(int(round(-low / scale)), dtype=np.uint8)


def _weight_axis(node: Any) -> int:
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    if node.op_type == "MatMul":
        return -1
    if node.op_type == "ConvTranspose":
        return 1
    return 0


def single_layer_errors(float_path: Path, layers: list[str], ranges: dict[str, tuple[float, float]], signed: bool,
                        batches: list[dict[str, np.ndarray]],
                        score: Callable[[list[np.ndarray], list[np.ndarray]], float] = output_nsr,
                        weights: dict[str, np.ndarray] | None = None, optimize: bool = True) -> SingleLayerErrors:
    """For each layer, the output error of the float model with only that layer quantized (fake-quantized
    weights, and Q/DQ on its input with the calibrated range): its own contribution, as the output sees it.

    Each variant is the float graph with one weight swapped and one Q/DQ pair added, so it costs one
    session and a few inferences, never a run of the quantizer. ``score(reference, candidate)`` turns the
    first output into one figure (default: its NSR); ``weights`` gives a layer's INT8 weight (dequantized)
    when it is not plain per-channel rounding (GPTQ)."""
    import time

    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    started = time.perf_counter()
    model = onnx.load(str(float_path))
    graph = model.graph
    initializers = {init.name: index for index, init in enumerate(graph.initializer)}
    options = ort.SessionOptions()
    # Optimised (fused Conv + activation, NCHWc kernels): EfficientNet-Lite0's 50 variants take 5.6 s instead
    # of 20 s, with the same ranking. ONNX Runtime's re-quantization of float weights next to a
    # DequantizeLinear (compile/mixed/keep_float.py) needs a QuantizeLinear after the Conv, which a variant
    # does not have.
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    options.log_severity_level = 3

    def outputs(serialized: bytes) -> list[np.ndarray]:
        session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
        return [session.run(None, feed)[0].astype(np.float64) for feed in batches]

    reference = outputs(model.SerializeToString())
    errors: dict[str, float] = {}
    positions = {node.name: index for index, node in enumerate(graph.node)}
    for name in layers:
        index = positions.get(name)
        if index is None:
            continue
        node = graph.node[index]
        if node.op_type not in COMPUTE_OPS or len(node.input) < 2 or node.input[1] not in initializers:
            continue
        weight_init = graph.initializer[initializers[node.input[1]]]
        original_weight = onnx.TensorProto()
        original_weight.CopyFrom(weight_init)
        original_input = node.input[0]
        weight = numpy_helper.to_array(weight_init)
        quantized = weights.get(name) if weights is not None else None
        if quantized is None or quantized.shape != weight.shape:
            quantized = fake_quant_weight(weight, _weight_axis(node) % weight.ndim)
        weight_init.CopyFrom(numpy_helper.from_array(quantized.astype(weight.dtype), weight_init.name))
        added_nodes = 0
        if original_input in ranges:
            scale, zero = activation_qparams(*ranges[original_input], signed)
            prefix = f"{name}__sensitivity"
            graph.initializer.extend([numpy_helper.from_array(scale, f"{prefix}_scale"),
                                      numpy_helper.from_array(zero, f"{prefix}_zero")])
            # Appended, not inserted: ONNX Runtime sorts the graph itself, and the node indices stay put.
            graph.node.extend([
                helper.make_node("QuantizeLinear", [original_input, f"{prefix}_scale", f"{prefix}_zero"], [f"{prefix}_q"],
                                 name=f"{prefix}_QuantizeLinear"),
                helper.make_node("DequantizeLinear", [f"{prefix}_q", f"{prefix}_scale", f"{prefix}_zero"], [f"{prefix}_dq"],
                                 name=f"{prefix}_DequantizeLinear"),
            ])
            node.input[0] = f"{prefix}_dq"
            added_nodes = 2
        try:
            candidate = outputs(model.SerializeToString())
        finally:
            weight_init.CopyFrom(original_weight)
            node.input[0] = original_input
            if added_nodes:
                del graph.node[len(graph.node) - added_nodes:]
                del graph.initializer[len(graph.initializer) - 2:]
        errors[name] = score(reference, candidate)
    return SingleLayerErrors(errors, time.perf_counter() - started, sum(len(next(iter(b.values()))) for b in batches))


def dequantized_weights(qdq_model: Any) -> dict[str, np.ndarray]:
    """Node name -> its weight as the Q/DQ model computes it (INT8 integers times scales), for the
    Conv/Gemm/MatMul whose weight is a DequantizeLinear of constants."""
    from onnx import numpy_helper

    initializers = {init.name: init for init in qdq_model.graph.initializer}
    producer = {out: node for node in qdq_model.graph.node for out in node.output}
    found: dict[str, np.ndarray] = {}
    for node in qdq_model.graph.node:
        if node.op_type not in COMPUTE_OPS or len(node.input) < 2:
            continue
        dequantize = producer.get(node.input[1])
        if dequantize is None or dequantize.op_type != "DequantizeLinear":
            continue
        integer_init, scale_init = initializers.get(dequantize.input[0]), initializers.get(dequantize.input[1])
        zero_init = initializers.get(dequantize.input[2]) if len(dequantize.input) > 2 else None
        if integer_init is None or scale_init is None:
            continue
        integers = numpy_helper.to_array(integer_init).astype(np.float64)
        scale = numpy_helper.to_array(scale_init).astype(np.float64)
        zero = numpy_helper.to_array(zero_init).astype(np.float64) if zero_init is not None else np.zeros_like(scale)
        axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1) % integers.ndim
        shape = [1] * integers.ndim
        if scale.size > 1:
            shape[axis] = scale.size
        found[node.name] = ((integers - zero.reshape(shape)) * scale.reshape(shape)).astype(np.float32)
    return found
