"""Latency method check: why variants are compared in alternating blocks with intra-op spinning off, and
what adaptive timing (the ``benchmark`` pass's method on ``cpu`` and ``openvino-cpu``) costs and gives.

Two ONNX Runtime sessions of the same small CNN are timed in alternating blocks in one process,
once with intra-op thread spinning on and once with it off, then one after the other (all of A, then
all of B). For each: per-session min, median of block medians, and the spread between blocks.
Identical models should time the same; a gap between A and B, or a large spread, is the method's
error, not a real difference. Then each session is timed adaptively (until the 95% interval of its
median is within +-2%, at least 20 calls, 10 s at most): calls and seconds it took, the interval, and
whether the two identical sessions' intervals overlap, next to the fixed method's 3 x 50 calls.

Run: ``.venv/bin/python benchmarks/bench_latency.py`` (about a minute). Figures on a shared machine
are noisy; read them together with the spread.
"""

from __future__ import annotations

import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compile.bench.adaptive import AdaptiveSettings, time_adaptively
from compile.bench.interleave import measure_interleaved
from compile.bench.latency import LatencyStats, measure
from compile.bench.machine import machine_info


def _session(path: Path, spinning: bool):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    from compile.backends.ort.runner import session_options

    ort.set_default_logger_severity(3)
    options = session_options(optimization="extended")
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _line(label: str, stats: LatencyStats) -> str:
    return (f"{label:34s} min {stats.min_ms:7.3f} ms  median {statistics.median(stats.repeat_medians_ms):7.3f} ms  "
            f"spread {stats.spread_pct:5.1f}%")


REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    sys.path.insert(0, str(REPO))
    from tests.helpers import make_tiny_classifier

    info = machine_info()
    print(f"machine: {info['cpu']}, {info['usable_cpus']} usable CPUs; onnxruntime {info['libraries'].get('onnxruntime')}")
    with tempfile.TemporaryDirectory() as scratch:
        path = make_tiny_classifier(Path(scratch) / "cnn.onnx", channels=64, size=224)
        feed = {"input": np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)}
        for spinning in (True, False):
            a, b = _session(path, spinning), _session(path, spinning)
            stats = measure_interleaved({"A": functools.partial(a.run, None, feed), "B": functools.partial(b.run, None, feed)},
                                        batch=1, warmup=5, iterations=20, rounds=6)
            for name, s in stats.items():
                print(_line(f"alternating, spinning {'on ' if spinning else 'off'} {name}", s))
        a, b = _session(path, False), _session(path, False)
        for name, sess in (("A", a), ("B", b)):
            s = measure(lambda sess=sess: sess.run(None, feed), 1, warmup=5, iterations=20, repeats=6)
            print(_line(f"sequential, spinning off {name}", s))
        intervals = []
        for name, sess in (("A", a), ("B", b)):
            fixed_start = time.perf_counter()
            fixed = measure(lambda sess=sess: sess.run(None, feed), 1, warmup=10, iterations=50, repeats=3)
            fixed_s = time.perf_counter() - fixed_start
            run = time_adaptively(lambda sess=sess: sess.run(None, feed), AdaptiveSettings(budget_s=10.0, target_pct=2.0, min_runs=20))
            iv = run.interval
            intervals.append(iv)
            print(f"adaptive {name}: median {iv.median_ms:7.3f} ms, 95% interval {iv.low_ms:.3f}-{iv.high_ms:.3f} ms "
                  f"(+-{iv.half_width_pct:.1f}%), {run.stopped} after {len(run.samples_ms)} calls in {run.seconds:.2f} s; "
                  f"fixed 3 x 50: median {fixed.p50_ms:7.3f} ms in {fixed_s:.2f} s")
        overlap = intervals[0].low_ms <= intervals[1].high_ms and intervals[1].low_ms <= intervals[0].high_ms
        print(f"identical sessions' intervals {'overlap' if overlap else 'do NOT overlap (the machine drifted between them)'}")


if __name__ == "__main__":
    main()
