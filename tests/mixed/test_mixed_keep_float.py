"""A layer left in float stays in float after ONNX Runtime's graph optimisations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.mixed.mixed_models import FRAGILE, make_planted_model


def quantize_excluding(model: Path, out: Path, exclude: list[str], cache: Path) -> Path:
    from compile.calibration.ranges import calibrate
    from compile.calibration.source import CalibrationSource
    from compile.onnx_io import inspect_source_onnx
    from compile.passes.quantize_int8 import QuantizeInt8Pass

    int8 = QuantizeInt8Pass(convention="onnxruntime-cpu", method="minmax", size=16, exclude_nodes=exclude)
    calib = calibrate(model, CalibrationSource(inspect_source_onnx(model), None, 16, 8), "minmax", 99.99, cache,
                      log=lambda line: None)
    int8._quantize(model, out, calib.entry.ranges_path, "minmax")
    return out


def optimized_weight_input(path: Path, node: str, scratch: Path) -> str:
    import onnx

    from compile.backends.ort.runner import open_session

    optimized = scratch / f"{path.stem}.opt.onnx"
    open_session(path, optimization="extended", optimized_path=optimized)
    model = onnx.load(str(optimized))
    return next(str(n.input[1]) for n in model.graph.node if n.name == node)


def run(path: Path, feed: dict[str, np.ndarray], optimization: str) -> np.ndarray:
    from compile.backends.ort.runner import OrtRunner

    with OrtRunner(path, optimization=optimization) as runner:
        return next(iter(runner.infer(feed).values()))


def test_guard_keeps_float_weights_through_ort_optimisation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx

    from compile.mixed.keep_float import channel_counts, guard_float_layers

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")
    mixed = quantize_excluding(model, tmp_path / "mixed.onnx", [FRAGILE, f"{FRAGILE}_relu"], tmp_path)
    # Unguarded, ONNX Runtime quantizes the float layer's weights per tensor (a new Q/DQ on the weight).
    assert optimized_weight_input(mixed, FRAGILE, tmp_path) != f"{FRAGILE}.weight"
    assert guard_float_layers(mixed, [FRAGILE], channel_counts(onnx.load(str(model)))) == [FRAGILE]
    assert optimized_weight_input(mixed, FRAGILE, tmp_path) == f"{FRAGILE}.weight"
    onnx.checker.check_model(onnx.load(str(mixed)))
    feed = {"input": np.random.default_rng(0).uniform(0, 1, (4, 8, 10, 10)).astype(np.float32)}
    np.testing.assert_allclose(run(mixed, feed, "extended"), run(mixed, feed, "disable"), rtol=1e-4, atol=1e-4)


def test_guard_skips_layers_without_a_dequantized_input(tmp_path: Path) -> None:
    from compile.mixed.keep_float import guard_float_layers

    model = make_planted_model(tmp_path / "planted.onnx")
    assert guard_float_layers(model, ["conv_a", "missing"], {"input": 8}) == []
    assert guard_float_layers(model, [], {}) == []


def test_fill_gaps_joins_float_layers_across_short_int8_runs() -> None:
    from compile.mixed.keep_float import fill_gaps

    order = [f"c{i}" for i in range(10)]
    assert fill_gaps(order, ["c1", "c3"], gap=1) == ["c1", "c3", "c2"]
    assert fill_gaps(order, ["c1", "c4"], gap=1) == ["c1", "c4"]  # a run of two stays INT8 at gap 1
    assert fill_gaps(order, ["c4", "c1"], gap=2) == ["c4", "c1", "c2", "c3"]
    assert fill_gaps(order, ["c0", "c9"], gap=0) == ["c0", "c9"]
    assert fill_gaps(order, [], gap=3) == []


def test_guard_drops_the_dequantize_it_bypasses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The float layer reads its own per-axis copy; the original DequantizeLinear, read by nothing, is removed
    (ONNX Runtime would still run it: 0.2 ms for a 112x112 tensor on EfficientNet-Lite0)."""
    import onnx

    from compile.mixed.keep_float import channel_counts, guard_float_layers

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")
    mixed = quantize_excluding(model, tmp_path / "mixed.onnx", [FRAGILE, f"{FRAGILE}_relu"], tmp_path)
    before = [n for n in onnx.load(str(mixed)).graph.node if n.op_type == "DequantizeLinear"]
    guard_float_layers(mixed, [FRAGILE], channel_counts(onnx.load(str(model))))
    graph = onnx.load(str(mixed)).graph
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    dequantize = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    assert all(n.output[0] in read for n in dequantize)
    assert len(dequantize) == len(before)  # one per-axis copy added, the bypassed one gone
    assert f"{FRAGILE}_float_input_DequantizeLinear" in {n.name for n in dequantize}
