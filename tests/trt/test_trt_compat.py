"""The compatibility guard: what differs between an engine's sidecar and this machine, said clearly."""

from __future__ import annotations

from typing import Any

import pytest

from compile.backends.trt.compat import EngineCompatibilityError, Target, check_compatible, version_tuple
from compile.backends.trt.sidecar import Binding, make_sidecar

A100 = ("NVIDIA A100-SXM4-80GB", "8.0")


ORIN_AGX = "NVIDIA Jetson AGX Orin Developer Kit"
ORIN_NANO = "NVIDIA Jetson Orin Nano Developer Kit"


def sidecar(version: str = "10.13.0.35", gpu: tuple[str, str] = A100, hardware: str = "none",
            version_compatible: bool = False, machine: str | None = None, module: str | None = None,
            dla_core: int | None = None) -> dict[str, Any]:
    return make_sidecar(runtime="tensorrt", tensorrt_version=version, gpu_name=gpu[0], compute_capability=gpu[1],
                        profile="a100", hardware="NVIDIA A100", precision="fp16", sparsity="dense",
                        bindings=[Binding("input", "input", (-1, 3, 16, 16), "float32")], onnx_sha256="ab" * 32,
                        engine_sha256=None, hardware_compatibility=hardware, version_compatible=version_compatible,
                        build_path="TensorRT 10, strongly typed network", builder={}, dla_core=dla_core,
                        platform={"machine": machine, "jetson_module": module} if machine else None)


def test_same_machine_loads_without_warnings() -> None:
    assert check_compatible(sidecar(), Target("10.13.0.35", *A100)) == []


def test_another_tensorrt_version_says_both_versions_and_the_fix() -> None:
    with pytest.raises(EngineCompatibilityError) as err:
        check_compatible(sidecar(), Target("10.14.1.48", *A100), "model.plan")
    message = str(err.value)
    assert message.startswith("model.plan cannot be loaded here: TensorRT version: built with 10.13.0.35, this machine has 10.14.1.48")
    assert "build.version_compatible = true" in message


def test_build_number_alone_does_not_count() -> None:
    assert check_compatible(sidecar(), Target("10.13.0.99", *A100)) == []


def test_version_compatible_engines_load_on_the_same_or_newer_tensorrt() -> None:
    built = sidecar(version_compatible=True)
    assert check_compatible(built, Target("10.14.1", *A100)) == []
    assert check_compatible(built, Target("11.0.0", *A100)) == []
    with pytest.raises(EngineCompatibilityError, match="loads on that version or newer only, and this machine has 10.8.0"):
        check_compatible(built, Target("10.8.0", *A100))


def test_another_gpu_architecture_names_both_gpus() -> None:
    with pytest.raises(EngineCompatibilityError) as err:
        check_compatible(sidecar(), Target("10.13.0.35", "Tesla T4", "7.5"))
    message = str(err.value)
    assert "built for NVIDIA A100-SXM4-80GB (compute capability 8.0), this machine has Tesla T4 (compute capability 7.5)" in message
    assert "build.hardware_compatibility" in message


def test_every_difference_is_listed_at_once() -> None:
    with pytest.raises(EngineCompatibilityError) as err:
        check_compatible(sidecar(), Target("11.0.0", "NVIDIA L4", "8.9"))
    assert "TensorRT version" in str(err.value) and "GPU: built for" in str(err.value)


def test_same_compute_capability_other_model_is_a_warning() -> None:
    warnings = check_compatible(sidecar(gpu=("NVIDIA A10", "8.6")), Target("10.13.0.35", "NVIDIA RTX A6000", "8.6"))
    assert len(warnings) == 1 and "timed on the other GPU" in warnings[0]
    hw = sidecar(gpu=("NVIDIA A10", "8.6"), hardware="same_compute_capability")
    assert check_compatible(hw, Target("10.13.0.35", "NVIDIA RTX A6000", "8.6")) == []
    with pytest.raises(EngineCompatibilityError):
        check_compatible(hw, Target("10.13.0.35", "NVIDIA L4", "8.9"))


def test_ampere_plus_engines_load_on_any_ampere_or_newer_gpu() -> None:
    built = sidecar(hardware="ampere_plus")
    assert check_compatible(built, Target("10.13.0.35", "NVIDIA H100 PCIe", "9.0")) == []
    assert check_compatible(built, Target("10.13.0.35", "NVIDIA L4", "8.9")) == []
    with pytest.raises(EngineCompatibilityError, match="Ampere and newer .*Tesla T4"):
        check_compatible(built, Target("10.13.0.35", "Tesla T4", "7.5"))


def test_missing_tensorrt_or_gpu_is_said_plainly() -> None:
    with pytest.raises(EngineCompatibilityError, match="TensorRT is not installed here .*no NVIDIA GPU"):
        check_compatible(sidecar(), Target(None, None, None))


def test_onnxruntime_gpu_artifacts_skip_the_tensorrt_version_check() -> None:
    data = sidecar()
    data["runtime"] = "onnxruntime-gpu"
    assert check_compatible(data, Target(None, *A100)) == []


def test_version_tuple() -> None:
    assert version_tuple("10.13.0.35") == (10, 13, 0)
    assert version_tuple("11.1") == (11, 1, 0)
    assert version_tuple("10.3.0a1") == (10, 3, 0)


def test_hardware_compatibility_does_not_cross_platforms() -> None:
    """Fault 5: an ampere_plus engine from an x86 A100 passed the guard on an Orin (compute capability 8.7)."""
    built = sidecar(hardware="ampere_plus", machine="x86_64")
    orin = Target("10.13.0.35", "Orin", "8.7", machine="aarch64", jetson_module=ORIN_AGX, dla_cores=2)
    with pytest.raises(EngineCompatibilityError, match=r"platform: built for Linux x86_64, this machine is JetPack "
                                                       r"\(aarch64\) \(NVIDIA Jetson AGX Orin Developer Kit\)"):
        check_compatible(built, orin)
    # Same CPU architecture, but a discrete GPU (SBSA server) against a Jetson: another platform too.
    server = sidecar(hardware="ampere_plus", machine="aarch64")
    with pytest.raises(EngineCompatibilityError, match="built for Linux aarch64, this machine is JetPack"):
        check_compatible(server, orin)
    assert check_compatible(built, Target("10.13.0.35", "NVIDIA A10", "8.6", machine="x86_64")) == []


def test_another_jetson_module_warns_and_a_missing_dla_core_stops() -> None:
    agx = sidecar(version="10.3.0.26", gpu=("Orin", "8.7"), machine="aarch64", module=ORIN_AGX)
    nano = Target("10.3.0.26", "Orin", "8.7", machine="aarch64", jetson_module=ORIN_NANO, dla_cores=0)
    [warning] = check_compatible(agx, nano)
    assert warning.startswith(f"engine built on {ORIN_AGX}, running on {ORIN_NANO}")
    on_dla = sidecar(version="10.3.0.26", gpu=("Orin", "8.7"), machine="aarch64", module=ORIN_AGX, dla_core=1)
    with pytest.raises(EngineCompatibilityError, match=r"DLA: built for DLA core 1, this device has 0 DLA core"):
        check_compatible(on_dla, nano)
    assert check_compatible(on_dla, Target("10.3.0.26", "Orin", "8.7", machine="aarch64", jetson_module=ORIN_AGX,
                                           dla_cores=2)) == []


def test_sidecars_without_a_platform_are_still_checked_as_before() -> None:
    """Sidecars written before the platform was recorded: the other checks apply, the platform one cannot."""
    assert check_compatible(sidecar(), Target("10.13.0.35", *A100, machine="aarch64")) == []
