"""OpenVINO against ONNX Runtime on the CPU, from the same exports, timed side by side in one process.

* ResNet-50, batch 1: one export (shared stage cache), built four ways: ``cpu`` FP32 and INT8 (ONNX Runtime,
  level ``all``) and ``openvino-cpu`` FP32 and INT8; plus the variants that decide the profile's settings:
  INT8 from the ``tensorrt`` convention (symmetric s8 activations) instead of ``onnxruntime-cpu`` (u8), and
  FP32 run with ``inference_precision = "bf16"`` (OpenVINO's own default on CPUs with AVX-512 BF16 or AMX).
  All artifacts are timed in alternating blocks in one process (``compile.bench.interleave``); ratios are
  of medians of the same rounds.
* EfficientNet-Lite0 (real ImageNet weights) INT8 on ``openvino-cpu``, calibrated on the first 100 images
  of ``imagenet-sample-500`` and validated on the other 400 against the PyTorch FP32 model: top-1
  agreement and top-1 drop, as the ``validate`` pass measures them (the ``cpu`` INT8 artifact beside it).

Run: ``.venv/bin/python benchmarks/bench_openvino.py`` (several minutes; needs ``openvino``). On a shared
machine note the load (``uptime``) with the figures: the ratios hold better than the milliseconds.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "data" / "imagenet-sample-500"
CALIB_COUNT = 100
#: Targets of issue 17, printed beside the measured ratios.
TARGETS = {"openvino fp32 vs onnxruntime fp32": 1.8, "openvino int8 vs onnxruntime int8": 1.15,
           "openvino int8 vs onnxruntime fp32": 3.5}


def profile_variant(work: Path, base: str, name: str, replacements: dict[str, str]) -> str:
    """``profiles/<base>.toml`` named ``name`` with whole lines replaced (``key = value`` -> new line)."""
    text = (REPO / "profiles" / f"{base}.toml").read_text()
    text = re.sub(r'^name = ".*"$', f'name = "{name}"', text, count=1, flags=re.M)
    for line, new in replacements.items():
        text, count = re.subn(rf"^{re.escape(line)}$", new, text, flags=re.M)
        if count != 1:
            raise SystemExit(f"{base}.toml: expected one line '{line}'")
    path = work / f"{name}.toml"
    path.write_text(text)
    return str(path)


def build(model: str, profile: str, precision: str, out: Path, cache: Path, **settings: Any) -> Any:
    """Run the profile's passes up to the build; returns the runtime artifact."""
    from compile.artifacts import RuntimeArtifact, find_sidecar
    from compile.drivers.pipeline import Pipeline
    from compile.settings import RunSettings

    run = RunSettings(model=model, profile=profile, precision=precision, out=out, progress=False, cache_dir=cache, **settings)
    result = Pipeline(run, log=lambda line: None, until="build").run()
    final = result.run_dir / result.report["artifacts"]["final"]
    return RuntimeArtifact(path=final, backend=result.report["backend"], sidecar=find_sidecar(final).path, precision=precision)


def resnet50(work: Path, rounds: int, iterations: int) -> None:
    from compile.backends import make_runner
    from compile.bench.interleave import measure_interleaved

    cache = work / ".stage-cache"
    s8 = profile_variant(work, "openvino-cpu", "openvino-cpu-s8", {'int8_convention = "onnxruntime-cpu"': 'int8_convention = "tensorrt"'})
    bf16 = profile_variant(work, "openvino-cpu", "openvino-cpu-bf16", {'inference_precision = "f32"': 'inference_precision = "bf16"'})
    plan = {
        "onnxruntime fp32": ("cpu", "fp32"), "onnxruntime int8": ("cpu", "int8"),
        "openvino fp32": ("openvino-cpu", "fp32"), "openvino int8": ("openvino-cpu", "int8"),
        "openvino int8 (s8 convention)": (s8, "int8"), "openvino fp32 (bf16 inference)": (bf16, "fp32"),
    }
    artifacts = {}
    for label, (profile, precision) in plan.items():
        print(f"  building {label} ...", flush=True)
        artifacts[label] = build("resnet50", profile, precision, work / re.sub(r"[^\w]+", "-", label).strip("-"), cache)
    feed = {"input": np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    runners = {label: make_runner(artifact) for label, artifact in artifacts.items()}
    for runner in runners.values():
        runner.activate()
    try:
        steps = {label: (lambda runner=runner: runner.infer(feed)) for label, runner in runners.items()}
        stats = measure_interleaved(steps, batch=1, warmup=5, iterations=iterations, rounds=rounds)
    finally:
        for runner in runners.values():
            runner.deactivate()
    print(f"\nResNet-50, batch 1, {rounds} rounds x {iterations} calls per artifact, alternating; load {os.getloadavg()[0]:.2f}")
    print(f"{'artifact':34s} {'median ms':>10s} {'min ms':>8s} {'spread %':>9s}")
    for label, s in stats.items():
        print(f"{label:34s} {s.p50_ms:10.2f} {s.min_ms:8.2f} {s.spread_pct:9.1f}")
    ratio = {label: stats[label].p50_ms for label in stats}
    print()
    rows = [("openvino fp32 vs onnxruntime fp32", "onnxruntime fp32", "openvino fp32"),
            ("openvino fp32 (bf16 inference) vs onnxruntime fp32", "onnxruntime fp32", "openvino fp32 (bf16 inference)"),
            ("openvino int8 vs onnxruntime int8", "onnxruntime int8", "openvino int8"),
            ("openvino int8 vs onnxruntime fp32", "onnxruntime fp32", "openvino int8"),
            ("openvino int8: u8 vs s8 convention", "openvino int8 (s8 convention)", "openvino int8"),
            ("onnxruntime int8 vs onnxruntime fp32", "onnxruntime fp32", "onnxruntime int8")]
    for name, slow, fast in rows:
        target = TARGETS.get(name)
        print(f"{name:52s} {ratio[slow] / ratio[fast]:5.2f}x" + (f"  (target >= {target}x)" if target else ""))


def lite0(work: Path, data: Path) -> None:
    from compile.data.split import split_labeled_folder

    calib, evaluation = split_labeled_folder(data, work / "split", CALIB_COUNT)
    count = sum(1 for _ in (evaluation / "labels.csv").open()) - 1
    cache = work / ".stage-cache"
    print(f"\nEfficientNet-Lite0: calibrated on {CALIB_COUNT} images, validated on the other {count} against PyTorch FP32")
    from compile.drivers.pipeline import Pipeline
    from compile.settings import RunSettings

    bf16 = {'inference_precision = "f32"': 'inference_precision = "bf16"'}
    for profile, label, extra, precisions in (("openvino-cpu", "openvino-cpu", {}, ("fp32", "int8")),
                                              ("openvino-cpu", "openvino bf16", bf16, ("fp32",)),
                                              ("cpu", "cpu", {}, ("fp32", "int8"))):
        name = f"{label.replace(' ', '-')}-{count}"
        path = profile_variant(work, profile, name, {"samples = 64": f"samples = {count}", **extra})
        for precision in precisions:
            settings = RunSettings(model="efficientnet_lite0", profile=path, precision=precision, out=work / f"lite0-{name}-{precision}",
                                   data=evaluation, calib=calib, calib_size=CALIB_COUNT, progress=False, cache_dir=cache)
            report = Pipeline(settings, log=lambda line: None, until="validate").run().report
            acc = report["accuracy"]
            print(f"  {label:13s} {precision}: top-1 agreement with FP32 {100 * acc['top1_agreement']:.2f}%, "
                  f"top-1 {100 * acc['candidate_top1']:.2f}% (FP32 {100 * acc['reference_top1']:.2f}%), "
                  f"drop {acc['top1_drop']:+.2f} points, cosine {acc['cosine_similarity']:.5f}")
    print("  targets (openvino-cpu int8): agreement >= 98%, drop <= 0.4 point")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labeled image folder for Lite0 (first 100 calibrate)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--skip-lite0", action="store_true")
    args = parser.parse_args()
    from compile.bench.machine import machine_info

    info = machine_info()
    print(f"machine: {info['cpu']}, {info['usable_cpus']} usable CPUs; "
          + ", ".join(f"{k} {v}" for k, v in info["libraries"].items() if k in ("onnxruntime", "openvino")))
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        resnet50(work, args.rounds, args.iterations)
        if not args.skip_lite0:
            lite0(work, args.data)


if __name__ == "__main__":
    main()
