"""INT8 of joins whose inputs have far-apart ranges: a Concat of pixel boxes and 0..1 scores stays in float.

With one scale on the Concat, set by the boxes, the class scores collapse to a few values and the
per-anchor class flips, while whole-tensor metrics barely move (concat_ranges_int8 case).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compile.calibration.joins import mixed_range_joins
from compile.passes.quantize_int8 import QuantizeInt8Pass
from tests.precision.precision_models import run_precision_pass, tiny_detector

CONVENTIONS = ["tensorrt", "onnxruntime-cpu"]
IDS = ["trt-convention", "cpu-convention"]  # "tensorrt" in an id reads as "needs TensorRT" (tests/conftest.py)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """The tiny detector, the 64 embedded images at its size, and its float outputs on them."""
    import onnxruntime as ort

    from compile.calibration.source import CalibrationSource, CalibrationStats
    from compile.onnx_io import read_model_info

    model = tiny_detector(tmp_path_factory.mktemp("det") / "detector.onnx")
    images = np.concatenate([b["images"] for b in CalibrationSource(read_model_info(model), None, 64, 16).batches(CalibrationStats())])
    reference = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"images": images})[0]
    return model, images, reference


def _class_agreement(path: Path, images: np.ndarray, reference: np.ndarray) -> float:
    """Share of anchors whose class argmax (columns 4:) matches the float model's, at ONNX Runtime's full optimisation."""
    import onnxruntime as ort

    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": images})[0]
    return float((out[..., 4:].argmax(-1) == reference[..., 4:].argmax(-1)).mean())


@pytest.mark.parametrize("convention", CONVENTIONS, ids=IDS)
def test_a_concat_of_far_apart_ranges_stays_in_float(detector: tuple, tmp_path: Path, convention: str) -> None:
    import onnx

    model, images, reference = detector
    result = run_precision_pass(QuantizeInt8Pass(convention=convention, size=64, batch_size=16), model, tmp_path, "int8")
    joins = result.record["float_joins"]
    assert [(j["node"], j["op"]) for j in joins] == [("join", "Concat")] and joins[0]["ratio"] > 8
    assert result.report["quantization"]["float_joins"] == joins
    assert _class_agreement(result.output.path, images, reference) >= 0.98
    quantized = onnx.load(str(result.output.path))
    producer = {out: node.op_type for node in quantized.graph.node for out in node.output}
    convs = [node for node in quantized.graph.node if node.op_type == "Conv"]
    assert len(convs) == 4 and all(producer.get(c.input[0]) == producer.get(c.input[1]) == "DequantizeLinear" for c in convs)
    # No Q/DQ on the join's output, nor on what follows it (Reshape and Transpose share their input's scale).
    readers = [node for node in quantized.graph.node if "joined" in node.input]
    assert [node.op_type for node in readers] == ["Reshape"]
    assert not any(node.op_type == "QuantizeLinear" and node.input[0] in ("joined", "flattened") for node in quantized.graph.node)


@pytest.mark.parametrize("convention", CONVENTIONS, ids=IDS)
def test_without_the_rule_the_scores_collapse(detector: tuple, tmp_path: Path, convention: str) -> None:
    """The control: one scale on the Concat (the rule off) loses the class of many anchors."""
    model, images, reference = detector
    result = run_precision_pass(QuantizeInt8Pass(convention=convention, size=64, batch_size=16, join_range_factor=None),
                                model, tmp_path, "int8")
    assert result.record["float_joins"] == []
    assert _class_agreement(result.output.path, images, reference) < 0.95


def _join_model(op_type: str = "Concat", name: str = "join") -> object:
    from onnx import TensorProto, helper, numpy_helper

    if op_type == "Where":
        node = helper.make_node("Where", ["cond", "a", "b"], ["y"], name=name)
    else:
        node = helper.make_node("Concat", ["a", "b", "k"], ["y"], axis=1, name=name)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2]) for n in ("a", "b")]
    inputs.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, [1, 2]))
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(np.array([[0.0, 3.0]], np.float32), "k")])
    return helper.make_model(graph)


def test_the_rule_compares_the_spans_an_8_bit_grid_must_cover() -> None:
    model = _join_model()
    (join,) = mixed_range_joins(model, {"a": (0.0, 64.0), "b": (0.0, 1.0)})
    assert join.node == "join" and join.ratio == pytest.approx(64.0)  # the constant k spans 3: neither end
    assert join.ranges["k"] == (0.0, 3.0) and join.to_record()["input_ranges"]["a"] == [0.0, 64.0]
    assert not mixed_range_joins(model, {"a": (0.0, 20.0), "b": (0.0, 4.0)})  # 20 / 3 = 6.7: within 8x
    assert mixed_range_joins(model, {"a": (0.0, 20.0), "b": (0.0, 4.0)}, factor=4.0)
    # Zero is always on the grid: [60, 64] spans 64, like [0, 64].
    assert mixed_range_joins(model, {"a": (60.0, 64.0), "b": (0.0, 1.0)})[0].ratio == pytest.approx(64.0)
    # A zero span is exact at any scale, and an input without a range is not compared.
    assert not mixed_range_joins(model, {"a": (0.0, 0.0), "b": (0.0, 1.0)})
    assert mixed_range_joins(model, {"a": (0.0, 64.0)})[0].ratio == pytest.approx(64.0 / 3.0)
    assert not mixed_range_joins(model, {"a": (0.0, 64.0), "b": (0.0, 1.0)}, op_types=["Conv"])
    assert not mixed_range_joins(_join_model(name=""), {"a": (0.0, 64.0), "b": (0.0, 1.0)})  # cannot be excluded by name


def test_where_compares_its_two_branches_not_the_condition() -> None:
    model = _join_model("Where")
    (join,) = mixed_range_joins(model, {"cond": (0.0, 1.0), "a": (-50.0, 50.0), "b": (0.0, 2.0)})
    assert set(join.ranges) == {"a", "b"} and join.ratio == pytest.approx(50.0)
