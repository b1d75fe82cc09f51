"""Backends: each answers the same questions (is it available, which version) and gives a runner.

Named by import path so nothing heavy is imported until a backend is used; tensorrt is only ever
imported under ``compile.backends.trt``.
"""

from __future__ import annotations

import importlib

from compile.artifacts import RuntimeArtifact
from compile.backends.base import Runner
from compile.errors import UserInputError

#: backend name -> module with ``make_runner(artifact, threads)``, ``is_available()`` and ``version()``.
BACKENDS: dict[str, str] = {
    "onnxruntime": "compile.backends.ort.runner",
    "tensorrt": "compile.backends.trt.runner",
    "openvino": "compile.backends.openvino.runner",
}
#: An engine sidecar's ``runtime`` other than TensorRT itself -> the module with its ``make_runner``. An engine
#: built for ONNX Runtime's TensorRT/CUDA providers is a "tensorrt" artifact (TensorRT's precision, shapes and
#: GPU), which ONNX Runtime runs.
RUNTIMES: dict[str, str] = {"onnxruntime-gpu": "compile.backends.ort.gpu"}


def make_runner(artifact: RuntimeArtifact, threads: int | None = None) -> Runner:
    """The runner for ``artifact`` (not yet active: use it as a context manager); ``threads``: CPU threads per
    inference where the backend has them. UserInputError for a backend with no runner."""
    if artifact.backend not in BACKENDS:
        raise UserInputError(f"no runner for backend '{artifact.backend}' (known: {', '.join(BACKENDS)})")
    module = importlib.import_module(RUNTIMES.get(_engine_runtime(artifact) or "", BACKENDS[artifact.backend]))
    runner: Runner = module.make_runner(artifact, threads)
    return runner


def _engine_runtime(artifact: RuntimeArtifact) -> str | None:
    """The runtime a TensorRT artifact's sidecar names; None for other backends and unreadable sidecars (the
    TensorRT runner then says what is wrong with it)."""
    if artifact.backend != "tensorrt":
        return None
    try:
        runtime = artifact.read_sidecar().get("runtime")
    except UserInputError:
        return None
    return runtime if isinstance(runtime, str) else None
