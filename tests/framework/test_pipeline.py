"""The driver on tiny ONNX models: stage order, caching, --force, atomic outputs, locking, plugins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compile.drivers.pipeline import Pipeline, run_dir_lock, select_until
from compile.errors import OutputError, ProfileError
from compile.profiles import load_profile
from compile.settings import RunSettings


def _settings(model: Path, out: Path, **kw) -> RunSettings:  # type: ignore[no-untyped-def]
    return RunSettings(model=str(model), profile="cpu", out=out, progress=False, **kw)


def _fast_profile():  # type: ignore[no-untyped-def]
    import tomllib

    from compile.profiles import parse_profile, profiles_dir

    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["benchmark"] = {"warmup": 1, "iterations": 3, "repeats": 2}
    data["shapes"]["batch_sizes"] = [1, 2]
    data["validation"] = {"samples": 8}
    return parse_profile(data, "fast-cpu")


def test_onnx_source_runs_end_to_end_and_second_run_reuses_everything(tiny_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    lines: list[str] = []
    first = Pipeline(_settings(tiny_onnx, out), profile=_fast_profile(), log=lines.append).run()
    report = first.report
    assert report["passed"] is True
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["export"]["skipped"] == "the model is already ONNX"
    assert not any(s["cached"] for s in report["stages"])
    assert report["artifacts"]["final"] == "model.ort.onnx"
    assert report["artifacts"]["onnx"] == "model.simplified.onnx" or report["artifacts"]["onnx"].endswith(".onnx")
    for name, rel in report["artifacts"].items():
        assert (out / rel).is_file() or Path(rel).is_file(), name
    assert report["accuracy"]["top1_agreement"] == 1.0
    assert report["accuracy"]["max_abs_error"] < 1e-4
    assert report["latency"]["batch"] == 1 and len(report["latency"]["per_batch"]) == 2
    assert report["latency"]["p50_ms"] > 0 and report["latency"]["p99_ms"] >= report["latency"]["p50_ms"]
    assert json.loads((out / "report.json").read_text())["passed"] is True
    assert (out / "report.md").read_text().startswith("# ")
    assert not list(out.glob(".work-*")), "work folders must be cleaned up"

    second = Pipeline(_settings(tiny_onnx, out), profile=_fast_profile(), log=lines.append).run()
    ran = [s for s in second.report["stages"] if not s.get("skipped")]
    assert ran and all(s["cached"] for s in ran)
    assert second.report["reused_stages"] == [s["name"] for s in ran]
    assert second.report["latency"]["p50_ms"] == report["latency"]["p50_ms"]

    forced = Pipeline(_settings(tiny_onnx, out, force=True), profile=_fast_profile(), log=lines.append).run()
    assert not any(s["cached"] for s in forced.report["stages"])


def test_changed_input_invalidates_downstream_stages(tiny_onnx: Path, tmp_path: Path) -> None:
    from tests.helpers import make_tiny_classifier

    out = tmp_path / "run"
    Pipeline(_settings(tiny_onnx, out), profile=_fast_profile(), log=lambda _: None).run()
    make_tiny_classifier(tiny_onnx, seed=7)
    again = Pipeline(_settings(tiny_onnx, out), profile=_fast_profile(), log=lambda _: None).run()
    assert not any(s["cached"] for s in again.report["stages"])


def test_tampered_output_is_rebuilt(tiny_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    Pipeline(_settings(tiny_onnx, out), profile=_fast_profile(), log=lambda _: None).run()
    (out / "model.ort.onnx").write_bytes(b"garbage")
    again = Pipeline(_settings(tiny_onnx, out), profile=_fast_profile(), log=lambda _: None).run()
    stages = {s["name"]: s for s in again.report["stages"]}
    assert stages["simplify"]["cached"] is True
    assert stages["build-ort"]["cached"] is False


def test_failed_stage_leaves_no_output_and_earlier_stages_intact(tiny_onnx: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from compile.errors import PassError
    from compile.passes.build_ort import BuildOrtPass

    def boom(self, inputs, ctx):  # type: ignore[no-untyped-def]
        ctx.output_path("model.ort.onnx").write_bytes(b"half written")
        raise PassError("simulated failure")

    monkeypatch.setattr(BuildOrtPass, "run", boom)
    out = tmp_path / "run"
    with pytest.raises(PassError, match="build-ort: simulated failure"):
        Pipeline(_settings(tiny_onnx, out), profile=_fast_profile(), log=lambda _: None).run()
    assert not (out / "model.ort.onnx").exists()
    assert (out / "model.simplified.onnx").is_file()
    assert not (out / "report.json").exists()
    records = sorted(p.name for p in (out / ".stages").iterdir())
    assert len(records) == 1 and records[0].endswith("-simplify.json")


def test_until_keeps_producing_passes_only(tiny_onnx: Path) -> None:
    from compile.drivers.pipeline import instantiate_passes

    profile = load_profile("cpu")
    passes = instantiate_passes(profile, RunSettings(model=str(tiny_onnx)))
    assert [p.name for p in select_until(passes, "benchmark", "cpu")][-2:] == ["build-ort", "benchmark"]
    assert "validate" not in [p.name for p in select_until(passes, "benchmark", "cpu")]
    with pytest.raises(ProfileError, match="has no 'package' stage"):
        select_until(passes, "package", "cpu")


def test_precision_not_allowed_by_profile_is_rejected(tiny_onnx: Path, tmp_path: Path) -> None:
    import tomllib

    from compile.profiles import parse_profile, profiles_dir

    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["precision"]["allowed"] = ["fp32"]
    profile = parse_profile(data, "fp32-only")
    with pytest.raises(ProfileError, match="does not allow precision 'int8'"):
        Pipeline(_settings(tiny_onnx, tmp_path / "r", precision="int8"), profile=profile)


def test_second_run_on_a_locked_run_dir_stops_clearly(tmp_path: Path) -> None:
    with run_dir_lock(tmp_path):
        with pytest.raises(OutputError, match="another compile run is using"):
            with run_dir_lock(tmp_path):
                pass


def test_plugin_passes_come_from_entry_points(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from compile.passes import registry

    registry._plugin_entry_points.cache_clear()
    monkeypatch.setattr(registry, "_plugin_entry_points", lambda: {"my-pass": "tests.framework.plugin_fixture:NoOpPass", "broken": "no.such.module:X"})
    assert "my-pass" in registry.known_pass_names()
    cls = registry.get_pass_class("my-pass")
    assert cls.name == "my-pass"
    from compile.errors import PassError

    with pytest.raises(PassError, match="pass 'broken' could not be loaded"):
        registry.get_pass_class("broken")


def test_python_api_runs_to_a_stage(tiny_onnx: Path, tmp_path: Path) -> None:
    from compile.api import build

    result = build(str(tiny_onnx), out=str(tmp_path / "api"))
    assert [s["name"] for s in result.report["stages"] if not s.get("skipped")] == ["simplify", "build-ort"]
    assert result.report["artifacts"]["final"] == "model.ort.onnx"
    assert result.passed


def test_cached_stage_whose_torch_weights_vanished_is_redone(tmp_path: Path) -> None:
    from compile.artifacts import TorchModel
    from compile.drivers.pipeline import _result_to_record
    from compile.passes.base import PassResult

    weights = tmp_path / "model.sparse.pt"
    weights.write_bytes(b"weights")
    artifact = TorchModel(source="builtin:tiny_cnn", spec={"weights": "sparse:x", "weights_path": str(weights)})
    record_path = tmp_path / "01-sparsify.json"
    record_path.write_text(json.dumps(_result_to_record("k", PassResult(artifact), 1.0)))
    pipeline = Pipeline.__new__(Pipeline)
    assert pipeline._load_cached(record_path, "k") is not None
    weights.unlink()
    assert pipeline._load_cached(record_path, "k") is None


def test_pass_input_checks_the_artifact_type(tiny_onnx: Path) -> None:
    from compile.artifacts import OnnxModel, TorchModel
    from compile.errors import PassError
    from compile.passes.simplify import SimplifyPass

    simplify = SimplifyPass()
    model = OnnxModel(path=tiny_onnx)
    assert simplify.input({"onnx": model}, "onnx", OnnxModel) is model
    with pytest.raises(PassError, match="simplify: expected OnnxModel as its onnx input, got TorchModel"):
        simplify.input({"onnx": TorchModel(source="builtin:tiny_cnn")}, "onnx", OnnxModel)
    with pytest.raises(PassError, match="got nothing"):
        simplify.input({}, "onnx", OnnxModel)
