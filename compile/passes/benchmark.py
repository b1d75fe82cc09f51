"""benchmark: latency and throughput of the built artifact at each batch size the profile lists."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from compile.artifacts import RUNTIME, Artifact, RuntimeArtifact
from compile.passes.base import Pass, PassContext, PassOptions, PassResult


class BenchmarkOptions(PassOptions):
    batch_sizes: list[int] = Field(default=[1], min_length=1)
    #: "fixed": ``repeats`` x ``iterations``; "adaptive": until the median's 95% interval is within
    #: ``target_interval_pct`` (at least ``min_runs`` calls) or ``budget_s`` runs out (compile.bench.adaptive).
    mode: Literal["fixed", "adaptive"] = "fixed"
    budget_s: float = Field(default=15.0, gt=0)
    target_interval_pct: float = Field(default=2.0, gt=0)
    min_runs: int = Field(default=20, ge=5)
    warmup: int = Field(default=10, ge=0)
    #: Timed calls per repeat (ignored when ``duration_s`` is set).
    iterations: int = Field(default=50, ge=1)
    #: Timed blocks; the spread between their medians is reported so noise is visible.
    repeats: int = Field(default=3, ge=1)
    #: Seconds per repeat instead of a fixed number of iterations.
    duration_s: float | None = Field(default=None, gt=0)
    threads: int | None = Field(default=None, ge=1)


class BenchmarkPass(Pass):
    name = "benchmark"
    description = "Measure p50/p90/p99 latency and throughput (warm-up, then fixed blocks or until the median is known to +-2%; machine recorded)."
    consumes = (RUNTIME,)
    Options = BenchmarkOptions
    options: BenchmarkOptions
    #: The machine is part of the cache key: timings are reused only on the same machine and libraries.
    version = "2"

    @classmethod
    def metric_names(cls) -> tuple[str, ...]:
        from compile.bench.suite import HEADLINE

        return (*HEADLINE, *(f"{name}_b*" for name in HEADLINE))

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        from compile.bench.machine import machine_info

        return {"machine": machine_info()}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        from compile.bench.machine import machine_info
        from compile.bench.suite import BenchSettings, benchmark_artifact

        artifact = self.input(inputs, RUNTIME, RuntimeArtifact)
        o = self.options
        settings = BenchSettings(tuple(o.batch_sizes), o.warmup, o.iterations, o.repeats, o.duration_s, o.threads,
                                 o.mode, o.budget_s, o.target_interval_pct, o.min_runs)
        latency, metrics = benchmark_artifact(artifact, ctx.model_info(), settings, ctx.log)
        return PassResult(None, record={"batches": list(o.batch_sizes)},
                          report={"latency": latency, "machine": machine_info()}, metrics=metrics)
