"""Mixed precision on a real model: EfficientNet-Lite0 (real weights) under a tight agreement gate.

``--precision best`` on the ``cpu`` profile with ``min_top1_agreement = 0.995``: calibration on the
first 100 images of /work/shared/data/imagenet-sample-500, validation on the other 400 (two folders
of symlinks with their own labels.csv, so the two sets are disjoint). Prints every candidate with
its accuracy and latency, the layers ``mixed`` kept in float, and what its search cost compared
with one calibration run (the calibration cache is a fresh folder, so calibration really runs once).

Run: ``.venv/bin/python benchmarks/bench_mixed.py [--data DIR] [--out DIR]`` (10-20 minutes on a
shared 2-core machine; most of it is exporting the model and the PyTorch reference outputs).
Latencies on a shared machine are noisy: read them with the spread the report records.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compile.data.split import split_labeled_folder  # noqa: E402 - after the path set-up

DATA = Path("/work/shared/data/imagenet-sample-500")
CALIB_IMAGES = 100
GATE = 0.995


def bench_profile(into: Path, samples: int, sensitivity: str | None = None, per_tensor: bool = False,
                  rounding: str | None = None, calib_method: str | None = None, bias_correction: bool | None = None) -> Path:
    """The cpu profile, validating on ``samples`` images and benchmarking batch 1 only; ``per_tensor`` gives
    INT8 weights one scale per tensor (what some accelerators require), ``rounding`` the weight rounding,
    ``calib_method`` the activation ranges, ``bias_correction`` turns that on or off."""
    text = (REPO / "profiles" / "cpu.toml").read_text()
    if calib_method:
        text = text.replace('method = "minmax"', f'method = "{calib_method}"', 1)
    if bias_correction is not None:
        text = text.replace("[calibration]\n", f"[calibration]\nbias_correction = {str(bias_correction).lower()}\n", 1)
    if sensitivity:
        text = text.replace('name = "mixed-precision"', f'name = "mixed-precision"\nsensitivity = "{sensitivity}"', 1)
    if per_tensor:
        for entry in ("quantize-int8", "mixed-precision"):
            text = text.replace(f'name = "{entry}"', f'name = "{entry}"\nper_channel = false', 1)
    if rounding:
        text = text.replace("[calibration]\n", f'[calibration]\nweight_rounding = "{rounding}"\n', 1)
    text = text.replace('name = "cpu"', 'name = "cpu-mixed-bench"', 1)
    text = text.replace("[validation]\nsamples = 64", f"[validation]\nsamples = {samples}", 1)
    text = text.replace("batch_sizes = [1, 8]", "batch_sizes = [1]", 1)
    path = into / "cpu-mixed-bench.toml"
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--gate", type=float, default=GATE, help="min_top1_agreement")
    parser.add_argument("--sensitivity", choices=("single-layer", "qdq-debug"), default=None,
                        help="mixed-precision's sensitivity measure (default: the pass's own)")
    parser.add_argument("--per-tensor", action="store_true", help="one INT8 scale per weight tensor (plain INT8 collapses)")
    parser.add_argument("--rounding", choices=("nearest", "gptq"), default=None, help="INT8 weight rounding (default: the profile's)")
    parser.add_argument("--calib-method", choices=("minmax", "entropy", "percentile", "mse"), default=None,
                        help="activation ranges (default: the profile's)")
    parser.add_argument("--bias-correction", choices=("on", "off"), default=None, help="default: the profile's")
    parser.add_argument("--rounds", type=int, default=15, help="alternating blocks of the final side-by-side timing")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from compile import api
    from compile.bench.machine import machine_info

    scratch = Path(tempfile.mkdtemp(prefix="bench-mixed-"))
    os.environ["COMPILE_CACHE_DIR"] = str(scratch / "cache")  # calibration really runs once, and is timed
    calib, val = split_labeled_folder(args.data, scratch / "data", CALIB_IMAGES, ("calib", "val"))
    samples = sum(1 for _ in val.glob("*.jpg"))
    correction = None if args.bias_correction is None else args.bias_correction == "on"
    profile = bench_profile(scratch, samples, args.sensitivity, args.per_tensor, args.rounding, args.calib_method, correction)
    out = args.out or scratch / "run"
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['usable_cpus']} usable CPUs (shared with other jobs: timings are noisy)")
    weights = "per-tensor" if args.per_tensor else "per-channel"
    print(f"model {args.model}; calibration {CALIB_IMAGES} images, validation {samples} images; gate min_top1_agreement = {args.gate}; "
          f"INT8 weights {weights}, rounding {args.rounding or 'profile default'}, ranges {args.calib_method or 'profile default'}, "
          f"bias correction {args.bias_correction or 'profile default'}")
    settings = api.RunSettings(model=args.model, profile=str(profile), precision="best", out=out, data=val, calib=calib,
                           calib_size=CALIB_IMAGES, gates={"min_top1_agreement": args.gate}, progress=False)
    started = time.perf_counter()
    result = api.run(settings, log=lambda line: print(line, flush=True) if line.startswith("[best]") else None)
    assert isinstance(result, api.BestResult)
    total = time.perf_counter() - started
    print(f"\n{'candidate':9s} {'status':9s} {'p50 ms':>8s} {'top1 agr':>9s} {'cosine':>8s} {'top1 drop':>9s}  reason")
    for c in result.candidates:
        latency = f"{c.latency_ms:8.3f}" if c.latency_ms is not None else f"{'-':>8s}"
        agreement = c.accuracy.get("top1_agreement")
        cosine = c.accuracy.get("cosine_similarity")
        drop = c.accuracy.get("top1_drop")
        print(f"{c.precision:9s} {c.status:9s} {latency} {agreement if agreement is not None else '-':>9} "
              f"{round(cosine, 5) if cosine is not None else '-':>8} {drop if drop is not None else '-':>9}  {c.reason}")
    print(f"chosen: {result.chosen.precision if result.chosen else 'none'} (whole comparison {total:.0f}s)")
    mixed = next((c for c in result.candidates if c.precision == "mixed"), None)
    int8 = next((c for c in result.candidates if c.precision == "int8"), None)
    calibration_s = None
    if int8 is not None and int8.run_dir:
        report = json.loads((Path(int8.run_dir) / "report.json").read_text())
        calibration_s = (report.get("quantization") or {}).get("calibration", {}).get("seconds")
    if mixed is not None and mixed.search_cost:
        cost = mixed.search_cost
        print(f"mixed kept {len(mixed.float_layers or [])} layer(s) in float: {', '.join(mixed.float_layers or [])}")
        print(f"search cost: {cost['seconds']:.1f}s, {cost['evaluations']} evaluations (sensitivity {cost['sensitivity_seconds']:.1f}s, "
              f"timing {cost['timing_seconds']:.1f}s, evaluations {cost['search_seconds']:.1f}s)")
        if calibration_s:
            print(f"one calibration run ({CALIB_IMAGES} images): {calibration_s:.1f}s -> search = "
                  f"{cost['seconds'] / calibration_s:.1f}x one calibration")
    side_by_side(result, args.rounds)
    print(f"report: {result.run_dir / 'report.json'}")


def side_by_side(result: object, rounds: int) -> None:
    """FP32, mixed and INT8 timed again in one process, alternating blocks (ABC CBA ...), at 1 and 2 threads:
    their ratios are what a shared machine can measure fairly (compile/bench/interleave.py)."""
    import contextlib
    import functools

    from compile.backends import make_runner
    from compile.bench.interleave import measure_interleaved
    from compile.data.generated import generate_inputs

    built = {c.precision: c.runtime for c in result.candidates if c.runtime is not None and c.precision in ("fp32", "mixed", "int8")}
    if "fp32" not in built or len(built) < 2:
        return
    from compile.onnx_io import graph_input_specs, load_onnx

    feed = generate_inputs(tuple(graph_input_specs(load_onnx(built["fp32"].path, load_external_data=False))), 1, seed=0)
    for threads in (1, 2):
        with contextlib.ExitStack() as stack:
            runners = {name: stack.enter_context(make_runner(artifact, threads)) for name, artifact in built.items()}
            stats = measure_interleaved({name: functools.partial(r.infer, feed) for name, r in runners.items()}, batch=1,
                                        warmup=10, iterations=20, rounds=rounds)
        fp32 = stats["fp32"].p50_ms
        line = ", ".join(f"{name} {s.p50_ms:.3f} ms (spread {s.spread_pct:.0f}%, {fp32 / s.p50_ms:.2f}x)" for name, s in stats.items())
        print(f"side by side, {threads} thread(s), {rounds} alternating blocks of 20: {line}")


if __name__ == "__main__":
    main()
