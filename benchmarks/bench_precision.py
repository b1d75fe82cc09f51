"""Precision figures: EfficientNet-Lite0 INT8 per calibration method and FP16, and ResNet-50 INT8 speed.

* EfficientNet-Lite0 (real ImageNet weights) calibrated on the first 100 images of
  ``../shared/data/imagenet-sample-500`` (rows of its labels.csv) and evaluated on the other 400:
  top-1 of FP32 and of each variant, the drop in points, and top-1 agreement with FP32.
* ResNet-50 on the ``cpu`` profile at batch 1: the built INT8 artifact against the built FP32 one,
  timed in alternating blocks in one process (intra-op spinning off), median of block medians.

Run: ``.venv/bin/python benchmarks/bench_precision.py`` (several minutes; not part of ``make test``).
Timings are noisy on a shared machine: the spread between blocks is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compile.bench.interleave import measure_interleaved  # noqa: E402 - after the path set-up
from compile.data.split import split_labeled_folder  # noqa: E402 - after the path set-up

DEFAULT_DATA = REPO.parent / "shared" / "data" / "imagenet-sample-500"
CALIB_COUNT = 100


def stage_artifact(settings: Any, until: str) -> Path:
    from compile.drivers.pipeline import Pipeline

    result = Pipeline(settings, log=lambda line: None, until=until).run()
    artifacts = result.report["artifacts"]
    key = until if until in artifacts else next(k for k in artifacts if k.startswith(until))
    return result.run_dir / artifacts[key]


def run_logits(path: Path, images: np.ndarray, input_name: str, batch: int = 25) -> np.ndarray:
    from compile.backends.ort.runner import open_session

    session = open_session(path, optimization="all")
    outputs = [session.run(None, {input_name: images[i:i + batch]})[0] for i in range(0, len(images), batch)]
    return np.concatenate(outputs)


def interleaved_ms(steps: dict[str, Callable[[], Any]], rounds: int, iterations: int) -> dict[str, tuple[float, float, float]]:
    """name -> (median of block medians, min block median, spread % between blocks), timed by
    ``compile.bench.interleave.measure_interleaved``."""
    figures = {}
    for name, stats in measure_interleaved(steps, batch=1, iterations=iterations, rounds=rounds).items():
        median = statistics.median(stats.repeat_medians_ms)
        low, high = min(stats.repeat_medians_ms), max(stats.repeat_medians_ms)
        figures[name] = (median, low, 100.0 * (high - low) / median)
    return figures


def lite0(work: Path, data: Path, methods: list[str]) -> None:
    from compile.data.images import load_images, scan_image_folder
    from compile.onnx_io import read_model_info
    from compile.settings import RunSettings

    calib, evaluation = split_labeled_folder(data, work / "split", CALIB_COUNT)
    fp32 = stage_artifact(RunSettings(model="efficientnet_lite0", precision="fp32", out=work / "lite0-fp32", progress=False), "simplify")
    info = read_model_info(fp32)
    assert info.preprocessing is not None
    images, labels = load_images(scan_image_folder(evaluation), info.preprocessing)
    y = np.asarray(labels)
    name = info.inputs[0].name
    ref = run_logits(fp32, images, name).argmax(1)
    ref_top1 = 100.0 * float(np.mean(ref == y))
    print(f"\nEfficientNet-Lite0: calibration {CALIB_COUNT} images, evaluation {len(y)} images (of {data})")
    print(f"  {'variant':28s} {'top-1 %':>8s} {'drop pt':>8s} {'agree %':>8s} {'calib s':>8s}")
    print(f"  {'fp32':28s} {ref_top1:8.2f} {'':>8s} {'':>8s}")
    for method in methods:
        started = time.perf_counter()
        settings = RunSettings(model=str(fp32), precision="int8", calib=calib, calib_size=CALIB_COUNT, calib_method=method,
                               out=work / f"lite0-int8-{method}", progress=False)
        path = stage_artifact(settings, "quantize-int8")
        seconds = time.perf_counter() - started
        pred = run_logits(path, images, name).argmax(1)
        top1 = 100.0 * float(np.mean(pred == y))
        print(f"  {'int8 ' + method:28s} {top1:8.2f} {ref_top1 - top1:8.2f} {100.0 * float(np.mean(pred == ref)):8.2f} {seconds:8.1f}")
    fp16 = stage_artifact(RunSettings(model=str(fp32), precision="fp16", calib=calib, calib_size=CALIB_COUNT,
                                      out=work / "lite0-fp16", progress=False), "cast-fp16")
    pred = run_logits(fp16, images, name).argmax(1)
    top1 = 100.0 * float(np.mean(pred == y))
    print(f"  {'fp16':28s} {top1:8.2f} {ref_top1 - top1:8.2f} {100.0 * float(np.mean(pred == ref)):8.2f}")


def speed(work: Path, model: str, rounds: int, iterations: int, precisions: tuple[str, ...] = ("fp32", "int8"),
          label: str | None = None) -> None:
    from compile.artifacts import RuntimeArtifact
    from compile.backends.ort.runner import make_runner, open_session
    from compile.data.generated import generate_inputs
    from compile.onnx_io import read_model_info
    from compile.settings import RunSettings

    label = label or model
    built = {}
    for precision in precisions:
        path = stage_artifact(RunSettings(model=model, precision=precision, out=work / f"{label}-{precision}", progress=False), "build")
        sidecar = path.with_name(path.name.replace(".onnx", ".json"))
        built[precision] = RuntimeArtifact(path=path, backend="onnxruntime", sidecar=sidecar if sidecar.is_file() else None)
    export = Path(model) if model.endswith(".onnx") else work / f"{label}-fp32" / "model.onnx"
    info = read_model_info(export)
    feed = generate_inputs(info.inputs, 1, seed=0)
    runners = {p: make_runner(a).__enter__() for p, a in built.items()}
    plain = {level: open_session(export, optimization=level) for level in ("extended", "all")}
    steps: dict[str, Callable[[], Any]] = {f"{p} built artifact ({built[p].read_sidecar().get('optimization', '?')})":
                                           (lambda r=r: r.infer(feed)) for p, r in runners.items()}
    for level, session in plain.items():
        steps[f"fp32 export, ORT level {level}"] = lambda s=session: s.run(None, feed)
    figures = interleaved_ms(steps, rounds, iterations)
    print(f"\n{label}, batch 1, {os.cpu_count()} threads, spinning off, {rounds} alternating blocks of {iterations} runs")
    for name, (median, low, spread) in figures.items():
        print(f"  {name:40s} median {median:7.2f} ms  best block {low:7.2f} ms  spread {spread:5.1f}%")
    int8 = next((v[0] for k, v in figures.items() if k.startswith("int8")), None)
    fp16 = next((v[0] for k, v in figures.items() if k.startswith("fp16")), None)
    for name, (median, _, _) in figures.items():
        if name.startswith("fp32") and int8 is not None:
            print(f"  INT8 speed-up vs {name}: {median / int8:.2f}x")
        if name.startswith("fp32 built") and fp16 is not None:
            print(f"  FP16 speed-up vs {name}: {median / fp16:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--methods", default="minmax,entropy,percentile")
    parser.add_argument("--skip-lite0", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-model", default="resnet50")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--work", type=Path, default=None, help="Keep runs here (default: a temporary folder).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
        work = args.work or Path(tmp)
        os.environ.setdefault("COMPILE_CACHE_DIR", str(work / "cache"))
        if not args.skip_lite0:
            lite0(work, args.data, [m for m in args.methods.split(",") if m])
        if not args.skip_speed:
            speed(work, args.speed_model, args.rounds, args.iterations)
        lite0_onnx = work / "lite0-fp32" / "model.simplified.onnx"
        if not args.skip_speed and lite0_onnx.is_file():
            speed(work, str(lite0_onnx), args.rounds, args.iterations, ("fp32", "int8", "fp16"), label="efficientnet_lite0")


if __name__ == "__main__":
    main()
