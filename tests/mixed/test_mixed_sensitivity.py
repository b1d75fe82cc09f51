"""The one-pass sensitivity ranking finds the planted fragile layer first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.mixed.mixed_models import FRAGILE, LAYERS, make_planted_model


def quantize_all(model: Path, out: Path, cache: Path) -> Path:
    from compile.calibration.ranges import calibrate
    from compile.calibration.source import CalibrationSource
    from compile.onnx_io import inspect_source_onnx
    from compile.passes.quantize_int8 import QuantizeInt8Pass

    int8 = QuantizeInt8Pass(convention="onnxruntime-cpu", method="minmax", size=32)
    calib = calibrate(model, CalibrationSource(inspect_source_onnx(model), None, 32, 8), "minmax", 99.99, cache,
                      log=lambda line: None)
    int8._quantize(model, out, calib.entry.ranges_path, "minmax")
    return out


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")
    return model, quantize_all(model, tmp_path / "planted.int8.onnx", tmp_path / "fallback")


def feeds(count: int = 16, batch: int = 8) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    data = rng.uniform(0, 1, (count, 8, 10, 10)).astype(np.float32)
    return [{"input": data[i:i + batch]} for i in range(0, count, batch)]


def test_fragile_layer_is_ranked_first(planted: tuple[Path, Path]) -> None:
    from compile.mixed.sensitivity import rank_layers

    model, int8 = planted
    ranking = rank_layers(model, int8, feeds())
    assert ranking[0].node == FRAGILE
    scored = {layer.node: layer for layer in ranking}
    assert set(LAYERS) <= set(scored)
    # The planted layer turns a clean input (NSR ~1e-4) into a noisy output; later layers only carry it on.
    assert ranking[0].input_nsr < 0.01 < 0.05 < ranking[0].output_nsr
    assert ranking[0].output_nsr > 100 * ranking[0].input_nsr
    assert scored["conv_a"].score < 0.01


def test_fragile_layer_is_found_wherever_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compile.mixed.sensitivity import rank_layers

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted-d.onnx", fragile="conv_d", seed=3)
    int8 = quantize_all(model, tmp_path / "planted-d.int8.onnx", tmp_path / "fallback")
    assert rank_layers(model, int8, feeds())[0].node == "conv_d"


def test_quantized_nodes_trace_activations_through_qdq(planted: tuple[Path, Path]) -> None:
    from compile.mixed.sensitivity import quantized_nodes
    from compile.onnx_io import load_onnx

    _, int8 = planted
    nodes = {node.name: node for node in quantized_nodes(load_onnx(int8))}
    assert nodes[FRAGILE].op_type == "Conv"
    # The float tensor and its dequantized value; the weight is not an activation.
    assert nodes[FRAGILE].inputs == [("conv_a.relu", "conv_a.relu_DequantizeLinear_Output")]
    assert nodes[FRAGILE].outputs == [(f"{FRAGILE}.relu", f"{FRAGILE}.relu_DequantizeLinear_Output")]
    assert nodes["conv_a"].inputs == [("input", "input_DequantizeLinear_Output")]


def test_score_is_added_error() -> None:
    from compile.mixed.sensitivity import QuantizedNode, score_nodes

    x, y, z, w = (("x", "x'"), ("y", "y'"), ("z", "z'"), ("w", "w'"))
    nodes = [QuantizedNode("a", "Conv", [x], [y]), QuantizedNode("b", "Conv", [y], [z]),
             QuantizedNode("c", "Add", [y, z], [w]), QuantizedNode("gone", "Conv", [w], [("missing", "missing")])]
    ranked = score_nodes(nodes, {x: 0.0, y: 0.01, z: 0.31, w: 0.315})
    assert [s.node for s in ranked] == ["b", "a", "c"]
    assert ranked[0].score == pytest.approx(0.30)
    assert ranked[2].input_nsr == pytest.approx(0.31)


def test_single_layer_errors_rank_the_fragile_layer_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compile.calibration.ranges import calibrate
    from compile.calibration.source import CalibrationSource
    from compile.mixed.sensitivity import single_layer_errors
    from compile.onnx_io import inspect_source_onnx

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")
    calib = calibrate(model, CalibrationSource(inspect_source_onnx(model), None, 32, 8), "minmax", 99.99, tmp_path,
                      log=lambda line: None)
    measured = single_layer_errors(model, [*LAYERS, "fc", "not-a-node", "pool"], calib.ranges(), False, feeds())
    assert set(measured.errors) == {*LAYERS, "fc"}  # compute ops only; unknown names are ignored
    ranked = sorted(measured.errors, key=measured.errors.__getitem__, reverse=True)
    assert ranked[0] == FRAGILE
    assert measured.errors[FRAGILE] > 0.02 > 10 * max(v for k, v in measured.errors.items() if k != FRAGILE)
    assert measured.inputs == 16

    # The variants run optimised; unoptimised ones (no fusion, no re-quantized weights) measure the same.
    plain = single_layer_errors(model, [*LAYERS, "fc"], calib.ranges(), False, feeds(), optimize=False)
    for name, error in plain.errors.items():
        assert measured.errors[name] == pytest.approx(error, rel=0.1, abs=1e-6), name


def test_fake_quant_weight_is_per_channel() -> None:
    from compile.mixed.sensitivity import activation_qparams, fake_quant_weight

    weight = np.array([[1.0, 0.5, -0.25], [100.0, 0.3, 0.2]], dtype=np.float32)
    quantized = fake_quant_weight(weight, axis=0)
    np.testing.assert_allclose(quantized[0], weight[0], atol=1.0 / 254)  # its own scale: fine steps
    assert quantized[1, 1] == 0.0 and quantized[1, 0] == pytest.approx(100.0)  # outlier: the rest rounds away
    scale, zero = activation_qparams(-1.0, 3.0, signed=False)
    assert float(scale) == pytest.approx(4.0 / 255) and int(zero) == 64
    scale, zero = activation_qparams(-1.0, 3.0, signed=True)
    assert float(scale) == pytest.approx(3.0 / 127) and int(zero) == 0
