"""`make bench`: run the benchmark scripts one after another and print their figures.

Each script prints its own table; `BENCH=name[,name]` (precision, sparsity, mixed, latency, matrix)
picks some. They take minutes each on a 2-core machine (EfficientNet-Lite0 and ResNet-50 on the
CPU); timings move with machine load, so each script reports medians and spreads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("latency", "precision", "mixed", "sparsity", "matrix")


def main() -> int:
    chosen = [name for name in os.environ.get("BENCH", ",".join(ORDER)).split(",") if name]
    unknown = sorted(set(chosen) - set(ORDER))
    if unknown:
        print(f"error: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}", file=sys.stderr)
        return 2
    failures = 0
    for name in chosen:
        print(f"\n=== bench_{name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / f"bench_{name}.py")])
        print(f"=== bench_{name}: exit {code}, {time.perf_counter() - started:.0f} s ===", flush=True)
        failures += code != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
