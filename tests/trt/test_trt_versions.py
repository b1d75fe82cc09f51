"""The whole build-trt pass on the version-faithful fakes: every shipped GPU profile under TensorRT 10.3
(JetPack 6), 10.13 and 11.1, on the device the profile is for. Each either builds (engine, sidecar, the
TensorRT calls the settings ask for) or stops with the tool's one-line reason, never an AttributeError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compile.artifacts import OnnxModel
from compile.backends.trt.builder import build_engine, configure
from compile.backends.trt.detect import timing_cache_path
from compile.backends.trt.settings import InputProfile, TrtBuildSettings
from compile.drivers.options import resolve_options
from compile.errors import CompileError, PassError, ProfileError
from compile.passes.base import PassContext, PassResult
from compile.passes.build_trt import BuildTrtPass
from compile.profiles import Profile, load_profile, parse_profile
from compile.settings import RunSettings
from tests.trt.fakes import (
    A100,
    JETSON_AGX_ORIN,
    JETSON_ORIN_NANO,
    PROFILE_DEVICES,
    T4,
    TRT_10_3,
    TRT_10_9,
    TRT_10_13,
    TRT_11_1,
    VERSIONS,
    install,
    run_worker_in_process,
)
from tests.trt.fakes.fake_tensorrt import FakeDevice, State, read_plan
from tests.trt.fakes.models import custom_op_model, fp16_classifier

MIB = 1 << 20
#: What each shipped profile gets under each fake version: None builds, else the start of the refusal.
REFUSED = {
    ("jetson-orin-nano", TRT_11_1): "profile 'jetson-orin-nano' targets TensorRT 10",
    ("jetson-agx-orin", TRT_11_1): "profile 'jetson-agx-orin' targets TensorRT 10",
    ("jetson-agx-orin", TRT_10_13): "profile 'jetson-agx-orin' runs on DLA core 0, but TensorRT 10.13.0.35 has no DLA",
}


def run_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, profile: Profile | str, version: str,
             device: FakeDevice | None = None, precision: str | None = None, sparsity: str = "dense",
             onnx_path: Path | None = None, quirks: set[str] | None = None, **options: Any) -> tuple[State, PassResult]:
    """The build-trt pass alone, in this process, on a fake TensorRT ``version`` and ``device``."""
    profile = load_profile(profile) if isinstance(profile, str) else profile
    tmp_path.mkdir(parents=True, exist_ok=True)
    fake = install(monkeypatch, tmp_path, version, device or PROFILE_DEVICES.get(profile.name, A100), quirks)
    monkeypatch.setenv("COMPILE_TRT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("compile.backends.trt.build_worker.run_in_subprocess", run_worker_in_process)
    source = onnx_path or fp16_classifier(tmp_path / "model.onnx")
    run_dir, work_dir = tmp_path / "run", tmp_path / "work"
    run_dir.mkdir(exist_ok=True)
    work_dir.mkdir(exist_ok=True)
    settings = RunSettings(model=str(source), profile=profile.name, precision=precision or profile.precision.default,
                           sparsity=sparsity, out=run_dir, progress=False)
    # The pass takes its target from its options (as the driver resolves them), never from ctx.profile: the CPU
    # profile in the context shows it.
    ctx = PassContext(settings=settings, profile=load_profile("cpu"), run_dir=run_dir, work_dir=work_dir, artifacts={},
                      log=lambda line: None)
    graph = "fp16" if onnx_path is None else "fp32"
    pass_ = BuildTrtPass(**resolve_options("build-trt", {"profile_engine": False, **options}, profile, settings))
    result = pass_.run({"onnx": OnnxModel(source, precision=graph)}, ctx)
    return fake, result


def gpu_profile(**build: Any) -> Profile:
    return parse_profile({"name": "a100-custom", "backend": "tensorrt", "device": "gpu",
                          "hardware": {"name": "NVIDIA A100", "gpu_match": ["A100"], "compute_capability": "8.0",
                                       "sparse_tensor_cores": True},
                          "shapes": {"batch_sizes": [1, 4], "min_batch": 1, "opt_batch": 4, "max_batch": 8},
                          "build": build, "passes": [{"name": "build-trt"}]})


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(PROFILE_DEVICES))
def test_every_gpu_profile_under_every_tensorrt_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str,
                                                        version: str) -> None:
    profile = load_profile(name)
    refusal = REFUSED.get((name, version))
    if refusal is not None:
        with pytest.raises(ProfileError) as err:
            run_pass(monkeypatch, tmp_path, profile, version)
        assert str(err.value).startswith(refusal)
        return
    fake, result = run_pass(monkeypatch, tmp_path, profile, version)
    major = int(version.split(".")[0])
    # Network: strongly typed, the flag's bit as this version numbers it (1 in TensorRT 10, 0 in 11).
    strongly_typed = {10: 1 << 1, 11: 1 << 0}[major]
    assert fake.called("Builder.create_network") == [(strongly_typed,)]
    assert fake.called("init_libnvinfer_plugins") and fake.calls[0][0] == "init_libnvinfer_plugins"
    # Settings -> calls: workspace, optimisation level, the profile's batch range, no precision flags.
    trt = fake.module
    assert fake.called("IBuilderConfig.set_memory_pool_limit") == [(trt.MemoryPoolType.WORKSPACE, profile.build.workspace_mb * MIB)]
    assert fake.called("IBuilderConfig.builder_optimization_level=") == [(profile.build.builder_optimization_level,)]
    [(input_name, lo, opt, hi)] = fake.called("IOptimizationProfile.set_shape")
    assert (input_name, lo[0], opt[0], hi[0]) == ("input", profile.shapes.min_batch, profile.shapes.opt_batch,
                                                  profile.shapes.max_batch)
    assert fake.called("IBuilderConfig.set_flag") == ([(trt.BuilderFlag.GPU_FALLBACK,)] if profile.build.dla_core is not None else [])
    assert not fake.called("IBuilderConfig.hardware_compatibility_level=")
    # The engine, and its sidecar saying what built it and where.
    engine = Path(result.output.path)  # type: ignore[union-attr]
    header, _ = read_plan(engine.read_bytes()) or ({}, b"")
    assert header["version"] == version and header["strongly_typed"] and header["precision_flags"] == []
    sidecar = json.loads(Path(result.output.sidecar).read_text())  # type: ignore[union-attr]
    device = PROFILE_DEVICES[name]
    assert sidecar["tensorrt_version"] == version and sidecar["profile"] == name
    assert sidecar["gpu"] == {"name": device.name, "compute_capability": device.compute_capability}
    assert sidecar["platform"] == {"machine": device.machine, "jetson_module": device.jetson_module}
    assert [b["name"] for b in sidecar["bindings"]] == ["input", "logits"]
    assert result.report["tensorrt"]["timing_cache"]["saved_bytes"] > 0
    if profile.build.dla_core is not None:
        # DLA on a static shape: the layers DLA runs stay there (Gemm/Flatten fall back to the GPU).
        assert fake.called("IBuilderConfig.default_device_type=") == [(trt.DeviceType.DLA,)]
        assert fake.called("IBuilderConfig.DLA_core=") == [(0,)]
        assert header["dla_core"] == 0 and {"conv", "relu", "pool"} <= set(header["dla_layers"])
        assert sidecar["dla_core"] == 0


def test_same_compute_capability_needs_tensorrt_10_9(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fault 1: the level exists from 10.9; before, the build stops with the reason, not an AttributeError."""
    profile = gpu_profile(hardware_compatibility="same_compute_capability")
    with pytest.raises(ProfileError, match="'same_compute_capability' needs TensorRT 10.9 or newer, and TensorRT "
                                           "10.3.0.26 is installed"):
        run_pass(monkeypatch, tmp_path, profile, TRT_10_3)
    for version in (TRT_10_9, TRT_10_13, TRT_11_1):
        fake, _ = run_pass(monkeypatch, tmp_path / version, profile, version)
        assert fake.called("IBuilderConfig.hardware_compatibility_level=") == [
            (fake.module.HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY,)]
        monkeypatch.undo()


def test_builder_backstop_names_a_member_this_tensorrt_lacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings that got past the checks still meet a PassError naming the member and the version."""
    fake = install(monkeypatch, tmp_path, TRT_10_3)
    trt = fake.module
    builder = trt.Builder(trt.Logger())
    network = builder.create_network(0)
    settings = TrtBuildSettings(tensorrt_major=10, typing="strong", precision="fp32", hardware_compatibility="same_compute_capability",
                                shapes=(InputProfile("input", (1, 3, 16, 16), (1, 3, 16, 16), (1, 3, 16, 16)),))
    with pytest.raises(PassError, match=r"TensorRT 10.3.0.26 has no HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY"):
        configure(builder, network, settings)
    fake11 = install(monkeypatch, tmp_path, TRT_11_1)
    trt11 = fake11.module
    builder11 = trt11.Builder(trt11.Logger())
    weak = TrtBuildSettings(tensorrt_major=11, typing="weak", precision="fp16", fp16_flag=True)
    with pytest.raises(PassError, match=r"TensorRT 11.1.0.106 has no BuilderFlag.FP16"):
        configure(builder11, builder11.create_network(0), weak)


@pytest.mark.parametrize("version", VERSIONS)
def test_compatibility_sparsity_and_version_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, version: str) -> None:
    profile = gpu_profile(hardware_compatibility="ampere_plus", version_compatible=True)
    fake, result = run_pass(monkeypatch, tmp_path, profile, version, sparsity="2:4")
    trt = fake.module
    assert fake.called("IBuilderConfig.hardware_compatibility_level=") == [(trt.HardwareCompatibilityLevel.AMPERE_PLUS,)]
    assert set(fake.called("IBuilderConfig.set_flag")) == {(trt.BuilderFlag.SPARSE_WEIGHTS,), (trt.BuilderFlag.VERSION_COMPATIBLE,)}
    header, _ = read_plan(Path(result.output.path).read_bytes()) or ({}, b"")  # type: ignore[union-attr]
    assert header["sparse_weights"] and header["version_compatible"] and header["hardware_compatibility"] == "AMPERE_PLUS"


def test_weakly_typed_builds_set_flags_on_tensorrt_10_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    profile = gpu_profile(strongly_typed=False)
    fake, _ = run_pass(monkeypatch, tmp_path, profile, TRT_10_3, precision="fp16")
    assert fake.called("Builder.create_network") == [(0,)]
    assert fake.called("IBuilderConfig.set_flag") == [(fake.module.BuilderFlag.FP16,)]
    monkeypatch.undo()
    with pytest.raises(ProfileError, match="TensorRT 11 only builds strongly typed networks"):
        run_pass(monkeypatch, tmp_path, profile, TRT_11_1, precision="fp16")


def test_the_profile_must_fit_the_gpu_it_builds_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fault 11: --profile h100 on an A100 (and a Jetson profile on another module) stops naming both."""
    with pytest.raises(PassError) as err:
        run_pass(monkeypatch, tmp_path, "h100", TRT_10_13, device=A100)
    assert str(err.value) == ("build-trt: profile 'h100' is for NVIDIA H100 (compute capability 9.0), but this machine's "
                              "GPU is NVIDIA A100-SXM4-80GB (compute capability 8.0): an engine is built on the GPU it "
                              "runs on (use this GPU's profile)")
    monkeypatch.undo()
    with pytest.raises(PassError, match="profile 'jetson-agx-orin' is for NVIDIA Jetson AGX Orin .* but this machine "
                                        "is a NVIDIA Jetson Orin Nano"):
        run_pass(monkeypatch, tmp_path, "jetson-agx-orin", TRT_10_3, device=JETSON_ORIN_NANO)
    monkeypatch.undo()
    with pytest.raises(PassError, match="is for NVIDIA T4 .* this machine's GPU is NVIDIA A100"):
        run_pass(monkeypatch, tmp_path, "t4", TRT_10_3, device=A100)


def test_a_jetson_module_with_other_dla_cores_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fault 4's second check: the module name matches, the DLA count (TensorRT's) does not."""
    odd = FakeDevice("Orin", "8.7", 1, JETSON_AGX_ORIN.jetson_module, "aarch64")
    with pytest.raises(PassError, match=r"the profile is for a device with 2 DLA core\(s\), this one has 1"):
        run_pass(monkeypatch, tmp_path, "jetson-agx-orin", TRT_10_3, device=odd)


def test_a_corrupt_timing_cache_falls_back_to_an_empty_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fault 8: TensorRT gives no cache for corrupt bytes; the build starts an empty one and says why."""
    cache = timing_cache_path(A100.name, A100.compute_capability, TRT_10_13, tmp_path / "cache")
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"\x00garbage, half a cache")
    _, result = run_pass(monkeypatch, tmp_path, "a100", TRT_10_13)
    info = result.report["tensorrt"]["timing_cache"]
    assert info["loaded_bytes"] == 0 and "corrupt" in info["rejected"] and info["saved_bytes"] > 0
    assert cache.read_bytes().startswith(b"FAKETRTCACHE")
    monkeypatch.undo()
    _, again = run_pass(monkeypatch, tmp_path, "a100", TRT_10_13)
    assert again.report["tensorrt"]["timing_cache"]["loaded_bytes"] == info["saved_bytes"]
    assert "rejected" not in again.report["tensorrt"]["timing_cache"]


def test_parser_errors_stop_the_build_even_when_parse_says_true(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fault 9: success needs a true return value and no recorded error."""
    model = custom_op_model(tmp_path / "custom.onnx")
    profile = parse_profile({"name": "a100-any", "backend": "tensorrt", "device": "gpu",
                             "hardware": {"name": "NVIDIA A100", "compute_capability": "8.0"},
                             "shapes": {"batch_sizes": [1], "min_batch": 1, "opt_batch": 1, "max_batch": 2},
                             "passes": [{"name": "build-trt"}]})
    for quirks in (set(), {"parse_true_with_errors"}):
        with pytest.raises(PassError, match=r"ONNX parser rejected the graph: node 1 \(mystery\): No importer "
                                            "registered for op: Mystery"):
            run_pass(monkeypatch, tmp_path, profile, TRT_10_3, precision="fp32", onnx_path=model, quirks=quirks)
        monkeypatch.undo()


def test_dla_needs_a_static_shape_and_a_tensorrt_with_dla() -> None:
    """Fault 3: a DLA profile with a batch range is refused when loaded; the shipped one is static."""
    agx = load_profile("jetson-agx-orin")
    assert agx.build.dla_core == 0 and agx.shapes.min_batch == agx.shapes.opt_batch == agx.shapes.max_batch == 1
    data: dict[str, Any] = {"name": "dla", "backend": "tensorrt", "device": "gpu",
                            "hardware": {"name": "NVIDIA Jetson AGX Orin", "dla_cores": 2, "compute_capability": "8.7"},
                            "shapes": {"batch_sizes": [1, 8], "min_batch": 1, "opt_batch": 1, "max_batch": 16},
                            "build": {"dla_core": 0}, "passes": [{"name": "build-trt"}]}
    with pytest.raises(ProfileError, match=r"build.dla_core = 0 needs static shapes .* batch 1..16 is a range"):
        parse_profile(data)
    ranged = {**data, "shapes": {"batch_sizes": [1], "min_batch": 1, "opt_batch": 1, "max_batch": 1,
                                 "inputs": {"ids": {"min": [1, 8], "opt": [1, 64], "max": [1, 128]}}}}
    with pytest.raises(ProfileError, match=r"shapes.inputs \['ids'\] is a range"):
        parse_profile(ranged)


def test_dla_with_a_dynamic_shape_would_leave_the_dla_silently(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What fault 3 prevents, shown on the fake: with GPU fallback a dynamic batch builds with no layer on DLA."""
    fake = install(monkeypatch, tmp_path, TRT_10_3, JETSON_AGX_ORIN)
    settings = TrtBuildSettings(tensorrt_major=10, typing="strong", precision="fp16", dla_core=0, gpu_fallback=True,
                                shapes=(InputProfile("input", (1, 3, 16, 16), (1, 3, 16, 16), (16, 3, 16, 16)),))
    build_engine(fp16_classifier(tmp_path / "m.onnx"), tmp_path / "m.plan", settings, log=open(tmp_path / "log", "w"))
    header, _ = read_plan((tmp_path / "m.plan").read_bytes()) or ({}, b"")
    assert header["dla_layers"] == [] and any("dynamic dimensions" in message for _, message in fake.logs)


def test_errors_are_compile_errors_for_every_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A T4 (pre-Ampere) asked for ampere_plus: the settings' message, the same under every version."""
    profile = parse_profile({"name": "t4-hw", "backend": "tensorrt", "device": "gpu",
                             "hardware": {"name": "NVIDIA T4", "gpu_match": ["T4"], "compute_capability": "7.5"},
                             "build": {"hardware_compatibility": "ampere_plus"}, "passes": [{"name": "build-trt"}]})
    for version in VERSIONS:
        with pytest.raises(CompileError, match="needs compute capability 8.0 or newer, NVIDIA T4 is 7.5"):
            run_pass(monkeypatch, tmp_path, profile, version, device=T4)
        monkeypatch.undo()
