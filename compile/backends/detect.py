"""Which profile fits this machine: the local NVIDIA GPU's when TensorRT is usable, else ``cpu``."""

from __future__ import annotations

from compile.backends.trt.detect import local_gpu_profile

#: The profile of a machine without a usable NVIDIA GPU.
CPU_PROFILE = "cpu"


def default_profile_name() -> str:
    """The profile matching the local NVIDIA GPU when TensorRT is usable, else ``cpu``."""
    return local_gpu_profile() or CPU_PROFILE
