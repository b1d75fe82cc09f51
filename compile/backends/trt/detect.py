"""What TensorRT and which GPU this machine has, and which profile fits it, without importing tensorrt at
module import, and without torch: nvidia-smi, else the CUDA runtime Polygraphy loads (as on Jetson, where
PyPI's torch has no CUDA). CUDA names every Orin module "Orin", so a Jetson is told apart by its device
tree (``/proc/device-tree/model``, e.g. "NVIDIA Jetson AGX Orin Developer Kit")."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from compile.backends.trt.settings import TrtTarget, is_jetson
from compile.bench import machine as host
from compile.errors import MissingDependencyError
from compile.profiles import available_profiles, load_profile

#: Where per-GPU, per-TensorRT-version timing caches live unless $COMPILE_TRT_CACHE_DIR says otherwise.
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "compile" / "tensorrt"
#: The board's name on Jetson (and other device-tree machines).
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
#: cudaDeviceAttr values of the compute capability (cuda_runtime_api.h: cudaDevAttrComputeCapabilityMajor/Minor).
_CC_MAJOR_ATTR, _CC_MINOR_ATTR = 75, 76


@dataclass(frozen=True)
class LocalGpu:
    """The GPU an engine is built or run on.

    ``name``: CUDA's (or nvidia-smi's) name, "Orin" on every Orin module; ``compute_capability``: "8.7";
    ``jetson_module``: the device-tree model on a Jetson, else None; ``machine``: the CPU architecture
    (``platform.machine()``: "x86_64", "aarch64")."""

    name: str
    compute_capability: str | None
    jetson_module: str | None = None
    machine: str = ""

    @property
    def description(self) -> str:
        """'NVIDIA A100-SXM4-80GB (compute capability 8.0)', with the Jetson module when there is one."""
        where = f"{self.jetson_module}, " if self.jetson_module else ""
        return f"{self.name} ({where}compute capability {self.compute_capability or 'unknown'})"

    @property
    def platform(self) -> str:
        """TensorRT's platform: engines do not move between these ("JetPack (aarch64)", "Linux x86_64")."""
        return f"JetPack ({self.machine})" if self.jetson_module else f"Linux {self.machine}"


def machine() -> str:
    """The CPU architecture ("x86_64", "aarch64")."""
    return platform.machine()


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


def jetson_module(model_file: Path | None = None) -> str | None:
    """The Jetson board's name from the device tree ("NVIDIA Jetson Orin Nano Developer Kit"), or None when
    this is not a Jetson."""
    path = model_file or DEVICE_TREE_MODEL
    try:
        text = path.read_bytes().replace(b"\x00", b"").decode(errors="replace").strip()
    except OSError:
        return None
    return text if "jetson" in text.lower() else None


def _cudart_compute_capability() -> str | None:
    """Device 0's compute capability through the CUDA runtime library Polygraphy loads, or None."""
    try:
        from polygraphy import cuda

        lib = cuda.wrapper().handle
        count, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
        if lib.cudaGetDeviceCount(ctypes.byref(count)) != 0 or count.value < 1:
            return None
        if lib.cudaDeviceGetAttribute(ctypes.byref(major), _CC_MAJOR_ATTR, 0) != 0:
            return None
        if lib.cudaDeviceGetAttribute(ctypes.byref(minor), _CC_MINOR_ATTR, 0) != 0:
            return None
    except Exception:  # noqa: BLE001 - no CUDA runtime, no driver, no device: no GPU
        return None
    return f"{major.value}.{minor.value}"


def _valid_cc(value: str | None) -> str | None:
    return value if value and re.fullmatch(r"\d+\.\d+", value) else None


def local_gpu() -> LocalGpu | None:
    """The first NVIDIA GPU: nvidia-smi's name and compute capability, else the CUDA runtime's (Jetson),
    else torch's; on a Jetson with its module from the device tree."""
    module = jetson_module()
    smi = host.machine_info().get("gpu")  # through the module: tests stand in nvidia-smi's answer
    if smi:
        cc = _valid_cc(smi.get("compute_capability")) or _cudart_compute_capability()
        return LocalGpu(smi["name"], cc, module, machine())
    cc = _cudart_compute_capability()
    if cc is not None:
        # Without nvidia-smi the name is torch's when it has CUDA; on a Jetson CUDA would say only "Orin".
        name = "Orin" if module and "orin" in module.lower() else _torch_gpu_name() or "NVIDIA GPU"
        return LocalGpu(name, cc, module, machine())
    return _torch_gpu(module)


def _torch_gpu_name() -> str | None:
    gpu = _torch_gpu(None)
    return gpu.name if gpu else None


def _torch_gpu(module: str | None) -> LocalGpu | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(0)
    return LocalGpu(torch.cuda.get_device_name(0), f"{major}.{minor}", module, machine())


def token_matches(token: str, text: str) -> bool:
    """``token`` as whole words of ``text``, ignoring case: "L4" is in "NVIDIA L4" but not in "NVIDIA L40S",
    "A10" not in "NVIDIA A100-SXM4-80GB"."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])", text, re.IGNORECASE) is not None


def gpu_matches(tokens: Iterable[str], gpu: LocalGpu) -> str | None:
    """The longest ``gpu_match`` token found in the GPU's name or its Jetson module, or None."""
    texts = [gpu.name, *([gpu.jetson_module] if gpu.jetson_module else [])]
    found = [token for token in tokens if any(token_matches(token, text) for text in texts)]
    return max(found, key=len) if found else None


def match_profile(gpu: LocalGpu, candidates: Iterable[tuple[str, list[str], str | None]]) -> str | None:
    """The profile whose ``gpu_match`` token fits ``gpu`` best (whole words, longest token wins); a profile
    whose compute capability is set and differs is never chosen. ``candidates``: (profile name, gpu_match
    tokens, compute capability)."""
    best: tuple[int, str] | None = None
    for name, tokens, cc in candidates:
        if cc and gpu.compute_capability and cc != gpu.compute_capability:
            continue
        token = gpu_matches(tokens, gpu)
        if token is not None and (best is None or len(token) > best[0]):
            best = (len(token), name)
    return best[1] if best else None


def profile_mismatch(target: TrtTarget, gpu: LocalGpu) -> str | None:
    """Why an engine for ``target`` (a profile's) must not be built on ``gpu`` (compute capability, Jetson
    module), naming both, or None when it fits."""
    hardware = target.hardware
    wanted = f"{hardware.name}" + (f" (compute capability {hardware.compute_capability})" if hardware.compute_capability else "")
    if hardware.compute_capability and gpu.compute_capability and hardware.compute_capability != gpu.compute_capability:
        return f"profile '{target.name}' is for {wanted}, but this machine's GPU is {gpu.description}"
    if is_jetson(hardware) and gpu_matches(hardware.gpu_match, gpu) is None:
        here = f"a {gpu.jetson_module}" if gpu.jetson_module else f"not a Jetson ({gpu.description})"
        return (f"profile '{target.name}' is for {wanted} (device tree model with {hardware.gpu_match}), "
                f"but this machine is {here}")
    return None


def local_gpu_profile() -> str | None:
    """The name of the profile whose ``hardware.gpu_match`` fits the local GPU, when TensorRT is present."""
    if not tensorrt_installed():
        return None
    gpu = local_gpu()
    if gpu is None:
        return None
    candidates = []
    for name in available_profiles():
        profile = load_profile(name)
        if profile.backend == "tensorrt":
            candidates.append((name, profile.hardware.gpu_match, profile.hardware.compute_capability))
    return match_profile(gpu, candidates)


def timing_cache_path(gpu_name: str, compute_capability: str | None, tensorrt_version: str,
                      cache_dir: Path | None = None) -> Path:
    """One timing cache per GPU model and TensorRT version: tactics timed on one are not valid on another."""
    folder = cache_dir or Path(os.environ.get("COMPILE_TRT_CACHE_DIR") or DEFAULT_CACHE_DIR)
    slug = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") or "gpu"
    cc = f"-sm{compute_capability.replace('.', '')}" if compute_capability else ""
    return folder / "timing" / f"{slug}{cc}-trt{tensorrt_version}.cache"
