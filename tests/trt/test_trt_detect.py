"""Local GPU -> profile, timing-cache location, and the missing-tensorrt message."""

from __future__ import annotations

from pathlib import Path

import pytest

from compile.backends.detect import default_profile_name
from compile.backends.trt.detect import (
    LocalGpu,
    jetson_module,
    local_gpu,
    local_gpu_profile,
    match_profile,
    require_tensorrt,
    tensorrt_installed,
    timing_cache_path,
    token_matches,
)
from compile.errors import MissingDependencyError
from compile.profiles import load_profile
from tests.trt.fakes import JETSON_AGX_ORIN, TRT_10_3, install
from tests.trt.test_trt_settings import gpu_profile_names


def shipped_candidates() -> list[tuple[str, list[str], str | None]]:
    found = []
    for name in gpu_profile_names():
        profile = load_profile(name)
        found.append((name, profile.hardware.gpu_match, profile.hardware.compute_capability))
    return found


@pytest.mark.parametrize(("gpu", "cc", "expected"), [
    ("NVIDIA A100-SXM4-80GB", "8.0", "a100"),
    ("NVIDIA H100 80GB HBM3", "9.0", "h100"),
    ("Tesla T4", "7.5", "t4"),
    ("NVIDIA L4", "8.9", "l4"),
    ("NVIDIA A10", "8.6", "a10"),
    ("NVIDIA A10G", "8.6", "a10"),
    # Fault 10: whole words only: "L4" is not in "L40S", "A10" not in "A100".
    ("NVIDIA L40S", "8.9", None),
    ("NVIDIA L40", "8.9", None),
    ("NVIDIA GeForce RTX 4090", "8.9", None),
    # CUDA (and nvidia-smi) call every Orin module "Orin": no profile from the name alone.
    ("Orin", "8.7", None),
])
def test_shipped_profiles_match_local_gpus(gpu: str, cc: str, expected: str | None) -> None:
    assert match_profile(LocalGpu(gpu, cc), shipped_candidates()) == expected


@pytest.mark.parametrize(("model", "expected"), [
    ("NVIDIA Jetson AGX Orin Developer Kit", "jetson-agx-orin"),
    ("NVIDIA Jetson Orin Nano Developer Kit", "jetson-orin-nano"),
    ("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", "jetson-orin-nano"),
    ("NVIDIA Jetson Orin NX Engineering Reference Developer Kit", None),
])
def test_jetson_modules_are_told_apart_by_the_device_tree(model: str, expected: str | None) -> None:
    """Fault 4: an AGX Orin got the Nano profile, whose gpu_match 'Orin' fit every module's CUDA name."""
    assert match_profile(LocalGpu("Orin", "8.7", model, "aarch64"), shipped_candidates()) == expected


def test_longest_token_wins_and_compute_capability_must_agree() -> None:
    candidates = [("any-orin", ["Jetson"], "8.7"), ("agx-orin", ["Jetson AGX Orin"], "8.7"), ("a10", ["A10"], "8.6")]
    assert match_profile(LocalGpu("Orin", "8.7", "NVIDIA Jetson AGX Orin"), candidates) == "agx-orin"
    assert match_profile(LocalGpu("Orin", "8.7", "NVIDIA Jetson Orin Nano"), candidates) == "any-orin"
    assert match_profile(LocalGpu("NVIDIA A10", "8.6"), candidates) == "a10"
    assert match_profile(LocalGpu("NVIDIA A10 (odd)", "9.0"), candidates) is None


def test_token_matches_whole_words_only() -> None:
    assert token_matches("L4", "NVIDIA L4") and token_matches("l4", "nvidia l4 (pcie)")
    assert not token_matches("L4", "NVIDIA L40S") and not token_matches("A10", "NVIDIA A100-SXM4-80GB")
    assert token_matches("A100", "NVIDIA A100-SXM4-80GB") and token_matches("T4", "Tesla T4")


def test_a_jetson_is_found_without_nvidia_smi_or_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Jetson: no nvidia-smi, no CUDA torch; the CUDA runtime (through Polygraphy) gives the compute capability
    and the device tree the module."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    install(monkeypatch, tmp_path, TRT_10_3, JETSON_AGX_ORIN)
    gpu = local_gpu()
    assert gpu == LocalGpu("Orin", "8.7", "NVIDIA Jetson AGX Orin Developer Kit", "aarch64")
    assert gpu.platform == "JetPack (aarch64)"
    assert local_gpu_profile() == "jetson-agx-orin"


def test_jetson_module_reads_the_device_tree(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    assert jetson_module(model) == "NVIDIA Jetson Orin Nano Developer Kit"
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    assert jetson_module(model) is None
    assert jetson_module(tmp_path / "absent") is None


def test_timing_cache_is_per_gpu_model_and_tensorrt_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = timing_cache_path("NVIDIA A100-SXM4-80GB", "8.0", "10.13.0.35", tmp_path)
    assert a == tmp_path / "timing" / "nvidia-a100-sxm4-80gb-sm80-trt10.13.0.35.cache"
    assert a != timing_cache_path("NVIDIA A100-SXM4-80GB", "8.0", "11.0.0", tmp_path)
    assert a != timing_cache_path("NVIDIA H100", "9.0", "10.13.0.35", tmp_path)
    monkeypatch.setenv("COMPILE_TRT_CACHE_DIR", str(tmp_path / "env"))
    assert timing_cache_path("Tesla T4", "7.5", "10.3.0").parent == tmp_path / "env" / "timing"


@pytest.mark.skipif(tensorrt_installed(), reason="tensorrt is installed here")
def test_missing_tensorrt_names_the_package_and_the_profile() -> None:
    with pytest.raises(MissingDependencyError) as err:
        require_tensorrt("a100")
    assert str(err.value) == ("building a TensorRT engine for profile 'a100' needs the 'tensorrt' package, "
                              "which is not installed (pip install 'compile[trt]')")
    assert err.value.exit_code == 2


@pytest.mark.skipif(tensorrt_installed(), reason="tensorrt is installed here")
def test_no_gpu_profile_is_picked_without_tensorrt() -> None:
    assert local_gpu_profile() is None
    assert default_profile_name() == "cpu"
