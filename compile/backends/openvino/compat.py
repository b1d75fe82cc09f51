"""May an OpenVINO artifact be loaded here? Plain Python over its sidecar.

An IR itself is portable, but what was validated and timed is the IR *as compiled* by one OpenVINO
release for one device on one instruction set: another release or another vector width picks other
kernels (BF16 or not, VNNI INT8 or not), so the report's accuracy and latency would not hold. A
mismatch stops with what differs and how to rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compile.backends.openvino.builder import device_family, make_core, openvino_version, release
from compile.backends.ort.hardware import cpu_isa
from compile.errors import UserInputError


class OpenVinoCompatibilityError(UserInputError):
    """An IR built with another OpenVINO release, for another device or CPU instruction set."""


@dataclass(frozen=True)
class Target:
    """The machine an IR is about to be loaded on (``openvino_version``: None when not installed)."""

    openvino_version: str | None
    devices: tuple[str, ...]
    isa: str


def local_target() -> Target:
    """This machine as the guard sees it: the OpenVINO release and devices (when installed), the CPU's vector ISA."""
    try:
        version = openvino_version()
    except ImportError:
        return Target(None, (), cpu_isa())
    return Target(version, tuple(make_core(None).available_devices), cpu_isa())


def check_compatible(sidecar: dict[str, Any], target: Target, name: str = "the model") -> None:
    """Raise :class:`OpenVinoCompatibilityError` naming every difference between the build and ``target``."""
    problems: list[str] = []
    built = sidecar.get("openvino_version")
    if target.openvino_version is None:
        problems.append(f"OpenVINO is not installed here (built with {built}; pip install 'compile[openvino]')")
    elif built and release(built) != release(target.openvino_version):
        problems.append(f"OpenVINO version: built with {release(built)}, this machine has {release(target.openvino_version)}")
    device = sidecar.get("device")
    if device and target.openvino_version is not None and not any(device_family(d) == device_family(device)
                                                                  for d in target.devices):
        problems.append(f"device: built for {device}, OpenVINO sees {', '.join(target.devices) or 'no device'} here")
    isa = sidecar.get("isa")
    if isa and isa != target.isa:
        problems.append(f"CPU instruction set: built on {isa}, this CPU is {target.isa}")
    if problems:
        raise OpenVinoCompatibilityError(f"{name} cannot be loaded here: {'; '.join(problems)} "
                                         "(rebuild it here: compile run --force)")
