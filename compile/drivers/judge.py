"""The gates a run is held to, for every driver: the profile's, the ``--gate`` overrides and, with
``--baseline``, the two regression gates against a stored run (:mod:`compile.validate.baseline`)."""

from __future__ import annotations

from typing import Any

from compile.profiles import Profile
from compile.settings import RunSettings
from compile.validate.baseline import compare_with_baseline
from compile.validate.gates import GateResult, evaluate_gates


def judge(profile: Profile, settings: RunSettings, metrics: dict[str, float]) -> tuple[list[GateResult], dict[str, Any] | None]:
    """The run's gate results, and with ``settings.baseline`` the report's ``baseline`` section; the regression
    figures are added to ``metrics``, where the gates and the report read them. A regression threshold comes
    from ``--gate``, else the ``--max-*-regression`` flags, else the profile, else the defaults."""
    thresholds = {**profile.gates, **settings.gates}
    section = None
    if settings.baseline is not None:
        regression, section, regression_gates = compare_with_baseline(
            settings.baseline, metrics, profile.gates, settings.max_accuracy_regression, settings.max_latency_regression_pct)
        metrics.update(regression)
        thresholds = {**profile.gates, **regression_gates, **settings.gates}
    return evaluate_gates(thresholds, metrics), section
