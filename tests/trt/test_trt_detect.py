"""Local GPU -> profile, timing-cache location, and the missing-tensorrt message."""

from __future__ import annotations

from pathlib import Path

import pytest

from compile.backends.trt.detect import match_profile, require_tensorrt, tensorrt_installed, timing_cache_path
from compile.errors import MissingDependencyError


def shipped_candidates() -> list[tuple[str, list[str], str | None]]:
    from compile.profiles import load_profile
    from tests.trt.test_trt_settings import gpu_profile_names

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
    ("NVIDIA GeForce RTX 4090", "8.9", None),
])
def test_shipped_profiles_match_local_gpus(gpu: str, cc: str, expected: str | None) -> None:
    assert match_profile(gpu, cc, shipped_candidates()) == expected


def test_longest_token_wins_and_compute_capability_must_agree() -> None:
    candidates = [("orin-nano", ["Orin"], "8.7"), ("agx-orin", ["AGX Orin"], "8.7"), ("a10", ["A10"], "8.6")]
    assert match_profile("Jetson AGX Orin", "8.7", candidates) == "agx-orin"
    assert match_profile("Jetson Orin Nano", "8.7", candidates) == "orin-nano"
    assert match_profile("NVIDIA A10", "8.6", candidates) == "a10"
    assert match_profile("NVIDIA A10 (odd)", "9.0", candidates) is None


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
    from compile.backends.trt.detect import local_gpu_profile
    from compile.profiles import default_profile_name

    assert local_gpu_profile() is None
    assert default_profile_name() == "cpu"
