"""Backends: each answers the same questions (is it available, which version) and gives a runner.

Named by import path so nothing heavy is imported until a backend is used; tensorrt is only ever
imported under ``compile.backends.trt``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from compile.errors import UserInputError

if TYPE_CHECKING:
    from compile.artifacts import RuntimeArtifact
    from compile.backends.base import Runner

#: backend name -> module with ``make_runner(artifact, threads)``, ``is_available()`` and ``version()``.
BACKENDS: dict[str, str] = {
    "onnxruntime": "compile.backends.ort.runner",
    "tensorrt": "compile.backends.trt.runner",
    "openvino": "compile.backends.openvino.runner",
}


def make_runner(artifact: RuntimeArtifact, threads: int | None = None) -> Runner:
    if artifact.backend not in BACKENDS:
        raise UserInputError(f"no runner for backend '{artifact.backend}' (known: {', '.join(BACKENDS)})")
    module = importlib.import_module(BACKENDS[artifact.backend])
    runner: Runner = module.make_runner(artifact, threads)
    return runner
