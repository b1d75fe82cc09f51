"""``compile validate`` as CI uses it: exit codes 0/1/2, JUnit and Markdown outputs, baseline regression."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import invoke, make_tiny_classifier


def _images(folder: Path, count: int, labels: list[int] | None = None) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    if labels is not None:
        rows = ["file,label"] + [f"img{i}.png,{label}" for i, label in enumerate(labels)]
        (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture
def models(tmp_path: Path) -> dict[str, Path]:
    return {"ref": make_tiny_classifier(tmp_path / "ref.onnx"),
            "other": make_tiny_classifier(tmp_path / "other.onnx", seed=5),
            "wide": make_tiny_classifier(tmp_path / "wide.onnx", classes=12)}


def _base(models: dict[str, Path], data: Path, candidate: str = "ref") -> list[str]:
    return ["validate", "--reference", str(models["ref"]), "--candidate", str(models[candidate]), "--data", str(data),
            "--samples", "8", "--profile", "cpu", "--quiet"]


def test_identical_candidate_passes_and_writes_ci_files(models: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = _images(tmp_path / "data", 8, [0, 1, 2, 3, 4, 5, 6, 7])
    junit, summary = tmp_path / "ci" / "gates.xml", tmp_path / "ci" / "summary.md"
    code, out, err = invoke(_base(models, data) + ["--junit", str(junit), "--summary", str(summary), "--out", str(tmp_path / "v")], capsys)
    assert code == 0, err
    assert out.startswith("PASSED")
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    assert report["metrics"]["top1_agreement"] == 1.0 and report["metrics"]["top1_drop"] == 0.0
    assert (tmp_path / "v" / "report.html").read_text().count("<svg") == 0  # no latency measured, no plot
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"min_top1_agreement", "min_cosine_similarity", "max_top1_drop"}
    assert suite.get("failures") == "0"
    text = summary.read_text()
    assert "PASSED" in text and "top-1 drop (points)" in text and "95% CI" in text


def test_failed_gate_exits_1_with_value_and_threshold_in_junit(models: dict[str, Path], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = _images(tmp_path / "data", 8)
    junit = tmp_path / "gates.xml"
    code, out, _ = invoke(_base(models, data) + ["--gate", "min_cosine_similarity=1.5", "--junit", str(junit)], capsys)
    assert code == 1 and out.startswith("FAILED")
    failure = ET.parse(junit).getroot().find(".//testcase[@name='min_cosine_similarity']/failure")
    assert failure is not None
    assert failure.get("message") == "cosine_similarity = 1, needs >= 1.5 (min_cosine_similarity)"


def test_different_model_fails_agreement_gate(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _images(tmp_path / "data", 8)
    code, _, err = invoke(_base(models, data, "other") + ["--gate", "min_top1_agreement_lcb=0.9"], capsys)
    assert code == 1, err


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("wide", "output 'logits': reference shape (4, 10) vs candidate (4, 12)"),
        ("renamed", "reference and candidate outputs differ"),
        ("empty", "holds no images"),
        ("missing_image", "names ghost.png, which does not exist"),
        ("label_range", "go up to 50, but the model has 10 classes"),
        ("no_candidate", "nothing to validate"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(setup: str, message: str, models: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = _images(tmp_path / "data", 4)
    argv = _base(models, data)
    if setup == "wide":
        argv = _base(models, data, "wide")
    elif setup == "renamed":
        import onnx

        model = onnx.load(str(models["ref"]))
        model.graph.node[-1].output[0] = "scores"
        model.graph.output[0].name = "scores"
        onnx.save(model, str(tmp_path / "renamed.onnx"))
        argv[argv.index("--candidate") + 1] = str(tmp_path / "renamed.onnx")
    elif setup == "empty":
        (tmp_path / "empty").mkdir()
        argv[argv.index("--data") + 1] = str(tmp_path / "empty")
    elif setup == "missing_image":
        (data / "labels.csv").write_text("file,label\nimg0.png,1\nghost.png,2\n")
    elif setup == "label_range":
        (data / "labels.csv").write_text("file,label\nimg0.png,1\nimg1.png,50\n")
    elif setup == "no_candidate":
        argv = ["validate", "--quiet"]
    code, _, err = invoke(argv, capsys)
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_baseline_regression_gates(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _images(tmp_path / "data", 8)
    baseline = tmp_path / "base"
    baseline.mkdir()
    (baseline / "report.json").write_text(json.dumps({"metrics": {"top1_agreement": 1.0, "p50_ms": 1e-4}}))
    summary = tmp_path / "s.md"
    code, _, err = invoke(_base(models, data) + ["--baseline", str(baseline), "--summary", str(summary), "--out", str(tmp_path / "v")], capsys)
    assert code == 1, err
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    gates = {g["name"]: g for g in report["gates"]}
    assert gates["max_accuracy_regression"]["passed"] and gates["max_accuracy_regression"]["value"] == 0.0
    assert not gates["max_latency_regression_pct"]["passed"] and gates["max_latency_regression_pct"]["threshold"] == 10.0
    assert report["latency"]["per_batch"][0]["batch"] == 1 and "p99_ms_b8" in report["metrics"]
    assert "`max_latency_regression_pct`" in summary.read_text()
    assert "<svg" in (tmp_path / "v" / "report.html").read_text()
    # Allowing a huge regression on the command line lets the same comparison pass.
    code, _, err = invoke(_base(models, data) + ["--baseline", str(baseline), "--max-latency-regression-pct", "1e12"], capsys)
    assert code == 0, err


def test_candidate_run_directory_uses_its_onnx_as_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    make_tiny_classifier(run / "model.onnx")
    make_tiny_classifier(run / "model.ort.onnx")
    (run / "report.json").write_text(json.dumps({"artifacts": {"onnx": "model.onnx", "final": "model.ort.onnx"}, "metrics": {}}))
    data = _images(tmp_path / "data", 4)
    code, out, err = invoke(["validate", "--candidate", str(run), "--data", str(data), "--samples", "4", "--quiet"], capsys)
    assert code == 0, err


def test_run_and_pipeline_validate_write_ci_files(tiny_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit, summary = tmp_path / "run.xml", tmp_path / "run.md"
    code, out, err = invoke(["run", str(tiny_onnx), "--out", str(tmp_path / "run"), "--quiet", "--junit", str(junit),
                             "--summary", str(summary), "--gate", "max_p99_ms=0.000001"], capsys)
    assert code == 1, err
    failure = ET.parse(junit).getroot().find(".//testcase[@name='max_p99_ms']/failure")
    assert failure is not None and "needs <= 1e-06 (max_p99_ms)" in (failure.get("message") or "")
    assert "FAILED" in summary.read_text() and (tmp_path / "run" / "report.html").is_file()
    # ``compile validate MODEL`` reuses the run's stages and compares with the stored run as a baseline.
    code, out, err = invoke(["validate", str(tiny_onnx), "--out", str(tmp_path / "run"), "--quiet",
                             "--baseline", str(tmp_path / "run"), "--max-latency-regression-pct", "1e9"], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    names = [g["name"] for g in report["gates"]]
    assert "max_accuracy_regression" in names and "max_latency_regression_pct" in names
    assert report["metrics"]["accuracy_regression"] == 0.0


def test_standalone_validation_runs_the_validate_and_benchmark_passes(models: dict[str, Path], tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """No second copy of validation: the pipeline's own passes run, with the options the profile gives them."""
    from compile.passes.benchmark import BenchmarkPass
    from compile.passes.validate import ValidatePass

    ran: dict[str, dict[str, object]] = {}
    for cls in (ValidatePass, BenchmarkPass):
        real = cls.run

        def spy(self, inputs, ctx, real=real):  # type: ignore[no-untyped-def]
            ran[self.name] = self.options.model_dump()
            return real(self, inputs, ctx)

        monkeypatch.setattr(cls, "run", spy)
    data = _images(tmp_path / "data", 6)
    code, _, err = invoke(_base(models, data) + ["--benchmark", "--seed", "3", "--out", str(tmp_path / "v")], capsys)
    assert code == 0, err
    assert set(ran) == {"validate", "benchmark"}
    assert ran["validate"]["samples"] == 8 and ran["validate"]["seed"] == 3  # --samples, --seed reach its options
    assert ran["benchmark"]["batch_sizes"] == [1, 8]  # the cpu profile's
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    assert report["kind"] == "validate" and report["accuracy"]["candidate"] == f"ONNX file {models['ref'].name}"
    assert "p50_ms" in report["metrics"] and report["stages"] == []


def test_a_missing_baseline_is_refused_before_any_stage_runs(tiny_onnx: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The pipeline form judges the baseline inside the run: a missing one stops it before it compiles anything."""
    out = tmp_path / "run"
    code, _, err = invoke(["validate", str(tiny_onnx), "--out", str(out), "--quiet", "--baseline", str(tmp_path / "nope")], capsys)
    assert code == 2 and "baseline report not found" in err
    assert not (out / "report.json").exists() and not list(out.glob(".stages/*.json"))
