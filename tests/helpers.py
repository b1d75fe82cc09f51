"""Tiny ONNX graphs built in memory for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_tiny_classifier(path: Path, channels: int = 8, classes: int = 10, size: int = 16, seed: int = 0) -> Path:
    """input[batch,3,size,size] -> Conv3x3 -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> logits[batch,classes]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (channels, 3, 3, 3)).astype(np.float32), "conv.weight")
    b = numpy_helper.from_array(rng.normal(0, 0.1, (channels,)).astype(np.float32), "conv.bias")
    fw = numpy_helper.from_array(rng.normal(0, 0.3, (classes, channels)).astype(np.float32), "fc.weight")
    fb = numpy_helper.from_array(rng.normal(0, 0.1, (classes,)).astype(np.float32), "fc.bias")
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        initializer=[w, b, fw, fb],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
