"""One report schema for every command that writes report.json (run, --precision best, validate, matrix jobs),
published as a JSON Schema that those reports validate against, and no terminal escape sequences in anything a
report carries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "docs" / "report.schema.json"

#: The README's *Report* table: what every report.json holds. Written out here, not imported, so the test
#: checks the documented schema rather than the code's idea of it.
DOCUMENTED = {"schema_version", "tool_version", "created", "model", "model_source", "weights", "profile", "backend",
              "precision", "sparsity", "passed", "artifacts", "artifact_sha256", "inputs", "preprocessing", "accuracy",
              "latency", "machine", "metrics", "gates", "stages", "reused_stages", "warnings"}
GATE_FIELDS = {"name", "metric", "threshold", "value", "passed", "skipped", "reason", "verdict"}


@pytest.fixture
def fast_profile(tmp_path: Path) -> Path:
    from compile.profiles import profiles_dir

    text = (profiles_dir() / "cpu.toml").read_text()
    text = re.sub(r'^name = "cpu"', 'name = "fast"', text, count=1, flags=re.M)
    text = re.sub(r"^batch_sizes = .*$", "batch_sizes = [1]", text, count=1, flags=re.M)
    for key, value in (("iterations", 3), ("warmup", 1), ("repeats", 1), ("samples", 8), ("size", 8)):
        text, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert count == 1, key
    path = tmp_path / "fast.toml"
    path.write_text(text)
    return path


def check_schema(report_path: Path, onnx_required: bool = True) -> dict:  # type: ignore[type-arg]
    report = json.loads(report_path.read_text())
    jsonschema.Draft202012Validator(json.loads(PUBLISHED.read_text())).validate(report)
    assert DOCUMENTED <= set(report), f"{report_path}: missing {sorted(DOCUMENTED - set(report))}"
    assert {"onnx", "final"} <= set(report["artifacts"]), report["artifacts"]
    root = report_path.parent
    for name in ("onnx", "final"):
        path = report["artifacts"][name]
        if path is None:
            assert name == "onnx" and not onnx_required
            continue
        assert (Path(path) if Path(path).is_absolute() else root / path).is_file(), (name, path)
        assert name in report["artifact_sha256"]
    for gate in report["gates"]:
        assert GATE_FIELDS <= set(gate)
    assert isinstance(report["metrics"], dict) and isinstance(report["warnings"], list)
    return report


def test_published_schema_is_current_and_printed_by_compile_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/report.schema.json is what `compile schema` prints (regenerate: `compile schema > docs/report.schema.json`)."""
    from compile.report.schema import report_json_schema

    published = json.loads(PUBLISHED.read_text())
    assert published == report_json_schema()
    assert run_cli(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == published
    jsonschema.Draft202012Validator.check_schema(published)
    assert DOCUMENTED <= set(published["required"])
    gate = published["$defs"]["GateResult"]["properties"]
    assert gate["verdict"]["enum"] == ["pass", "fail", "skipped", "inconclusive"] and "detail" in gate


def test_a_report_that_breaks_the_schema_is_refused() -> None:
    """The published schema is not a formality: a report without a core field, with a gate verdict outside the
    four, or without artifacts.final does not validate."""
    validator = jsonschema.Draft202012Validator(json.loads(PUBLISHED.read_text()))
    from tests.helpers import make_report

    good = make_report(gates=[{"name": "min_x", "metric": "x", "threshold": 1.0, "value": 2.0, "passed": True}]).to_dict()
    validator.validate(good)
    assert good["gates"][0]["verdict"] == "pass" and "detail" not in good["gates"][0]
    for broken in ({k: v for k, v in good.items() if k != "passed"},
                   {**good, "gates": [{**good["gates"][0], "verdict": "maybe"}]},
                   {**good, "artifacts": {"onnx": None}}):
        assert not validator.is_valid(broken)


def test_every_command_writes_the_documented_schema(tiny_onnx: Path, fast_profile: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    profile = str(fast_profile)
    run = tmp_path / "run"
    assert run_cli(["run", str(tiny_onnx), "--profile", profile, "--out", str(run), "-q"]) == 0
    check_schema(run / "report.json")

    # --precision best: the chosen candidate's figures and artifacts, relative to the best run's folder.
    best = tmp_path / "best"
    assert run_cli(["run", str(tiny_onnx), "--profile", profile, "--precision", "best", "--out", str(best), "-q",
                   "--gate", "min_top1_agreement=0", "--gate", "min_cosine_similarity=0.9"]) == 0
    report = check_schema(best / "report.json")
    assert report["precision"] == "best" and report["chosen"] == report["figures_from"]
    assert report["artifacts"]["final"].startswith(f"candidates/{report['chosen']}/")
    assert report["accuracy"]["samples"] == 8 and "p50_ms" in report["metrics"]
    assert (best / "report.md").read_text().count("## Candidates") == 1

    # compile validate, standalone (the run's final artifact against its FP32 ONNX) and as a pipeline.
    standalone = tmp_path / "standalone"
    assert run_cli(["validate", "--candidate", str(run), "--profile", profile, "--out", str(standalone), "-q"]) == 0
    report = check_schema(standalone / "report.json")
    assert report["artifacts"]["onnx"] == str((run / "model.simplified.onnx").resolve())
    piped = tmp_path / "piped"
    assert run_cli(["validate", str(tiny_onnx), "--profile", profile, "--out", str(piped), "-q"]) == 0
    check_schema(piped / "report.json")

    # A matrix job's report.
    from compile.matrix import MatrixSettings, make_plan, run_matrix

    out = tmp_path / "matrix"
    run_matrix(make_plan(MatrixSettings(models=(str(tiny_onnx),), profiles=(profile,), out=out, jobs=1)), log=lambda line: None)
    job = json.loads((out / "matrix.json").read_text())["jobs"][0]
    check_schema(out / job["report"])


def test_terminal_escape_sequences_never_reach_a_report(tiny_onnx: Path, fast_profile: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A library message with colours (as exporters and ONNX Runtime print them) becomes plain text everywhere."""
    from compile.passes.base import PassResult
    from compile.passes.build_ort import BuildOrtPass
    from compile.report.schema import strip_ansi

    assert strip_ansi("\x1b[1;33mWarning:\x1b[0m x \x1b]8;;https://e.x\x1b\\link\x1b]8;;\x1b\\ \x1b(Bdone") == "Warning: x link done"
    original = BuildOrtPass.run

    def coloured(self, inputs, ctx) -> PassResult:  # type: ignore[no-untyped-def]
        result = original(self, inputs, ctx)
        result.warnings.append("\x1b[33mslow kernel\x1b[0m for \x1b[1mConv\x1b[22m")
        return result

    monkeypatch.setattr(BuildOrtPass, "run", coloured)
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    junit = tmp_path / "gates.xml"
    assert run_cli(["run", str(tiny_onnx), "--profile", str(fast_profile), "--out", str(out), "-q", "--junit", str(junit)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert "slow kernel for Conv" in report["warnings"]
    stage = next(s for s in report["stages"] if s["name"] == "build-ort")
    assert stage["warnings"] == ["slow kernel for Conv"]
    for name in ("report.json", "report.md", "report.html"):
        assert "\x1b" not in (out / name).read_text(), name
    assert "\x1b" not in junit.read_text()
