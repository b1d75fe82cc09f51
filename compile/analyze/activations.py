"""Activation sparsity: the share of exact zeros in each ReLU/Clip output, measured on real inputs.

A layer whose input is mostly zeros is a candidate for activation-sparse kernels or pruning the
channels that never fire; this says which ones are, on the user's data rather than a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from compile.backends.ort.runner import session_options
from compile.errors import OnnxModelError, error_cause

if TYPE_CHECKING:
    import onnx

#: ORT's fused nodes carry their activation as an attribute.
FUSED_WITH_ACTIVATION = ("FusedConv", "FusedGemm")
ZERO_PRODUCING = ("Relu", "Clip")


def activation_outputs(model: onnx.ModelProto) -> dict[str, str]:
    """Output value name -> node name, for every ReLU/Clip (and ORT-fused Conv/Gemm + ReLU/Clip)."""
    found: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type in ZERO_PRODUCING:
            found[node.output[0]] = node.name or node.output[0]
        elif node.op_type in FUSED_WITH_ACTIVATION:
            activation = next((a.s.decode() for a in node.attribute if a.name == "activation"), "")
            if activation in ZERO_PRODUCING:
                found[node.output[0]] = node.name or node.output[0]
    return found


def run_with_outputs(model: onnx.ModelProto, names: list[str], feeds: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run ``model`` once (optimisation off, so every named value exists) returning the named values."""
    return next(iter(iterate_with_outputs(model, names, [feeds])))


def iterate_with_outputs(model: onnx.ModelProto, names: list[str], batches: Iterable[dict[str, Any]]) -> Iterable[dict[str, np.ndarray]]:
    import onnx

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {o.name for o in exposed.graph.output}
    for name in names:
        if name not in present:
            exposed.graph.output.append(onnx.ValueInfoProto(name=name))
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(exposed.SerializeToString(), session_options(optimization="disable"),
                                       providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - ORT raises its own types

        raise OnnxModelError(f"ONNX Runtime cannot run the graph to measure it: {error_cause(err)}") from err
    for feeds in batches:
        values = session.run(names, feeds)
        yield dict(zip(names, values, strict=True))


def zero_shares(model: onnx.ModelProto, batches: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Node name -> share of exact zeros in its output over every batch."""
    outputs = activation_outputs(model)
    if not outputs:
        return {}
    names = list(outputs)
    zeros = dict.fromkeys(names, 0)
    totals = dict.fromkeys(names, 0)
    for values in iterate_with_outputs(model, names, batches):
        for name, array in values.items():
            zeros[name] += int(np.count_nonzero(array == 0))
            totals[name] += int(array.size)
    return {outputs[name]: zeros[name] / totals[name] for name in names if totals[name]}
