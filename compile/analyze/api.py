"""``analyze``: the Python API behind ``compile analyze``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from compile.analyze.activations import zero_shares
from compile.analyze.counts import Analysis, count_layers
from compile.analyze.profiler import profile_nodes
from compile.analyze.shapes import fill_missing_by_running, infer_tensor_infos
from compile.artifacts import find_sidecar
from compile.data.eval_set import build_eval_set
from compile.data.generated import generate_inputs
from compile.errors import UserInputError
from compile.onnx_io import load_onnx, model_info_from_onnx

#: A layer is flagged when its share of measured time is this many times its share of FLOPs.
SLOW_FACTOR = 3.0
#: ... and it takes at least this share of the total time (tiny layers are noise).
SLOW_MIN_SHARE = 0.02


@dataclass
class AnalyzeRequest:
    model: Path
    batch: int = 1
    data: Path | None = None
    samples: int = 16
    activations: bool = False
    profile_run: bool = False
    iterations: int = 20
    threads: int | None = None


def resolve_model_file(path: Path, log: Callable[[str], None] = lambda line: None) -> tuple[Path, str]:
    """An ONNX file, or a run directory / report.json (its final artifact); and its load optimisation (from
    the artifact's sidecar, ``disable`` without one). A file beside the model that is not a readable sidecar
    of this tool (a user's ``m.json`` beside ``m.onnx``) is passed over with one warning line to ``log``."""
    import json

    if path.is_dir() or path.suffix == ".json":
        report_path = path / "report.json" if path.is_dir() else path
        if not report_path.is_file():
            raise UserInputError(f"{path} is neither an ONNX file nor a run directory with report.json")
        try:
            final = json.loads(report_path.read_text(encoding="utf-8"))["artifacts"]["final"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise UserInputError(f"{report_path} names no final artifact") from err
        path = Path(final) if Path(final).is_absolute() else report_path.parent / final
    if not path.is_file():
        raise UserInputError(f"model file not found: {path}")
    if path.suffix != ".onnx":
        raise UserInputError(f"compile analyze reads ONNX files, got {path.name} (engines: see the TensorRT layer profiler)")
    sidecar = find_sidecar(path)
    for warning in sidecar.warnings:
        log(f"warning: {warning}")
    optimization = sidecar.data.get("load_optimization", "disable")
    if optimization not in ("disable", "basic", "extended", "all"):
        log(f"warning: {sidecar.path.name if sidecar.path else 'the sidecar'} names an unknown load optimisation "
            f"'{optimization}'; loading with none")
        optimization = "disable"
    return path, str(optimization)


def analyze(request: AnalyzeRequest, log: Callable[[str], None] = lambda line: None) -> Analysis:
    path, optimization = resolve_model_file(request.model, log)
    model = load_onnx(path)
    info = model_info_from_onnx(model, path.stem)
    fixed, infos = infer_tensor_infos(model, request.batch)
    feeds = generate_inputs(info.inputs, request.batch, seed=0)
    fill_missing_by_running(fixed, infos, feeds)
    analysis = count_layers(fixed, infos, request.batch)
    if request.activations or request.data is not None:
        data = build_eval_set(info, request.data, request.samples)
        log(f"measuring activation zeros on {data.description}")
        shares = zero_shares(model, data.batches(8))
        for layer in analysis.layers:
            if layer.name in shares:
                layer.zero_share = shares[layer.name]
    if request.profile_run:
        log(f"profiling {path.name} with ONNX Runtime ({request.iterations} runs at batch {request.batch})")
        times = profile_nodes(path, feeds, request.iterations, optimization=optimization, threads=request.threads)
        join_times(analysis, times)
    return analysis


def join_times(analysis: Analysis, times: dict[str, float]) -> None:
    """Attach measured ms per layer, time and FLOP shares, achieved GFLOP/s, and flag layers whose time
    is far above what their FLOPs suggest (depthwise convolutions, memory-bound layers)."""
    total_time = sum(times.get(layer.name, 0.0) for layer in analysis.layers)
    total_flops = analysis.total_flops
    for layer in analysis.layers:
        if layer.name not in times:
            continue
        layer.time_ms = times[layer.name]
        time_share = layer.time_ms / total_time if total_time else 0.0
        flop_share = layer.flops / total_flops if total_flops else 0.0
        layer.extra["time_share"] = time_share
        layer.extra["flop_share"] = flop_share
        layer.extra["gflops_per_s"] = layer.flops / (layer.time_ms * 1e6) if layer.time_ms else None
        if time_share >= SLOW_MIN_SHARE and time_share > SLOW_FACTOR * flop_share:
            ratio = time_share / flop_share if flop_share else float("inf")
            layer.extra["slow_for_flops"] = True
            layer.note = (layer.note + "; " if layer.note else "") + f"time share {ratio:.1f}x its FLOP share"
