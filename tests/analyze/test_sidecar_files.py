"""A file that merely sits beside a model is never taken for the tool's own sidecar: sidecars are named
``<artifact>.compile.json``, and anything else (or an unreadable one) is passed over with one warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compile.artifacts import RuntimeArtifact, find_sidecar, sidecar_name
from compile.errors import UserInputError
from tests.helpers import make_tiny_classifier

ORT_SIDECAR = {"backend": "onnxruntime", "onnxruntime_version": "1.20.0", "optimization": "all",
               "load_optimization": "disable", "providers": ["CPUExecutionProvider"], "isa": None}


@pytest.mark.parametrize("content", ["labels: cat, dog\n", '["cat", "dog"]', '{"classes": ["cat", "dog"]}'])
def test_analyze_with_an_unrelated_json_beside_the_model(tmp_path: Path, content: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    model = make_tiny_classifier(tmp_path / "m.onnx")
    (tmp_path / "m.json").write_text(content)
    main(["analyze", str(model), "--json"])  # a traceback or an error exit would raise here
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "ignoring m.json beside m.onnx" in warnings[0]
    assert json.loads(out)["totals"]["macs"] > 0


def test_resolve_reads_the_sidecar_by_its_own_name(tmp_path: Path) -> None:
    from compile.analyze.api import resolve_model_file

    model = make_tiny_classifier(tmp_path / "model.ort.onnx")
    (tmp_path / sidecar_name("model.ort.onnx")).write_text(json.dumps({**ORT_SIDECAR, "load_optimization": "basic"}))
    (tmp_path / "model.ort.json").write_text("not json")  # a user's file with the old sidecar name
    lines: list[str] = []
    assert resolve_model_file(model, lines.append) == (model, "basic")
    assert lines == []  # the real sidecar was found first: the other file is not even read


def test_old_run_directories_are_still_read(tmp_path: Path) -> None:
    model = make_tiny_classifier(tmp_path / "model.ort.onnx")
    (tmp_path / "model.ort.json").write_text(json.dumps(ORT_SIDECAR))
    found = find_sidecar(model)
    assert found.path == tmp_path / "model.ort.json" and found.data["optimization"] == "all" and found.warnings == ()
    engine = tmp_path / "model.plan"
    engine.write_bytes(b"engine")
    (tmp_path / "model.plan.json").write_text(json.dumps({"schema": 1, "runtime": "tensorrt", "bindings": []}))
    assert find_sidecar(engine).path == tmp_path / "model.plan.json"
    ir = tmp_path / "model.ov.xml"
    ir.write_text("<net/>")
    (tmp_path / "model.ov.json").write_text(json.dumps({"backend": "openvino", "openvino_version": "2025.1",
                                                         "source_onnx_sha256": "a" * 64}))
    assert find_sidecar(ir).path == tmp_path / "model.ov.json"


def test_unreadable_sidecar_is_a_warning_and_counts_as_none(tmp_path: Path) -> None:
    model = make_tiny_classifier(tmp_path / "net.onnx")
    (tmp_path / "net.onnx.compile.json").write_text('{"backend": "onnx')
    found = find_sidecar(model)
    assert found.path is None and found.data == {}
    assert len(found.warnings) == 1 and "net.onnx.compile.json" in found.warnings[0] and "not valid JSON" in found.warnings[0]


def test_a_named_sidecar_that_cannot_be_read_is_one_clear_error(tmp_path: Path) -> None:
    model = make_tiny_classifier(tmp_path / "model.ort.onnx")
    sidecar = tmp_path / sidecar_name(model.name)
    sidecar.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(UserInputError, match="sidecar .*model.ort.onnx.compile.json of model.ort.onnx cannot be read"):
        RuntimeArtifact(path=model, backend="onnxruntime", sidecar=sidecar).read_sidecar()


def test_validate_candidate_beside_an_unrelated_json(tmp_path: Path) -> None:
    from compile.drivers.standalone import resolve_candidate

    model = make_tiny_classifier(tmp_path / "m.onnx")
    (tmp_path / "m.json").write_text("{not json")
    candidate = resolve_candidate(str(model))
    # A plain ONNX file (ONNX Runtime optimises it at load), not an artifact described by m.json.
    assert candidate.description == "ONNX file m.onnx"
    assert candidate.artifact.read_sidecar()["load_optimization"] == "extended"
    assert len(candidate.warnings) == 1 and "ignoring m.json beside m.onnx" in candidate.warnings[0]


def test_build_ort_writes_its_sidecar_under_the_new_name(tiny_onnx: Path, tmp_path: Path) -> None:
    from compile.artifacts import OnnxModel
    from compile.passes.base import PassContext
    from compile.passes.build_ort import BuildOrtPass
    from compile.profiles import load_profile
    from compile.settings import RunSettings

    ctx = PassContext(RunSettings(model=str(tiny_onnx)), load_profile("cpu"), tmp_path, tmp_path, {})
    artifact = BuildOrtPass(optimization="extended").run({"onnx": OnnxModel(path=tiny_onnx)}, ctx).output
    assert isinstance(artifact, RuntimeArtifact) and artifact.sidecar == tmp_path / "model.ort.onnx.compile.json"
    assert find_sidecar(artifact.path).data == artifact.read_sidecar()
