"""Matrix wall time with the local executor and with Ray, and the stage runs sharing saved.

    .venv/bin/python benchmarks/bench_matrix.py [--models tiny_cnn,tiny_transformer] [--jobs 2] [--no-ray]

Compiles every model for two CPU profiles (``cpu`` and a copy with other batch sizes and benchmark
settings) into fresh folders: once on the local process pool, once on a local Ray instance
(its start-up included), and once on the local pool without sharing, for comparison. Timings on a
shared machine are noisy; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compile.matrix import MatrixSettings, make_plan, run_matrix  # noqa: E402


def second_cpu_profile(folder: Path) -> Path:
    text = (REPO / "profiles" / "cpu.toml").read_text()
    text = re.sub(r'^name = "cpu"', 'name = "cpu-b"', text, count=1, flags=re.M)
    text = re.sub(r"^batch_sizes = .*$", "batch_sizes = [1, 4]", text, count=1, flags=re.M)
    text = re.sub(r"^iterations = .*$", "iterations = 20", text, count=1, flags=re.M)
    path = folder / "cpu-b.toml"
    path.write_text(text)
    return path


def one(label: str, settings: MatrixSettings) -> None:
    started = time.perf_counter()
    result = run_matrix(make_plan(settings), log=lambda line: None)
    total = time.perf_counter() - started
    runs = result.report["stage_runs"]
    counts = result.report["counts"]
    print(f"{label:<22} wall {total:6.1f} s  jobs passed {counts['passed']}/{len(result.jobs)}  "
          f"stage runs executed {runs['executed']:>2} of {runs['needed']:>2} needed, "
          f"{runs['saved_by_sharing']} from the shared cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny_cnn,tiny_transformer")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    models = tuple(m for m in args.models.split(",") if m)
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        folder = Path(tmp)
        profiles = ("cpu", str(second_cpu_profile(folder)))
        print(f"{len(models)} models x {len(profiles)} CPU profiles, {args.jobs} workers "
              f"(shared machine: timings are noisy)")
        one("local", MatrixSettings(models=models, profiles=profiles, out=folder / "local", jobs=args.jobs))
        if args.no_ray or importlib.util.find_spec("ray") is None:
            print("ray: skipped" + ("" if args.no_ray else " (not installed: pip install 'compile[ray]')"))
        else:
            one("ray (local instance)", MatrixSettings(models=models, profiles=profiles, out=folder / "ray",
                                                       jobs=args.jobs, executor="ray"))
        one("local, no sharing", MatrixSettings(models=models, profiles=profiles, out=folder / "noshare",
                                                jobs=args.jobs, share=False))


if __name__ == "__main__":
    main()
