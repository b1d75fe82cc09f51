"""Gates: ``min_<metric>`` and ``max_<metric>`` thresholds checked against measured figures.

The name carries the direction, so a profile reads as it is judged: ``min_top1_agreement = 0.99``
passes when the measured ``top1_agreement`` is at least 0.99. A gate must name a metric some pass
can measure (a :class:`MetricCatalogue`, read from the passes by
:func:`compile.passes.registry.known_metrics`): a typo is rejected before anything runs, with the closest known
names, since a CI gate that can never fail is worse than none. A known metric this run did not
measure (no labels for ``top1_drop``, no benchmark for ``p99_ms``) is reported as skipped, not passed.

A gate naming a view (``min_cosine_mean.embedding``) judges that output; a gate without one judges every
output whose kind measures the metric, and its value is the deciding output's. Each judged gate has a verdict:

- **pass**: the point value passes and so does the pessimistic end of its interval (the lower bound of a
  ``min_`` gate, the upper of a ``max_``), or the metric has no interval and the point passes (``judged_on:
  point``);
- **fail**: the point value misses the threshold;
- **inconclusive**: the point passes, the interval does not clear the threshold: more samples are needed
  (:func:`compile.validate.bootstrap.samples_needed` says about how many). It does not fail a run unless
  ``strict``.
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
from compile.validate.bootstrap import samples_needed
from compile.validate.compare import compare_outputs
from compile.validate.user_metrics import UserMetric

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
    verdict: Verdict = Field(default="pass", description="pass | fail | skipped | inconclusive (the point passes, the "
                                                          "interval does not clear the threshold)")
    detail: Any = Field(default=None, description="how it was judged: judged_on (interval or point), interval, confidence, "
                                                  "samples, samples_needed (inconclusive), output (the deciding one)")

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
        """``top1_agreement = 0.95, needs >= 0.97 (min_top1_agreement)``, why it was skipped, or why it is
        inconclusive (``...: INCONCLUSIVE, the 95% interval reaches 0.944; about 122 samples would settle it``)."""
        if self.skipped:
            return f"{self.name} skipped: {self.reason}"
        op = ">=" if self.name.startswith("min_") else "<="
        shown = "NaN" if self.value is None else f"{self.value:.6g}"
        detail = self.detail if isinstance(self.detail, dict) else {}
        where = f" on output '{detail['output']}'" if detail.get("output") else ""
        text = f"{self.metric} = {shown}{where}, needs {op} {self.threshold:g} ({self.name})"
        if self.verdict == "inconclusive":
            low, high = detail.get("interval", (None, None))
            bound = low if op == ">=" else high
            needed = detail.get("samples_needed")
            more = (f"about {needed} samples would settle it ({detail.get('samples')} now)" if needed
                    else "no sample count settles it: the point value is at the threshold")
            text += (f": INCONCLUSIVE, the {int(round(100 * detail.get('confidence', 0.95)))}% interval reaches "
                     f"{bound:.6g}; {more}")
        return text


def gate_metric(name: str) -> str:
    """``min_top1_agreement`` -> ``top1_agreement``; ``max_max_abs_error.boxes`` -> ``max_abs_error.boxes``."""
    return name.partition("_")[2]


@dataclass(frozen=True)
class MetricCatalogue:
    """What gates may name: metrics (fnmatch patterns such as ``p50_ms_b*``) and the per-output ones
    (``<metric>.<output>``, output names being known only once the model is). ``open``: user metrics that do not
    declare their names are in use, so an unknown bare name may still be measured (checked once they have run)."""

    metrics: tuple[str, ...]
    per_output: tuple[str, ...]
    open: bool = False

    def knows(self, metric: str) -> bool:
        base, dot, output = metric.partition(".")
        if dot:
            return bool(output) and base in self.per_output
        return self.open or any(fnmatch.fnmatchcase(metric, pattern) for pattern in self.metrics)

    def with_user_metrics(self, names: set[str], complete: bool) -> MetricCatalogue:
        """This catalogue and the names user metrics declare; ``open`` unless every user metric declares them."""
        return MetricCatalogue(tuple(sorted({*self.metrics, *names})), self.per_output, self.open or not complete)

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
        base, dot, output = metric.partition(".")
        if dot:  # a per-output gate: the closest per-output metrics, on the same output
            scored = sorted((-difflib.SequenceMatcher(None, base, name).ratio(), name) for name in self.per_output)
            close = [f"{name}.{output}" for score, name in scored if -score >= 0.5][:3]
        else:
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


#: How bad each verdict is, for a gate judged on several outputs.
_SEVERITY = {"pass": 0, "inconclusive": 1, "fail": 2}


def evaluate_gates(thresholds: dict[str, float], metrics: dict[str, float], intervals: dict[str, Any] | None = None,
                   strict: bool = False) -> list[GateResult]:
    """One result per gate (see the module docstring for the verdicts).

    ``intervals``: metric name (``top1_agreement``, ``cosine_mean.embedding``) -> an interval as the report's
    ``accuracy.confidence`` holds it (``low``, ``high``, ``confidence``, ``samples``, ``method``); without it every
    gate is judged on its point value. ``strict``: an inconclusive gate fails (``passed`` false). A gate on an
    output the model does not have (while the metric was measured for its other outputs) is a UserInputError
    naming the outputs it has."""
    results = []
    for name, threshold in thresholds.items():
        direction, _, metric = name.partition("_")
        candidates = _candidates(metric, metrics)
        if not candidates:
            _check_output_exists(name, metric, metrics)
            results.append(GateResult(name=name, metric=metric, threshold=threshold, value=None, passed=True, skipped=True,
                                      reason=f"'{metric}' was not measured"))
            continue
        judged = [_judge(direction, threshold, key, view, value, (intervals or {}).get(key)) for key, view, value in candidates]
        lower = direction == "min"
        # The deciding output: the worst verdict; among equals the worst value (an inconclusive one: the most samples needed).
        best = max(range(len(judged)), key=lambda i: (_SEVERITY[judged[i][0]], _badness(judged[i], lower)))
        verdict, value, reason, detail = judged[best]
        if len(candidates) > 1:
            detail = {**detail, "output": candidates[best][1]}
        passed = verdict == "pass" or (verdict == "inconclusive" and not strict)
        if verdict == "inconclusive" and strict:
            reason += " (strict: an inconclusive gate fails)"
        results.append(GateResult(name=name, metric=metric, threshold=threshold, value=value, passed=passed, skipped=False,
                                  reason=reason, verdict=verdict, detail=detail))
    return results


def _candidates(metric: str, metrics: dict[str, float]) -> list[tuple[str, str | None, float]]:
    """(metric key, view, value) a gate on ``metric`` judges: that key for a gate naming a view or a metric measured
    once; every view's ``<metric>.<view>`` for a bare metric measured per output."""
    if "." in metric:
        return [(metric, metric.partition(".")[2], metrics[metric])] if metric in metrics else []
    per_view: list[tuple[str, str | None, float]] = [(key, key.partition(".")[2], value) for key, value in metrics.items()
                                                     if key.partition(".")[0] == metric and "." in key]
    if per_view:
        return per_view
    return [(metric, None, metrics[metric])] if metric in metrics else []


def _badness(judged: tuple[Verdict, float, str, dict[str, Any]], lower: bool) -> float:
    verdict, value, _, detail = judged
    if verdict == "inconclusive":
        return float(detail.get("samples_needed") or math.inf)
    if math.isnan(value):
        return math.inf
    return -value if lower else value


def _judge(direction: str, threshold: float, key: str, view: str | None, value: float,
           interval: dict[str, Any] | None) -> tuple[Verdict, float, str, dict[str, Any]]:
    """(verdict, value, reason, detail) of one output's figure."""
    value = float(value)
    if math.isnan(value):
        return "fail", value, "measured value is NaN", {"judged_on": "point"}
    lower = direction == "min"
    if not (value >= threshold if lower else value <= threshold):
        return "fail", value, "", {"judged_on": "point"}
    if interval is None:
        return "pass", value, "", {"judged_on": "point (no interval for this metric)"}
    low, high = float(interval["low"]), float(interval["high"])
    confidence, samples = float(interval.get("confidence", 0.95)), int(interval.get("samples", 0))
    detail: dict[str, Any] = {"judged_on": "interval", "interval": [low, high], "confidence": confidence, "samples": samples}
    bound = low if lower else high
    if (bound >= threshold) if lower else (bound <= threshold):
        return "pass", value, "", detail
    detail["samples_needed"] = samples_needed(value, bound, threshold, samples, confidence, str(interval.get("method", "")))
    return "inconclusive", value, "the point value passes, its interval does not clear the threshold", detail


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
                  confidence: float = 0.95, seed: int = 0, *, kinds: dict[str, str] | None = None,
                  user_metrics: list[UserMetric] | tuple[UserMetric, ...] = (),
                  metadata: dict[str, Any] | None = None) -> dict[str, float]:
    """The gates validation will check (not skip) for outputs shaped like ``reference`` with these ``kinds``:
    those whose metric :func:`compare_outputs` (and the user metrics) measures for them. Anything judging
    candidates before validation (the mixed-precision search) uses this, so it is never held to a gate
    validation skips."""

    _, measured = compare_outputs(reference, reference, labels, confidence, resamples=10, seed=seed, kinds=kinds,
                                  user_metrics=user_metrics, metadata=metadata)
    return {name: threshold for name, threshold in thresholds.items() if _candidates(gate_metric(name), measured)}
