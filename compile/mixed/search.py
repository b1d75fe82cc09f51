"""The gate-driven search: how many of the ranked layers must stay in float for the gates to pass.

Layers are ranked once (most worth keeping in float first). The search evaluates the all-INT8
model, then keeps the first 1, 2, 3, ... ranked layers in float, one more at a time, up to
``scan`` counts; beyond them it doubles the count until the gates pass, then bisects between the
last failing and the first passing count. It stops at the first count that passes.

Counting up one at a time is cheap (a failing candidate stops after its first batch of inputs,
about 0.2 s on EfficientNet-Lite0) and it matters: under a gate of 2 top-1 flips in 400, which
inputs flip is close to chance once a few layers change (each change re-draws the rounding noise
of every layer after it), so the pass/fail of successive counts is not monotone, and a bisection
between 16 (failing) and 32 (passing) never tries the 3 that may pass. Bisection alone
(``scan = 0``) costs about ``2 log2(k)`` evaluations for ``k`` layers kept; every evaluation is
recorded so a surprise is visible in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Evaluation:
    """One candidate: the layers left in float and what its outputs measured."""

    float_layers: list[str]
    passed: bool
    metrics: dict[str, float] = field(default_factory=dict)
    failed_gates: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Inputs measured before the candidate was known to fail (``None``: all of them).
    stopped_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        entry = asdict(self)
        entry["float_layers"] = len(self.float_layers)
        entry["seconds"] = round(self.seconds, 3)
        if self.stopped_after is None:
            entry.pop("stopped_after")
        return entry


@dataclass
class SearchResult:
    #: The layers kept in float by the chosen candidate (empty: all-INT8 passed).
    float_layers: list[str]
    passed: bool
    evaluations: list[Evaluation]
    seconds: float

    @property
    def chosen(self) -> Evaluation | None:
        matches = [e for e in self.evaluations if e.passed and e.float_layers == self.float_layers]
        return matches[-1] if matches else None

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "float_layers": list(self.float_layers), "evaluations": len(self.evaluations),
                "seconds": round(self.seconds, 3), "steps": [e.to_dict() for e in self.evaluations]}


Evaluate = Callable[[list[str]], Evaluation]


def search_float_layers(ranked: Sequence[str], evaluate: Evaluate, log: Callable[[str], None] = lambda line: None,
                        scan: int = 0) -> SearchResult:
    """The first prefix of ``ranked`` that, left in float, makes ``evaluate`` pass: counts 1 to ``scan`` one by
    one, then doubling and bisection.

    ``evaluate(layers)`` builds and measures the model with ``layers`` in float. When even the whole
    ranking in float fails, the result is not passed and keeps the whole ranking.
    """
    started = time.perf_counter()
    evaluations: list[Evaluation] = []
    tried: dict[int, Evaluation] = {}

    def attempt(count: int) -> bool:
        if count not in tried:
            evaluation = evaluate(list(ranked[:count]))
            evaluation.float_layers = list(ranked[:count])
            tried[count] = evaluation
            evaluations.append(evaluation)
            verdict = "pass" if evaluation.passed else f"fail ({', '.join(evaluation.failed_gates)})"
            log(f"  search: {count} layer(s) in float: {verdict}")
        return tried[count].passed

    def finish(count: int, passed: bool) -> SearchResult:
        return SearchResult(list(ranked[:count]), passed, evaluations, time.perf_counter() - started)

    if attempt(0):
        return finish(0, True)
    failing, count = 0, 1
    while count <= min(scan, len(ranked)):
        if attempt(count):
            return finish(count, True)
        failing, count = count, count + 1
    if failing == len(ranked):
        return finish(len(ranked), False)
    count = min(max(2 * failing, 1), len(ranked))
    while count <= len(ranked):
        if attempt(count):
            break
        failing = count
        if count == len(ranked):
            return finish(len(ranked), False)
        count = min(count * 2, len(ranked))
    else:
        return finish(len(ranked), False)
    passing = count
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if attempt(middle):
            passing = middle
        else:
            failing = middle
    return finish(passing, True)
