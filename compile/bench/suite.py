"""Benchmark one runtime artifact at several batch sizes: the figures, the report section, the gate metrics.

Shared by the ``benchmark`` pass and by ``compile validate`` (standalone, when it must compare latency
with a baseline), so both measure the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from compile.bench.adaptive import AdaptiveSettings, adaptive_stats, time_adaptively
from compile.bench.latency import LatencyStats, measure

if TYPE_CHECKING:
    from compile.artifacts import RuntimeArtifact
    from compile.models.spec import ModelInfo

#: Figures of the first batch size that become gate metrics (``max_p99_ms``, ``min_throughput_ips``...);
#: ``interval_pct`` (the median's 95% interval, in % of it) only under adaptive timing.
HEADLINE = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "throughput_ips", "spread_pct", "interval_pct")


@dataclass(frozen=True)
class BenchSettings:
    """``mode="fixed"``: ``repeats`` blocks of ``iterations`` calls (or ``duration_s`` each) per batch size;
    ``mode="adaptive"``: each batch size until the median's interval is within ``target_interval_pct``, with
    ``budget_s`` seconds for all of them (shared out as they finish), at least ``min_runs`` calls each."""

    batch_sizes: tuple[int, ...] = (1,)
    warmup: int = 10
    iterations: int = 50
    repeats: int = 3
    duration_s: float | None = None
    threads: int | None = None
    mode: Literal["fixed", "adaptive"] = "fixed"
    budget_s: float = 15.0
    target_interval_pct: float = 2.0
    min_runs: int = 20


def latency_metrics(results: list[LatencyStats]) -> dict[str, float]:
    """Headline figures of the first batch size by name, and every batch's as ``<name>_b<batch>``."""
    metrics: dict[str, float] = {}
    for index, stats in enumerate(results):
        for name in HEADLINE:
            if getattr(stats, name) is None:
                continue
            value = float(getattr(stats, name))
            if index == 0:
                metrics[name] = value
            metrics[f"{name}_b{stats.batch}"] = value
    return metrics


def latency_section(results: list[LatencyStats], threads: int, backend: str, settings: BenchSettings) -> dict[str, Any]:
    first = results[0]
    return {"p50_ms": first.p50_ms, "p90_ms": first.p90_ms, "p99_ms": first.p99_ms, "mean_ms": first.mean_ms,
            "min_ms": first.min_ms, "throughput_ips": first.throughput_ips, "batch": first.batch,
            "spread_pct": first.spread_pct, "threads": threads, "backend": backend,
            **({"interval_ms": [first.interval_low_ms, first.interval_high_ms], "interval_pct": first.interval_pct,
                "stopped": first.stopped} if first.stopped else {}),
            "method": method(settings), "per_batch": [s.to_dict() for s in results]}


def method(settings: BenchSettings) -> dict[str, Any]:
    if settings.mode == "adaptive":
        return {"mode": "adaptive", "warmup": settings.warmup, "budget_s": settings.budget_s,
                "target_interval_pct": settings.target_interval_pct, "confidence": 0.95, "min_runs": settings.min_runs,
                "intra_op_spinning": False}
    return {"mode": "fixed", "warmup": settings.warmup, "iterations": settings.iterations, "repeats": settings.repeats,
            "duration_s": settings.duration_s, "intra_op_spinning": False}


def benchmark_artifact(artifact: RuntimeArtifact, info: ModelInfo, settings: BenchSettings,
                       log: Callable[[str], None] = lambda line: None) -> tuple[dict[str, Any], dict[str, float]]:
    """Measure ``artifact``; returns the ``latency`` report section and the gate metrics."""
    from compile.backends import make_runner
    from compile.bench.machine import machine_info
    from compile.data.generated import generate_inputs

    results: list[LatencyStats] = []
    deadline = time.perf_counter() + settings.budget_s
    with make_runner(artifact, settings.threads) as runner:
        for index, batch in enumerate(settings.batch_sizes):
            feed = generate_inputs(info.inputs, batch, seed=3)

            def step(feed: dict[str, Any] = feed) -> Any:
                return runner.infer(feed)

            if settings.mode == "adaptive":
                # What is left of the budget, shared by the batch sizes still to time.
                share = max(0.0, deadline - time.perf_counter()) / (len(settings.batch_sizes) - index)
                stats = adaptive_stats(time_adaptively(step, AdaptiveSettings(
                    share, settings.target_interval_pct, settings.min_runs, warmup=settings.warmup)), batch)
                log(f"  batch {batch}: p50 {stats.p50_ms:.2f} ms (95% interval {stats.interval_low_ms:.2f}-"
                    f"{stats.interval_high_ms:.2f} ms, +-{stats.interval_pct:.1f}%, {stats.stopped} after "
                    f"{stats.iterations} calls in {stats.seconds:.1f}s), p99 {stats.p99_ms:.2f} ms, "
                    f"{stats.throughput_ips:.1f} inferences/s")
            else:
                stats = measure(step, batch, settings.warmup, settings.iterations, settings.repeats, settings.duration_s)
                log(f"  batch {batch}: p50 {stats.p50_ms:.2f} ms, p99 {stats.p99_ms:.2f} ms, min {stats.min_ms:.2f} ms, "
                    f"{stats.throughput_ips:.1f} inferences/s (spread between repeats {stats.spread_pct:.1f}%)")
            results.append(stats)
    threads = settings.threads or int(machine_info()["usable_cpus"] or 1)
    return latency_section(results, threads, artifact.backend, settings), latency_metrics(results)
