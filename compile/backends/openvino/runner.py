"""Run an OpenVINO IR built by ``build-openvino``, with the settings its sidecar records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from compile.artifacts import RuntimeArtifact
from compile.backends.base import Runner
from compile.backends.openvino.builder import (
    compile_config,
    loaded_from_cache,
    make_core,
    openvino_version,
    read_ir,
    require_openvino,
    timed_compile,
    weights_path,
)
from compile.backends.openvino.compat import check_compatible, local_target
from compile.calibration.cache import user_cache_folder
from compile.errors import OnnxModelError, UserInputError, error_cause
from compile.hashing import hash_file

#: Subfolder of the user cache (``$COMPILE_CACHE_DIR``) holding OpenVINO's compiled-model blobs.
CACHE_SUBDIR = "openvino"


def is_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str:
    return openvino_version()


def compiled_model_cache(fallback: Path) -> Path:
    """``$COMPILE_CACHE_DIR/openvino`` (else the user cache folder), or ``fallback`` when not writable."""
    return user_cache_folder(CACHE_SUBDIR, fallback)


class OpenVinoRunner(Runner):
    """``infer`` takes and returns numpy arrays by tensor name; outputs are copies."""

    name = "openvino"

    def __init__(self, xml: Path, device: str = "CPU", config: dict[str, Any] | None = None,
                 cache_dir: Path | None = None, weights: Path | None = None) -> None:
        super().__init__()
        self.xml = xml
        self.weights = weights
        self.device = device
        self.config = dict(config or {})
        self.cache_dir = cache_dir
        self.compiled: Any = None
        self.request: Any = None
        #: Seconds the last activation spent compiling, and whether it read OpenVINO's compiled-model cache.
        self.compile_seconds = 0.0
        self.loaded_from_cache: bool | None = None

    def activate_impl(self) -> None:
        core = make_core(self.cache_dir)
        model = read_ir(core, self.xml, self.weights)
        self.compiled, self.compile_seconds = timed_compile(core, model, self.device, self.config, self.xml.name)
        self.loaded_from_cache = loaded_from_cache(self.compiled)
        self.request = self.compiled.create_infer_request()

    def deactivate_impl(self) -> None:
        self.request = None
        self.compiled = None

    def input_names_impl(self) -> list[str]:
        return [port.get_any_name() for port in self.compiled.inputs]

    def output_names_impl(self) -> list[str]:
        return [port.get_any_name() for port in self.compiled.outputs]

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            results = self.request.infer(feed)
        except Exception as err:  # noqa: BLE001 - OpenVINO raises RuntimeError with its own text
            raise OnnxModelError(f"OpenVINO failed to run {self.xml.name}: {error_cause(err)}") from err
        return {port.get_any_name(): np.asarray(results[port]) for port in self.compiled.outputs}


def make_runner(artifact: RuntimeArtifact, threads: int | None = None) -> OpenVinoRunner:
    """A runner for a ``build-openvino`` artifact, refused when this machine differs from the build's."""
    require_openvino(f"running {artifact.path.name}")
    sidecar = artifact.read_sidecar()
    if not sidecar:
        raise UserInputError(f"{artifact.path.name} has no sidecar ({artifact.sidecar}): its build settings are unknown")
    check_compatible(sidecar, local_target(), artifact.path.name)
    weights = artifact.path.with_name(sidecar.get("weights_file") or weights_path(artifact.path).name)
    if sidecar.get("weights_sha256") and weights.is_file() and hash_file(weights) != sidecar["weights_sha256"]:
        raise UserInputError(f"{weights.name} does not match the weights_sha256 of {artifact.path.name}'s sidecar "
                             "(rebuild: compile run --force)")
    device = sidecar.get("device", "CPU")
    config = compile_config(device, sidecar.get("performance_hint", "LATENCY"),
                            sidecar.get("inference_precision", "f32"), threads or sidecar.get("threads"))
    return OpenVinoRunner(artifact.path, device, config, compiled_model_cache(artifact.path.parent / ".openvino-cache"),
                          weights)
