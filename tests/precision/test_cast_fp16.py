"""cast-fp16: FP32 I/O, blocked ops and out-of-range nodes kept FP32, and ONNX Runtime CPU runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from compile.backends.ort.runner import OrtRunner
from compile.data.generated import generate_inputs
from compile.onnx_io import read_model_info
from compile.passes.cast_fp16 import CastFp16Pass
from compile.settings import RunSettings
from tests.precision.precision_models import feature_mlp, initializer_arrays, residual_cnn, run_precision_pass


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {v.name: v.type.tensor_type.elem_type for v in values}


def test_io_stays_fp32_blocked_ops_stay_fp32_and_convs_go_fp16(tmp_path: Path) -> None:
    source = residual_cnn(tmp_path / "residual.onnx")
    result = run_precision_pass(CastFp16Pass(size=8), source, tmp_path, "fp16")
    model = onnx.load(str(result.output.path))
    assert result.output.precision == "fp16"
    assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT for v in [*model.graph.input, *model.graph.output])
    types = _elem_types(model)
    by_name = {n.name: n for n in model.graph.node}
    assert types[by_name["softmax"].input[0]] == TensorProto.FLOAT, "Softmax is on the block list"
    assert types[by_name["conv1"].output[0]] == TensorProto.FLOAT16
    arrays = initializer_arrays(model)
    assert arrays[by_name["conv1"].input[1]].dtype == np.float16
    assert result.record["kept_fp32_by_op"].get("Softmax") == 1
    assert result.record["casts_added"] >= 2


def test_nodes_outside_the_fp16_range_stay_fp32(tmp_path: Path) -> None:
    source = feature_mlp(tmp_path / "mlp.onnx", big_scale=1e5)
    result = run_precision_pass(CastFp16Pass(size=16), source, tmp_path, "fp16")
    assert set(result.record["kept_fp32_by_range"]) == {"scale_up", "scale_down"}
    model = onnx.load(str(result.output.path))
    types = _elem_types(model)
    by_name = {n.name: n for n in model.graph.node}
    assert types[by_name["scale_down"].input[0]] == TensorProto.FLOAT
    assert types[by_name["scale_up"].input[0]] == TensorProto.FLOAT
    assert result.record["round_trip_casts_removed"] == 1
    info = read_model_info(source)
    feeds = generate_inputs(info.inputs, 8, seed=5)
    with OrtRunner(source) as ref, OrtRunner(result.output.path) as cand:
        expected, got = ref.infer(feeds)["logits"], cand.infer(feeds)["logits"]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=2e-2, atol=2e-2)


def test_applies_only_to_fp16() -> None:
    pass_ = CastFp16Pass()
    assert pass_.applies(RunSettings(model="m", precision="fp16")) is None
    assert pass_.applies(RunSettings(model="m", precision="int8")) is not None


# --- integer tensors and NaN/inf: the FP16 graph keeps each output's dtype and values ------------------

def _save_model(path: Path, nodes: list, inputs: list, outputs: list, specs: tuple, initializers: list | None = None) -> Path:
    from onnx import helper

    from compile.models.spec import ModelInfo
    from compile.onnx_io import set_model_info

    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    set_model_info(model, ModelInfo(name=path.stem, inputs=specs, output_names=tuple(o.name for o in outputs), task="tabular"))
    onnx.save(model, str(path))
    return path


def _counts_model(path: Path) -> Path:
    """int32 counts -> (Cast float -> CumSum, Cast int64 -> CumSum, CumSum): float32, int64 and int32 outputs."""
    from onnx import helper, numpy_helper

    from compile.models.spec import InputSpec

    nodes = [helper.make_node("Cast", ["counts"], ["as_float"], to=TensorProto.FLOAT, name="to_float"),
             helper.make_node("CumSum", ["as_float", "axis"], ["running_total"], name="cumsum_float"),
             helper.make_node("Cast", ["counts"], ["as_int64"], to=TensorProto.INT64, name="to_int64"),
             helper.make_node("CumSum", ["as_int64", "axis"], ["sum_int64"], name="cumsum_int64"),
             helper.make_node("CumSum", ["counts", "axis"], ["sum_int32"], name="cumsum_int32")]
    outputs = [helper.make_tensor_value_info("running_total", TensorProto.FLOAT, ["batch", 6]),
               helper.make_tensor_value_info("sum_int64", TensorProto.INT64, ["batch", 6]),
               helper.make_tensor_value_info("sum_int32", TensorProto.INT32, ["batch", 6])]
    return _save_model(path, nodes, [helper.make_tensor_value_info("counts", TensorProto.INT32, ["batch", 6])], outputs,
                       (InputSpec("counts", ("batch", 6), "int32", 0, 6000),), [numpy_helper.from_array(np.array(1, np.int64), "axis")])


def test_integer_cast_to_float_before_an_fp32_op_becomes_one_int_to_fp32_cast(tmp_path: Path) -> None:
    """int32 -> fp16 -> fp32 is no round trip: it must not wire the int32 tensor into the FP32 CumSum
    (ONNX Runtime refused the graph), nor round counts above 2048 through FP16."""
    source = _counts_model(tmp_path / "counts.onnx")
    result = run_precision_pass(CastFp16Pass(size=8), source, tmp_path, "fp16")
    model = onnx.load(str(result.output.path))
    assert {o.name: o.type.tensor_type.elem_type for o in model.graph.output} == {
        "running_total": TensorProto.FLOAT, "sum_int64": TensorProto.INT64, "sum_int32": TensorProto.INT32}
    producers = {out: n for n in model.graph.node for out in n.output}
    cast = producers[producers["running_total"].input[0]]
    assert cast.op_type == "Cast" and list(cast.input) == ["counts"] and cast.attribute[0].i == TensorProto.FLOAT
    assert not [n.name for n in model.graph.node if n.op_type == "Cast" and n.attribute[0].i == TensorProto.FLOAT16]
    assert result.record["round_trip_casts_removed"] == 2  # counts -> fp16, and CumSum -> fp16 -> the FP32 output
    counts = np.array([[4097, 5001, 2049, 3, 0, 5999], [1, 2, 3, 4, 5, 6]], dtype=np.int32)  # odd > 2048: not FP16 values
    with OrtRunner(source) as ref, OrtRunner(result.output.path) as cand:
        expected, got = ref.infer({"counts": counts}), cand.infer({"counts": counts})
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and np.array_equal(got[name], value), name
    assert got["running_total"][0, -1] == 4097 + 5001 + 2049 + 3 + 5999


def _graph_after_conversion(path: Path) -> Path:
    """The shape of graph the converter leaves: FP16 cast chains between FP32 nodes, ending at an output,
    and from an int32 input (whose FP16 cast also feeds an FP16 node)."""
    from onnx import helper, numpy_helper

    from compile.models.spec import InputSpec

    def cast(src: str, dst: str, to: int) -> onnx.NodeProto:
        return helper.make_node("Cast", [src], [dst], to=to, name=f"cast_{dst}")

    fp16, fp32 = TensorProto.FLOAT16, TensorProto.FLOAT
    nodes = [helper.make_node("Softmax", ["x"], ["s"], axis=1, name="softmax"), cast("s", "s16", fp16), cast("s16", "s32", fp32),
             helper.make_node("Exp", ["s32"], ["e"], name="exp"), cast("e", "e16", fp16), cast("e16", "out", fp32),
             cast("k", "k16", fp16), cast("k16", "k32", fp32), helper.make_node("CumSum", ["k32", "axis"], ["ksum"], name="cumsum"),
             helper.make_node("Mul", ["k16", "k16"], ["sq16"], name="square"), cast("sq16", "sq", fp32)]
    inputs = [helper.make_tensor_value_info("x", fp32, ["batch", 3]), helper.make_tensor_value_info("k", TensorProto.INT32, ["batch", 3])]
    outputs = [helper.make_tensor_value_info(name, fp32, ["batch", 3]) for name in ("out", "ksum", "sq")]
    specs = (InputSpec("x", ("batch", 3), "float32", -1.0, 1.0), InputSpec("k", ("batch", 3), "int32", 0, 40))
    return _save_model(path, nodes, inputs, outputs, specs, [numpy_helper.from_array(np.array(1, np.int64), "axis")])


def test_round_trips_go_and_integer_sources_keep_one_cast() -> None:
    import tempfile

    from compile.passes.cast_fp16 import remove_round_trip_casts

    with tempfile.TemporaryDirectory() as folder:
        path = _graph_after_conversion(Path(folder) / "converted.onnx")
        model = onnx.load(str(path))
        assert remove_round_trip_casts(model) == 2  # s16 and e16; k16 still feeds the FP16 Mul
        onnx.checker.check_model(model, full_check=True)
        producers = {out: n for n in model.graph.node for out in n.output}
        assert list(producers["out"].input) == ["s"] and producers["out"].op_type == "Exp"  # Exp writes the output
        assert list(producers["k32"].input) == ["k"] and producers["k32"].attribute[0].i == TensorProto.FLOAT
        assert list(producers["k16"].input) == ["k"] and "s16" not in producers and "e" not in producers
        onnx.save(model, str(path))
        x = np.array([[0.1, -0.7, 0.3], [2.0, 0.0, -1.0]], np.float32)
        k = np.array([[3000, 2049, 7], [1, 2, 3]], np.int32)
        with OrtRunner(path) as runner:
            got = runner.infer({"x": x, "k": k})
    softmax = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    np.testing.assert_allclose(got["out"], np.exp(softmax), rtol=1e-6)  # no FP16 rounding left (it would be ~5e-4)
    np.testing.assert_array_equal(got["ksum"], np.cumsum(k, axis=1).astype(np.float32))


def _masked_logits_model(path: Path) -> Path:
    """logits = x @ w, set to -inf where ``allowed`` is 0 (masked classes): -inf is the right output."""
    from onnx import helper, numpy_helper

    from compile.models.spec import InputSpec

    w = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["raw"], name="head"),
             helper.make_node("Equal", ["allowed", "zero"], ["masked"], name="is_masked"),
             helper.make_node("Where", ["masked", "neg_inf", "raw"], ["logits"], name="mask")]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array(-np.inf, np.float32), "neg_inf")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
              helper.make_tensor_value_info("allowed", TensorProto.INT64, ["batch", 5])]
    specs = (InputSpec("x", ("batch", 4), "float32", -1.0, 1.0), InputSpec("allowed", ("batch", 5), "int64", 0, 2))
    return _save_model(path, nodes, inputs, [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])], specs, inits)


def test_masked_logits_with_neg_inf_convert(tmp_path: Path) -> None:
    source = _masked_logits_model(tmp_path / "masked.onnx")
    result = run_precision_pass(CastFp16Pass(size=8), source, tmp_path, "fp16")
    feeds = {"x": np.full((2, 4), 0.5, np.float32), "allowed": np.array([[0, 1, 1, 0, 1], [1, 1, 1, 1, 0]], np.int64)}
    with OrtRunner(source) as ref, OrtRunner(result.output.path) as cand:
        expected, got = ref.infer(feeds)["logits"], cand.infer(feeds)["logits"]
    assert np.array_equal(np.isneginf(got), feeds["allowed"] == 0)
    np.testing.assert_allclose(got[feeds["allowed"] == 1], expected[feeds["allowed"] == 1], rtol=1e-2, atol=1e-2)


def test_fp16_overflow_and_changed_dtypes_are_refused(tmp_path: Path) -> None:
    """The check after conversion compares with the FP32 graph: NaN/inf it does not have, or another dtype, fail."""
    from onnx import helper, numpy_helper

    from compile.errors import PassError
    from compile.models.spec import InputSpec
    from compile.onnx_io import read_model_info
    from compile.passes.cast_fp16 import _check_runs

    specs = (InputSpec("x", ("batch", 4), "float32", -2.0, 2.0),)
    x_in = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])]
    y_out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])]
    consts = [numpy_helper.from_array(np.array(9e4, np.float32), "big"), numpy_helper.from_array(np.array(1 / 9e4, np.float32), "small")]
    source = _save_model(tmp_path / "fp32.onnx", [helper.make_node("Mul", ["x", "big"], ["a"]), helper.make_node("Mul", ["a", "small"], ["y"])],
                         x_in, y_out, specs, consts)
    chain16 = [helper.make_node("Mul", ["x", "big"], ["a"]), helper.make_node("Cast", ["a"], ["a16"], to=TensorProto.FLOAT16),
               helper.make_node("Cast", ["a16"], ["b"], to=TensorProto.FLOAT), helper.make_node("Mul", ["b", "small"], ["y"])]
    overflow = _save_model(tmp_path / "fp16.onnx", chain16, x_in, y_out, specs, consts)  # |x| > 0.73 overflows FP16
    info = read_model_info(source)
    with pytest.raises(PassError, match=r"NaN/inf where the FP32 graph does not: y: \d+ positions? disagrees? on NaN/inf "
                                        r"\(\d+ non-finite only in the candidate\)"):
        _check_runs(source, overflow, info)
    as_int = [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT32)]
    int_out = [helper.make_tensor_value_info("y", TensorProto.INT32, ["batch", 4])]
    as_long = [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64)]
    long_out = [helper.make_tensor_value_info("y", TensorProto.INT64, ["batch", 4])]
    with pytest.raises(PassError, match=r"changes output dtypes: y \(int64 -> int32\)"):
        _check_runs(_save_model(tmp_path / "long.onnx", as_long, x_in, long_out, specs),
                    _save_model(tmp_path / "int.onnx", as_int, x_in, int_out, specs), info)
