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
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compile.errors import PassError

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

    from compile.calibration.ranges import quiet_ort

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
                text = str(err).strip()
                raise PassError(f"sensitivity: cannot augment the {label} model: {text.splitlines()[0][:300] if text else err}") from err
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
    from compile.onnx_io import load_onnx

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
