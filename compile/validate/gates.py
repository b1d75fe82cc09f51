"""Gates: ``min_<metric>`` and ``max_<metric>`` thresholds checked against measured figures.

The name carries the direction, so a profile reads as it is judged: ``min_top1_agreement = 0.99``
passes when the measured ``top1_agreement`` is at least 0.99. A gate must name a metric some pass
can measure (a :class:`MetricCatalogue`, read from the passes by
:func:`compile.passes.registry.known_metrics`): a typo is rejected before anything runs, with the closest known
names, since a CI gate that can never fail is worse than none. A known metric this run did not
measure (no labels for ``top1_drop``, no benchmark for ``p99_ms``) is reported as skipped, not passed.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from compile.errors import UserInputError
from compile.profiles import GATE_NAME
from compile.validate.compare import compare_outputs

#: What became of a gate: "skipped" when this run did not measure its metric.
Verdict = Literal["pass", "fail", "skipped", "inconclusive"]


class GateResult(BaseModel):
    """One gate, judged: the threshold, the measured value (``None`` when not measured) and the verdict.

    ``passed`` is false only for a failed gate (a skipped one does not fail the run); ``verdict`` says the
    same in one word, and ``detail`` carries whatever else a judgement needs to explain itself."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="min_<metric> or max_<metric>, optionally .<output>")
    metric: str
    threshold: float
    value: float | None = Field(description="the measured figure; null when this run did not measure it")
    passed: bool
    skipped: bool = False
    reason: str = ""
    verdict: Verdict = Field(default="pass", description="pass | fail | skipped | inconclusive")
    detail: Any = Field(default=None, description="free-form detail of the judgement, written only when set")

    @model_validator(mode="before")
    @classmethod
    def _verdict_from_outcome(cls, data: Any) -> Any:
        if isinstance(data, dict) and "verdict" not in data:
            data = {**data, "verdict": "skipped" if data.get("skipped") else ("pass" if data.get("passed") else "fail")}
        return data

    def to_dict(self) -> dict[str, Any]:
        """As ``report.json`` holds it (``detail`` only when set)."""
        return self.model_dump(exclude_unset=True)

    def message(self) -> str:
        """``top1_agreement = 0.95, needs >= 0.97 (min_top1_agreement)``, or why it was skipped."""
        if self.skipped:
            return f"{self.name} skipped: {self.reason}"
        op = ">=" if self.name.startswith("min_") else "<="
        shown = "NaN" if self.value is None else f"{self.value:.6g}"
        return f"{self.metric} = {shown}, needs {op} {self.threshold:g} ({self.name})"


def gate_metric(name: str) -> str:
    """``min_top1_agreement`` -> ``top1_agreement``; ``max_max_abs_error.boxes`` -> ``max_abs_error.boxes``."""
    return name.partition("_")[2]


@dataclass(frozen=True)
class MetricCatalogue:
    """What gates may name: metrics (fnmatch patterns such as ``p50_ms_b*``) and the per-output ones
    (``<metric>.<output>``, output names being known only once the model is)."""

    metrics: tuple[str, ...]
    per_output: tuple[str, ...]

    def knows(self, metric: str) -> bool:
        base, dot, output = metric.partition(".")
        if dot:
            return bool(output) and base in self.per_output
        return any(fnmatch.fnmatchcase(metric, pattern) for pattern in self.metrics)

    def closest(self, metric: str, n: int = 3) -> list[str]:
        """The known names nearest ``metric`` (difflib), patterns shown as ``p99_ms_b<N>``, ``sparsity_<name>``."""
        names = [*self.metrics, *(f"{base}.<output>" for base in self.per_output)]
        scored = [(difflib.SequenceMatcher(None, metric, name).ratio(), name) for name in names]
        close = [name for score, name in sorted(scored, key=lambda item: (-item[0], item[1])) if score >= 0.5][:n]
        return [name.replace("_b*", "_b<N>").replace("*", "<name>") for name in close]

    def problem(self, gate: str) -> str | None:
        """Why ``gate`` can never be checked (an unknown metric, with the closest known ones), or ``None``."""
        metric = gate_metric(gate)
        if self.knows(metric):
            return None
        direction = gate.partition("_")[0]
        close = self.closest(metric)
        hint = f"; did you mean {', '.join(f'{direction}_{c}' for c in close)}?" if close else ""
        return f"unknown metric '{metric}' (no pass measures it){hint}"


def check_gate_names(gates: dict[str, float] | list[str], where: str, known: MetricCatalogue) -> None:
    """Raise one UserInputError for the first gate naming a metric ``known`` lacks; ``where`` says whose gates they are."""
    for name in gates:
        problem = known.problem(name)
        if problem is not None:
            raise UserInputError(f"{where} {name}: {problem}")


def parse_gate_overrides(items: tuple[str, ...] | list[str], known: MetricCatalogue) -> dict[str, float]:
    """``["max_top1_drop=0.5", ...]`` -> dict, with one clear error for a malformed item or a metric ``known`` lacks."""
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
    check_gate_names(gates, "--gate", known)
    return gates


def evaluate_gates(thresholds: dict[str, float], metrics: dict[str, float]) -> list[GateResult]:
    """One result per gate. A gate on an output the model does not have (while the metric was measured
    for its other outputs) is a UserInputError naming the outputs it has."""
    results = []
    for name, threshold in thresholds.items():
        direction, _, metric = name.partition("_")
        value = metrics.get(metric)
        if value is None:
            _check_output_exists(name, metric, metrics)
            results.append(GateResult(name=name, metric=metric, threshold=threshold, value=None, passed=True, skipped=True,
                                      reason=f"'{metric}' was not measured"))
            continue
        if math.isnan(value):
            results.append(GateResult(name=name, metric=metric, threshold=threshold, value=value, passed=False, skipped=False,
                                      reason="measured value is NaN"))
            continue
        passed = value >= threshold if direction == "min" else value <= threshold
        results.append(GateResult(name=name, metric=metric, threshold=threshold, value=float(value), passed=passed,
                                  skipped=False, reason=""))
    return results


def _check_output_exists(name: str, metric: str, metrics: dict[str, float]) -> None:
    base, dot, output = metric.partition(".")
    if not dot:
        return
    outputs = sorted(key.partition(".")[2] for key in metrics if key.startswith(f"{base}."))
    if outputs:
        close = difflib.get_close_matches(output, outputs, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserInputError(f"gate '{name}': the model has no output '{output}'{hint}; its outputs: {', '.join(outputs)}")


def checked_gates(thresholds: dict[str, float], reference: dict[str, Any], labels: list[int] | None,
                  confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """The gates validation will check (not skip) for outputs shaped like ``reference``: those whose
    metric :func:`compare_outputs` measures for them. Anything judging candidates before validation
    (the mixed-precision search) uses this, so it is never held to a gate validation skips."""

    _, measured = compare_outputs(reference, reference, labels, confidence, resamples=10, seed=seed)
    return {name: threshold for name, threshold in thresholds.items() if gate_metric(name) in measured}
