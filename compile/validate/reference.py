"""Reference outputs: the original PyTorch model in FP32, or the source ONNX file run with ONNX Runtime.

Outputs can be kept in a cache folder, keyed by the reference, its weights and the exact inputs, so
the stages that compare with the same reference (mixed-precision's search, validate, every candidate
of ``--precision best``) run it once: PyTorch in eager mode is the slowest runner of the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compile.artifacts import Artifact, OnnxModel, TorchModel
from compile.backends.base import Runner
from compile.backends.ort.runner import OrtRunner
from compile.calibration.cache import user_cache_folder
from compile.data.eval_set import EvalSet
from compile.fsutil import cache_arrays, read_cached_arrays
from compile.hashing import hash_file, hash_json, versioned_key
from compile.models.outputs import flatten_outputs
from compile.models.registry import load_torch_model

BATCH = 16


def reference_outputs(reference: Artifact, data: EvalSet, weights: Path | None = None,
                      cache: Path | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Outputs by output name, and a short description of what produced them (from ``cache`` when there)."""
    if isinstance(reference, TorchModel):
        description = f"PyTorch FP32 ({reference.source})"
    else:
        assert isinstance(reference, OnnxModel)
        description = f"ONNX Runtime FP32 ({reference.path.name})"
    path = cache / f"{_cache_key(reference, data, weights)}.npz" if cache is not None else None
    if path is not None and (stored := read_cached_arrays(path)) is not None:
        return stored, description
    if isinstance(reference, TorchModel):
        outputs = _torch_outputs(reference, data, weights)
    else:
        outputs = run_batched_onnx(reference.path, data)
    if path is not None:
        cache_arrays(path, outputs)
    return outputs, description


def reference_cache(run_dir: Path) -> Path:
    """The shared reference-output cache folder (the run's own folder when the user cache is not writable)."""

    return user_cache_folder("reference", run_dir / ".reference-cache")


def inputs_digest(feeds: dict[str, np.ndarray]) -> str:
    """SHA-256 of the inputs exactly as fed (names, dtypes, shapes, bytes): two runs share it only when they
    were given the same samples in the same order."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(feeds):
        array = np.ascontiguousarray(feeds[name])
        digest.update(f"{name}:{array.dtype}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def reference_identity(reference: Artifact, weights: Path | None) -> str:
    """What the reference outputs depend on, besides the inputs: the reference artifact and the weights file."""
    return hash_json({"reference": reference.content_hash(), "kind": reference.kind,
                      "weights": hash_file(weights) if weights is not None and weights.is_file() else None})


def _cache_key(reference: Artifact, data: EvalSet, weights: Path | None) -> str:
    versions = {}
    if isinstance(reference, TorchModel):
        import torch

        versions["torch"] = torch.__version__
    else:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    # format 2: every output of tuple/list/dict models, named by compile.models.outputs (1 kept only the first names).
    return versioned_key(2, reference=reference.content_hash(), kind=reference.kind, inputs=inputs_digest(data.feeds),
                         weights=hash_file(weights) if weights is not None and weights.is_file() else None, **versions)


def _torch_outputs(reference: TorchModel, data: EvalSet, weights: Path | None) -> dict[str, np.ndarray]:
    """Every output the model returns (tuples, lists, dicts, nested), named as the export names them."""
    import torch

    loaded = load_torch_model(reference, weights)
    names = [spec.name for spec in loaded.info.inputs]
    chunks: list[dict[str, np.ndarray]] = []
    with torch.inference_mode():
        for batch in data.batches(BATCH):
            out = flatten_outputs(loaded.module(*[torch.from_numpy(batch[n]) for n in names]), loaded.info.output_names)
            chunks.append({name: tensor.detach().numpy() for name, tensor in out.items()})
    return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}


def run_batched_onnx(path: Path, data: EvalSet) -> dict[str, np.ndarray]:
    with OrtRunner(path, optimization="extended") as runner:
        return run_batched(runner, data)


def run_batched(runner: Runner, data: EvalSet) -> dict[str, np.ndarray]:
    chunks = [runner.infer(batch) for batch in data.batches(BATCH)]
    return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
