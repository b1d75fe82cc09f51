"""INT8 that holds on transformers: SmoothQuant is a float identity, the per-layer search, and the recipe
beats plain static Q/DQ on an encoder whose MLP has outlier channels (calibrated from an .npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compile.errors import PassError
from compile.passes.quantize_int8 import QuantizeInt8Pass
from tests.precision.precision_models import residual_cnn, run_precision_pass
from tests.precision.transformer_models import cosines, run_onnx, tiny_encoder, token_arrays


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture
def encoder(tmp_path: Path) -> Path:
    return tiny_encoder(tmp_path / "encoder.onnx", outliers=8.0)


@pytest.fixture
def calib_npz(tmp_path: Path) -> Path:
    path = tmp_path / "calib.npz"
    np.savez(path, **token_arrays(48, seed=1))
    return path


def _smoothed(model_path: Path, alpha: float, out: Path) -> dict[str, str]:
    import onnx

    from compile.quantize.smoothquant import channel_stats, smooth_groups, smooth_model

    model = onnx.load(str(model_path))
    groups = smooth_groups(model)
    stats = channel_stats(model_path, [g.tensor for g in groups], [token_arrays(32, seed=1)], 32)
    record = smooth_model(model, {t: s.maxima for t, s in stats.items()}, alpha)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return record.placed


def test_smoothquant_keeps_the_float_function(encoder: Path, tmp_path: Path) -> None:
    placed = _smoothed(encoder, 0.5, tmp_path / "smoothed.onnx")
    # The GELU's 0.5 takes 1/s (only the down-projection reads it); LayerNorm outputs also feed the residual
    # Adds, so their layers get an explicit Mul.
    assert placed == {"h0": "inserted Mul q_proj__smooth", "ctx": "inserted Mul o_proj__smooth",
                      "h1": "inserted Mul ffn_up__smooth", "gelu": "Mul gelu_half"}
    feeds = token_arrays(24, seed=7)
    before, after = run_onnx(encoder, feeds), run_onnx(tmp_path / "smoothed.onnx", feeds)
    assert np.abs(after - before).max() <= 1e-5 * np.abs(before).max()
    import onnx
    from onnx import numpy_helper

    original = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(encoder)).graph.initializer}
    smoothed = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(tmp_path / "smoothed.onnx")).graph.initializer}
    assert not np.allclose(original["w2"], smoothed["w2"])  # the weights did change: s W
    assert smoothed["half"].shape == (128,)  # the scalar 0.5 became 0.5 / s per channel


def test_smoothquant_folds_into_a_layernorm_read_only_by_its_layers(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from compile.quantize.smoothquant import smooth_model

    rng = np.random.default_rng(0)
    gamma = (1 + rng.normal(0, 0.1, 16)).astype(np.float32)
    gamma[3] = 20.0  # one outlier channel
    inits = [numpy_helper.from_array(gamma, "g"), numpy_helper.from_array(rng.normal(0, 0.1, 16).astype(np.float32), "b"),
             numpy_helper.from_array(rng.normal(0, 0.3, (16, 8)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.3, (8, 16)).astype(np.float32), "w2")]
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["h"], axis=-1, name="ln"),
             helper.make_node("MatMul", ["h", "w1"], ["y1"], name="mm1"),
             helper.make_node("Gemm", ["h", "w2"], ["y2"], transB=1, name="gemm2"),
             helper.make_node("Add", ["y1", "y2"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "ln.onnx"
    onnx.save(model, str(path))
    x = rng.normal(0, 1, (32, 16)).astype(np.float32)
    import onnxruntime as ort

    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    maxima = np.abs(gamma) * 3
    record = smooth_model(model, {"h": maxima}, 0.5)
    assert record.placed == {"h": "LayerNormalization ln"} and record.layers == 2 and len(model.graph.node) == 4
    assert record.outlier_ratio["h"][1] < record.outlier_ratio["h"][0] / 3  # the outlier channel is flattened
    onnx.save(model, str(path))
    after = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_search_smooths_channel_outliers_and_clips_single_extremes() -> None:
    from compile.quantize.search import choose
    from compile.quantize.smoothquant import ChannelStats

    rng = np.random.default_rng(0)
    weight = rng.normal(0, 0.1, (64, 32)).astype(np.float32)
    channels = rng.normal(0, 1, (2048, 64)).astype(np.float32)
    channels[:, 7] *= 40  # one channel 40x the others: smoothing pays
    stats = ChannelStats(channels.min(0), channels.max(0), channels)
    choice = choose(stats, [weight], symmetric=True)
    assert choice.alpha is not None and choice.error < choice.plain_error / 5
    # Heavy tails (Student t, 3 degrees of freedom): a few values stretch the range; without smoothing, a
    # clipped range serves the rest better (the MSE-optimal range of NVIDIA's calibrator).
    tails = rng.standard_t(3, (2048, 64)).astype(np.float32)
    stats = ChannelStats(tails.min(0), tails.max(0), tails)
    choice = choose(stats, [weight], symmetric=False, alphas=(None,))
    assert choice.alpha is None and choice.clip < 1.0 and choice.error < 0.85 * choice.plain_error


def _cosines_of(model: Path, reference: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return cosines(run_onnx(model, feeds), run_onnx(reference, feeds))


@pytest.mark.parametrize("convention", ["onnxruntime-cpu", "tensorrt"], ids=["unsigned-asymmetric", "signed-symmetric"])
def test_recipe_beats_plain_static_qdq_on_an_outlier_mlp(encoder: Path, calib_npz: Path, tmp_path: Path, convention: str) -> None:
    held_out = token_arrays(64, seed=2)
    plain = run_precision_pass(QuantizeInt8Pass(convention=convention, transformer_recipe="off", size=48),
                               encoder, tmp_path / "plain", "int8", calib=calib_npz)
    recipe = run_precision_pass(QuantizeInt8Pass(convention=convention, size=48), encoder, tmp_path / "recipe", "int8",
                                calib=calib_npz)
    assert plain.record["recipe"] == "default" and recipe.record["recipe"] == "transformer"
    assert recipe.record["graph"] == "transformer" and recipe.record["calibration"]["images_used"] == 48
    assert "npz" in recipe.record["calibration"]["data"]
    # Only the layers with weights (and the attention products) read INT8; LayerNorm, Softmax, GELU stay float.
    assert set(recipe.record["quantized_ops"]) == {"MatMul"} and "LayerNormalization" in plain.record["quantized_ops"]
    smooth = recipe.record["smooth_quant"]
    assert smooth["smoothed_groups"] >= 3 and smooth["simulated_error"]["chosen"] < smooth["simulated_error"]["plain"] / 3
    plain_cos = _cosines_of(plain.output.path, encoder, held_out)
    recipe_cos = _cosines_of(recipe.output.path, encoder, held_out)
    # Measured: mean cosine per sample 0.967 -> 0.9999 (unsigned asymmetric), 0.964 -> 0.9999 (signed symmetric).
    assert recipe_cos.mean() >= 0.999 and np.percentile(recipe_cos, 1) >= 0.998
    assert plain_cos.mean() <= 0.985 and recipe_cos.min() > plain_cos.mean()


def test_without_output_qdq_and_smoothing_each_part_counts(encoder: Path, calib_npz: Path, tmp_path: Path) -> None:
    held_out = token_arrays(64, seed=2)
    results = {}
    for name, options in {"ops only": {"transformer_recipe": "off", "op_types": ["MatMul", "Gemm"]},
                          "float outputs": {"smooth_quant": False, "smooth_alpha": 0.5},
                          "recipe": {}}.items():
        result = run_precision_pass(QuantizeInt8Pass(convention="tensorrt", size=48, weight_rounding="nearest", **options),
                                    encoder, tmp_path / name.replace(" ", "-"), "int8", calib=calib_npz)
        results[name] = float(_cosines_of(result.output.path, encoder, held_out).mean())
    assert results["ops only"] < results["float outputs"] < results["recipe"], results


def test_cnn_keeps_its_recipe(tmp_path: Path) -> None:
    from compile.onnx_io import load_onnx
    from compile.quantize.recipe import graph_family

    model = residual_cnn(tmp_path / "cnn.onnx")
    assert graph_family(load_onnx(model)) == "cnn-or-other"
    result = run_precision_pass(QuantizeInt8Pass(size=8, batch_size=4, weight_rounding="nearest"), model, tmp_path, "int8")
    assert result.record["recipe"] == "default" and "smooth_quant" not in result.record
    assert {"Conv", "Add", "Gemm"} <= set(result.record["quantized_ops"])
    assert "OpTypesToExcludeOutputQuantization" not in QuantizeInt8Pass().quantize_settings()["extra_options"]


def test_dynamic_mode_on_the_cpu_convention_only(encoder: Path, tmp_path: Path) -> None:
    result = run_precision_pass(QuantizeInt8Pass(convention="onnxruntime-cpu", int8_mode="dynamic"), encoder, tmp_path / "d",
                                "int8")
    assert result.record["int8_mode"] == "dynamic" and result.record["quantized_layers"] == 6  # 6 weight MatMuls
    assert result.record["dynamic_quantize_linear"] >= 4
    held_out = token_arrays(32, seed=2)
    assert _cosines_of(result.output.path, encoder, held_out).mean() >= 0.995
    with pytest.raises(PassError, match="dynamic.*ONNX Runtime's CPU kernels only"):
        run_precision_pass(QuantizeInt8Pass(convention="tensorrt", int8_mode="dynamic"), encoder, tmp_path / "t", "int8")


def test_residual_readers_of_a_quantized_activation_read_it_in_float(encoder: Path, calib_npz: Path, tmp_path: Path) -> None:
    """Unsmoothed, the LayerNorm output ``h0`` is quantized for Q/K/V and also read by the residual Add: that
    Add must read the float tensor (ONNX Runtime's quantizer hands every reader the Q/DQ output)."""
    import onnx

    result = run_precision_pass(QuantizeInt8Pass(convention="tensorrt", size=48, smooth_quant=False, smooth_alpha=0.5,
                                                 weight_rounding="nearest"), encoder, tmp_path / "q", "int8", calib=calib_npz)
    assert result.record["quantized_ops"] == {"MatMul": 8}
    model = onnx.load(str(result.output.path))
    residual = next(node for node in model.graph.node if node.name == "residual1")
    assert list(residual.input) == ["h0", "o"]
    assert any(node.op_type == "DequantizeLinear" and node.input[0].startswith("h0") for node in model.graph.node)


def test_an_attention_block_without_layernorm_is_transformer_like(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    from compile.quantize.recipe import graph_family

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.2, (16, 16)).astype(np.float32), name) for name in ("wq", "wk", "wv")]
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"], name="q"), helper.make_node("MatMul", ["x", "wk"], ["k"], name="k"),
             helper.make_node("MatMul", ["x", "wv"], ["v"], name="v"),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1], name="kt"),
             helper.make_node("MatMul", ["q", "kt"], ["s"], name="scores"),
             helper.make_node("Softmax", ["s"], ["p"], axis=-1, name="softmax"),
             helper.make_node("MatMul", ["p", "v"], ["y"], name="context")]
    graph = helper.make_graph(nodes, "attention", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8, 16])], initializer=inits)
    assert graph_family(helper.make_model(graph)) == "transformer"
    nodes[-1] = helper.make_node("Add", ["p", "v"], ["y"], name="no_attention")  # the Softmax no longer feeds a MatMul
    graph = helper.make_graph(nodes, "other", graph.input, graph.output, initializer=inits)
    assert graph_family(helper.make_model(graph)) == "cnn-or-other"
