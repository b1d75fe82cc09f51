"""Adaptive benchmarking through the pipeline: the profile's method, --bench-budget, and what the report keeps."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from compile.drivers.options import resolve_options
from compile.drivers.pipeline import Pipeline
from compile.profiles import Profile, load_profile, parse_profile, profiles_dir
from compile.settings import RunSettings


def _profile(benchmark: dict[str, object]) -> Profile:
    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["benchmark"] = benchmark
    data["shapes"]["batch_sizes"] = [1, 4]
    data["validation"] = {"samples": 8}
    data["passes"] = [p for p in data["passes"] if p["name"] != "validate"]
    return parse_profile(data, "budget-cpu")


def test_bench_budget_switches_a_fixed_profile_to_adaptive_timing() -> None:
    profile = _profile({"mode": "fixed", "iterations": 7, "repeats": 2})
    fixed = resolve_options("benchmark", {}, profile, RunSettings(model="m"))
    assert (fixed["mode"], fixed["iterations"]) == ("fixed", 7)
    budget = resolve_options("benchmark", {}, profile, RunSettings(model="m", bench_budget=3.5))
    assert (budget["mode"], budget["budget_s"], budget["target_interval_pct"]) == ("adaptive", 3.5, 2.0)


def test_shipped_cpu_profiles_time_adaptively_within_the_stage_target() -> None:
    for name in ("cpu", "openvino-cpu"):
        b = load_profile(name).benchmark
        assert (b.mode, b.target_interval_pct) == ("adaptive", 2.0)
        assert b.budget_s <= 20.0 and b.min_runs >= 20


def test_adaptive_run_reports_each_batch_interval_and_why_it_stopped(tiny_onnx: Path, tmp_path: Path) -> None:
    settings = RunSettings(model=str(tiny_onnx), profile="cpu", out=tmp_path / "run", progress=False, bench_budget=2.0,
                           gates={"max_interval_pct": 100.0})
    lines: list[str] = []
    result = Pipeline(settings, profile=_profile({"mode": "fixed", "iterations": 3, "repeats": 1}), log=lines.append).run()
    latency = result.report["latency"]
    assert latency["method"]["mode"] == "adaptive" and latency["method"]["budget_s"] == 2.0
    assert [b["batch"] for b in latency["per_batch"]] == [1, 4]
    for entry in latency["per_batch"]:
        assert entry["stopped"] in ("converged", "budget")
        assert entry["iterations"] >= 20
        assert entry["interval_low_ms"] <= entry["p50_ms"] <= entry["interval_high_ms"]
        if entry["stopped"] == "converged":
            assert entry["interval_pct"] <= 2.0
    first = latency["per_batch"][0]
    assert latency["interval_ms"] == pytest.approx([first["interval_low_ms"], first["interval_high_ms"]], abs=1e-4)
    assert result.report["metrics"]["interval_pct_b4"] == pytest.approx(latency["per_batch"][1]["interval_pct"], abs=1e-4)
    stage = next(s for s in result.report["stages"] if s["name"] == "benchmark")
    # A tiny model converges long before the budget; either way the stage keeps to it (plus the last call).
    assert stage["seconds"] < 2.0 + 1.0
    assert any("95% interval" in line for line in lines)
    gate = next(g for g in result.report["gates"] if g["name"] == "max_interval_pct")
    assert gate["passed"] and not gate["skipped"] and gate["value"] == result.report["metrics"]["interval_pct"]
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "Adaptive timing, 95% interval of the median: batch 1 " in markdown and "; batch 4 " in markdown
    assert "until the 95% interval of its median is within +-2.0%" in (tmp_path / "run" / "report.html").read_text()
