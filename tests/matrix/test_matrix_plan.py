"""Planning, the Pareto front, the SVG plot, a job in-process, and the CLI (no worker processes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compile.errors import UserInputError
from compile.matrix.pareto import Point, pareto_front
from compile.matrix.plan import MatrixSettings, make_plan, parse_list, resource_name
from compile.matrix.plot import scatter_svg
from compile.matrix.worker import JobSpec, execute_job, workspace
from compile.profiles import load_profile
from tests.matrix.matrix_helpers import write_cpu_variant


def test_pareto_front_keeps_the_non_dominated_points_fastest_first() -> None:
    points = [Point("a", 1.0, 70.0), Point("b", 2.0, 75.0), Point("c", 3.0, 74.0), Point("d", 0.5, 60.0),
              Point("e", 2.0, 75.0), Point("f", 4.0, 80.0)]
    assert [p.label for p in pareto_front(points)] == ["d", "a", "b", "e", "f"]
    assert pareto_front([]) == []


def test_svg_marks_the_front_and_uses_a_log_axis_for_wide_ranges() -> None:
    svg = scatter_svg([Point("fast", 0.1, 0.5), Point("slow-bad", 50.0, 0.4), Point("slow-good", 60.0, 0.9)], "cpu", "acc")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="point front"') == 2 and svg.count('class="point"') == 1
    assert "(log scale)" in svg and 'class="front"' in svg
    single = scatter_svg([Point("<only>", 1.0, 1.0)], "t4", "acc")
    assert "&lt;only&gt;" in single and "(log scale)" not in single
    assert "no job produced" in scatter_svg([], "cpu", "acc")


def test_plan_jobs_shared_prefix_and_resources(tmp_path: Path) -> None:
    cpu_b = write_cpu_variant(tmp_path)
    settings = MatrixSettings(models=("tiny_cnn", "tiny.onnx"), profiles=("cpu", str(cpu_b), "t4"),
                              precisions=("fp32", "fp16"), out=tmp_path / "m", executor="ray")
    plan = make_plan(settings)
    assert len(plan.jobs) == 12
    names = [j.name for j in plan.jobs]
    assert names[:2] == ["tiny_cnn-cpu-fp32", "tiny_cnn-cpu-fp16"] and "tiny-t4-fp16" in names
    t4 = next(j for j in plan.jobs if j.profile.name == "t4")
    assert t4.resources.custom == {"t4": 1.0} and t4.resources.num_cpus == 1
    assert next(j for j in plan.jobs if j.profile.name == "cpu").resources.custom == {}
    # Every profile starts with the same export/simplify (a dense run skips the sparsity passes, whose
    # options differ between cpu and t4): one prefix per model, shared by all its jobs.
    (cnn,) = [p for p in plan.prefixes if p.model == "tiny_cnn"]
    assert cnn.stages == ("export", "simplify") and len(cnn.jobs) == 6 and cnn.host.name == "tiny_cnn-cpu-fp32"
    onnx_prefix = next(p for p in plan.prefixes if p.model == "tiny.onnx")
    assert "export" not in onnx_prefix.stages and "simplify" in onnx_prefix.stages
    text = plan.describe()
    assert "12 job(s)" in text and "t4:1" in text and "Ray custom resources needed" in text and "t4" in text
    assert resource_name(load_profile("jetson-orin-nano")) == "jetson-orin-nano"


def test_a_precision_the_profile_refuses_is_planned_as_an_error(tmp_path: Path) -> None:
    profile = load_profile("cpu")
    text = (Path(__file__).resolve().parents[2] / "profiles" / "cpu.toml").read_text()
    text = text.replace('name = "cpu"', 'name = "cpu-fp32-only"', 1)
    text = re.sub(r"^allowed = \[.*\]$", 'allowed = ["fp32"]', text, count=1, flags=re.M)
    (tmp_path / "only.toml").write_text(text)
    plan = make_plan(MatrixSettings(models=("tiny_cnn",), profiles=(str(tmp_path / "only.toml"),), precisions=("fp16",),
                                    out=tmp_path / "m"))
    assert plan.jobs[0].plan_error and "does not allow precision 'fp16'" in plan.jobs[0].plan_error
    assert profile.name == "cpu"


def test_bad_settings_are_user_errors(tmp_path: Path) -> None:
    from compile.errors import ProfileError

    with pytest.raises(UserInputError):
        MatrixSettings(models=(), profiles=("cpu",))
    with pytest.raises(UserInputError):
        MatrixSettings(models=("a",), profiles=("cpu",), executor="slurm")
    with pytest.raises(ProfileError):
        make_plan(MatrixSettings(models=("a",), profiles=("no-such-profile",), out=tmp_path))
    assert parse_list(("a,b", "b", " c ,")) == ("a", "b", "c")


def test_an_unexpected_exception_is_reported_with_its_type(tmp_path: Path) -> None:
    spec = JobSpec(name="bug", model="tests.matrix.matrix_factories:raises", profile=load_profile("cpu"), precision="fp32",
                   out=str(tmp_path), token="t", transfer="shared")
    result = execute_job(spec)
    assert result.status == "crashed" and result.error_type == "RuntimeError" and result.error == "factory bug"
    assert result.traceback and "factory bug" in result.traceback
    missing = execute_job(JobSpec(name="x", model="nosuch_model", profile=load_profile("cpu"), precision="fp32",
                                  out=str(tmp_path), token="t", transfer="shared"))
    assert missing.status == "error" and missing.error_type == "ModelNotFoundError"


def test_workspace_follows_the_token(tmp_path: Path) -> None:
    (tmp_path / ".matrix-token").write_text("abc\n")
    spec = JobSpec(name="j", model="m", profile=load_profile("cpu"), precision="fp32", out=str(tmp_path), token="abc")
    assert workspace(spec) == (tmp_path, False)
    other = JobSpec(name="j", model="m", profile=load_profile("cpu"), precision="fp32", out=str(tmp_path), token="zzz")
    base, travels = workspace(other)
    assert travels and base.name == "zzz" and base != tmp_path
    assert workspace(JobSpec(name="j", model="m", profile=load_profile("cpu"), precision="fp32", out=str(tmp_path),
                             token="zzz", transfer="shared")) == (tmp_path, False)


def test_cli_dry_run_prints_the_plan_and_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cpu_b = write_cpu_variant(tmp_path)
    from compile.cli.main import main

    main(["matrix", "--models", "tiny_cnn,tiny_transformer", "--profiles", f"cpu,{cpu_b}", "--out", str(tmp_path / "m"),
          "--dry-run"])
    out = capsys.readouterr().out
    assert "4 job(s)" in out and "tiny_transformer-cpu-b-fp32" in out and "shared stages" in out
    assert "export, simplify in tiny_cnn-cpu-fp32, reused by tiny_cnn-cpu-b-fp32" in out
    assert not (tmp_path / "m").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["matrix", "--models", "tiny_cnn", "--profiles", "nope", "--dry-run"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        main(["matrix", "--models", "tiny_cnn", "--profiles", "cpu", "--precision", "fp8", "--dry-run"])
    assert exit_.value.code == 2


def test_jobs_are_interleaved_across_models(tmp_path: Path) -> None:
    cpu_b = write_cpu_variant(tmp_path)
    from compile.matrix.runner import interleave

    plan = make_plan(MatrixSettings(models=("a", "b"), profiles=("cpu", str(cpu_b)), out=tmp_path))
    assert [j.name for j in interleave(list(plan.jobs))] == ["a-cpu-fp32", "b-cpu-fp32", "a-cpu-b-fp32", "b-cpu-b-fp32"]
    assert interleave([]) == []
