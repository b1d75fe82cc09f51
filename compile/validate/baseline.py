"""Regression against a stored run: how much accuracy was lost and latency gained since ``report.json``.

Two figures become gate metrics, so they are judged, reported and written to JUnit like any other:

- ``accuracy_regression``: points of accuracy lost against the baseline (positive = worse). Labeled
  top-1 of the candidate when both runs have labels, else top-1 agreement with the reference.
- ``latency_regression_pct``: percent change of the median latency at the first batch size
  (positive = slower). Medians, not means: one stall in a shared CI runner should not fail a build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compile.errors import UserInputError

#: Allowed regressions when neither the profile nor the command line sets them.
DEFAULT_MAX_ACCURACY_REGRESSION = 0.5
DEFAULT_MAX_LATENCY_REGRESSION_PCT = 10.0
ACCURACY_GATE = "max_accuracy_regression"
LATENCY_GATE = "max_latency_regression_pct"
#: The figures a baseline comparison adds to a run's metrics.
REGRESSION_METRICS = ("accuracy_regression", "latency_regression_pct")


def load_report(path: Path, what: str = "baseline report") -> dict[str, Any]:
    """A ``report.json`` (or the run directory holding one), with one clear error when it is not."""
    file = path / "report.json" if path.is_dir() else path
    if not file.is_file():
        raise UserInputError(f"{what} not found: {file}")
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserInputError(f"{file} is not a JSON report: {err}") from err
    if not isinstance(report, dict) or not isinstance(report.get("metrics"), dict):
        raise UserInputError(f"{file} is not a compile report (no 'metrics' section)")
    return report


def regression_metrics(current: dict[str, float], baseline: dict[str, float]) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics comparing ``current`` with ``baseline`` (both flat metric dicts), and a report section."""
    metrics: dict[str, float] = {}
    section: dict[str, Any] = {}
    for key in ("candidate_top1", "top1_agreement"):
        if key in current and key in baseline:
            metrics["accuracy_regression"] = 100.0 * (float(baseline[key]) - float(current[key]))
            section["accuracy"] = {"metric": key, "baseline": baseline[key], "current": current[key],
                                   "regression_points": metrics["accuracy_regression"]}
            break
    if current.get("p50_ms") and baseline.get("p50_ms"):
        base, now = float(baseline["p50_ms"]), float(current["p50_ms"])
        metrics["latency_regression_pct"] = 100.0 * (now - base) / base
        section["latency"] = {"metric": "p50_ms", "baseline": base, "current": now,
                              "regression_pct": metrics["latency_regression_pct"]}
    return metrics, section


def regression_thresholds(profile_gates: dict[str, float], max_accuracy: float | None,
                          max_latency_pct: float | None) -> dict[str, float]:
    """The two regression gates: command line first, then the profile's, then the defaults."""
    return {
        ACCURACY_GATE: max_accuracy if max_accuracy is not None else profile_gates.get(ACCURACY_GATE, DEFAULT_MAX_ACCURACY_REGRESSION),
        LATENCY_GATE: max_latency_pct if max_latency_pct is not None else profile_gates.get(LATENCY_GATE, DEFAULT_MAX_LATENCY_REGRESSION_PCT),
    }


def compare_with_baseline(path: Path, metrics: dict[str, float], profile_gates: dict[str, float],
                          max_accuracy: float | None, max_latency_pct: float | None
                          ) -> tuple[dict[str, float], dict[str, Any], dict[str, float]]:
    """``metrics`` against the stored run at ``path``: the regression figures (gate metrics), the report's
    ``baseline`` section, and the thresholds of the two regression gates."""
    regression, section = regression_metrics(metrics, load_report(path)["metrics"])
    return regression, {"path": str(path), **section}, regression_thresholds(profile_gates, max_accuracy, max_latency_pct)
