"""ONNX Runtime's dynamic INT8: weights stored INT8, each layer's input quantized per call from its own range.

For ``int8_mode = "dynamic"`` on the ``onnxruntime-cpu`` convention. Needs no calibration; the
activation range follows each input, which suits activations whose range varies from input to input.
Only MatMuls with a constant weight are quantized (``MatMulConstBOnly``): the attention products of two
activations stay in float. TensorRT has no such mode: its profiles need static Q/DQ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compile.calibration.exposed import quiet_ort
from compile.errors import PassError, error_cause

#: Ops ONNX Runtime's dynamic quantizer handles that this tool selects by default.
DYNAMIC_OPS = ("MatMul",)
#: What the dynamic quantizer writes for a quantized layer.
DYNAMIC_LAYER_OPS = ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat")


def quantize_dynamic_int8(source: Path, out: Path, per_channel: bool, op_types: list[str] | None,
                          exclude_nodes: list[str]) -> None:
    """``quantize_dynamic`` of ``source`` into ``out`` (INT8 weights, per output channel when ``per_channel``).

    Raises PassError with the quantizer's cause when it fails."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        with quiet_ort():
            quantize_dynamic(str(source), str(out), per_channel=per_channel, reduce_range=False, weight_type=QuantType.QInt8,
                             op_types_to_quantize=list(op_types or DYNAMIC_OPS), nodes_to_exclude=list(exclude_nodes) or None,
                             extra_options={"MatMulConstBOnly": True})
    except Exception as err:  # noqa: BLE001 - the quantizer raises anything on graphs it cannot handle
        raise PassError(f"quantize-int8: onnxruntime quantize_dynamic failed: {error_cause(err)}") from err


def dynamic_structure(model: Any) -> dict[str, Any]:
    """Counts of the dynamically quantized layers and of the activation quantizers."""
    ops = [node.op_type for node in model.graph.node]
    layers = {op: ops.count(op) for op in DYNAMIC_LAYER_OPS if op in ops}
    return {"dynamic_quantize_linear": ops.count("DynamicQuantizeLinear"), "quantized_ops": layers,
            "quantized_layers": sum(layers.values())}
