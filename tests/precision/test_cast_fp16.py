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
