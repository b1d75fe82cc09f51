"""Tiny ONNX graphs built in memory for tests, and typed reports for the renderers' tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from compile.report.schema import Report


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


def make_report(**fields: Any) -> Report:
    """A typed report holding ``fields``, every other required field filled with a plain value (for the
    renderers' tests, which look only at what they set)."""
    required: dict[str, Any] = {
        "schema_version": 1, "tool_version": "0", "created": "2025-01-01T00:00:00Z", "model": "m", "model_source": "m",
        "weights": "", "profile": "cpu", "backend": "onnxruntime", "precision": "fp32", "sparsity": "dense", "passed": True,
        "artifacts": {"onnx": None, "final": None}, "artifact_sha256": {}, "inputs": [], "preprocessing": None,
        "accuracy": None, "latency": None, "machine": None, "metrics": {}, "gates": [], "stages": [], "reused_stages": [],
        "warnings": []}
    artifacts = {**required["artifacts"], **fields.pop("artifacts", {})}
    return Report.model_validate({**required, **fields, "artifacts": artifacts})


def run_cli(argv: list[str]) -> int:
    """The exit code of ``compile ARGV`` run in this process (click ends every command with SystemExit)."""
    from compile.cli.main import main

    try:
        main(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


def invoke(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    """``compile ARGV`` in this process: exit code, stdout and stderr (``capsys``: pytest's fixture)."""
    code = run_cli(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
