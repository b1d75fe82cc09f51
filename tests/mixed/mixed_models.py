"""A small ONNX model with one planted fragile layer, for the mixed-precision tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: The node that INT8 destroys: each of its output channels has one huge weight on an input channel
#: that is almost always near zero, so per-channel INT8 scales round every ordinary weight to 0 or 1 step.
FRAGILE = "conv_b"
LAYERS = ("conv_a", "conv_b", "conv_c", "conv_d")


def make_planted_model(path: Path, channels: int = 8, classes: int = 10, size: int = 10, seed: int = 0,
                       fragile: str | tuple[str, ...] = FRAGILE, grid: bool = False) -> Path:
    """input[batch,channels,size,size] -> 4 x (Conv3x3 -> Relu) -> GlobalAveragePool -> Flatten -> Gemm -> logits.

    ``fragile``: the layer (or layers, not adjacent) INT8 destroys. ``grid=True``: not a classifier; the scores come
    out as ``grid[batch, 2, classes // 2]`` (a Reshape)."""
    fragile_layers = {fragile} if isinstance(fragile, str) else set(fragile)
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    quiet = channels - 1  # the channel the layer before ``fragile`` leaves near zero
    initializers, nodes = [], []
    current = "input"
    for index, name in enumerate(LAYERS):
        weight = rng.normal(0, 0.5 / np.sqrt(channels), (channels, channels, 3, 3)).astype(np.float32)
        bias = rng.normal(0, 0.05, (channels,)).astype(np.float32)
        following = LAYERS[index + 1] if index + 1 < len(LAYERS) else None
        if following in fragile_layers:
            weight[quiet] *= 1e-4
            bias[quiet] = 0.0
        if name in fragile_layers:
            weight[:, quiet, 1, 1] = 60.0
        initializers += [numpy_helper.from_array(weight, f"{name}.weight"), numpy_helper.from_array(bias, f"{name}.bias")]
        nodes.append(helper.make_node("Conv", [current, f"{name}.weight", f"{name}.bias"], [f"{name}.out"],
                                      pads=[1, 1, 1, 1], name=name))
        nodes.append(helper.make_node("Relu", [f"{name}.out"], [f"{name}.relu"], name=f"{name}_relu"))
        current = f"{name}.relu"
    fc_w = rng.normal(0, 1.0 / np.sqrt(channels), (classes, channels)).astype(np.float32)
    fc_b = rng.normal(0, 0.05, (classes,)).astype(np.float32)
    initializers += [numpy_helper.from_array(fc_w, "fc.weight"), numpy_helper.from_array(fc_b, "fc.bias")]
    nodes += [
        helper.make_node("GlobalAveragePool", [current], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1, name="fc"),
    ]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])
    if grid:
        initializers.append(numpy_helper.from_array(np.array([0, 2, classes // 2], dtype=np.int64), "grid_shape"))
        nodes.append(helper.make_node("Reshape", ["logits", "grid_shape"], ["grid"], name="to_grid"))
        output = helper.make_tensor_value_info("grid", TensorProto.FLOAT, ["batch", 2, classes // 2])
    graph = helper.make_graph(
        nodes, "planted",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, size, size])],
        [output], initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
