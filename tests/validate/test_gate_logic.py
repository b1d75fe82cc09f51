"""Gates: direction from the name, per-output and interval-bound gates, profile schema, baseline regression."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from compile.errors import ProfileError, UserInputError
from compile.passes.registry import check_profile, known_metrics
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
    assert parse_gate_overrides(["max_top1_drop=0.5", "max_max_abs_error.boxes=0.05"], known_metrics()) == {
        "max_top1_drop": 0.5, "max_max_abs_error.boxes": 0.05}
    with pytest.raises(UserInputError, match="NAME starting min_ or max_"):
        parse_gate_overrides(["top1_drop=0.5"], known_metrics())
    with pytest.raises(UserInputError, match="is not a number"):
        parse_gate_overrides(["max_top1_drop=lots"], known_metrics())


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


def test_gate_on_an_unknown_metric_is_rejected_with_the_closest_names() -> None:
    with pytest.raises(UserInputError, match=r"--gate min_agreement: unknown metric 'agreement'.*did you mean min_top1_agreement"):
        parse_gate_overrides(["min_agreement=1.01"], known_metrics())
    with pytest.raises(UserInputError, match=r"did you mean max_p99_ms"):
        parse_gate_overrides(["max_p99ms=5"], known_metrics())
    # Per-output figures exist only for the per-output metrics (every output kind's: top-1 agreement of a classifier
    # output, the cosine of an embedding); latency and interval bounds with a batch suffix are known.
    with pytest.raises(UserInputError, match="unknown metric 'p99_ms.logits'"):
        parse_gate_overrides(["max_p99_ms.logits=9"], known_metrics())
    with pytest.raises(UserInputError, match="unknown metric 'cosine_man.embedding'.*did you mean min_cosine_mean.embedding"):
        parse_gate_overrides(["min_cosine_man.embedding=0.99"], known_metrics())
    assert parse_gate_overrides(["max_p99_ms_b8=5", "min_top1_agreement_lcb=0.9", "min_cosine_similarity.boxes=0.9",
                                 "max_accuracy_regression=0.5", "min_sparse_share_of_all_macs=0.3",
                                 "min_top1_agreement.logits=0.9", "min_cosine_mean.embedding=0.99", "max_abs_error_p99.boxes=2",
                                 "min_mean_iou.mask=0.9", "min_samples=200"], known_metrics())


def test_profile_gate_on_an_unknown_metric_names_the_file_and_the_field(tmp_path: Path) -> None:
    from compile.profiles import load_profile

    text = (profiles_dir() / "cpu.toml").read_text().replace("[gates]\n", "[gates]\nmin_top1_agreemnt = 0.99\n", 1)
    path = tmp_path / "typo.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=rf"invalid profile {path}: gates.min_top1_agreemnt: unknown metric .*min_top1_agreement"):
        check_profile(load_profile(str(path)))


def test_known_metrics_are_read_from_the_measuring_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every figure the comparison and the benchmark produce is known, and a pass declaring a new one makes it known."""
    import numpy as np

    from compile.bench.latency import summarize
    from compile.bench.suite import latency_metrics
    from compile.passes import registry
    from compile.validate.compare import compare_outputs

    rng = np.random.default_rng(1)
    reference = {"logits": rng.normal(size=(6, 7)), "boxes": rng.normal(size=(6, 4))}
    _, measured = compare_outputs(reference, {k: v + 0.01 for k, v in reference.items()}, [0, 1, 2, 3, 4, 5], resamples=10)
    measured.update(latency_metrics([summarize([[1.0, 2.0], [1.5, 2.5]], batch) for batch in (1, 8)]))
    catalogue = registry.known_metrics()
    assert not [name for name in measured if not catalogue.knows(name)]
    assert not catalogue.knows("my_figure")

    registry._plugin_entry_points.cache_clear()
    registry.known_metrics.cache_clear()
    monkeypatch.setattr(registry, "_plugin_entry_points", lambda: {"my-pass": "tests.framework.plugin_fixture:NoOpPass"})
    from tests.framework.plugin_fixture import NoOpPass

    monkeypatch.setattr(NoOpPass, "metrics", ("my_figure",), raising=False)
    try:
        assert registry.known_metrics().knows("my_figure")
    finally:
        registry.known_metrics.cache_clear()


def test_gate_on_an_output_the_model_lacks_names_its_outputs() -> None:
    metrics = {"max_abs_error.boxes": 0.1, "max_abs_error.scores": 0.01}
    with pytest.raises(UserInputError, match=r"no output 'boxs' \(did you mean 'boxes'\?\); its outputs: boxes, scores"):
        evaluate_gates({"max_max_abs_error.boxs": 0.5}, metrics)
    # Before validation has run (nothing measured for any output), the gate is only skipped.
    assert evaluate_gates({"max_max_abs_error.boxs": 0.5}, {})[0].skipped


def test_checked_gates_are_those_validation_measures_for_the_outputs() -> None:
    """The mixed-precision search judges candidates by these: no top-1 gate on a non-classifier output."""
    import numpy as np

    from compile.validate.gates import checked_gates

    thresholds = {"min_top1_agreement": 0.97, "max_top1_drop": 1.0, "min_cosine_similarity": 0.99, "max_p99_ms": 5.0}
    grid = {"context": np.ones((4, 12, 32), dtype=np.float32)}
    assert checked_gates(thresholds, grid, None) == {"min_cosine_similarity": 0.99}
    logits = {"logits": np.random.default_rng(0).normal(size=(4, 10))}
    assert checked_gates(thresholds, logits, None) == {"min_top1_agreement": 0.97, "min_cosine_similarity": 0.99}
    assert set(checked_gates(thresholds, logits, [0, 1, 2, 3])) == {"min_top1_agreement", "max_top1_drop", "min_cosine_similarity"}
