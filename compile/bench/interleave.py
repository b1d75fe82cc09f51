"""Time several variants fairly on a shared machine: alternating blocks, one process, spinning off.

Timing variant A for a minute and then variant B confounds the comparison with whatever else the
machine did in that minute (medians moved up to 2x between runs minutes apart on a shared host).
Here each variant runs a short block in turn, the order reversing every round, so slow periods hit
all variants alike; the sessions are opened with intra-op spinning off (see
``compile.backends.ort.runner.session_options``), without which two sessions alternating in one
process slowed each other about 3x. Each variant's min, median and spread between blocks are
reported: a difference smaller than the spread is noise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from compile.bench.latency import LatencyStats, summarize


def block_order(names: list[str], round_index: int) -> list[str]:
    """Forward on even rounds, reversed on odd ones (ABC CBA ABC ...), so no variant always runs first."""
    return list(names) if round_index % 2 == 0 else list(reversed(names))


def measure_interleaved(steps: dict[str, Callable[[], Any]], batch: int, warmup: int = 5, iterations: int = 20,
                        rounds: int = 5, clock: Callable[[], float] = time.perf_counter) -> dict[str, LatencyStats]:
    """``rounds`` rounds; in each, every variant runs ``iterations`` timed calls as one block."""
    if not steps:
        return {}
    names = list(steps)
    for name in names:
        for _ in range(warmup):
            steps[name]()
    blocks: dict[str, list[list[float]]] = {name: [] for name in names}
    for round_index in range(rounds):
        for name in block_order(names, round_index):
            step = steps[name]
            times = []
            for _ in range(iterations):
                start = clock()
                step()
                times.append((clock() - start) * 1000.0)
            blocks[name].append(times)
    return {name: summarize(blocks[name], batch) for name in names}
