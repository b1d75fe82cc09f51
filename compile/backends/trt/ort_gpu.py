"""The ONNX Runtime GPU path: the same profile settings given to ONNX Runtime's TensorRT execution provider
(with the CUDA provider behind it for anything TensorRT does not take), when onnxruntime-gpu is installed.

The provider options are computed from :class:`TrtBuildSettings` in plain Python; the session is created
only when the runner is activated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compile.backends.ort.runner import OrtRunner, session_options
from compile.backends.trt.settings import InputProfile, TrtBuildSettings
from compile.errors import MissingDependencyError, OnnxModelError

TRT_PROVIDER = "TensorrtExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def gpu_providers_available() -> list[str]:
    """The GPU providers this ONNX Runtime offers (empty for the CPU-only package)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    return [p for p in onnxruntime.get_available_providers() if p in (TRT_PROVIDER, CUDA_PROVIDER)]


def _shapes_option(shapes: tuple[InputProfile, ...], which: str) -> str:
    return ",".join(f"{s.name}:{'x'.join(str(d) for d in getattr(s, which))}" for s in shapes)


def provider_options(settings: TrtBuildSettings, cache_dir: Path, device_id: int = 0) -> list[tuple[str, dict[str, str]]]:
    """ONNX Runtime providers with options that mirror the TensorRT builder settings."""
    def flag(value: bool) -> str:
        return "True" if value else "False"

    trt: dict[str, str] = {
        "device_id": str(device_id),
        "trt_max_workspace_size": str(settings.memory_pools.get("workspace", 0)),
        "trt_builder_optimization_level": str(settings.builder_optimization_level),
        "trt_fp16_enable": flag(settings.fp16_flag),
        "trt_int8_enable": flag(settings.int8_flag),
        "trt_sparsity_enable": flag(settings.sparse_weights),
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": flag(settings.timing_cache is not None),
        "trt_timing_cache_path": str(Path(settings.timing_cache).parent if settings.timing_cache else cache_dir),
        "trt_detailed_build_log": "True",
    }
    if settings.shapes:
        trt["trt_profile_min_shapes"] = _shapes_option(settings.shapes, "min")
        trt["trt_profile_opt_shapes"] = _shapes_option(settings.shapes, "opt")
        trt["trt_profile_max_shapes"] = _shapes_option(settings.shapes, "max")
    if settings.dla_core is not None:
        trt["trt_dla_enable"] = "True"
        trt["trt_dla_core"] = str(settings.dla_core)
    return [(TRT_PROVIDER, trt), (CUDA_PROVIDER, {"device_id": str(device_id)})]


class OrtGpuRunner(OrtRunner):
    """ONNX Runtime with the TensorRT and CUDA execution providers, configured from the engine sidecar."""

    name = "onnxruntime-gpu"

    def __init__(self, path: Path, sidecar: dict[str, Any]) -> None:
        super().__init__(path, optimization="disable")
        self.sidecar = sidecar

    def activate_impl(self) -> None:
        available = gpu_providers_available()
        if not available:
            raise MissingDependencyError("onnxruntime-gpu", "running on ONNX Runtime's TensorRT/CUDA providers", extra="gpu")
        import onnxruntime as ort

        providers = [(name, dict(options)) for name, options in self.sidecar.get("providers", []) if name in available]
        try:
            self.session = ort.InferenceSession(str(self.path), session_options(None, "extended"), providers=providers)
        except Exception as err:  # noqa: BLE001 - ORT raises its own exception types
            from compile.errors import error_cause

            raise OnnxModelError(f"ONNX Runtime (GPU) cannot load {self.path.name}: {error_cause(err)}") from err
