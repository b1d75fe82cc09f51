"""INT8 of ONNX files below opset 13: upgraded first with ONNX's version converter, or refused before quantizing.

Per-channel DequantizeLinear (``axis``) needs opset 13; quantizing an older graph as it is writes a model
ONNX Runtime refuses to load (microsoft/onnxruntime#9197).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compile.profiles import Profile, parse_profile, profiles_dir
from compile.settings import RunSettings


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))


def old_opset_model(path: Path, opset: int) -> Path:
    """x[batch,3,16,16] -> Conv 3->8 -> Relu -> (opset < 10: Upsample x2) -> Conv 8->4 -> y, at ``opset``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.2, (8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.normal(0, 0.2, (4, 8, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu")]
    side = 16
    if opset < 10:  # the YOLOv3-era pattern: Upsample, deprecated from opset 10 on
        inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"))
        nodes.append(helper.make_node("Upsample", ["r1", "scales"], ["up"], mode="nearest", name="upsample"))
        side = 32
    nodes.append(helper.make_node("Conv", [nodes[-1].output[0], "w2", "b2"], ["y"], pads=[1, 1, 1, 1], name="conv2"))
    graph = helper.make_graph(nodes, "old", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, side, side])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 4 if opset < 10 else 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _profile() -> Profile:
    data: dict[str, Any] = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["validation"]["samples"] = 8
    data["passes"] = [entry for entry in data["passes"] if entry["name"] != "benchmark"]
    return parse_profile(data)


def _opset(model: Any) -> int:
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


@pytest.mark.parametrize("precision", ["int8", "mixed"])
@pytest.mark.parametrize("opset", [9, 12])
def test_old_opsets_are_upgraded_before_quantizing(tmp_path: Path, opset: int, precision: str) -> None:
    import onnx
    import onnxruntime as ort

    from compile.drivers.pipeline import Pipeline

    model = old_opset_model(tmp_path / f"opset{opset}.onnx", opset)
    settings = RunSettings(model=str(model), precision=precision, out=tmp_path / "run", calib_size=16, progress=False)
    report = Pipeline(settings, profile=_profile(), log=lambda _: None).run().report
    assert report["passed"], report["gates"]
    stage = "quantize-int8" if precision == "int8" else "mixed-precision"
    record = next(s["record"] for s in report["stages"] if s["name"] == stage)
    assert record["opset"] == {"from": opset, "to": 13}
    assert report["quantization" if precision == "int8" else "mixed_precision"]["opset"] == {"from": opset, "to": 13}
    quantized = onnx.load(str(tmp_path / "run" / report["artifacts"][stage]))
    assert _opset(quantized) == 13
    ops = [node.op_type for node in quantized.graph.node]
    if opset == 9:
        assert "Upsample" not in ops and "Resize" in ops
    if precision == "int8":  # per-channel weights: the axis attribute the old opsets lack
        axes = [a.i for n in quantized.graph.node if n.op_type == "DequantizeLinear" for a in n.attribute if a.name == "axis"]
        assert axes and record["quantized_ops"].get("Conv") == 2
    session = ort.InferenceSession(str(tmp_path / "run" / report["artifacts"]["final"]), providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": np.random.default_rng(1).random((2, 3, 16, 16), dtype=np.float32)})[0]
    assert out.shape == (2, 4, 32 if opset == 9 else 16, 32 if opset == 9 else 16) and np.isfinite(out).all()


def test_an_opset_13_model_is_not_converted(tmp_path: Path) -> None:
    from compile.passes.quantize_int8 import QuantizeInt8Pass
    from tests.precision.precision_models import run_precision_pass

    model = old_opset_model(tmp_path / "opset13.onnx", 13)
    result = run_precision_pass(QuantizeInt8Pass(size=8, batch_size=8), model, tmp_path, "int8")
    assert "opset" not in result.record and "opset" not in result.report["quantization"]


def test_an_opset_the_converter_cannot_upgrade_is_refused_before_quantizing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from onnx import version_converter

    from compile.cli.main import main

    def no_adapter(model: Any, target: int) -> Any:
        raise RuntimeError("/project/onnx/version_converter/BaseConverter.h:66: adapter_lookup: Assertion `false` "
                           "failed: No Adapter From Version $9 for Upsample")

    monkeypatch.setattr(version_converter, "convert_version", no_adapter)
    model = old_opset_model(tmp_path / "opset9.onnx", 9)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(model), "--profile", "cpu", "--precision", "int8", "--out", str(out), "--quiet"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert "opset 9" in err and "opset 13" in err and "No Adapter From Version $9 for Upsample" in err, err
    assert not list(out.glob("model.int8.onnx*")) and not list((out / ".stages").glob("*quantize*"))
