"""GPTQ on a whole Q/DQ model: only weight integers change, the output gets closer, the cache is reused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.mixed.mixed_models import make_planted_model


def _inputs(count: int = 24, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, 8, 10, 10)).astype(np.float32)


def _quantized(model: Path, out: Path, cache: Path) -> Path:
    from compile.calibration.ranges import calibrate
    from compile.calibration.source import CalibrationSource
    from compile.onnx_io import inspect_source_onnx
    from compile.passes.quantize_int8 import QuantizeInt8Pass

    calib = calibrate(model, CalibrationSource(inspect_source_onnx(model), None, 32, 8), "minmax", 99.99, cache,
                      log=lambda line: None)
    QuantizeInt8Pass(convention="onnxruntime-cpu", weight_rounding="nearest")._quantize(model, out, calib.entry.ranges_path, "minmax")
    return out


def _run(model, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0].astype(np.float64)


def test_rounding_changes_only_weight_integers_and_cuts_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx
    from onnx import numpy_helper

    import compile.rounding.apply as apply_module
    from compile.rounding.apply import WeightRounder

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")
    nearest_path = _quantized(model, tmp_path / "nearest.onnx", tmp_path / "fallback")
    nearest = onnx.load(str(nearest_path))
    rounded = onnx.load(str(nearest_path))
    calibration = _inputs(32, seed=2)
    cache = tmp_path / "rounding.npz"
    rounder = WeightRounder(model, lambda: [{"input": calibration[i:i + 8]} for i in range(0, 32, 8)], 32, cache=cache)
    changed = rounder.apply(rounded)
    assert sorted(changed) == ["conv_a", "conv_b", "conv_c", "conv_d", "fc"]
    assert rounder.stats.inputs == 32 and rounder.stats.layers == 5 and cache.is_file()

    before = {init.name: numpy_helper.to_array(init) for init in nearest.graph.initializer}
    after = {init.name: numpy_helper.to_array(init) for init in rounded.graph.initializer}
    differing = sorted(name for name in before if not np.array_equal(before[name], after[name]))
    assert differing and all(name.endswith("_quantized") and after[name].dtype == np.int8 for name in differing)
    assert all(np.abs(after[name]).max() <= 127 for name in differing)
    # Each weight moves by a few steps at most: still a rounding of the same weights, on the same scales.
    assert max(np.abs(after[n].astype(int) - before[n].astype(int)).max() for n in differing) <= 6

    held_out = _inputs(48, seed=3)
    reference = _run(onnx.load(str(model)), held_out)
    error = {label: float(np.square(_run(m, held_out) - reference).sum() / np.square(reference).sum())
             for label, m in (("nearest", nearest), ("gptq", rounded))}
    assert error["gptq"] < 0.5 * error["nearest"], error

    # A second rounder with the same cache measures nothing and writes the same integers.
    def no_measuring(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("layer inputs measured despite the cache")

    monkeypatch.setattr(apply_module, "input_moments", no_measuring)
    again = onnx.load(str(nearest_path))
    second = WeightRounder(model, lambda: [], 32, cache=cache)
    assert sorted(second.apply(again)) == sorted(changed) and second.stats.layers == 0
    assert all(np.array_equal(numpy_helper.to_array(i), after[i.name]) for i in again.graph.initializer)


def test_a_layer_gptq_cannot_solve_keeps_nearest_rounding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx
    from onnx import numpy_helper

    import compile.rounding.gptq as gptq_module
    from compile.rounding.apply import WeightRounder

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")
    nearest_path = _quantized(model, tmp_path / "nearest.onnx", tmp_path / "fallback")
    rounded = onnx.load(str(nearest_path))
    calibration = _inputs(16, seed=2)
    real = gptq_module.gptq_round

    def failing_for_conv_c(rows, hessian, scale, *args, **kwargs):  # type: ignore[no-untyped-def]
        if rows.shape[-1] == 72 and failing_for_conv_c.calls == 2:  # the third Conv solved: conv_c
            failing_for_conv_c.calls += 1
            raise ValueError("not positive definite")
        failing_for_conv_c.calls += 1
        return real(rows, hessian, scale, *args, **kwargs)

    failing_for_conv_c.calls = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(gptq_module, "gptq_round", failing_for_conv_c)
    rounder = WeightRounder(model, lambda: [{"input": calibration}], 16)
    changed = rounder.apply(rounded)
    assert rounder.stats.skipped == ["conv_c"] and "conv_c" not in changed and len(changed) == 4
    before = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(nearest_path)).graph.initializer}
    after = {i.name: numpy_helper.to_array(i) for i in rounded.graph.initializer}
    assert np.array_equal(before["conv_c.weight_quantized"], after["conv_c.weight_quantized"])


def test_a_2_4_layer_keeps_its_zeros_and_scattered_zeros_stay_free(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pruned layer's zeros stay integer 0 (SparseGPT with a fixed mask); a dense layer's odd exact zero
    is an ordinary weight that GPTQ may move."""
    import onnx
    from onnx import numpy_helper

    from compile.rounding.apply import WeightRounder
    from compile.rounding.gptq import gptq_round
    from compile.sparsity.mask import apply_two_four, is_two_four

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    planted = onnx.load(str(make_planted_model(tmp_path / "planted.onnx")))
    weights = {init.name: init for init in planted.graph.initializer}
    pruned = apply_two_four(numpy_helper.to_array(weights["conv_b.weight"]), 1)
    scattered = numpy_helper.to_array(weights["conv_c.weight"]).copy()
    scattered.flat[::16] = 0.0  # 6% exact zeros, no pattern
    weights["conv_b.weight"].CopyFrom(numpy_helper.from_array(pruned, "conv_b.weight"))
    weights["conv_c.weight"].CopyFrom(numpy_helper.from_array(scattered, "conv_c.weight"))
    model = tmp_path / "pruned.onnx"
    onnx.save(planted, str(model))
    rounded = onnx.load(str(_quantized(model, tmp_path / "nearest.onnx", tmp_path / "fallback")))
    calibration = _inputs(32, seed=2)
    rounder = WeightRounder(model, lambda: [{"input": calibration[i:i + 8]} for i in range(0, 32, 8)], 32)
    assert "conv_b" in rounder.apply(rounded) and rounder.record()["layers_with_zeros_kept"] == 1
    after = {init.name: numpy_helper.to_array(init) for init in rounded.graph.initializer}
    integers_b = after["conv_b.weight_quantized"]
    assert np.all(integers_b[pruned == 0] == 0) and is_two_four(integers_b, 1) and np.count_nonzero(integers_b[pruned != 0])
    # conv_c is solved without a mask: the integers of an unmasked GPTQ on the same moments and scales.
    geometry = rounder.geometries["conv_c"]
    assert rounder.moments is not None
    free = gptq_round(geometry.to_rows(scattered.astype(np.float64)), rounder.moments["conv_c"],
                      after["conv_c.weight_scale"].astype(np.float64).reshape(1, -1))
    assert np.array_equal(geometry.from_rows(free), after["conv_c.weight_quantized"])
