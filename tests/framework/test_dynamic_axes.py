"""Dynamic axes other than the batch: a transformer-like encoder declared with ("batch", "sequence") keeps a
symbolic sequence axis in the ONNX graph, and every stage runs at the declared (or profile) sequence size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compile.drivers.options import resolve_options
from compile.errors import UserInputError
from compile.models.registry import resolve_model
from compile.passes.base import PassContext
from compile.passes.export import ExportPass
from compile.profiles import Profile, load_profile
from compile.settings import RunSettings
from tests.framework.output_models import SEQUENCE, fast_profile

MODELS = "tests.framework.output_models"


def _export(tmp_path: Path, factory: str, exporter: str = "dynamo", profile: Profile | None = None):  # type: ignore[no-untyped-def]
    model = f"{MODELS}:{factory}"
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    profile = profile or load_profile("cpu")
    settings = RunSettings(model=model)
    ctx = PassContext(settings, profile, tmp_path, work, {})
    # The profile's [shapes.inputs] reach the pass as its options, as the pipeline gives them.
    options = resolve_options("export", {"exporter": exporter, "fallback": False}, profile, settings)
    return ExportPass(**options).run({"torch": resolve_model(model)}, ctx)


def _feeds(batch: int, sequence: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(sequence)
    mask = np.ones((batch, sequence), np.int64)
    mask[:, sequence // 2:] = rng.integers(0, 2, (batch, sequence - sequence // 2))
    return {"ids": rng.integers(0, 50, (batch, sequence)).astype(np.int64), "mask": mask}


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_sequence_axis_stays_symbolic_and_runs_at_any_length(tmp_path: Path, exporter: str) -> None:
    import onnx
    import onnxruntime as ort
    import torch

    from compile.models.registry import load_torch_model
    from compile.onnx_io import read_model_info

    result = _export(tmp_path, "encoder", exporter)
    path = result.output.path  # type: ignore[union-attr]
    graph = onnx.load(str(path)).graph
    for value in graph.input:
        assert [d.dim_param for d in value.type.tensor_type.shape.dim] == ["batch", "sequence"], value.name
    # The size used, where it came from, and the sizes every later stage reads from the graph's model info.
    assert result.record["input_shapes"] == {"ids": [1, SEQUENCE], "mask": [1, SEQUENCE]}
    assert result.record["dynamic_sizes"] == {"sequence": f"{SEQUENCE} (declared with the model)"}
    info = read_model_info(path)
    assert [spec.concrete_shape(4) for spec in info.inputs] == [(4, SEQUENCE), (4, SEQUENCE)]

    module = load_torch_model(resolve_model(f"{MODELS}:encoder")).module  # type: ignore[arg-type]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, sequence in [(1, 3), (5, 20), (2, SEQUENCE)]:
        feeds = _feeds(batch, sequence)
        got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
        with torch.no_grad():
            ref = module(*(torch.from_numpy(feeds[n]) for n in ("ids", "mask")))
        assert got["hidden"].shape == (batch, sequence, 16)
        np.testing.assert_allclose(got["hidden"], ref["hidden"].numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got["logits"], ref["logits"].numpy(), rtol=1e-4, atol=1e-4)


def test_an_axis_without_a_size_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"input 'ids' axis 1 \('sequence'\) is dynamic and its size is unknown: "
                                             r"declare it in the model factory .*\[shapes.inputs.ids\]"):
        _export(tmp_path, "encoder_without_size")


def test_profile_shapes_give_the_size_when_the_factory_declares_none(tmp_path: Path) -> None:
    profile = fast_profile(ids={"min": [1, 1], "opt": [1, 24], "max": [8, 64]},
                           mask={"min": [1, 1], "opt": [1, 24], "max": [8, 64]})
    result = _export(tmp_path, "encoder_without_size", profile=profile)
    assert result.record["input_shapes"] == {"ids": [1, 24], "mask": [1, 24]}
    assert result.record["dynamic_sizes"] == {"sequence": "24 (profile [shapes.inputs.ids] opt)"}
    mismatched = fast_profile(ids={"min": [1, 1], "opt": [1, 24], "max": [8, 64]},
                              mask={"min": [1, 1], "opt": [1, 16], "max": [8, 64]})
    with pytest.raises(UserInputError, match="inputs sharing an axis name need one size"):
        _export(tmp_path, "encoder_without_size", profile=mismatched)


def test_validation_and_benchmark_run_at_the_profile_sequence_size(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The whole pipeline (the profile's opt size overrides the factory's): every feed any runner sees
    (validation, benchmark) has sequence 20, none has 1; the report records the size."""
    import json

    from compile.backends.base import Runner
    from compile.drivers.pipeline import Pipeline

    seen: list[tuple[int, ...]] = []
    real_infer = Runner.infer

    def spy(self, feed):  # type: ignore[no-untyped-def]
        seen.extend(tuple(array.shape) for array in feed.values())
        return real_infer(self, feed)

    monkeypatch.setattr(Runner, "infer", spy)
    profile = fast_profile(ids={"min": [1, 1], "opt": [1, 20], "max": [8, 64]},
                           mask={"min": [1, 1], "opt": [1, 20], "max": [8, 64]})
    settings = RunSettings(model=f"{MODELS}:encoder", profile="cpu", out=tmp_path / "run", progress=False)
    result = Pipeline(settings, profile=profile, log=lambda _: None).run()
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["passed"] is True
    assert [spec["sizes"] for spec in report["inputs"]] == [{"sequence": 20}, {"sequence": 20}]
    assert set(report["accuracy"]["outputs"]) == {"hidden", "logits"}
    batches = {shape[0] for shape in seen}
    assert {1, 2} <= batches  # the benchmark's batch sizes ran
    assert seen and all(shape[1] == 20 for shape in seen)


def _token_onnx(path: Path) -> Path:
    """x[batch, sequence, 4] -> ReduceMean over the sequence -> Gemm -> y[batch, 2] (an ONNX source)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32), "w")
    nodes = [helper.make_node("ReduceMean", ["x"], ["pooled"], axes=[1], keepdims=0),
             helper.make_node("Gemm", ["pooled", "w"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "tokens", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_source_runs_at_the_profile_size_or_stops_clearly(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from compile.backends.base import Runner
    from compile.drivers.pipeline import Pipeline

    source = _token_onnx(tmp_path / "tokens.onnx")
    settings = RunSettings(model=str(source), profile="cpu", out=tmp_path / "bare", progress=False)
    with pytest.raises(UserInputError, match=r"input 'x' axis 1 \('sequence'\) is dynamic and its size is unknown"):
        Pipeline(settings, profile=fast_profile(), log=lambda _: None).run()

    seen: list[tuple[int, ...]] = []
    real_infer = Runner.infer

    def spy(self, feed):  # type: ignore[no-untyped-def]
        seen.extend(tuple(array.shape) for array in feed.values())
        return real_infer(self, feed)

    monkeypatch.setattr(Runner, "infer", spy)
    settings = RunSettings(model=str(source), profile="cpu", out=tmp_path / "sized", progress=False)
    profile = fast_profile(x={"min": [1, 1, 4], "opt": [1, 10, 4], "max": [8, 32, 4]})
    result = Pipeline(settings, profile=profile, log=lambda _: None).run()
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["passed"] is True and report["inputs"][0]["sizes"] == {"sequence": 10}
    assert seen and all(shape[1] == 10 for shape in seen) and {1, 2} <= {shape[0] for shape in seen}
