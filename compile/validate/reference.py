"""Reference outputs: the original PyTorch model in FP32, or the source ONNX file run with ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compile.artifacts import Artifact, OnnxModel, TorchModel
from compile.backends.base import Runner
from compile.data.eval_set import EvalSet

BATCH = 16


def reference_outputs(reference: Artifact, data: EvalSet, weights: Path | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Outputs by output name, and a short description of what produced them."""
    if isinstance(reference, TorchModel):
        return _torch_outputs(reference, data, weights), f"PyTorch FP32 ({reference.source})"
    assert isinstance(reference, OnnxModel)
    return run_batched_onnx(reference.path, data), f"ONNX Runtime FP32 ({reference.path.name})"


def _torch_outputs(reference: TorchModel, data: EvalSet, weights: Path | None) -> dict[str, np.ndarray]:
    import torch

    from compile.models.registry import load_torch_model

    loaded = load_torch_model(reference, weights)
    names = [spec.name for spec in loaded.info.inputs]
    chunks: list[list[np.ndarray]] = []
    with torch.no_grad():
        for batch in data.batches(BATCH):
            out = loaded.module(*[torch.from_numpy(batch[n]) for n in names])
            outs = [out] if isinstance(out, torch.Tensor) else list(out)
            chunks.append([o.detach().numpy() for o in outs])
    return {name: np.concatenate([c[i] for c in chunks]) for i, name in enumerate(loaded.info.output_names)}


def run_batched_onnx(path: Path, data: EvalSet) -> dict[str, np.ndarray]:
    from compile.backends.ort.runner import OrtRunner

    with OrtRunner(path, optimization="extended") as runner:
        return run_batched(runner, data)


def run_batched(runner: Runner, data: EvalSet) -> dict[str, np.ndarray]:
    chunks = [runner.infer(batch) for batch in data.batches(BATCH)]
    return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
