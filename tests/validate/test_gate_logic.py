"""Gates: direction from the name, per-output and interval-bound gates, profile schema, baseline regression."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from compile.errors import ProfileError, UserInputError
from compile.profiles import parse_profile, profiles_dir
from compile.validate.baseline import load_report, regression_metrics, regression_thresholds
from compile.validate.gates import evaluate_gates, parse_gate_overrides


def test_direction_comes_from_the_name() -> None:
    metrics = {"top1_agreement": 0.98, "p99_ms": 9.0, "top1_drop": float("nan")}
    results = {g.name: g for g in evaluate_gates(
        {"min_top1_agreement": 0.97, "max_p99_ms": 8.0, "max_top1_drop": 1.0, "max_top5_drop": 1.0}, metrics)}
    assert results["min_top1_agreement"].passed and not results["min_top1_agreement"].skipped
    assert not results["max_p99_ms"].passed and results["max_p99_ms"].value == 9.0
    assert not results["max_top1_drop"].passed and results["max_top1_drop"].reason == "measured value is NaN"
    assert results["max_top5_drop"].skipped and results["max_top5_drop"].passed


def test_boundary_values_pass() -> None:
    results = evaluate_gates({"min_cosine_similarity": 0.99, "max_top1_drop": 1.5}, {"cosine_similarity": 0.99, "top1_drop": 1.5})
    assert all(g.passed for g in results)


def test_interval_bound_and_per_output_gates() -> None:
    metrics = {"top1_agreement": 0.98, "top1_agreement_lcb": 0.93, "max_abs_error.boxes": 0.2, "max_abs_error.scores": 0.01}
    results = {g.name: g for g in evaluate_gates(
        {"min_top1_agreement": 0.95, "min_top1_agreement_lcb": 0.95, "max_max_abs_error.boxes": 0.1,
         "max_max_abs_error.scores": 0.1}, metrics)}
    assert results["min_top1_agreement"].passed
    assert not results["min_top1_agreement_lcb"].passed  # the point passes, the pessimistic bound does not
    assert results["max_max_abs_error.boxes"].metric == "max_abs_error.boxes" and not results["max_max_abs_error.boxes"].passed
    assert results["max_max_abs_error.scores"].passed


def test_overrides_parse_and_reject_malformed() -> None:
    assert parse_gate_overrides(["max_top1_drop=0.5", "max_max_abs_error.boxes=0.05"]) == {
        "max_top1_drop": 0.5, "max_max_abs_error.boxes": 0.05}
    with pytest.raises(UserInputError, match="NAME starting min_ or max_"):
        parse_gate_overrides(["top1_drop=0.5"])
    with pytest.raises(UserInputError, match="is not a number"):
        parse_gate_overrides(["max_top1_drop=lots"])


def _cpu_profile_with_gates(gates_toml: str) -> dict:
    text = (profiles_dir() / "cpu.toml").read_text()
    head, _, tail = text.partition("[gates]")
    rest = tail[tail.index("[[passes]]"):]
    return tomllib.loads(f"{head}[gates]\n{gates_toml}\n\n{rest}")


def test_profile_accepts_per_output_gates_as_toml_dotted_keys() -> None:
    data = _cpu_profile_with_gates('min_top1_agreement_lcb = 0.95\nmax_max_abs_error.boxes = 0.05\n"min_cosine_similarity.out:0" = 0.999')
    profile = parse_profile(data, "test.toml")
    assert profile.gates == {"min_top1_agreement_lcb": 0.95, "max_max_abs_error.boxes": 0.05, "min_cosine_similarity.out:0": 0.999}


def test_profile_rejects_gate_without_direction() -> None:
    with pytest.raises(ProfileError, match="gate names must start with min_ or max_"):
        parse_profile(_cpu_profile_with_gates("top1_drop = 0.5"), "test.toml")


def test_regression_metrics_prefer_labeled_accuracy() -> None:
    current = {"candidate_top1": 0.74, "top1_agreement": 0.99, "p50_ms": 12.0}
    baseline = {"candidate_top1": 0.75, "top1_agreement": 1.0, "p50_ms": 10.0}
    metrics, section = regression_metrics(current, baseline)
    assert metrics["accuracy_regression"] == pytest.approx(1.0)
    assert metrics["latency_regression_pct"] == pytest.approx(20.0)
    assert section["accuracy"]["metric"] == "candidate_top1"
    metrics, _ = regression_metrics({"top1_agreement": 0.98}, {"top1_agreement": 0.99, "p50_ms": 3.0})
    assert metrics == {"accuracy_regression": pytest.approx(1.0)}
    assert math.isclose(regression_thresholds({}, None, 25.0)["max_latency_regression_pct"], 25.0)
    assert regression_thresholds({"max_accuracy_regression": 0.2}, None, None)["max_accuracy_regression"] == 0.2


def test_bad_baseline_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="baseline report not found"):
        load_report(tmp_path / "missing.json")
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(UserInputError, match="is not a JSON report"):
        load_report(tmp_path)
    (tmp_path / "report.json").write_text('{"model": "x"}')
    with pytest.raises(UserInputError, match="no 'metrics' section"):
        load_report(tmp_path / "report.json")
