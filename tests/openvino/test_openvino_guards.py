"""The OpenVINO backend's guards and seams: the compatibility record, one-line errors, the profile, and an
artifact identity that follows the weights."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from compile.artifacts import ONNX, OnnxModel
from compile.backends.openvino.builder import check_device, convert_onnx, make_core, require_openvino
from compile.backends.openvino.compat import OpenVinoCompatibilityError, Target, check_compatible
from compile.backends.openvino.runner import OpenVinoRunner
from compile.drivers.options import resolve_options
from compile.drivers.pipeline import instantiate_passes, select_until
from compile.errors import MissingDependencyError, OnnxModelError, UserInputError
from compile.passes.base import PassContext
from compile.passes.build_openvino import BuildOpenVinoPass
from compile.profiles import load_profile
from compile.settings import RunSettings
from tests.helpers import make_tiny_classifier

BUILT = {"backend": "openvino", "openvino_version": "2026.4.1-22982-e213a147257-releases/2026/4", "device": "CPU",
         "isa": "x86_64:avx2+avx512_bf16+avx512_vnni+avx512f+fma"}
HERE = Target("2026.4.1-22982-e213a147257-releases/2026/4", ("CPU",), BUILT["isa"])


def test_same_release_device_and_instruction_set_loads() -> None:
    check_compatible(BUILT, HERE)
    # Another build number of the same release is the same release.
    check_compatible(BUILT, Target("2026.4.1-23000-0000000-releases/2026/4", ("CPU", "GPU"), BUILT["isa"]))


@pytest.mark.parametrize(("target", "message"), [
    (Target("2025.3.0-19807-44526285f24-releases/2025/3", ("CPU",), BUILT["isa"]),
     "OpenVINO version: built with 2026.4.1, this machine has 2025.3.0"),
    (Target(BUILT["openvino_version"], ("CPU",), "x86_64:avx2+fma"),
     "CPU instruction set: built on x86_64:avx2+avx512_bf16+avx512_vnni+avx512f+fma, this CPU is x86_64:avx2+fma"),
    (Target(None, (), BUILT["isa"]), "OpenVINO is not installed here"),
])
def test_a_mismatch_is_refused_naming_what_differs(target: Target, message: str) -> None:
    with pytest.raises(OpenVinoCompatibilityError, match=re.escape(message)) as info:
        check_compatible(BUILT, target, "model.ov.xml")
    text = str(info.value)
    assert text.startswith("model.ov.xml cannot be loaded here: ") and text.endswith("(rebuild it here: compile run --force)")
    assert "\n" not in text and info.value.exit_code == 2


def test_an_ir_for_a_device_that_is_not_here_is_refused() -> None:
    with pytest.raises(OpenVinoCompatibilityError, match="device: built for GPU.0, OpenVINO sees CPU here"):
        check_compatible({**BUILT, "device": "GPU.0", "isa": None}, HERE)


def test_missing_openvino_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingDependencyError, match=r"build-openvino needs the 'openvino' package, which is not installed "
                                                     r"\(pip install 'compile\[openvino\]'\)"):
        require_openvino("build-openvino")


def test_openvino_cpu_profile_builds_with_openvino_and_no_driver_change() -> None:
    profile = load_profile("openvino-cpu")
    assert (profile.backend, profile.device, profile.benchmark.mode) == ("openvino", "cpu", "adaptive")
    assert profile.precision.allowed == ["fp32", "int8"]
    passes = instantiate_passes(profile, RunSettings(model="m", profile="openvino-cpu"))
    assert [p.name for p in select_until(passes, "build", profile.name)][-1] == "build-openvino"
    build = next(p for p in passes if p.name == "build-openvino")
    assert build.options.model_dump() == {"profile": "openvino-cpu", "device": "CPU", "performance_hint": "LATENCY",
                                          "threads": None, "inference_precision": "f32"}


def test_without_openvino_the_pass_names_the_profile_its_options_carry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The profile's name comes in the options (resolved by the driver), not from the context's profile."""
    monkeypatch.setitem(sys.modules, "openvino", None)
    profile = load_profile("openvino-cpu")
    pass_ = BuildOpenVinoPass(**resolve_options("build-openvino", {}, profile, RunSettings(model="m")))
    ctx = PassContext(RunSettings(model="m"), load_profile("cpu"), tmp_path, tmp_path / "work", {}, lambda line: None)
    model = OnnxModel(make_tiny_classifier(tmp_path / "tiny.onnx"))
    with pytest.raises(MissingDependencyError, match=r"^build-openvino \(profile 'openvino-cpu'\) needs the 'openvino' package"):
        pass_.run({ONNX: model}, ctx)
    with pytest.raises(MissingDependencyError, match=r"^build-openvino needs the 'openvino' package"):
        BuildOpenVinoPass().run({ONNX: model}, ctx)


ov = pytest.importorskip("openvino")


def _build(model: Path, run_dir: Path):  # type: ignore[no-untyped-def]
    """build-openvino alone on ``model``, as the pipeline calls it."""
    work = run_dir / ".work"
    work.mkdir(parents=True)
    ctx = PassContext(RunSettings(model=str(model)), load_profile("openvino-cpu"), run_dir, work, {}, lambda line: None)
    return BuildOpenVinoPass().run({ONNX: OnnxModel(path=model)}, ctx)


def test_the_artifact_hash_follows_the_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two models that differ only in weight values have the same IR graph: the XML (whose hash is the
    artifact's identity, and so the key of validate and benchmark) must still differ."""
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    first = _build(make_tiny_classifier(tmp_path / "a.onnx", seed=0), tmp_path / "a")
    second = _build(make_tiny_classifier(tmp_path / "b.onnx", seed=1), tmp_path / "b")
    assert first.output.content_hash() != second.output.content_hash()
    xml_a, xml_b = first.output.path.read_text(), second.output.path.read_text()

    def graph_only(xml: str) -> list[str]:
        # Without the recorded source hash, the input path and the converter's numbered node names, the graphs are the same.
        return [re.sub(r'(name="[^"]*?)_\d+"', r'\1"', line) for line in xml.splitlines()
                if "source_onnx_sha256" not in line and "input_model" not in line]

    assert graph_only(xml_a) == graph_only(xml_b)
    sha_a = json.loads(first.output.sidecar.read_text())["source_onnx_sha256"]
    sha_b = json.loads(second.output.sidecar.read_text())["source_onnx_sha256"]
    assert sha_a != sha_b and sha_a in xml_a and sha_b in xml_b


def test_an_op_openvino_cannot_convert_is_one_line(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(tmp_path / "odd.onnx"))
    with pytest.raises(OnnxModelError, match=r"^OpenVINO cannot convert odd\.onnx: .*Frobnicate") as info:
        convert_onnx(tmp_path / "odd.onnx", tmp_path / "odd.xml", {})
    assert "\n" not in str(info.value)
    assert not (tmp_path / "odd.xml").exists()


def test_a_device_openvino_does_not_see_is_refused() -> None:
    core = make_core(None)
    check_device(core, "CPU")
    with pytest.raises(UserInputError, match=r"OpenVINO device 'NPU\.9' is not available here \(OpenVINO sees: CPU"):
        check_device(core, "NPU.9")


def test_runner_checks_its_feed() -> None:
    runner = OpenVinoRunner(Path("missing.xml"))
    with pytest.raises(RuntimeError, match="not active"):
        runner.infer({"x": np.zeros(1, np.float32)})
    with pytest.raises(UserInputError, match="missing.xml: its weights file missing.xml.data is missing"):
        runner.activate()
