"""Gates: ``min_<metric>`` and ``max_<metric>`` thresholds checked against measured figures.

The name carries the direction, so a profile reads as it is judged: ``min_top1_agreement = 0.99``
passes when the measured ``top1_agreement`` is at least 0.99. A gate whose metric was not measured
(no labels for ``top1_drop``, no benchmark for ``p99_ms``) is reported as skipped, not passed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from compile.errors import UserInputError
from compile.profiles import GATE_NAME


@dataclass(frozen=True)
class GateResult:
    name: str
    metric: str
    threshold: float
    value: float | None
    passed: bool
    skipped: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.skipped:
            return f"{self.name}: skipped ({self.reason})"
        op = ">=" if self.name.startswith("min_") else "<="
        verdict = "pass" if self.passed else "FAIL"
        return f"{self.name}: {verdict} ({self.metric} = {self.value:.6g}, needs {op} {self.threshold:g})"


def parse_gate_overrides(items: tuple[str, ...] | list[str]) -> dict[str, float]:
    """``["max_top1_drop=0.5", ...]`` -> dict, with one clear error for a malformed item."""
    gates: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not GATE_NAME.match(name):
            raise UserInputError(f"--gate expects NAME=VALUE with NAME starting min_ or max_, got '{item}'")
        try:
            gates[name] = float(raw)
        except ValueError as err:
            raise UserInputError(f"--gate {name}: '{raw}' is not a number") from err
    return gates


def evaluate_gates(thresholds: dict[str, float], metrics: dict[str, float]) -> list[GateResult]:
    results = []
    for name, threshold in thresholds.items():
        direction, _, metric = name.partition("_")
        value = metrics.get(metric)
        if value is None:
            results.append(GateResult(name, metric, threshold, None, passed=True, skipped=True, reason=f"'{metric}' was not measured"))
            continue
        if math.isnan(value):
            results.append(GateResult(name, metric, threshold, value, passed=False, reason="measured value is NaN"))
            continue
        passed = value >= threshold if direction == "min" else value <= threshold
        results.append(GateResult(name, metric, threshold, float(value), passed=passed))
    return results
