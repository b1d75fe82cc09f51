"""Run an ONNX model with ONNX Runtime."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compile.artifacts import RuntimeArtifact
from compile.backends.base import Runner
from compile.backends.ort.hardware import isa_mismatch
from compile.errors import OnnxModelError, error_cause

if TYPE_CHECKING:
    import onnxruntime as ort

CPU_PROVIDERS = ["CPUExecutionProvider"]


def is_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def session_options(threads: int | None = None, optimization: str = "extended", optimized_path: Path | None = None) -> ort.SessionOptions:
    """Session settings used everywhere: intra-op spinning off, so sessions alternating in one process
    (validation next to the reference, variants benchmarked in turn) do not slow each other down."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return options


def open_session(path: Path, threads: int | None = None, optimization: str = "extended",
                 providers: list[str] | None = None, optimized_path: Path | None = None) -> ort.InferenceSession:
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), session_options(threads, optimization, optimized_path),
                                    providers=providers or CPU_PROVIDERS)
    except Exception as err:  # noqa: BLE001 - ORT raises its own exception types for bad models
        raise OnnxModelError(f"ONNX Runtime cannot load {path.name}: {error_cause(err)}") from err


class OrtRunner(Runner):
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, optimization: str = "disable",
                 providers: list[str] | None = None) -> None:
        super().__init__()
        self.path = path
        self.threads = threads
        self.optimization = optimization
        self.providers = providers
        self.session: Any = None

    def activate_impl(self) -> None:
        self.session = open_session(self.path, self.threads, self.optimization, self.providers)

    def deactivate_impl(self) -> None:
        self.session = None

    def input_names_impl(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    def output_names_impl(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            outputs = self.session.run(None, feed)
        except Exception as err:  # noqa: BLE001
            raise OnnxModelError(f"ONNX Runtime failed to run {self.path.name}: {error_cause(err)}") from err
        return dict(zip(self.output_names_impl(), outputs, strict=True))


def make_runner(artifact: RuntimeArtifact, threads: int | None = None) -> OrtRunner:
    sidecar = artifact.read_sidecar()
    if (why := isa_mismatch(sidecar.get("isa"))) is not None:
        raise OnnxModelError(f"cannot run {artifact.path.name}: {why}")
    providers = sidecar.get("providers")
    # The artifact is already optimised offline; optimising again at load would only cost time.
    return OrtRunner(artifact.path, threads=threads, optimization=sidecar.get("load_optimization", "disable"), providers=providers)
