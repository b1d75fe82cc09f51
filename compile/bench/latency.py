"""Latency statistics: warm-up, then timed iterations, repeated so the spread between repeats shows noise."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    batch: int
    iterations: int
    repeats: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    throughput_ips: float
    #: Medians of each repeat, and their spread (max - min) relative to the overall median.
    repeat_medians_ms: tuple[float, ...]
    spread_pct: float
    #: Adaptive timing only (compile.bench.adaptive): the median's confidence interval, its half-width in %
    #: of the median, why timing stopped ("converged" / "budget") and the seconds it took.
    interval_low_ms: float | None = None
    interval_high_ms: float | None = None
    interval_pct: float | None = None
    stopped: str | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else round(v, 4) if isinstance(v, float) else v)
                for k, v in self.__dict__.items()}


def summarize(samples_ms: list[list[float]], batch: int) -> LatencyStats:
    flat = np.asarray([s for repeat in samples_ms for s in repeat], dtype=np.float64)
    medians = tuple(float(np.median(r)) for r in samples_ms)
    p50 = float(np.percentile(flat, 50))
    spread = 100.0 * (max(medians) - min(medians)) / p50 if p50 > 0 else 0.0
    return LatencyStats(
        batch=batch, iterations=len(flat), repeats=len(samples_ms),
        p50_ms=p50, p90_ms=float(np.percentile(flat, 90)), p99_ms=float(np.percentile(flat, 99)),
        mean_ms=float(flat.mean()), min_ms=float(flat.min()), max_ms=float(flat.max()),
        throughput_ips=1000.0 * batch / p50 if p50 > 0 else 0.0,
        repeat_medians_ms=medians, spread_pct=spread,
    )


def measure(step: Callable[[], Any], batch: int, warmup: int, iterations: int, repeats: int,
            duration_s: float | None = None) -> LatencyStats:
    """Time ``step``: ``warmup`` untimed calls, then ``repeats`` blocks of ``iterations`` calls (or of
    ``duration_s`` seconds each, when given)."""
    for _ in range(warmup):
        step()
    blocks: list[list[float]] = []
    for _ in range(repeats):
        times: list[float] = []
        block_end = time.perf_counter() + duration_s if duration_s else None
        while True:
            start = time.perf_counter()
            step()
            times.append((time.perf_counter() - start) * 1000.0)
            if block_end is not None:
                if time.perf_counter() >= block_end:
                    break
            elif len(times) >= iterations:
                break
        blocks.append(times)
    return summarize(blocks, batch)
