"""Adaptive timing: time one step until its median is known to within a target, or a time budget is spent.

A fixed number of calls is too many for a slow model (ResNet-50 at batch 8 spent a minute on 150 calls)
and too few on a noisy machine. Here calls are timed one at a time; after ``min_runs`` of them, and then
every 10% more, the distribution-free confidence interval of the median is computed from order
statistics (the ranks ``n/2 -+ z sqrt(n)/2`` of the sorted times, the normal approximation of the
binomial, e.g. Conover, *Practical Nonparametric Statistics*, 3.2). Timing stops when both ends lie
within ``target_pct`` of the median (``converged``), or when the budget is spent (``budget``); the
budget never cuts below ``min_runs`` calls, so every figure rests on at least that many.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import numpy as np

from compile.bench.latency import LatencyStats, summarize

CONVERGED = "converged"
BUDGET = "budget"
#: Share of a batch size's budget that warm-up may take (at least one call is always made).
WARMUP_SHARE = 0.1
#: Interval checks after ``min_runs``: each time the sample has grown by this share (sorting is O(n log n)).
CHECK_GROWTH = 0.1


@dataclass(frozen=True)
class AdaptiveSettings:
    """``budget_s``: seconds for this step, warm-up included; ``target_pct``: half-width of the median's
    interval, in % of the median, that stops timing; ``warmup``: untimed calls first (within 10% of the budget)."""

    budget_s: float
    target_pct: float = 2.0
    min_runs: int = 20
    confidence: float = 0.95
    warmup: int = 10


@dataclass(frozen=True)
class MedianInterval:
    """The median of ``n`` times and its confidence interval, in ms; ``half_width_pct``: the farther end's
    distance from the median, in % of the median."""

    n: int
    median_ms: float
    low_ms: float
    high_ms: float

    @property
    def half_width_pct(self) -> float:
        if self.median_ms <= 0:
            return 0.0
        return 100.0 * max(self.median_ms - self.low_ms, self.high_ms - self.median_ms) / self.median_ms


def median_interval(samples_ms: list[float] | np.ndarray, confidence: float = 0.95) -> MedianInterval:
    """Order-statistic interval of the median (needs no assumption about the shape of the times)."""
    x = np.sort(np.asarray(samples_ms, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise ValueError("no samples")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    half = z * math.sqrt(n) / 2.0
    # 1-based ranks j = floor(n/2 - half), k = ceil(1 + n/2 + half), clipped to the sample.
    low_rank = max(1, math.floor(n / 2.0 - half))
    high_rank = min(n, math.ceil(1.0 + n / 2.0 + half))
    return MedianInterval(n, float(np.median(x)), float(x[low_rank - 1]), float(x[high_rank - 1]))


@dataclass(frozen=True)
class AdaptiveRun:
    samples_ms: list[float]
    interval: MedianInterval
    #: ``converged`` or ``budget``.
    stopped: str
    warmup_calls: int
    #: Wall seconds, warm-up included.
    seconds: float


def time_adaptively(step: Callable[[], Any], settings: AdaptiveSettings,
                    clock: Callable[[], float] = time.perf_counter) -> AdaptiveRun:
    """Warm up, then time ``step`` until :func:`median_interval` is within ``settings.target_pct`` or the
    budget is spent (never before ``settings.min_runs`` calls). ``clock`` returns seconds."""
    started = clock()
    deadline = started + settings.budget_s
    warmup_end = started + WARMUP_SHARE * settings.budget_s
    warmup_calls = 0
    while warmup_calls < settings.warmup:
        step()
        warmup_calls += 1
        if clock() >= warmup_end:
            break
    samples: list[float] = []
    next_check = settings.min_runs
    while True:
        before = clock()
        step()
        after = clock()
        samples.append((after - before) * 1000.0)
        n = len(samples)
        spent = after >= deadline
        if n < settings.min_runs or (n < next_check and not spent):
            continue
        interval = median_interval(samples, settings.confidence)
        if interval.half_width_pct <= settings.target_pct:
            return AdaptiveRun(samples, interval, CONVERGED, warmup_calls, after - started)
        if spent:
            return AdaptiveRun(samples, interval, BUDGET, warmup_calls, after - started)
        next_check = n + max(1, int(CHECK_GROWTH * n))


def adaptive_stats(run: AdaptiveRun, batch: int) -> LatencyStats:
    """The run as :class:`LatencyStats`; its "repeats" are the three consecutive thirds of the timed calls,
    so ``spread_pct`` still shows drift during the run."""
    thirds = [part.tolist() for part in np.array_split(np.asarray(run.samples_ms), 3) if len(part)]
    stats = summarize(thirds, batch)
    return replace(stats, interval_low_ms=run.interval.low_ms, interval_high_ms=run.interval.high_ms,
                   interval_pct=run.interval.half_width_pct, stopped=run.stopped, seconds=run.seconds)
