"""Candidates assembled from the float and all-INT8 models equal the quantizer's own builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.mixed.mixed_models import make_planted_model


def make_residual_model(path: Path, channels: int = 8, classes: int = 6, seed: int = 0) -> Path:
    """Conv+Relu -> [Conv+Relu -> Conv] + skip -> Relu -> depthwise Conv -> ReduceMean -> Reshape -> Gemm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def weight(name: str, shape: tuple[int, ...]) -> Any:
        return numpy_helper.from_array(rng.normal(0, 0.4, shape).astype(np.float32), name)

    inits = [weight("w0", (channels, 3, 3, 3)), weight("w1", (channels, channels, 1, 1)), weight("w2", (channels, channels, 3, 3)),
             weight("w3", (channels, 1, 3, 3)), weight("fc", (classes, channels)),
             numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
             numpy_helper.from_array(np.array([-1, channels], dtype=np.int64), "shape")]
    nodes = [
        helper.make_node("Conv", ["input", "w0"], ["c0"], pads=[1, 1, 1, 1], name="conv0"),
        helper.make_node("Relu", ["c0"], ["r0"], name="relu0"),
        helper.make_node("Conv", ["r0", "w1"], ["c1"], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Add", ["c2", "r0"], ["sum"], name="add"),
        helper.make_node("Relu", ["sum"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3"], ["c3"], pads=[1, 1, 1, 1], group=channels, name="depthwise"),
        helper.make_node("ReduceMean", ["c3", "axes"], ["mean"], keepdims=0, name="mean"),
        helper.make_node("Reshape", ["mean", "shape"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "fc"], ["logits"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", classes])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _setup(model: Path, tmp_path: Path, input_shape: tuple[int, ...]) -> tuple[Any, Any, Any, Path, Path]:
    from compile.calibration.ranges import calibrate
    from compile.calibration.source import CalibrationSource
    from compile.mixed.assemble import CandidateAssembler
    from compile.onnx_io import inspect_source_onnx, load_onnx
    from compile.passes.mixed_precision import MixedPrecisionPass

    calib = calibrate(model, CalibrationSource(inspect_source_onnx(model), None, 16, 8), "minmax", 99.99, tmp_path / "fallback",
                      log=lambda line: None)
    owner = MixedPrecisionPass(convention="onnxruntime-cpu", method="minmax", weight_rounding="nearest")
    float_model = load_onnx(model)
    raw = tmp_path / "raw.onnx"
    owner._quantizer([], float_model)._quantize(model, raw, calib.entry.ranges_path, "minmax")
    return owner, float_model, CandidateAssembler(float_model, load_onnx(raw)), calib.entry.ranges_path, raw


def _signature(model: Any) -> set[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return {(n.op_type, tuple(n.input), tuple(n.output)) for n in model.graph.node}


def _outputs(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


CASES = {
    "planted": (make_planted_model, (4, 8, 10, 10), [["conv_b"], ["conv_a", "conv_d"], ["fc"], ["conv_a", "conv_b", "conv_c", "conv_d", "fc"]]),
    "residual": (make_residual_model, (4, 3, 8, 8), [["conv1"], ["conv2"], ["conv0", "conv2"], ["depthwise"], ["fc"],
                                                     ["depthwise", "fc"], ["conv0", "conv1", "conv2", "depthwise", "fc"]]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_assembled_candidates_equal_the_quantizers(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compile.onnx_io import load_onnx

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    make, shape, layer_sets = CASES[case]
    model = make(tmp_path / f"{case}.onnx")
    owner, float_model, assembler, ranges, _ = _setup(model, tmp_path, shape)
    x = np.random.default_rng(5).uniform(-1, 1, shape).astype(np.float32)
    for layers in layer_sets:
        quantizer = owner._quantizer(layers, float_model)
        excluded = set(quantizer.options.exclude_nodes)
        assembled = assembler.assemble(excluded)
        assert assembled is not None, layers
        ours, theirs = tmp_path / "ours.onnx", tmp_path / "theirs.onnx"
        quantizer.finish(assembled, ours)
        quantizer.quantize(model, theirs, ranges, "minmax")
        assert _signature(load_onnx(ours)) == _signature(load_onnx(theirs)), layers
        np.testing.assert_array_equal(_outputs(ours, x), _outputs(theirs, x))


def test_an_activation_left_without_its_conv_is_not_assembled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_residual_model(tmp_path / "residual.onnx")
    _, _, assembler, _, _ = _setup(model, tmp_path, (4, 3, 8, 8))
    assert assembler.assemble({"conv1"}) is None  # relu1 is folded into conv1's INT8 output: it must go too
    assert assembler.assemble({"conv1", "relu1"}) is not None
