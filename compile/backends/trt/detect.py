"""What TensorRT and which GPU this machine has, and which profile fits it, without importing tensorrt
at module import (and without torch unless nvidia-smi is missing, as on Jetson)."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from compile.errors import MissingDependencyError

#: Where per-GPU, per-TensorRT-version timing caches live unless $COMPILE_TRT_CACHE_DIR says otherwise.
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "compile" / "tensorrt"


@dataclass(frozen=True)
class LocalGpu:
    name: str
    compute_capability: str | None


def tensorrt_installed() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def tensorrt_version() -> str | None:
    """The installed TensorRT version (imports tensorrt), or None when it is not installed."""
    if not tensorrt_installed():
        return None
    import tensorrt

    return str(tensorrt.__version__)


def require_tensorrt(profile_name: str, purpose: str = "building a TensorRT engine") -> str:
    """The TensorRT version, or a MissingDependencyError naming the package and the profile."""
    version = tensorrt_version()
    if version is None:
        raise MissingDependencyError("tensorrt", f"{purpose} for profile '{profile_name}'", extra="trt")
    return version


def local_gpu() -> LocalGpu | None:
    """The first NVIDIA GPU: nvidia-smi when present, else torch.cuda (Jetson has no nvidia-smi)."""
    from compile.bench.machine import machine_info

    gpu = machine_info().get("gpu")
    if gpu:
        return LocalGpu(gpu["name"], gpu.get("compute_capability"))
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(0)
    return LocalGpu(torch.cuda.get_device_name(0), f"{major}.{minor}")


def match_profile(gpu_name: str, compute_capability: str | None,
                  candidates: Iterable[tuple[str, list[str], str | None]]) -> str | None:
    """The profile whose ``gpu_match`` token fits ``gpu_name`` best (longest token wins, so 'AGX Orin'
    beats 'Orin'); a profile whose compute capability is set and differs is never chosen.
    ``candidates``: (profile name, gpu_match tokens, compute capability)."""
    best: tuple[int, str] | None = None
    for name, tokens, cc in candidates:
        if cc and compute_capability and cc != compute_capability:
            continue
        for token in tokens:
            if token.lower() in gpu_name.lower() and (best is None or len(token) > best[0]):
                best = (len(token), name)
    return best[1] if best else None


def local_gpu_profile() -> str | None:
    """The name of the profile whose ``hardware.gpu_match`` fits the local GPU, when TensorRT is present."""
    if not tensorrt_installed():
        return None
    from compile.profiles import available_profiles, load_profile

    gpu = local_gpu()
    if gpu is None:
        return None
    candidates = []
    for name in available_profiles():
        profile = load_profile(name)
        if profile.backend == "tensorrt":
            candidates.append((name, profile.hardware.gpu_match, profile.hardware.compute_capability))
    return match_profile(gpu.name, gpu.compute_capability, candidates)


def timing_cache_path(gpu_name: str, compute_capability: str | None, tensorrt_version: str,
                      cache_dir: Path | None = None) -> Path:
    """One timing cache per GPU model and TensorRT version: tactics timed on one are not valid on another."""
    folder = cache_dir or Path(os.environ.get("COMPILE_TRT_CACHE_DIR") or DEFAULT_CACHE_DIR)
    slug = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") or "gpu"
    cc = f"-sm{compute_capability.replace('.', '')}" if compute_capability else ""
    return folder / "timing" / f"{slug}{cc}-trt{tensorrt_version}.cache"
