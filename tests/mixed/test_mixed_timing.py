"""Per-layer INT8 savings are credited to the original layers at every ONNX Runtime optimisation level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.mixed.mixed_models import LAYERS, make_planted_model


@pytest.mark.parametrize("level", ["extended", "all"])
def test_profiled_time_lands_on_the_original_layers(level: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compile.calibration.ranges import calibrate
    from compile.calibration.source import CalibrationSource
    from compile.mixed.timing import measure_layer_timing
    from compile.onnx_io import inspect_source_onnx
    from compile.passes.quantize_int8 import QuantizeInt8Pass

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    # 32 channels: enough for the NCHWc layout transform at level "all", which renames every float Conv.
    model = make_planted_model(tmp_path / "planted.onnx", channels=32, size=16)
    calib = calibrate(model, CalibrationSource(inspect_source_onnx(model), None, 16, 8), "minmax", 99.99, tmp_path,
                      log=lambda line: None)
    int8 = tmp_path / "planted.int8.onnx"
    QuantizeInt8Pass(convention="onnxruntime-cpu", weight_rounding="nearest")._quantize(model, int8, calib.entry.ranges_path, "minmax")
    feed = {"input": np.random.default_rng(0).uniform(0, 1, (1, 32, 16, 16)).astype(np.float32)}
    timing = measure_layer_timing(model, int8, [*LAYERS, "fc"], feed, iterations=5, optimization=level)
    assert set(LAYERS) <= set(timing.float_ms) and set(LAYERS) <= set(timing.int8_ms)
    # Most of the float model's time is its convolutions' (the rest: layout reorders and pooling).
    assert all(timing.float_ms[name] > 0 for name in LAYERS)
    assert sum(timing.float_ms.values()) >= 0.6 * timing.float_total_ms


def test_layout_aliases_name_the_conv_after_its_fused_activation(tmp_path: Path) -> None:
    from compile.mixed.timing import layout_aliases
    from compile.onnx_io import load_onnx

    model = load_onnx(make_planted_model(tmp_path / "planted.onnx"))
    aliases = layout_aliases(model, ["conv_a", "fc"])
    assert aliases["conv_a.relu_nchwc"] == "conv_a" and aliases["conv_a.out_nchwc"] == "conv_a"
    assert aliases["logits_nchwc"] == "fc" and "conv_b.relu_nchwc" not in aliases
