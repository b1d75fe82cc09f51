"""Tiny models for the sparsity tests: an ONNX graph with every layer kind, and a small PyTorch CNN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def make_layered_onnx(path: Path, seed: int = 0, gemm_trans_b: int = 1) -> Path:
    """input[b,3,8,8] -> Conv 3->16 (first) -> Relu -> Conv 16->16 3x3 -> Relu -> depthwise Conv 16 -> Relu
    -> GlobalAveragePool -> Flatten -> Gemm 16->12 -> Relu -> MatMul 12->8 -> logits[b,8]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)

    gemm_w = (12, 16) if gemm_trans_b else (16, 12)
    inits = [init("stem.weight", (16, 3, 3, 3)), init("body.weight", (16, 16, 3, 3)), init("dw.weight", (16, 1, 3, 3)),
             init("fc.weight", gemm_w), init("fc.bias", (12,)), init("head.weight", (12, 8))]
    nodes = [
        helper.make_node("Conv", ["input", "stem.weight"], ["c1"], pads=[1, 1, 1, 1], name="stem"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "body.weight"], ["c2"], pads=[1, 1, 1, 1], name="body"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "dw.weight"], ["c3"], pads=[1, 1, 1, 1], group=16, name="dw"),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["r3"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["g"], transB=gemm_trans_b, name="fc"),
        helper.make_node("Relu", ["g"], ["r4"], name="relu4"),
        helper.make_node("MatMul", ["r4", "head.weight"], ["logits"], name="head"),
    ]
    graph = helper.make_graph(nodes, "layered", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def small_cnn() -> Any:
    """A PyTorch CNN on 4-channel inputs: first conv, a 16->16 conv, a depthwise conv, a grouped conv and a Linear head."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(),
        nn.Conv2d(16, 16, 1, groups=2), nn.ReLU(),
        nn.Conv2d(16, 18, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(18, 10),
    )
