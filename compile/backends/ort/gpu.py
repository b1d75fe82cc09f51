"""ONNX Runtime on an NVIDIA GPU: a profile's TensorRT builder settings given to ONNX Runtime's TensorRT execution
provider (with the CUDA provider behind it for anything TensorRT does not take), when onnxruntime-gpu is installed.

The artifact is the ONNX graph as it is, with the engine sidecar of :mod:`compile.backends.trt.sidecar`
(``runtime = "onnxruntime-gpu"``) carrying the provider options; ONNX Runtime builds and caches the engines
itself at the first load. The provider options are computed from :class:`TrtBuildSettings` in plain Python; the
session is created only when the runner is activated. Needs neither the tensorrt package nor a TensorRT import.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from compile.artifacts import OnnxModel, RuntimeArtifact
from compile.backends.ort.runner import OrtRunner, session_options
from compile.backends.trt.detect import LocalGpu, timing_cache_path
from compile.backends.trt.settings import InputProfile, TrtBuildSettings
from compile.backends.trt.sidecar import Binding, make_sidecar, read_sidecar, write_sidecar
from compile.errors import MissingDependencyError, OnnxModelError, UserInputError, error_cause
from compile.models.spec import InputSpec

TRT_PROVIDER = "TensorrtExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
RUNTIME = "onnxruntime-gpu"


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


def build_artifact(source: OnnxModel, inputs: list[InputSpec], out: Path, sidecar_path: Path, settings: TrtBuildSettings,
                   gpu: LocalGpu, profile: str, hardware: str) -> tuple[RuntimeArtifact, dict[str, Any], str]:
    """Copy ``source`` (and its external data) to ``out`` and write the sidecar at ``sidecar_path``: the provider
    options for ``settings``, the bindings (``inputs``: the graph's inputs, in the order of ``settings.shapes``),
    the GPU, ``profile`` and ``hardware`` (names). Returns the artifact, the stage record and the build path."""
    shutil.copyfile(source.path, out)
    data = source.path.with_name(source.path.name + ".data")
    if data.is_file():
        shutil.copyfile(data, out.with_name(out.name + ".data"))
    # ONNX Runtime's own engine cache, beside the timing caches of this GPU (one folder per GPU model).
    cache_dir = timing_cache_path(gpu.jetson_module or gpu.name, gpu.compute_capability, "ort").parent / "ort-engines"
    providers = provider_options(settings, cache_dir)
    bindings = [Binding(s.name, "input", tuple(-1 if isinstance(d, str) else d for d in spec.shape), spec.dtype,
                        s.min, s.opt, s.max)
                for s, spec in zip(settings.shapes, inputs, strict=True)]
    sidecar = make_sidecar(
        runtime=RUNTIME, tensorrt_version=None, gpu_name=gpu.name, compute_capability=gpu.compute_capability,
        profile=profile, hardware=hardware, precision=settings.precision,
        sparsity="2:4" if settings.sparse_weights else "dense", bindings=bindings, onnx_sha256=source.content_hash(),
        engine_sha256=None, hardware_compatibility="none", version_compatible=False,
        build_path=f"ONNX Runtime TensorRT/CUDA execution providers ({settings.path_description})",
        builder=settings.to_dict(), dla_core=settings.dla_core, extra={"providers": providers},
        platform={"machine": gpu.machine, "jetson_module": gpu.jetson_module},
    )
    write_sidecar(sidecar_path, sidecar)
    artifact = RuntimeArtifact(path=out, backend="tensorrt", sidecar=sidecar_path, precision=settings.precision)
    record = {"runtime": RUNTIME, "providers": [name for name, _ in providers], "settings": settings.to_dict()}
    return artifact, record, str(sidecar["build_path"])


class OrtGpuRunner(OrtRunner):
    """ONNX Runtime with the TensorRT and CUDA execution providers, configured from the engine sidecar."""

    name = RUNTIME

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
            raise OnnxModelError(f"ONNX Runtime (GPU) cannot load {self.path.name}: {error_cause(err)}") from err


def make_runner(artifact: RuntimeArtifact, threads: int | None = None) -> OrtGpuRunner:
    """A runner for an artifact ``build-trt`` made with ``runtime = "onnxruntime-gpu"`` (``threads`` does not apply
    to GPU execution)."""
    if artifact.sidecar is None:
        raise UserInputError(f"{artifact.path.name} has no sidecar; the engine cannot be checked or run without it")
    return OrtGpuRunner(artifact.path, read_sidecar(artifact.sidecar))
