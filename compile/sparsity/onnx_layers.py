"""The Conv/Gemm/MatMul layers of an ONNX graph that have constant weights, seen through Q/DQ and casts.

A weight is followed back through ``DequantizeLinear``, ``QuantizeLinear``, ``Cast``, ``Identity``
and ``Transpose`` to its initializer (or ``Constant`` node) and evaluated with numpy, so the same
view serves pruning (plain float weights) and verification (after INT8 Q/DQ or an FP16 cast: a
weight that dequantizes to zero is zero). MACs per sample come from ONNX shape inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from compile.sparsity.eligibility import LayerDesc

if TYPE_CHECKING:
    import onnx

LAYER_OPS = ("Conv", "Gemm", "MatMul")
PASS_THROUGH = ("Cast", "Identity")
#: Key of the model metadata that records which layers were pruned to 2:4.
RECORD_KEY = "compile.sparsity"


@dataclass
class OnnxLayer:
    node: str
    op: str
    #: The weight input as the node sees it, and the initializer it comes from.
    weight_input: str
    initializer: str | None
    #: The ops between the initializer and the layer (e.g. ["DequantizeLinear"]); empty when direct.
    chain: tuple[str, ...]
    #: Axis of the reduction (input channels / K) in the stored weight.
    axis: int
    desc: LayerDesc
    #: Multiply-accumulates per sample (None when an output dimension is unknown).
    macs: int | None
    weight: np.ndarray | None

    @property
    def plain_float(self) -> bool:
        return not self.chain and self.weight is not None and self.weight.dtype in (np.float32, np.float16, np.float64)


class GraphIndex:
    """Producers, consumers and constants of a graph, for following weights back to their source."""

    def __init__(self, model: onnx.ModelProto) -> None:
        from onnx import numpy_helper

        graph = model.graph
        self.initializers = {init.name: init for init in graph.initializer}
        self.constants: dict[str, np.ndarray] = {}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                self.consumers.setdefault(inp, []).append(node)
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        self.constants[node.output[0]] = numpy_helper.to_array(attr.t)
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str) -> np.ndarray | None:
        if name in self._arrays:
            return self._arrays[name]
        if name in self.initializers:
            from onnx import numpy_helper

            self._arrays[name] = numpy_helper.to_array(self.initializers[name])
            return self._arrays[name]
        return self.constants.get(name)

    def resolve(self, name: str, depth: int = 0) -> tuple[np.ndarray | None, str | None, tuple[str, ...]]:
        """(value as float, source initializer name, ops passed through) of a constant-valued tensor."""
        direct = self.array(name)
        if direct is not None:
            return direct, name, ()
        node = self.producer.get(name)
        if node is None or depth > 8:
            return None, None, ()
        if node.op_type in PASS_THROUGH:
            value, source, chain = self.resolve(node.input[0], depth + 1)
            return (None if value is None else value.astype(np.float32)), source, (node.op_type, *chain)
        if node.op_type == "Transpose":
            value, source, chain = self.resolve(node.input[0], depth + 1)
            perm = _attr(node, "perm")
            return (None if value is None else np.transpose(value, perm)), source, (node.op_type, *chain)
        if node.op_type in ("DequantizeLinear", "QuantizeLinear"):
            value, source, chain = self.resolve(node.input[0], depth + 1)
            scale, _, _ = self.resolve(node.input[1], depth + 1)
            zero, _, _ = self.resolve(node.input[2], depth + 1) if len(node.input) > 2 and node.input[2] else (None, None, ())
            if value is None or scale is None:
                return None, source, (node.op_type, *chain)
            axis = int(_attr(node, "axis", 1))
            scale_b = _broadcast(scale.astype(np.float64), value.ndim, axis)
            zero_b = _broadcast(zero.astype(np.float64), value.ndim, axis) if zero is not None else 0.0
            if node.op_type == "DequantizeLinear":
                out = (value.astype(np.float64) - zero_b) * scale_b
            else:
                out = np.round(value.astype(np.float64) / scale_b) + zero_b
            return out.astype(np.float32), source, (node.op_type, *chain)
        return None, None, ()


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _broadcast(param: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A per-axis quantization parameter (1-D) shaped to broadcast against a rank-``ndim`` tensor."""
    if param.ndim == 0 or param.size == 1:
        return param.reshape(())
    shape = [1] * ndim
    shape[axis % ndim] = param.size
    return param.reshape(shape)


def _output_dims(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001 - shape inference is best effort; MACs are then unknown
        inferred = model
    dims: dict[str, list[int | None]] = {}
    for info in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input):
        shape = info.type.tensor_type.shape
        dims[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]
    return dims


def onnx_layers(model: onnx.ModelProto) -> list[OnnxLayer]:
    """Every Conv, Gemm and MatMul whose weight is constant, in graph order, with its description."""
    index = GraphIndex(model)
    out_dims = _output_dims(model)
    layers: list[OnnxLayer] = []
    seen_conv = False
    for position, node in enumerate(model.graph.node):
        if node.op_type not in LAYER_OPS or len(node.input) < 2:
            continue
        name = node.name or f"{node.op_type}_{position}"
        weight, source, chain = index.resolve(node.input[1])
        if weight is None:
            continue  # an activation x activation product (attention scores), not a weight layer
        first = False
        if node.op_type == "Conv":
            if weight.ndim < 3:
                continue
            groups = int(_attr(node, "group", 1))
            axis, out_ch, in_ch = 1, weight.shape[0], weight.shape[1] * groups
            kernel = tuple(int(k) for k in weight.shape[2:])
            reduction = int(np.prod(weight.shape[1:]))
            first, seen_conv = not seen_conv, True
        elif node.op_type == "Gemm":
            if weight.ndim != 2 or int(_attr(node, "transA", 0)):
                continue
            trans_b = int(_attr(node, "transB", 0))
            axis = 1 if trans_b else 0
            groups, kernel = 1, ()
            in_ch, out_ch = weight.shape[axis], weight.shape[1 - axis]
            reduction = in_ch
        else:
            if weight.ndim < 2:
                continue
            axis, groups, kernel = weight.ndim - 2, 1, ()
            in_ch, out_ch = weight.shape[-2], weight.shape[-1]
            reduction = in_ch
        aliases = tuple(a for a in (source, source.removesuffix(".weight") if source else None) if a)
        desc = LayerDesc(name=name, op=node.op_type, in_channels=int(in_ch), out_channels=int(out_ch), groups=groups,
                         kernel=kernel, first_conv=first, aliases=aliases)
        dims = out_dims.get(node.output[0])
        macs = None
        if dims and len(dims) >= 2 and all(d for d in dims[1:]):
            macs = int(np.prod([d for d in dims[1:] if d])) * reduction
        layers.append(OnnxLayer(node=name, op=node.op_type, weight_input=node.input[1], initializer=source, chain=chain,
                                axis=axis, desc=desc, macs=macs, weight=weight))
    return layers


def read_record(model: onnx.ModelProto) -> dict[str, Any] | None:
    import json

    for prop in model.metadata_props:
        if prop.key == RECORD_KEY:
            try:
                data = json.loads(prop.value)
            except json.JSONDecodeError:
                return None
            return data if isinstance(data, dict) else None
    return None


def write_record(model: onnx.ModelProto, record: dict[str, Any]) -> None:
    import json

    for prop in list(model.metadata_props):
        if prop.key == RECORD_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = RECORD_KEY, json.dumps(record, sort_keys=True)
