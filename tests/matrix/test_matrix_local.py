"""The local executor end to end: shared stages run once, a crashing worker costs only its own jobs."""

from __future__ import annotations

import json
from pathlib import Path

from compile.matrix import MatrixSettings, make_plan, run_matrix
from compile.stage_cache import SharedStageCache
from tests.matrix.matrix_helpers import write_cpu_variant


def test_local_matrix_shares_stages_and_survives_a_dying_worker(tiny_onnx: Path, tmp_path: Path) -> None:
    cpu_b = write_cpu_variant(tmp_path)
    out = tmp_path / "matrix"
    crash = "tests.matrix.matrix_factories:dies"
    settings = MatrixSettings(models=(str(tiny_onnx), crash), profiles=("cpu", str(cpu_b)), out=out, jobs=2)
    lines: list[str] = []
    result = run_matrix(make_plan(settings), log=lines.append)
    report = json.loads((out / "matrix.json").read_text())
    by_name = {job["name"]: job for job in report["jobs"]}
    assert set(by_name) == {"tiny-cpu-fp32", "tiny-cpu-b-fp32", "tests_matrix_matrix_factories_dies-cpu-fp32",
                            "tests_matrix_matrix_factories_dies-cpu-b-fp32"}
    for name in ("tiny-cpu-fp32", "tiny-cpu-b-fp32"):
        job = by_name[name]
        assert job["status"] == "passed" and job["error"] is None
        assert job["latency"]["p50_ms"] > 0 and job["accuracy"]["top1_agreement"] == 1.0
        assert (out / job["artifact"]).is_file() and (out / job["report"]).is_file()
    for name in ("tests_matrix_matrix_factories_dies-cpu-fp32", "tests_matrix_matrix_factories_dies-cpu-b-fp32"):
        assert by_name[name]["status"] == "crashed" and "worker process died" in by_name[name]["error"]
    # simplify ran once (in the prefix), the other job took it from the shared cache. The dying worker
    # may break the pool while the prefix is in flight: the prefix then runs again, and when its killed
    # attempt had already run simplify (not counted: its report was lost) it reuses that record.
    runs = report["stage_runs"]
    assert runs["by_stage"]["simplify"]["needed"] == 2 and runs["by_stage"]["simplify"]["from_shared_cache"] == 1
    assert runs["by_stage"]["simplify"]["executed"] in (0, 1)
    assert by_name["tiny-cpu-b-fp32"]["stages"]["shared"][0] == "simplify"
    assert by_name["tiny-cpu-fp32"]["stages"]["reused"] == ["simplify"]
    assert runs["saved_by_sharing"] >= 1 and runs["executed"] <= runs["needed"] - runs["saved_by_sharing"]
    cache = SharedStageCache(out / ".cache")
    assert sorted(cache.read_record(k)["stage"] for k in cache.keys()).count("simplify") == 1
    assert report["counts"] == {"passed": 2, "failed": 0, "error": 0, "crashed": 2} and not result.all_passed
    assert report["executor"] == {"kind": "local", "workers": 2}
    assert set(report["pareto"]) == {"cpu", "cpu-b"} and report["pareto"]["cpu"]["front"] == ["tiny"]
    html = (out / "matrix.html").read_text()
    assert html.count("<svg") == 2 and "tiny-cpu-b-fp32/model.ort.onnx" in html
    assert "| tiny | PASSED" in (out / "matrix.md").read_text()
    assert any("CRASHED" in line for line in lines)

    # A second run finds everything in place: nothing but measurements runs again.
    again = run_matrix(make_plan(MatrixSettings(models=(str(tiny_onnx),), profiles=("cpu", str(cpu_b)), out=out, jobs=1)),
                       log=lambda line: None)
    assert again.all_passed and again.report["stage_runs"]["by_stage"]["simplify"]["executed"] == 0


def test_cli_matrix_exit_code_and_force(tiny_onnx: Path, tmp_path: Path) -> None:
    import pytest

    from compile.cli.main import main

    out = tmp_path / "cli"
    args = ["matrix", "--models", f"{tiny_onnx},no_such_model", "--profiles", "cpu", "--out", str(out), "--jobs", "1", "-q"]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 1  # one job did not pass
    report = json.loads((out / "matrix.json").read_text())
    assert [j["status"] for j in report["jobs"]] == ["passed", "error"]
    assert report["stage_runs"]["by_stage"]["simplify"]["executed"] == 1
    assert (out / "tiny-cpu-fp32" / "matrix-job.log").is_file()
    # --force forgets the stage records and the shared cache (without running anything here).
    from compile.matrix.runner import _clear

    assert (out / "tiny-cpu-fp32" / ".stages").is_dir()
    _clear(make_plan(MatrixSettings(models=(str(tiny_onnx),), profiles=("cpu",), out=out, force=True)))
    assert not (out / "tiny-cpu-fp32" / ".stages").exists() and not (out / ".cache").exists()
    assert (out / "tiny-cpu-fp32" / "report.json").is_file()


def test_prefix_shares_stages_it_found_in_its_own_run_dir(tiny_onnx: Path, tmp_path: Path) -> None:
    """The state a prefix killed with a broken pool leaves: stage records in its run dir, no shared
    entries (terminated between writing a record and storing the entry). Run again, the prefix reuses
    them; it must still put them in the shared cache, or every dependent job runs them once more."""
    cpu_b = write_cpu_variant(tmp_path)
    out = tmp_path / "matrix"
    first = run_matrix(make_plan(MatrixSettings(models=(str(tiny_onnx),), profiles=("cpu",), out=out, jobs=1, share=False)),
                       log=lambda line: None)
    assert first.all_passed and not (out / ".cache").exists()
    result = run_matrix(make_plan(MatrixSettings(models=(str(tiny_onnx),), profiles=("cpu", str(cpu_b)), out=out, jobs=2)),
                        log=lambda line: None)
    assert result.all_passed
    runs = result.report["stage_runs"]["by_stage"]
    assert runs["simplify"] == {"executed": 0, "needed": 2, "from_shared_cache": 1}
    by_name = {job["name"]: job for job in result.report["jobs"]}
    assert by_name["tiny-cpu-b-fp32"]["stages"]["shared"][0] == "simplify"
    cache = SharedStageCache(out / ".cache")
    assert sorted(cache.read_record(k)["stage"] for k in cache.keys()).count("simplify") == 1
