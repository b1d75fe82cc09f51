"""The compatibility guard: may this engine be loaded here? Plain Python over the sidecar.

TensorRT refuses (or, worse, crashes on) a plan built for another GPU, platform or TensorRT version.
Before any deserialization, the sidecar is compared with the machine: a mismatch stops with a message
saying what differs, unless the engine was built version-compatible (same or newer TensorRT loads it) or
hardware-compatible (``ampere_plus``: any compute capability 8.0+; ``same_compute_capability``: any
GPU model with the same compute capability). Hardware compatibility never crosses platforms (serialized
engines are not portable across platforms: TensorRT support matrix): an x86-64 engine does not load on
aarch64, a discrete-GPU engine not on a Jetson. A DLA engine needs its DLA core on this device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compile.backends.trt import detect
from compile.backends.trt.settings import AMPERE_PLUS_MIN_CC, parse_cc, version_tuple
from compile.errors import UserInputError


class EngineCompatibilityError(UserInputError):
    """An engine built for another GPU or TensorRT version than this machine's."""


__all__ = ["EngineCompatibilityError", "Target", "check_compatible", "local_target", "version_tuple"]


@dataclass(frozen=True)
class Target:
    """The machine an engine is about to be loaded on. ``machine``: CPU architecture; ``jetson_module``: the
    device-tree model on a Jetson; ``dla_cores``: what TensorRT's runtime reports (None: not known)."""

    tensorrt_version: str | None
    gpu_name: str | None
    compute_capability: str | None
    machine: str | None = None
    jetson_module: str | None = None
    dla_cores: int | None = None

    @property
    def platform(self) -> str | None:
        if self.machine is None:
            return None
        return f"JetPack ({self.machine})" if self.jetson_module else f"Linux {self.machine}"


def check_compatible(sidecar: dict[str, Any], target: Target, engine_name: str = "the engine") -> list[str]:
    """Raise :class:`EngineCompatibilityError` naming every difference that stops the engine loading here;
    return warnings for differences TensorRT tolerates (another GPU model with the same compute capability)."""
    problems: list[str] = []
    warnings: list[str] = []
    compat = sidecar.get("compatibility", {})
    version_compatible = bool(compat.get("version_compatible"))
    hardware = compat.get("hardware", "none")
    built = sidecar.get("tensorrt_version")
    if sidecar.get("runtime") == "tensorrt" and built:
        if target.tensorrt_version is None:
            problems.append(f"TensorRT is not installed here (built with TensorRT {built})")
        elif version_compatible:
            if version_tuple(target.tensorrt_version) < version_tuple(built):
                problems.append(f"TensorRT version: built version-compatible with {built}, which loads on that version "
                                f"or newer only, and this machine has {target.tensorrt_version}")
        elif version_tuple(target.tensorrt_version) != version_tuple(built):
            problems.append(f"TensorRT version: built with {built}, this machine has {target.tensorrt_version} "
                            "(rebuild here, or build with build.version_compatible = true)")
    gpu = sidecar.get("gpu") or {}
    built_name, built_cc = gpu.get("name"), gpu.get("compute_capability")
    built_desc = f"{built_name} (compute capability {built_cc})"
    if target.gpu_name is None:
        problems.append(f"GPU: built for {built_desc}, and this machine has no NVIDIA GPU")
    else:
        here = f"{target.gpu_name} (compute capability {target.compute_capability})"
        local_cc = parse_cc(target.compute_capability)
        if hardware == "ampere_plus":
            if local_cc is not None and local_cc < AMPERE_PLUS_MIN_CC:
                problems.append(f"GPU: built hardware-compatible for Ampere and newer (compute capability 8.0+), this "
                                f"machine has {here}")
        elif built_cc and target.compute_capability and built_cc != target.compute_capability:
            hint = "" if hardware != "none" else " (rebuild here, or build with build.hardware_compatibility)"
            problems.append(f"GPU: built for {built_desc}, this machine has {here}{hint}")
        elif hardware == "none" and built_name and built_name != target.gpu_name:
            warnings.append(f"engine built on {built_name}, running on {target.gpu_name} (same compute capability "
                            f"{built_cc}): it loads, but its tactics were timed on the other GPU")
    _check_platform(sidecar, target, problems, warnings)
    dla_core = sidecar.get("dla_core")
    if dla_core is not None and target.dla_cores is not None and target.dla_cores <= dla_core:
        problems.append(f"DLA: built for DLA core {dla_core}, this device has {target.dla_cores} DLA core(s)")
    if problems:
        raise EngineCompatibilityError(f"{engine_name} cannot be loaded here: " + "; ".join(problems))
    return warnings


def _check_platform(sidecar: dict[str, Any], target: Target, problems: list[str], warnings: list[str]) -> None:
    """Platform (CPU architecture, Jetson or not) must be the same; another Jetson module is a warning."""
    built = sidecar.get("platform") or {}
    machine, module = built.get("machine"), built.get("jetson_module")
    if not machine or target.platform is None:
        return
    built_platform = f"JetPack ({machine})" if module else f"Linux {machine}"
    if built_platform != target.platform:
        where = f" on {module}" if module else ""
        here = f" ({target.jetson_module})" if target.jetson_module else ""
        problems.append(f"platform: built for {built_platform}{where}, this machine is {target.platform}{here}: "
                        "engines do not move between platforms, whatever their hardware compatibility")
    elif module and target.jetson_module and module != target.jetson_module:
        warnings.append(f"engine built on {module}, running on {target.jetson_module}: it loads, but its tactics "
                        "were timed on the other module")


def local_target(dla_cores: int | None = None) -> Target:
    """This machine, as the guard sees it (imports tensorrt when it is installed). ``dla_cores``: what the
    caller's TensorRT runtime reports, when it has one."""
    # Through the module: tests stand in a machine for detect's functions.
    gpu = detect.local_gpu()
    return Target(detect.tensorrt_version(), gpu.name if gpu else None, gpu.compute_capability if gpu else None,
                  machine=detect.machine(), jetson_module=gpu.jetson_module if gpu else detect.jetson_module(),
                  dla_cores=dla_cores)
