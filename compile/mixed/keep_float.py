"""Make sure a layer left in float stays in float when ONNX Runtime optimises the graph.

ONNX Runtime's ``WeightBiasQuantization`` graph transformer (basic level and up) quantizes the float
weights of any Conv/ConvTranspose/Gemm whose first input comes straight from a DequantizeLinear with
a scalar scale, so that it can fuse it into a QLinear kernel. It quantizes them per tensor, which is
much worse than the per-channel scales ``quantize-int8`` uses: a depthwise Conv "left in float" this
way loses more accuracy than the INT8 one it replaced (EfficientNet-Lite0: cosine 0.9945 -> 0.957
for one layer). The transformer only fires on a scalar scale, so each float layer reads its input
through its own DequantizeLinear with the same scale and zero point repeated per channel (axis 1):
the same values, no longer a fusion pattern.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

GUARDED_OPS = ("Conv", "ConvTranspose", "Gemm")
SUFFIX = "_float_input"


def channel_counts(float_model: Any) -> dict[str, int]:
    """Tensor name -> size of axis 1, where shape inference knows it."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(float_model)
    counts: dict[str, int] = {}
    for value in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value"):
            counts[value.name] = int(dims[1].dim_value)
    return counts


def guard_float_layers(qdq_path: Path, layers: list[str], channels: dict[str, int]) -> list[str]:
    """Rewrite ``qdq_path`` in place so ``layers`` read per-axis dequantized inputs; the layers changed."""
    import onnx
    from onnx import helper, numpy_helper

    if not layers:
        return []
    model = onnx.load(str(qdq_path))
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    initializers = {init.name: init for init in graph.initializer}
    wanted = set(layers)
    guarded: list[str] = []
    new_nodes = []
    for node in graph.node:
        if node.name in wanted and node.op_type in GUARDED_OPS and node.input:
            rewired = _per_axis_input(node, producer, initializers, channels, graph, helper, numpy_helper)
            if rewired is not None:
                new_nodes.append(rewired)
                guarded.append(node.name)
        new_nodes.append(node)
    if guarded:
        del graph.node[:]
        graph.node.extend(_without_unread_dequantize(new_nodes, graph))
        onnx.save(model, str(qdq_path))
    return guarded


def _without_unread_dequantize(nodes: list[Any], graph: Any) -> list[Any]:
    """``nodes`` less the DequantizeLinear nodes nothing reads any more (a float layer's input, rewired to its
    own copy). ONNX Runtime runs them anyway: on EfficientNet-Lite0 an unread 112x112 one took 0.2 ms."""
    read = {name for node in nodes for name in node.input} | {output.name for output in graph.output}
    return [node for node in nodes if node.op_type != "DequantizeLinear" or any(out in read for out in node.output)]


def _per_axis_input(node: Any, producer: dict[str, Any], initializers: dict[str, Any], channels: dict[str, int],
                    graph: Any, helper: Any, numpy_helper: Any) -> Any | None:
    """A DequantizeLinear copy with per-channel (repeated) scale for ``node``'s first input, or ``None``."""
    dequantize = producer.get(node.input[0])
    if dequantize is None or dequantize.op_type != "DequantizeLinear" or len(dequantize.input) < 2:
        return None
    quantize = producer.get(dequantize.input[0])
    source = quantize.input[0] if quantize is not None and quantize.op_type == "QuantizeLinear" else None
    count = channels.get(source or "", 0)
    scale = initializers.get(dequantize.input[1])
    zero = initializers.get(dequantize.input[2]) if len(dequantize.input) > 2 else None
    if count < 2 or scale is None or numpy_helper.to_array(scale).size != 1:
        return None
    name = f"{node.name}{SUFFIX}"
    scale_values = np.full(count, numpy_helper.to_array(scale).reshape(()), dtype=numpy_helper.to_array(scale).dtype)
    graph.initializer.append(numpy_helper.from_array(scale_values, f"{name}_scale"))
    inputs = [dequantize.input[0], f"{name}_scale"]
    if zero is not None:
        zero_values = np.full(count, numpy_helper.to_array(zero).reshape(()), dtype=numpy_helper.to_array(zero).dtype)
        graph.initializer.append(numpy_helper.from_array(zero_values, f"{name}_zero_point"))
        inputs.append(f"{name}_zero_point")
    node.input[0] = name
    return helper.make_node("DequantizeLinear", inputs, [name], name=f"{name}_DequantizeLinear", axis=1)


def float_islands(float_model: Any, float_layers: set[str], compute_ops: tuple[str, ...]) -> list[str]:
    """Other nodes to leave in float: those whose nearest compute neighbours (through non-compute nodes,
    upstream and downstream) are all in float. An INT8 Add or pooling between float layers saves nothing
    and costs a Quantize/Dequantize on each side."""
    nodes = [node for node in float_model.graph.node if node.name]
    producer = {out: node for node in nodes for out in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    if not float_layers:
        return []
    # Connected regions of non-compute nodes, and the compute nodes on their borders.
    region: dict[str, int] = {}
    borders: list[set[str]] = []
    for start in nodes:
        if start.op_type in compute_ops or start.name in region:
            continue
        index = len(borders)
        border: set[str] = set()
        region[start.name] = index
        frontier = [start]
        while frontier:
            node = frontier.pop()
            neighbours = [producer[i] for i in node.input if i in producer]
            neighbours += [c for o in node.output for c in consumers.get(o, [])]
            for other in neighbours:
                if other.op_type in compute_ops:
                    border.add(str(other.name))
                elif other.name not in region:
                    region[other.name] = index
                    frontier.append(other)
        borders.append(border)
    return [str(node.name) for node in nodes
            if node.name in region and node.name not in float_layers and borders[region[node.name]] <= float_layers]


def fill_gaps(order: list[str], float_layers: list[str], gap: int) -> list[str]:
    """``float_layers`` plus every run of at most ``gap`` INT8 layers between two float ones (in ``order``,
    the compute layers in graph order): on ONNX Runtime's CPU provider each switch between an INT8 and a
    float layer costs layout changes (NHWC <-> NCHWc) and a Quantize/Dequantize, more than a short INT8
    run saves."""
    chosen = set(float_layers)
    if gap < 1 or not chosen:
        return list(float_layers)
    positions = [i for i, name in enumerate(order) if name in chosen]
    filled = set(chosen)
    for left, right in zip(positions, positions[1:], strict=False):
        if 1 < right - left <= gap + 1:
            filled.update(order[left + 1:right])
    return list(float_layers) + [name for name in order if name in filled and name not in chosen]
