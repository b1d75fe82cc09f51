"""The gates a run is held to, for every driver: the profile's, the ``--gate`` overrides and, with
``--baseline``, the two regression gates against a stored run (:mod:`compile.validate.baseline`)."""

from __future__ import annotations

import difflib
from typing import Any

from compile.errors import UserInputError
from compile.passes.registry import known_metrics
from compile.profiles import Profile
from compile.settings import RunSettings
from compile.validate.baseline import compare_with_baseline
from compile.validate.gates import GateResult, evaluate_gates, gate_metric


def judge(profile: Profile, settings: RunSettings, metrics: dict[str, float],
          accuracy: dict[str, Any] | None = None) -> tuple[list[GateResult], dict[str, Any] | None]:
    """The run's gate results, and with ``settings.baseline`` the report's ``baseline`` section; the regression
    figures are added to ``metrics``, where the gates and the report read them. A regression threshold comes
    from ``--gate``, else the ``--max-*-regression`` flags, else the profile, else the defaults.

    ``accuracy``: the report's accuracy section, whose ``confidence`` intervals make a gate PASS, FAIL or
    INCONCLUSIVE; ``--strict`` or ``[gates] strict = true`` fails the run on an inconclusive gate."""
    thresholds = {**profile.gates, **settings.gates}
    section = None
    if settings.baseline is not None:
        regression, section, regression_gates = compare_with_baseline(
            settings.baseline, metrics, profile.gates, settings.max_accuracy_regression, settings.max_latency_regression_pct)
        metrics.update(regression)
        thresholds = {**profile.gates, **regression_gates, **settings.gates}
    if settings.metrics:
        check_user_metric_gates(thresholds, metrics, (accuracy or {}).get("user_metrics") or {})
    confidence = (accuracy or {}).get("confidence") or {}
    intervals = {name: value for name, value in confidence.items() if isinstance(value, dict)}
    return evaluate_gates(thresholds, metrics, intervals, strict=settings.strict or profile.strict_gates), section


def check_user_metric_gates(thresholds: dict[str, float], metrics: dict[str, float], returned: dict[str, dict[str, float]]) -> None:
    """With user metrics that do not declare their names, a gate's name could only be checked once they ran: a gate
    naming neither a built-in metric nor one they returned is a typo, refused like one before a run (exit 2)."""
    if not returned:
        return
    catalogue = known_metrics()
    names = sorted({name for figures in returned.values() for name in figures})
    for gate in thresholds:
        metric = gate_metric(gate)
        if catalogue.knows(metric) or metric in metrics:
            continue
        close = difflib.get_close_matches(metric, names, n=1)
        hint = f" (did you mean '{gate.partition('_')[0]}_{close[0]}'?)" if close else ""
        raise UserInputError(f"gate {gate}: no pass measures '{metric}', and --metric returned only "
                             f"{', '.join(names)}{hint}")
