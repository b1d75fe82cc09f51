"""Find the profile that matches the local NVIDIA GPU, without importing tensorrt or torch."""

from __future__ import annotations

import importlib.util


def tensorrt_installed() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def local_gpu_profile() -> str | None:
    """The name of the profile whose ``hardware.gpu_match`` fits the local GPU, when TensorRT is present."""
    if not tensorrt_installed():
        return None
    from compile.bench.machine import machine_info
    from compile.profiles import available_profiles, load_profile

    gpu = machine_info().get("gpu")
    if not gpu:
        return None
    for name in available_profiles():
        profile = load_profile(name)
        if any(token.lower() in gpu["name"].lower() for token in profile.hardware.gpu_match):
            return name
    return None
