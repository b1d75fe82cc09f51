"""A real local Ray instance (2 CPUs): two models, two CPU profiles, one failing job, both artifact paths.

One Ray session serves the whole module (starting Ray takes seconds); the executor joins it instead
of starting its own. Skipped when ray is not installed (pip install 'compile[ray]').
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compile.hashing import hash_file
from compile.matrix import MatrixSettings, make_plan, run_matrix
from compile.matrix.runner import MatrixResult
from compile.stage_cache import SharedStageCache
from tests.helpers import make_tiny_classifier
from tests.matrix.matrix_helpers import write_cpu_variant

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    # The node pretends to have an A10 (a custom resource), to show where GPU jobs are scheduled.
    ray.init(num_cpus=2, resources={"a10": 1}, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ray-inputs")
    return {"onnx": make_tiny_classifier(folder / "tiny.onnx"), "cpu_b": write_cpu_variant(folder)}


@pytest.fixture(scope="module")
def shared_run(ray_session: Any, inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> MatrixResult:
    out = tmp_path_factory.mktemp("ray-matrix")
    settings = MatrixSettings(models=("tiny_cnn", str(inputs["onnx"]), "no_such_model"),
                              profiles=("cpu", str(inputs["cpu_b"])), out=out, executor="ray", jobs=2)
    return run_matrix(make_plan(settings), log=lambda line: None)


def test_ray_matrix_report_is_complete_and_the_failing_job_is_reported(shared_run: MatrixResult) -> None:
    out = shared_run.plan.out
    report = json.loads((out / "matrix.json").read_text())
    assert report["executor"]["kind"] == "ray" and report["executor"]["cluster_resources"]["CPU"] == 2
    jobs = {(j["label"], j["profile"]): j for j in report["jobs"]}
    assert set(jobs) == {(m, p) for m in ("tiny_cnn", "tiny", "no_such_model") for p in ("cpu", "cpu-b")}
    for model in ("tiny_cnn", "tiny"):
        for profile in ("cpu", "cpu-b"):
            job = jobs[(model, profile)]
            assert job["status"] == "passed", job
            assert job["latency"]["p50_ms"] > 0 and 0.9 <= job["accuracy"]["top1_agreement"] <= 1.0
            assert (out / job["artifact"]).is_file() and job["artifact"].endswith("model.ort.onnx")
            run = json.loads((out / job["report"]).read_text())
            assert run["profile"] == profile and run["latency"]["per_batch"][1]["batch"] == (8 if profile == "cpu" else 4)
    for profile in ("cpu", "cpu-b"):
        failed = jobs[("no_such_model", profile)]
        assert failed["status"] == "error" and failed["error_type"] == "ModelNotFoundError"
        assert "no_such_model" in failed["error"] and failed["artifact"] is None
    assert report["counts"] == {"passed": 4, "failed": 0, "error": 2, "crashed": 0}
    assert {p: len(v["points"]) for p, v in report["pareto"].items()} == {"cpu": 2, "cpu-b": 2}
    assert all(v["front"] for v in report["pareto"].values())
    html = (out / "matrix.html").read_text()
    assert html.count("<svg") == 2 and "ModelNotFoundError" in html
    md = (out / "matrix.md").read_text()
    assert "| no_such_model | ERROR | ERROR |" in md


def test_ray_shared_stages_ran_once(shared_run: MatrixResult) -> None:
    report = shared_run.report
    by_stage = report["stage_runs"]["by_stage"]
    # export: tiny_cnn only (the ONNX model skips it); simplify: once per model, though two profiles need each.
    assert by_stage["export"]["executed"] == 1 and by_stage["export"]["needed"] == 2
    assert by_stage["simplify"]["executed"] == 2 and by_stage["simplify"]["needed"] == 4
    assert by_stage["validate"]["executed"] == 4  # measurements are never shared
    assert report["stage_runs"]["saved_by_sharing"] >= 3
    cache = SharedStageCache(shared_run.plan.cache_dir)
    stored = [cache.read_record(key)["stage"] for key in cache.keys()]
    assert stored.count("export") == 1 and stored.count("simplify") == 2
    for job in report["jobs"]:
        if job["status"] == "passed" and job["profile"] == "cpu-b":
            assert "simplify" in job["stages"]["shared"]


def test_ray_artifacts_travel_back_as_bytes(ray_session: Any, inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "returned"
    settings = MatrixSettings(models=(str(inputs["onnx"]),), profiles=("cpu", str(inputs["cpu_b"])), out=out,
                              executor="ray", transfer="return")
    result = run_matrix(make_plan(settings), log=lambda line: None)
    token = (out / ".matrix-token").read_text().strip()
    scratch = Path(tempfile.gettempdir()) / "compile-matrix" / token
    try:
        assert result.all_passed
        for job in result.report["jobs"]:
            run = json.loads((out / job["report"]).read_text())
            final = out / job["artifact"]
            assert hash_file(final) == run["artifact_sha256"]["final"]
            assert (out / job["name"] / "model.ort.onnx.compile.json").is_file()
            assert not (out / job["name"] / ".stages").exists()  # compiled elsewhere: only the files came back
        assert (scratch / ".cache").is_dir()  # the worker-side folder, with its own shared cache
        assert result.report["stage_runs"]["by_stage"]["simplify"]["executed"] == 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_ray_gpu_job_without_a_matching_node_is_reported_not_left_waiting(ray_session: Any, inputs: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    settings = MatrixSettings(models=(str(inputs["onnx"]),), profiles=("t4", "a10"), out=tmp_path / "gpu", executor="ray")
    plan = make_plan(settings)
    assert [j.resources.custom for j in plan.jobs] == [{"t4": 1.0}, {"a10": 1.0}]
    result = run_matrix(plan, log=lambda line: None)
    t4, a10 = result.report["jobs"]
    assert t4["status"] == "error" and "resource 't4'" in t4["error"] and t4["resources"] == "CPU:1 t4:1"
    # The a10 job was scheduled on the node offering 'a10' and ran: it ends where the machine lacks TensorRT or a GPU.
    assert "resource 'a10'" not in (a10["error"] or "") and a10["seconds"] > 0
