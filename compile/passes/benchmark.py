"""benchmark: latency and throughput of the built artifact at each batch size the profile lists."""

from __future__ import annotations

from typing import Any

from compile.artifacts import RUNTIME, Artifact, RuntimeArtifact
from compile.passes.base import Pass, PassContext, PassOptions, PassResult
from compile.profiles import Profile
from compile.settings import RunSettings


class BenchmarkOptions(PassOptions):
    batch_sizes: list[int] = [1]
    warmup: int = 10
    iterations: int = 50
    repeats: int = 3
    duration_s: float | None = None
    threads: int | None = None


class BenchmarkPass(Pass):
    name = "benchmark"
    description = "Measure p50/p90/p99 latency and throughput (warm-up, repeated blocks, machine recorded)."
    consumes = (RUNTIME,)
    Options = BenchmarkOptions
    options: BenchmarkOptions
    #: Timings are never reused from an earlier run: the machine may have changed since.
    version = "1"

    @classmethod
    def resolve_options(cls, entry_options: dict[str, Any], profile: Profile, settings: RunSettings) -> dict[str, Any]:
        b = profile.benchmark
        return {"batch_sizes": profile.shapes.batch_sizes, "warmup": b.warmup, "iterations": b.iterations,
                "repeats": b.repeats, "duration_s": b.duration_s, "threads": b.threads, **entry_options}

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        from compile.bench.machine import machine_info

        return {"machine": machine_info()}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        from compile.backends import make_runner
        from compile.bench.latency import measure
        from compile.bench.machine import machine_info
        from compile.data.generated import generate_inputs

        artifact = inputs[RUNTIME]
        assert isinstance(artifact, RuntimeArtifact)
        info = ctx.model_info()
        results = []
        with make_runner(artifact, self.options.threads) as runner:
            for batch in self.options.batch_sizes:
                feed = generate_inputs(info.inputs, batch, seed=3)
                stats = measure(lambda feed=feed: runner.infer(feed), batch, self.options.warmup, self.options.iterations,
                                self.options.repeats, self.options.duration_s)
                ctx.log(f"  batch {batch}: p50 {stats.p50_ms:.2f} ms, p99 {stats.p99_ms:.2f} ms, "
                        f"{stats.throughput_ips:.1f} inferences/s (spread {stats.spread_pct:.1f}%)")
                results.append(stats)
        first = results[0]
        latency = {"p50_ms": first.p50_ms, "p90_ms": first.p90_ms, "p99_ms": first.p99_ms, "mean_ms": first.mean_ms,
                   "min_ms": first.min_ms, "throughput_ips": first.throughput_ips, "batch": first.batch,
                   "spread_pct": first.spread_pct, "threads": self.options.threads or machine_info()["usable_cpus"],
                   "backend": artifact.backend, "per_batch": [s.to_dict() for s in results]}
        metrics = {"p50_ms": first.p50_ms, "p90_ms": first.p90_ms, "p99_ms": first.p99_ms,
                   "throughput_ips": first.throughput_ips}
        return PassResult(None, record={"batches": [s.batch for s in results]},
                          report={"latency": latency, "machine": machine_info()}, metrics=metrics)
