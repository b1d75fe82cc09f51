"""Bias correction removes the mean shift INT8 weights put on a layer's output (Nagel et al., 2019)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compile.calibration.bias_correction import BiasCorrector
from compile.calibration.range_search import write_ranges
from compile.passes.quantize_int8 import QuantizeInt8Pass
from tests.precision.precision_models import residual_cnn, run_precision_pass

CHANNELS = 4


def planted_shift_model(path: Path) -> Path:
    """A depthwise 3x3 Conv whose per-channel INT8 grid rounds 8 of its 9 weights up by 0.43 of a step.

    Each channel's largest weight (1.0) sets the scale to 1/127; the other eight, 0.0045 = 0.57 steps, all
    round to 1 step (+0.0034 each). The input is non-negative (like a ReLU6 output, mean 3), so every output
    moves by about 8 x 0.0034 x 3 = 0.08: a shift, not noise."""
    weight = np.full((CHANNELS, 1, 3, 3), 0.0045, dtype=np.float32)
    weight[:, 0, 1, 1] = 1.0
    bias = np.linspace(-0.5, 0.5, CHANNELS).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["output"], group=CHANNELS, pads=[1, 1, 1, 1], name="dw")],
        "planted_shift",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", CHANNELS, 6, 6])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", CHANNELS, 6, 6])],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _inputs(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 6, (count, CHANNELS, 6, 6)).astype(np.float32)


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0].astype(np.float64)


def _quantized(model: Path, tmp_path: Path, corrector: BiasCorrector | None, name: str) -> Path:
    ranges = tmp_path / "ranges.json"
    out = _run(model, _inputs(64, seed=3))
    write_ranges({"input": (0.0, 6.0), "output": (float(out.min()), float(out.max()))}, ranges)
    path = tmp_path / f"{name}.onnx"
    QuantizeInt8Pass(convention="onnxruntime-cpu", weight_rounding="nearest").quantize(model, path, ranges, "minmax", None, corrector)
    return path


def _channel_shift(model: Path, quantized: Path, x: np.ndarray) -> np.ndarray:
    return (_run(quantized, x) - _run(model, x)).mean(axis=(0, 2, 3))


def test_bias_correction_removes_a_planted_mean_shift(tmp_path: Path) -> None:
    model = planted_shift_model(tmp_path / "shift.onnx")
    calibration = _inputs(32, seed=1)
    corrector = BiasCorrector(model, lambda: [{"input": calibration[i:i + 8]} for i in range(0, 32, 8)], 32,
                              cache=tmp_path / "bias.npz")
    plain = _quantized(model, tmp_path, None, "plain")
    corrected = _quantized(model, tmp_path, corrector, "corrected")
    held_out = _inputs(64, seed=7)
    before, after = _channel_shift(model, plain, held_out), _channel_shift(model, corrected, held_out)
    # Interior outputs move by 0.081, border ones by less: about 0.06 over the 6x6 map, in every channel.
    assert np.all(before > 0.04), before
    assert np.all(np.abs(after) < 0.1 * before), (before, after)
    assert corrector.stats.inputs == 32 and list(corrector.stats.shifts) == ["dw"]
    assert corrector.stats.shifts["dw"] == pytest.approx(float(np.sqrt(np.mean(before ** 2))), rel=0.3)
    # Only the bias integers changed, by about shift / (input scale x weight scale) = 0.06 / 1.85e-4 steps.
    a = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(plain)).graph.initializer}
    b = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(corrected)).graph.initializer}
    changed = [name for name in a if not np.array_equal(a[name], b[name])]
    assert len(changed) == 1 and b[changed[0]].dtype == np.int32
    assert np.all(a[changed[0]] - b[changed[0]] > 200)


def test_bias_correction_reads_its_cache(tmp_path: Path) -> None:
    model = planted_shift_model(tmp_path / "shift.onnx")
    calibration = _inputs(16, seed=1)
    runs: list[int] = []

    def batches() -> list[dict[str, np.ndarray]]:
        runs.append(1)
        return [{"input": calibration}]

    first = _quantized(model, tmp_path, BiasCorrector(model, batches, 16, cache=tmp_path / "bias.npz"), "first")
    again = BiasCorrector(model, batches, 16, cache=tmp_path / "bias.npz")
    second = _quantized(model, tmp_path, again, "second")
    # Read twice each time (the means, then the check's inputs); the means are measured once, then read from the cache.
    assert len(runs) == 3 and again.record()["cached"] and again.stats.inputs == 0
    for x, y in zip(onnx.load(str(first)).graph.initializer, onnx.load(str(second)).graph.initializer, strict=True):
        assert np.array_equal(numpy_helper.to_array(x), numpy_helper.to_array(y))


def test_float_layers_are_left_alone(tmp_path: Path) -> None:
    """A layer without dequantized weights (kept in float) has no INT8 error to correct."""
    model = planted_shift_model(tmp_path / "shift.onnx")
    calibration = _inputs(8, seed=1)
    corrector = BiasCorrector(model, lambda: [{"input": calibration}], 8)
    assert corrector.apply(onnx.load(str(model))) == []


def test_quantize_int8_records_bias_correction_and_mse_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))
    model = residual_cnn(tmp_path / "residual.onnx", channels=8, classes=10)
    records = {}
    for method in ("minmax", "mse"):
        run_dir = tmp_path / method
        run_dir.mkdir()
        result = run_precision_pass(QuantizeInt8Pass(convention="onnxruntime-cpu", method=method, size=16, batch_size=8,
                                                     weight_rounding="nearest", bias_correction=True), model, run_dir, "int8")
        assert result.report["quantization"]["bias_correction"] == result.record["bias_correction"]
        records[method] = result.record
    search = records["mse"]["calibration"]["range_search"]
    assert records["mse"]["calibration"]["method"] == "mse" and 0 < search["narrowed"] <= search["tensors"]
    assert "range_search" not in records["minmax"]["calibration"]
    # Min/max ranges, nearest rounding: the correction lowers the output error (measured 1.53e-4 -> 1.44e-4), so
    # every INT8 Conv/Gemm is corrected.
    correction = records["minmax"]["bias_correction"]
    assert correction["inputs"] == 16 and correction["kept"] is True
    assert correction["output_nsr"]["with"] < correction["output_nsr"]["without"]
    ops = records["minmax"]["quantized_ops"]
    assert correction["layers"] == ops.get("Conv", 0) + ops.get("Gemm", 0) > 0


def test_a_correction_that_raises_the_output_error_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the planted model GPTQ leans on an input channel that 8-bit activations round to zero; correcting the
    mean then raises the output error (measured on the calibration inputs), so the corrector keeps the biases."""
    from compile.calibration.ranges import calibrate
    from compile.calibration.source import CalibrationSource, CalibrationStats
    from compile.onnx_io import inspect_source_onnx
    from compile.rounding.apply import WeightRounder
    from tests.mixed.mixed_models import make_planted_model

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")
    source = CalibrationSource(inspect_source_onnx(model), None, 64, 8)
    ranges = calibrate(model, source, "minmax", 99.99, tmp_path, log=lambda line: None).entry.ranges_path

    def batches():  # noqa: ANN202 - a generator of feeds
        return source.batches(CalibrationStats())

    paths = {}
    correctors = {}
    for rounding in ("nearest", "gptq"):
        rounder = WeightRounder(model, batches, 32) if rounding == "gptq" else None
        for corrected in (False, True):
            correctors[rounding] = BiasCorrector(model, batches, 32) if corrected else None
            path = tmp_path / f"{rounding}-{corrected}.onnx"
            QuantizeInt8Pass(convention="onnxruntime-cpu", weight_rounding=rounding).quantize(
                model, path, ranges, "minmax", rounder, correctors[rounding])
            paths[rounding, corrected] = path
    nearest, gptq = correctors["nearest"], correctors["gptq"]
    assert nearest is not None and gptq is not None
    # Nearest rounding: the correction removes most of the planted layer's error (output NSR measured 0.151 -> 0.032).
    assert nearest.kept and nearest.stats.output_nsr["with"] < 0.5 * nearest.stats.output_nsr["without"]
    # GPTQ: it would raise the error (0.055 -> 0.063), so the model is left as it was.
    assert gptq.kept is False and gptq.stats.output_nsr["with"] > gptq.stats.output_nsr["without"]
    assert gptq.record()["layers"] == 0
    same = [np.array_equal(numpy_helper.to_array(a), numpy_helper.to_array(b)) for a, b in
            zip(onnx.load(str(paths["gptq", False])).graph.initializer, onnx.load(str(paths["gptq", True])).graph.initializer,
                strict=True)]
    assert all(same)
