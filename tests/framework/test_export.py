"""Export and simplify on tiny models: parity with PyTorch, dynamic batch, model info in the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compile.artifacts import TorchModel
from compile.models.registry import resolve_model
from compile.passes.base import PassContext
from compile.passes.export import ExportPass
from compile.passes.simplify import SimplifyPass
from compile.profiles import load_profile
from compile.settings import RunSettings


def _ctx(tmp_path: Path, model: str) -> PassContext:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return PassContext(RunSettings(model=model), load_profile("cpu"), tmp_path, work, {})


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_export_tiny_cnn_matches_pytorch_at_any_batch(tmp_path: Path, exporter: str) -> None:
    import onnxruntime as ort
    import torch

    from compile.models.registry import load_torch_model
    from compile.onnx_io import read_model_info

    source = resolve_model("tiny_cnn")
    assert isinstance(source, TorchModel)
    result = ExportPass(exporter=exporter, fallback=False).run({"torch": source}, _ctx(tmp_path, "tiny_cnn"))
    assert result.record["exporter"] == exporter
    assert result.record["parity_max_rel_error"] < 1e-4
    path = result.output.path  # type: ignore[union-attr]
    info = read_model_info(path)
    assert info.inputs[0].name == "input" and info.preprocessing is not None and info.preprocessing.crop == 32
    module = load_torch_model(source).module
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(5, 3, 32, 32)).astype(np.float32)
    (ours,) = session.run(None, {"input": x})
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    assert ours.shape == (5, 10)
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=1e-4)


def test_export_transformer_with_token_ids(tmp_path: Path) -> None:
    import onnx

    source = resolve_model("tiny_transformer")
    result = ExportPass(exporter="torchscript").run({"torch": source}, _ctx(tmp_path, "tiny_transformer"))
    model = onnx.load(str(result.output.path))  # type: ignore[union-attr]
    (graph_input,) = model.graph.input
    assert graph_input.name == "token_ids"
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert graph_input.type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    assert result.record["parity_max_rel_error"] < 1e-3


def test_export_falls_back_when_the_first_exporter_disagrees(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from compile.passes import export as export_module

    real = export_module._parity_error
    calls: list[str] = []

    def parity(loaded, info, path, batch):  # type: ignore[no-untyped-def]
        calls.append(path.name)
        return 1.0 if len(calls) == 1 else real(loaded, info, path, batch)

    monkeypatch.setattr(export_module, "_parity_error", parity)
    result = ExportPass(exporter="torchscript", fallback=True).run({"torch": resolve_model("tiny_cnn")}, _ctx(tmp_path, "tiny_cnn"))
    assert result.record["exporter"] == "dynamo"
    assert any("fell back to the dynamo exporter" in w for w in result.warnings)


def test_export_fails_clearly_when_no_exporter_matches(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from compile.errors import PassError
    from compile.passes import export as export_module

    monkeypatch.setattr(export_module, "_parity_error", lambda loaded, info, path, batch: 0.5)
    with pytest.raises(PassError, match="no exporter produced a graph that matches PyTorch"):
        ExportPass(exporter="torchscript").run({"torch": resolve_model("tiny_cnn")}, _ctx(tmp_path, "tiny_cnn"))


def test_simplify_folds_constants_and_keeps_outputs(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from compile.artifacts import OnnxModel

    # x * (2 + 3) with the constant sum unfolded, plus an Identity: simplify must fold and drop both.
    two = numpy_helper.from_array(np.full((1,), 2.0, np.float32), "two")
    three = numpy_helper.from_array(np.full((1,), 3.0, np.float32), "three")
    nodes = [
        helper.make_node("Add", ["two", "three"], ["five"]),
        helper.make_node("Identity", ["x"], ["x_id"]),
        helper.make_node("Mul", ["x_id", "five"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [two, three])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "in.onnx"
    onnx.save(model, str(path))
    result = SimplifyPass().run({"onnx": OnnxModel(path=path)}, _ctx(tmp_path, str(path)))
    assert result.record["nodes_before"] == 3
    assert result.record["nodes_after"] == 1
    assert result.record["max_rel_change"] == 0.0
    assert result.modified
