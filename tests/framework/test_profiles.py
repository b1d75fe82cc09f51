"""Profile loading and validation: every shipped profile loads; bad ones fail with the field named."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from compile.errors import ProfileError
from compile.passes.registry import check_profile
from compile.profiles import available_profiles, load_profile, parse_profile, profiles_dir

REQUIRED = {"cpu", "jetson-orin-nano", "jetson-agx-orin", "t4", "a10", "a100", "l4", "h100"}


def _cpu_data() -> dict:
    return tomllib.loads((profiles_dir() / "cpu.toml").read_text())


def test_every_required_profile_ships_and_loads() -> None:
    names = set(available_profiles())
    assert REQUIRED <= names
    for name in names:
        profile = load_profile(name)
        assert profile.name == name
        assert profile.passes, name


def test_gpu_profiles_use_tensorrt_and_t4_has_no_sparse_cores() -> None:
    for name in REQUIRED - {"cpu"}:
        profile = load_profile(name)
        assert profile.backend == "tensorrt" and profile.device == "gpu"
        assert "build-trt" in profile.pass_names()
        assert profile.precision.int8_convention == "tensorrt"
    t4 = load_profile("t4")
    assert not t4.hardware.sparse_tensor_cores and not t4.sparsity.allowed
    agx = load_profile("jetson-agx-orin")
    assert agx.hardware.dla_cores == 2 and agx.build.dla_core == 0 and agx.hardware.tensorrt_major == 10


def test_cpu_profile_uses_onnxruntime_convention() -> None:
    cpu = load_profile("cpu")
    assert cpu.backend == "onnxruntime"
    assert cpu.precision.int8_convention == "onnxruntime-cpu"
    assert "build-ort" in cpu.pass_names()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(colour="blue"), "colour: unknown key"),
        (lambda d: d["hardware"].update(gpus=2), "hardware.gpus: unknown key"),
        (lambda d: d["precision"].update(default="int4"), "precision.default"),
        (lambda d: d["precision"].update(default="int8", allowed=["fp32"]), "is not in precision.allowed"),
        (lambda d: d["shapes"].update(batch_sizes=[64]), "outside [min_batch, max_batch]"),
        (lambda d: d["shapes"].update(min_batch=4, opt_batch=2), "min_batch <= opt_batch"),
        (lambda d: d["gates"].update(top1_agreement=0.9), "must start with min_ or max_"),
        (lambda d: d["build"].update(dla_core=0), "hardware.dla_cores = 0"),
        (lambda d: d.update(backend="tensorrt"), "needs device 'gpu'"),
        (lambda d: d["passes"].append({"name": "exprot"}), "unknown pass 'exprot' (did you mean 'export'?)"),
        (lambda d: d["calibration"].update(percentile=120.0), "calibration.percentile"),
    ],
)
def test_bad_profiles_are_rejected_with_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _cpu_data()
    mutate(data)
    with pytest.raises(ProfileError) as info:
        check_profile(parse_profile(data, "bad.toml"))
    assert message in str(info.value)
    assert str(info.value).startswith("invalid profile bad.toml")


def test_sparsity_on_gpu_without_sparse_cores_is_contradictory() -> None:
    data = tomllib.loads((profiles_dir() / "t4.toml").read_text())
    data["sparsity"]["allowed"] = True
    with pytest.raises(ProfileError, match="without sparse tensor cores"):
        parse_profile(data, "t4.toml")


def test_unknown_profile_name_suggests_close_names() -> None:
    with pytest.raises(ProfileError, match="did you mean a10, a100"):
        load_profile("a10O")


def test_profile_file_path_and_toml_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("name = [unclosed")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(str(broken))
    with pytest.raises(ProfileError, match="profile file not found"):
        load_profile(str(tmp_path / "missing.toml"))


def test_pass_options_are_typed_and_unknown_options_rejected() -> None:
    from compile.passes.registry import get_pass_class

    export = get_pass_class("export")
    assert export(opset=17).options.opset == 17
    with pytest.raises(ProfileError, match="opsett: unknown option"):
        export(opsett=17)
    with pytest.raises(ProfileError, match="exporter"):
        export(exporter="magic")
