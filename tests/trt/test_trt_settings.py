"""Profile -> TensorRT builder settings: precision path per TensorRT major, pools, shapes, sparsity, DLA,
compatibility and timing cache. Plain Python: no tensorrt needed."""

from __future__ import annotations

from typing import Any

import pytest

from compile.backends.trt.settings import (
    MIB,
    InputProfile,
    TrtBuildSettings,
    TrtTarget,
    _check_dla,
    build_settings,
    optimization_shapes,
)
from compile.errors import PassError, ProfileError
from compile.models.spec import InputSpec
from compile.profiles import Profile, Shapes, available_profiles, load_profile, parse_profile, profiles_dir

IMAGE = (InputSpec("input", ("batch", 3, 16, 16)),)
JETPACK6 = "10.3.0.26"


def gpu_profile(**sections: dict[str, Any]) -> Profile:
    data: dict[str, Any] = {
        "name": "test-gpu", "backend": "tensorrt", "device": "gpu",
        "hardware": {"name": "NVIDIA A100", "gpu_match": ["A100"], "compute_capability": "8.0", "sparse_tensor_cores": True},
        "shapes": {"batch_sizes": [1, 8], "min_batch": 1, "opt_batch": 8, "max_batch": 64},
        "build": {"workspace_mb": 2048, "builder_optimization_level": 4},
        "passes": [{"name": "export"}, {"name": "build-trt"}],
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return parse_profile(data)


def settings_for(profile: Profile, precision: str = "fp32", graph: str = "fp32", version: str = "10.13.0.35",
                 sparsity: str = "dense", **kw: Any) -> tuple[TrtBuildSettings, list[str]]:
    return build_settings(TrtTarget.of(profile), precision=precision, graph_precision=graph, sparsity=sparsity,
                          tensorrt_version=version, inputs=IMAGE, timing_cache="/cache/a100.cache", **kw)


@pytest.mark.parametrize("version", ["10.13.0.35", "11.4.1"])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_strongly_typed_build_takes_precision_from_the_graph_and_sets_no_precision_flag(version: str, precision: str) -> None:
    settings, warnings = settings_for(gpu_profile(), precision=precision, graph=precision, version=version)
    assert settings.typing == "strong"
    assert settings.tensorrt_major == int(version.split(".")[0])
    assert (settings.fp16_flag, settings.int8_flag) == (False, False)
    assert settings.precision == precision
    assert warnings == []
    assert f"TensorRT {settings.tensorrt_major}, strongly typed" in settings.path_description


def test_strongly_typed_build_refuses_a_graph_without_the_requested_precision() -> None:
    with pytest.raises(PassError, match="graph, which is fp32, but the run asks for int8: add the quantize-int8"):
        settings_for(gpu_profile(), precision="int8", graph="fp32")
    with pytest.raises(PassError, match="cast-fp16"):
        settings_for(gpu_profile(), precision="fp16", graph="fp32")


def test_mixed_precision_comes_from_qdq_and_keeps_float_layers_in_fp32() -> None:
    strong, _ = settings_for(gpu_profile(), precision="mixed", graph="mixed")
    assert (strong.typing, strong.fp16_flag, strong.int8_flag) == ("strong", False, False)
    assert settings_for(gpu_profile(), precision="mixed", graph="int8")[0].precision == "mixed"
    with pytest.raises(PassError, match="mixed-precision"):
        settings_for(gpu_profile(), precision="mixed", graph="fp16")
    weak, _ = settings_for(gpu_profile(build={"strongly_typed": False}), precision="mixed", graph="mixed")
    assert (weak.fp16_flag, weak.int8_flag) == (False, True)


def test_fp32_run_over_a_quantized_graph_keeps_the_graph_and_warns() -> None:
    settings, warnings = settings_for(gpu_profile(), precision="fp32", graph="int8")
    assert settings.typing == "strong" and not settings.int8_flag
    assert warnings and "int8" in warnings[0]


def test_weakly_typed_tensorrt10_sets_precision_flags() -> None:
    weak = gpu_profile(build={"strongly_typed": False})
    fp16, _ = settings_for(weak, precision="fp16", graph="fp32")
    assert (fp16.typing, fp16.fp16_flag, fp16.int8_flag) == ("weak", True, False)
    int8, _ = settings_for(weak, precision="int8", graph="int8")
    assert (int8.fp16_flag, int8.int8_flag) == (True, True)
    fp32, _ = settings_for(weak, precision="fp32")
    assert (fp32.fp16_flag, fp32.int8_flag) == (False, False)
    assert "weakly typed network (builder precision flags: FP16, INT8)" in int8.path_description


def test_weak_int8_needs_explicit_qdq_no_implicit_calibration() -> None:
    with pytest.raises(PassError, match="implicit INT8 calibration is not supported"):
        settings_for(gpu_profile(build={"strongly_typed": False}), precision="int8", graph="fp32")


def test_tensorrt11_rejects_weakly_typed_profiles() -> None:
    with pytest.raises(ProfileError, match="TensorRT 11 only builds strongly typed networks"):
        settings_for(gpu_profile(build={"strongly_typed": False}), precision="fp16", version="11.0.0")


@pytest.mark.parametrize("version", ["8.6.1", "9.2.0", "12.0.0"])
def test_unsupported_tensorrt_versions_are_refused(version: str) -> None:
    with pytest.raises(PassError, match=f"TensorRT {version} is installed"):
        settings_for(gpu_profile(), version=version)


def test_pinned_tensorrt_major_must_match_the_installed_one() -> None:
    jetson = gpu_profile(hardware={"tensorrt_major": 10, "name": "Jetson Orin"})
    assert settings_for(jetson, version="10.3.0")[0].tensorrt_major == 10
    with pytest.raises(ProfileError, match="targets TensorRT 10 .*TensorRT 11.1.0 is installed"):
        settings_for(jetson, version="11.1.0")


def test_pools_optimisation_level_and_timing_cache() -> None:
    settings, _ = settings_for(gpu_profile(), memory_pools_mb={"tactic_shared_memory": 48})
    assert settings.memory_pools == {"workspace": 2048 * MIB, "tactic_shared_memory": 48 * MIB}
    assert settings.builder_optimization_level == 4
    assert settings.timing_cache == "/cache/a100.cache"
    off, _ = settings_for(gpu_profile(build={"timing_cache": False}))
    assert off.timing_cache is None


def test_memory_pool_errors() -> None:
    with pytest.raises(ProfileError, match="unknown memory pool 'l2'"):
        settings_for(gpu_profile(), memory_pools_mb={"l2": 1})
    with pytest.raises(ProfileError, match="DLA pool"):
        settings_for(gpu_profile(), memory_pools_mb={"dla_managed_sram": 1})


def test_sparse_weights_only_for_24_runs_on_sparse_tensor_cores() -> None:
    assert settings_for(gpu_profile(), sparsity="2:4")[0].sparse_weights
    assert not settings_for(gpu_profile())[0].sparse_weights
    turing = gpu_profile(hardware={"name": "NVIDIA T4", "compute_capability": "7.5", "sparse_tensor_cores": False})
    with pytest.raises(ProfileError, match="no sparse tensor cores"):
        settings_for(turing, sparsity="2:4")


def test_dla_core_with_and_without_gpu_fallback() -> None:
    orin = {"hardware": {"name": "Jetson AGX Orin", "dla_cores": 2, "compute_capability": "8.7"},
            "shapes": {"batch_sizes": [1], "min_batch": 1, "opt_batch": 1, "max_batch": 1}}
    with_fallback = gpu_profile(**orin, build={"dla_core": 1, "gpu_fallback": True})
    settings, _ = settings_for(with_fallback, precision="fp16", graph="fp16", version=JETPACK6,
                                memory_pools_mb={"dla_managed_sram": 1})
    assert (settings.dla_core, settings.gpu_fallback) == (1, True)
    assert settings.memory_pools["dla_managed_sram"] == MIB
    no_fallback = gpu_profile(**orin, build={"dla_core": 0, "gpu_fallback": False})
    assert settings_for(no_fallback, precision="int8", graph="int8", version=JETPACK6)[0].gpu_fallback is False
    _, warnings = settings_for(with_fallback, precision="fp32", version=JETPACK6)
    assert any("falls back to the GPU" in w for w in warnings)
    with pytest.raises(ProfileError, match="DLA runs only FP16 and INT8, and GPU fallback is off"):
        settings_for(no_fallback, precision="fp32", version=JETPACK6)
    assert settings_for(gpu_profile())[0].dla_core is None


def test_dla_needs_static_shapes_and_a_tensorrt_that_has_dla() -> None:
    """Fault 3: DLA has no dynamic shapes (min = opt = max), also for a model's own dynamic axes; and DLA
    exists in TensorRT 10 up to 10.7 and again from 11.4.1 (TensorRT 11.4.1 docs, "Working with DLA")."""
    orin = {"hardware": {"name": "Jetson AGX Orin", "dla_cores": 2, "compute_capability": "8.7"},
            "shapes": {"batch_sizes": [1], "min_batch": 1, "opt_batch": 1, "max_batch": 1}}
    profile = gpu_profile(**orin, build={"dla_core": 0})
    ranged = (InputProfile("input", (1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32)),)
    # Profiles refuse a range when loaded (compile/profiles.py); the settings check the shapes they compute too.
    with pytest.raises(ProfileError, match=r"runs on DLA core 0, which needs static shapes, but input 'input' ranges "
                                           r"\[1, 3, 8, 8\] .. \[1, 3, 32, 32\]"):
        _check_dla(TrtTarget.of(profile), JETPACK6, ranged)
    for version, ok in (("10.3.0.26", True), ("10.7.0", True), ("10.8.0", False), ("10.13.0.35", False),
                        ("11.1.0", False), ("11.4.0", False), ("11.4.1", True)):
        if ok:
            assert settings_for(profile, precision="fp16", graph="fp16", version=version)[0].dla_core == 0
        else:
            with pytest.raises(ProfileError, match=f"TensorRT {version} has no DLA"):
                settings_for(profile, precision="fp16", graph="fp16", version=version)


def test_same_compute_capability_needs_tensorrt_10_9_and_turing() -> None:
    """Fault 1: HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY is bound from TensorRT 10.9 (pyCore.cpp)."""
    same = gpu_profile(build={"hardware_compatibility": "same_compute_capability"})
    with pytest.raises(ProfileError, match="needs TensorRT 10.9 or newer, and TensorRT 10.3.0.26 is installed"):
        settings_for(same, version="10.3.0.26")
    assert settings_for(same, version="10.9.0.34")[0].hardware_compatibility == "same_compute_capability"
    volta = gpu_profile(hardware={"name": "Tesla V100", "compute_capability": "7.0", "sparse_tensor_cores": False},
                        build={"hardware_compatibility": "same_compute_capability"})
    with pytest.raises(ProfileError, match="needs compute capability 7.5 \\(Turing\\) or newer, Tesla V100 is 7.0"):
        settings_for(volta)
    orin = {"hardware": {"name": "Jetson AGX Orin", "dla_cores": 2, "compute_capability": "8.7"},
            "shapes": {"batch_sizes": [1], "min_batch": 1, "opt_batch": 1, "max_batch": 1}}
    for level in ("ampere_plus", "same_compute_capability"):
        with pytest.raises(ProfileError, match=f"'{level}' does not apply to DLA engines"):
            settings_for(gpu_profile(**orin, build={"dla_core": 0, "hardware_compatibility": level}), version="10.3.0")


def test_jetson_profiles_expect_their_dla_core_count() -> None:
    nano, agx, a100 = (build_settings(TrtTarget.of(load_profile(name)), precision="fp16", graph_precision="fp16",
                                      sparsity="dense", tensorrt_version="10.3.0", inputs=IMAGE)[0]
                       for name in ("jetson-orin-nano", "jetson-agx-orin", "a100"))
    assert (nano.expect_dla_cores, agx.expect_dla_cores, a100.expect_dla_cores) == (0, 2, None)


def test_hardware_and_version_compatibility() -> None:
    settings, _ = settings_for(gpu_profile(build={"hardware_compatibility": "ampere_plus", "version_compatible": True}))
    assert (settings.hardware_compatibility, settings.version_compatible) == ("ampere_plus", True)
    turing = gpu_profile(hardware={"name": "NVIDIA T4", "compute_capability": "7.5", "sparse_tensor_cores": False},
                         build={"hardware_compatibility": "ampere_plus"})
    with pytest.raises(ProfileError, match="needs compute capability 8.0 or newer, NVIDIA T4 is 7.5"):
        settings_for(turing)
    same = gpu_profile(hardware={"name": "NVIDIA T4", "compute_capability": "7.5", "sparse_tensor_cores": False},
                       build={"hardware_compatibility": "same_compute_capability"})
    assert settings_for(same)[0].hardware_compatibility == "same_compute_capability"


def test_optimization_shapes_from_batch_range_and_explicit_inputs() -> None:
    shapes = Shapes(batch_sizes=[1, 4], min_batch=1, opt_batch=4, max_batch=16)
    assert optimization_shapes(shapes, IMAGE) == (InputProfile("input", (1, 3, 16, 16), (4, 3, 16, 16), (16, 3, 16, 16)),)
    tokens = (InputSpec("ids", ("batch", "seq"), "int64"), InputSpec("mask", (1, "seq"), "int64"))
    explicit = Shapes.model_validate({"inputs": {"ids": {"min": [1, 8], "opt": [2, 64], "max": [8, 128]},
                                                 "mask": {"min": [1, 8], "opt": [1, 64], "max": [1, 128]}}})
    got = optimization_shapes(explicit, tokens)
    assert got[0] == InputProfile("ids", (1, 8), (2, 64), (8, 128))
    assert got[1].max == (1, 128)


def test_optimization_shape_errors_name_the_input() -> None:
    tokens = (InputSpec("ids", ("batch", "seq"), "int64"),)
    with pytest.raises(ProfileError, match=r"input 'ids' has a dynamic axis 1 .*\[shapes.inputs.ids\]"):
        optimization_shapes(Shapes(), tokens)
    with pytest.raises(ProfileError, match="rank 3 but the model's input has rank 2"):
        optimization_shapes(Shapes.model_validate({"inputs": {"ids": {"min": [1, 1, 1], "opt": [1, 1, 1], "max": [1, 1, 1]}}}), tokens)
    fixed = (InputSpec("x", (1, 3)),)
    with pytest.raises(ProfileError, match="axis 1 is fixed at 3"):
        optimization_shapes(Shapes.model_validate({"inputs": {"x": {"min": [1, 1], "opt": [1, 3], "max": [1, 3]}}}), fixed)
    with pytest.raises(ProfileError, match=r"names \['nope'\], which the model does not have"):
        optimization_shapes(Shapes.model_validate({"inputs": {"nope": {"min": [1], "opt": [1], "max": [1]}}}), fixed)


def test_settings_round_trip_through_the_worker_job() -> None:
    settings, _ = settings_for(gpu_profile(build={"version_compatible": True}), sparsity="2:4",
                               memory_pools_mb={"tactic_shared_memory": 1})
    assert TrtBuildSettings.from_dict(settings.to_dict()) == settings


def test_every_shipped_gpu_profile_gives_builder_settings() -> None:
    names = gpu_profile_names()
    assert {"a100", "t4", "jetson-agx-orin"} <= set(names)
    for name in names:
        profile = load_profile(name)
        major = profile.hardware.tensorrt_major or 11
        settings, _ = build_settings(TrtTarget.of(profile), precision="fp16", graph_precision="fp16", sparsity="dense",
                                     tensorrt_version=f"{major}.0.0", inputs=IMAGE)
        assert settings.shapes[0].max[0] == profile.shapes.max_batch
        assert settings.memory_pools["workspace"] == profile.build.workspace_mb * MIB
        assert settings.dla_core == profile.build.dla_core


def gpu_profile_names() -> list[str]:
    """Shipped profiles whose backend is tensorrt (read from the TOML, so a broken CPU profile is not our test)."""
    import tomllib

    return [name for name in available_profiles()
            if tomllib.loads((profiles_dir() / f"{name}.toml").read_text()).get("backend") == "tensorrt"]
