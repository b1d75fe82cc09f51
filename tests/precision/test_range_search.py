"""Activation ranges chosen by quantization error (calibration method "mse") beat min/max on tensors with outliers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compile.calibration.range_search import best_range, histogram_of, quantization_mse
from tests.mixed.mixed_models import make_planted_model


def fake_quant(values: np.ndarray, low: float, high: float, signed: bool) -> np.ndarray:
    """What ONNX Runtime's QuantizeLinear/DequantizeLinear do with the range: u8 asymmetric, or s8 symmetric."""
    if signed:
        scale = max(-low, high) / 127.0
        return np.clip(np.rint(values / scale), -128, 127) * scale
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0
    zero = np.rint(-low / scale)
    return (np.clip(np.rint(values / scale) + zero, 0, 255) - zero) * scale


def empirical_mse(values: np.ndarray, low: float, high: float, signed: bool) -> float:
    return float(np.mean((values - fake_quant(values, low, high, signed)) ** 2))


def with_outlier(signed: bool) -> np.ndarray:
    """4M activations (a 32x112x112 tensor over 10 images), one of them 60 standard deviations out."""
    rng = np.random.default_rng(0)
    values = rng.normal(0.0, 1.0, 4_000_000).astype(np.float32)
    values = values if signed else np.abs(values)
    values[123] = 60.0
    return values


@pytest.mark.parametrize("signed", [False, True])
def test_range_search_beats_minmax_on_a_tensor_with_an_outlier(signed: bool) -> None:
    values = with_outlier(signed)
    low, high = float(values.min()), float(values.max())
    hist = histogram_of(values, low, high)
    chosen = best_range(hist, signed)
    # The outlier is clipped (its squared error, ~55^2, is paid once), the bulk within 3.5 sigma is not.
    assert 3.5 < chosen[1] < 15.0, chosen
    minmax_error = empirical_mse(values, low, high, signed)
    chosen_error = empirical_mse(values, *chosen, signed)
    # Min/max steps are 60/255 (or 60/127) wide, and every one of the 4M values pays their rounding.
    assert chosen_error < minmax_error / 4, (minmax_error, chosen_error)
    # The model the search minimises agrees with the real quantizer to within 15%.
    assert quantization_mse(hist, *chosen, signed) == pytest.approx(chosen_error, rel=0.15)
    assert quantization_mse(hist, low, high, signed) == pytest.approx(minmax_error, rel=0.15)


def test_relu6_output_piled_at_six_keeps_its_range() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([np.zeros(40_000), rng.uniform(0, 6, 40_000), np.full(20_000, 6.0)]).astype(np.float32)
    chosen = best_range(histogram_of(values, 0.0, 6.0), signed=False)
    assert chosen == (0.0, pytest.approx(6.0))


def test_exact_zeros_cost_nothing() -> None:
    """ReLU outputs are half zeros, which any range with zero in it represents exactly: they must not pull the
    range narrower (as they would if counted with the rounding error of the values around them)."""
    rng = np.random.default_rng(2)
    values = np.concatenate([np.zeros(500_000), rng.uniform(0, 4, 50_000)]).astype(np.float32)
    hist = histogram_of(values, 0.0, 4.0)
    assert hist.zeros == 500_000
    assert best_range(hist, signed=False)[1] == pytest.approx(4.0, rel=0.02)


def test_calibrate_mse_narrows_within_minmax_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compile.calibration.ranges import calibrate
    from compile.calibration.source import CalibrationSource
    from compile.onnx_io import inspect_source_onnx

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")
    source = CalibrationSource(inspect_source_onnx(model), None, 16, 8)
    lines: list[str] = []
    minmax = calibrate(model, source, "minmax", 99.99, tmp_path, log=lambda line: None)
    mse = calibrate(model, source, "mse", 99.99, tmp_path, log=lines.append)
    assert not mse.cache_hit and mse.entry.ranges_path != minmax.entry.ranges_path
    assert any("mse" in line for line in lines)
    wide, narrow = minmax.ranges(), mse.ranges()
    assert set(wide) == set(narrow)
    for name, (low, high) in narrow.items():
        assert min(wide[name][0], 0.0) - 1e-6 <= low <= high <= max(wide[name][1], 0.0) + 1e-6
    record = mse.to_record()["range_search"]
    assert record["narrowed"] > 0 and record["median_error_ratio"] < 1.0
    assert sum(1 for name in narrow if narrow[name] != wide[name]) >= record["narrowed"]
    again = calibrate(model, source, "mse", 99.99, tmp_path, log=lambda line: None)
    assert again.cache_hit and again.ranges() == narrow and again.to_record()["range_search"] == record
    signed = calibrate(model, source, "mse", 99.99, tmp_path, log=lambda line: None, symmetric=True)
    assert not signed.cache_hit  # a symmetric grid is fitted separately
