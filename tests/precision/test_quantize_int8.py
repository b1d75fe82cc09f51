"""quantize-int8: the Q/DQ structure of each convention, per-channel weights, records, and skipping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from compile.passes.quantize_int8 import QuantizeInt8Pass
from compile.settings import RunSettings
from tests.precision.precision_models import initializer_arrays, residual_cnn, run_precision_pass

CHANNELS = 8
CLASSES = 10


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[onnx.ModelProto, dict]]:
    """The residual CNN quantized once per convention (calibrated on 16 embedded images)."""
    root = tmp_path_factory.mktemp("q")
    model = residual_cnn(root / "residual.onnx", channels=CHANNELS, classes=CLASSES)
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPILE_CACHE_DIR", str(root / "user-cache"))
        for convention in ("tensorrt", "onnxruntime-cpu"):
            run_dir = root / convention
            run_dir.mkdir()
            result = run_precision_pass(QuantizeInt8Pass(convention=convention, method="minmax", size=16, batch_size=8),
                                        model, run_dir, "int8")
            out[convention] = (onnx.load(str(result.output.path)), result.record)
    return out


def _zero_points(model: onnx.ModelProto, op_type: str) -> list[np.ndarray]:
    arrays = initializer_arrays(model)
    return [arrays[node.input[2]] for node in model.graph.node if node.op_type == op_type and len(node.input) > 2]


def _weight_dequantizers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    """DequantizeLinear nodes whose input is a constant (quantized weights), by the consumer's name."""
    inits = {init.name for init in model.graph.initializer}
    dq_by_output = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    return {node.name: dq_by_output[name] for node in model.graph.node for name in node.input[1:2] if name in dq_by_output}


def test_tensorrt_convention_is_signed_symmetric_with_zero_point_zero(quantized: dict) -> None:
    model, _ = quantized["tensorrt"]
    zero_points = _zero_points(model, "QuantizeLinear") + _zero_points(model, "DequantizeLinear")
    assert zero_points, "no Q/DQ nodes were inserted"
    for zp in zero_points:
        assert zp.dtype in (np.int8, np.int32), zp.dtype  # int32 only for biases
        assert np.all(zp == 0)
    q_zps = _zero_points(model, "QuantizeLinear")
    assert q_zps and all(zp.dtype == np.int8 for zp in q_zps)


def test_tensorrt_convention_quantizes_compute_ops_and_the_residual_add(quantized: dict) -> None:
    model, record = quantized["tensorrt"]
    dq_outputs = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    by_name = {n.name: n for n in model.graph.node}
    for name in ("conv0", "conv1", "conv2", "fc"):
        assert by_name[name].input[0] in dq_outputs, f"{name}'s activation is not quantized"
        assert by_name[name].input[1] in dq_outputs, f"{name}'s weight is not quantized"
    # TensorRT fuses Conv -> Add(skip) when the Conv output arrives in float and the skip through Q/DQ.
    add = by_name["residual_add"]
    assert add.input[0] in dq_outputs, "the skip input of the residual Add is quantized"
    assert add.input[1] == by_name["conv2"].output[0], "the Conv branch reaches the Add in float"
    assert record["residual_adds_fusable"] == ["residual_add"]
    assert record["quantized_ops"]["Conv"] == 3 and record["quantized_ops"]["Add"] == 1
    assert record["quantize_linear"] > 0 and record["dequantize_linear"] > record["quantize_linear"]


def test_onnxruntime_cpu_convention_has_unsigned_activations_and_signed_weights(quantized: dict) -> None:
    model, record = quantized["onnxruntime-cpu"]
    q_zps = _zero_points(model, "QuantizeLinear")
    assert q_zps and all(zp.dtype == np.uint8 for zp in q_zps)
    weights = _weight_dequantizers(model)
    arrays = initializer_arrays(model)
    for consumer in ("conv0", "conv1", "conv2"):
        dq = weights[consumer]
        assert arrays[dq.input[0]].dtype == np.int8
        assert np.all(arrays[dq.input[2]] == 0), "weights are symmetric"
    assert record["convention"] == "onnxruntime-cpu"


# ids avoid the word "tensorrt", which tests/conftest.py reads as "needs TensorRT".
@pytest.mark.parametrize("convention", ["tensorrt", "onnxruntime-cpu"], ids=["trt-convention", "cpu-convention"])
def test_weights_are_per_channel(quantized: dict, convention: str) -> None:
    model, _ = quantized[convention]
    arrays = initializer_arrays(model)
    weights = _weight_dequantizers(model)
    for consumer, channels in (("conv0", CHANNELS), ("conv1", CHANNELS), ("conv2", CHANNELS), ("fc", CLASSES)):
        dq = weights[consumer]
        axis = next((a.i for a in dq.attribute if a.name == "axis"), None)
        assert axis == 0, f"{consumer}: weight scales are not per output channel"
        assert arrays[dq.input[1]].shape == (channels,)
        assert arrays[dq.input[0]].dtype == np.int8


def test_record_reports_calibration(quantized: dict) -> None:
    _, record = quantized["onnxruntime-cpu"]
    calib = record["calibration"]
    assert calib["method"] == "minmax" and calib["images_used"] == 16 and calib["skipped"] == 0
    assert record["precision"] == "int8" and record["nodes_after"] > record["nodes_before"]


# ids avoid the word "tensorrt", which tests/conftest.py reads as "needs TensorRT".
@pytest.mark.parametrize("convention", ["tensorrt", "onnxruntime-cpu"], ids=["trt-convention", "cpu-convention"])
def test_graph_outputs_are_not_rounded_to_int8(quantized: dict, convention: str) -> None:
    model, record = quantized[convention]
    producers = {out: node for node in model.graph.node for out in node.output}
    assert producers["probs"].op_type == "Softmax"
    if convention == "onnxruntime-cpu":  # ONNX Runtime quantizes Softmax: its output Q/DQ was removed
        assert record["float_outputs"] == ["probs"]


def test_applies_only_to_int8() -> None:
    pass_ = QuantizeInt8Pass()
    assert pass_.applies(RunSettings(model="m", precision="int8")) is None
    assert "fp32" in (pass_.applies(RunSettings(model="m", precision="fp32")) or "")


def test_options_come_from_profile_and_cli() -> None:
    from compile.drivers.options import resolve_options
    from compile.profiles import load_profile

    cpu, a100 = load_profile("cpu"), load_profile("a100")
    settings = RunSettings(model="m", precision="int8", calib_method="entropy", calib_size=12)
    options = resolve_options("quantize-int8", {}, cpu, settings)
    assert options["convention"] == "onnxruntime-cpu" and options["method"] == "entropy" and options["size"] == 12
    assert resolve_options("quantize-int8", {}, a100, RunSettings(model="m"))["convention"] == "tensorrt"


@pytest.mark.parametrize("convention", ["tensorrt", "onnxruntime-cpu"], ids=["trt-convention", "cpu-convention"])
def test_record_counts_the_quantized_layers(quantized: dict, convention: str) -> None:
    model, record = quantized[convention]
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    reading = [n for n in model.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
               and any(name in dequantized for name in n.input)]
    assert record["quantized_layers"] == len(reading) == sum(record["quantized_ops"].values())
    assert record["quantized_ops"]["Conv"] == 3 and record["quantized_ops"]["Gemm"] == 1


def _einsum_model(path: Path) -> Path:
    """x[batch,4,6] -> Einsum('abc,cd,def->abd') with two weights -> y[batch,4,5]: no op with an INT8 kernel."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (6, 3)).astype(np.float32), "w_cd"),
             numpy_helper.from_array(rng.normal(0, 0.5, (3, 2, 5)).astype(np.float32), "w_def")]
    node = helper.make_node("Einsum", ["x", "w_cd", "w_def"], ["y"], equation="abc,cd,def->abd", name="einsum")
    graph = helper.make_graph([node], "einsum", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_int8_that_quantizes_nothing_says_so(tmp_path: Path) -> None:
    from compile.drivers.pipeline import Pipeline
    from compile.profiles import load_profile

    model = _einsum_model(tmp_path / "einsum.onnx")
    settings = RunSettings(model=str(model), precision="int8", out=tmp_path / "run", calib_size=8, progress=False)
    report = Pipeline(settings, profile=load_profile("cpu"), log=lambda _: None).run().report
    assert report["precision"] == "int8" and report["quantization"]["quantized_layers"] == 0
    assert report["quantization"]["quantize_linear"] == 0 and report["quantization"]["quantized_ops"] == {}
    warned = [w for w in report["warnings"] if w.startswith("no layer was quantized")]
    assert len(warned) == 1 and "(Einsum)" in warned[0] and "onnxruntime-cpu" in warned[0], report["warnings"]
