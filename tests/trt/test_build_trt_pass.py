"""The build-trt pass around the builder: what it reads from the graph and its options, the stop without tensorrt
(after the ONNX stages), the subprocess and its log, the runner's guard, the per-layer join. ONNX Runtime's GPU
providers: tests/backends/test_ort_gpu.py."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compile.artifacts import OnnxModel, RuntimeArtifact
from compile.backends import make_runner
from compile.backends.ort.gpu import gpu_providers_available
from compile.backends.trt import runner as trt_runner
from compile.backends.trt.build_worker import run_in_subprocess
from compile.backends.trt.compat import EngineCompatibilityError
from compile.backends.trt.detect import tensorrt_installed
from compile.backends.trt.runner import join_layer_times, read_analyze_table
from compile.backends.trt.settings import InputProfile, TrtBuildSettings, TrtTarget
from compile.cli.main import main
from compile.drivers.options import resolve_options
from compile.drivers.pipeline import Pipeline, instantiate_passes, stage_key
from compile.errors import MissingDependencyError, PassError
from compile.passes.build_trt import BuildTrtPass, _analyze_rows, graph_inputs, graph_precision
from compile.passes.registry import get_pass_class
from compile.profiles import load_profile, parse_profile, profiles_dir
from compile.settings import RunSettings
from tests.helpers import make_tiny_classifier
from tests.trt.test_trt_settings import gpu_profile_names
from tests.trt.test_trt_sidecar import example

no_trt = pytest.mark.skipif(tensorrt_installed(), reason="checks behaviour without tensorrt")


def _with_node(model: onnx.ModelProto, node: onnx.NodeProto, *initializers: onnx.TensorProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    copy.graph.node.insert(0, node)
    copy.graph.initializer.extend(initializers)
    return copy


def test_graph_precision_and_inputs(tmp_path: Path) -> None:
    model = onnx.load(str(make_tiny_classifier(tmp_path / "tiny.onnx")))
    assert graph_precision(model) == "fp32"
    [spec] = graph_inputs(model)
    assert (spec.name, spec.shape, spec.dtype) == ("input", ("batch", 3, 16, 16), "float32")
    scale = numpy_helper.from_array(np.array(0.1, dtype=np.float32), "s")
    zero = numpy_helper.from_array(np.array(0, dtype=np.int8), "z")
    qdq = _with_node(model, helper.make_node("QuantizeLinear", ["input", "s", "z"], ["q"]), scale, zero)
    assert graph_precision(qdq) == "int8"
    cast = _with_node(model, helper.make_node("Cast", ["input"], ["h"], to=TensorProto.FLOAT16))
    assert graph_precision(cast) == "fp16"
    half = _with_node(model, helper.make_node("Identity", ["w16"], ["w16o"]),
                      numpy_helper.from_array(np.ones(2, dtype=np.float16), "w16"))
    assert graph_precision(half) == "fp16"


def test_build_trt_is_registered_and_every_gpu_profile_instantiates_it() -> None:
    assert get_pass_class("build-trt") is BuildTrtPass
    for name in gpu_profile_names():
        profile = load_profile(name)
        passes = instantiate_passes(profile, RunSettings(model="tiny_cnn", profile=name, precision="fp16"))
        [build] = [p for p in passes if isinstance(p, BuildTrtPass)]
        # Everything the pass reads of the profile arrives in its options.
        assert build.options.target == TrtTarget.of(profile), name
        assert build.options.target.build.workspace_mb == profile.build.workspace_mb
    with pytest.raises(Exception, match="memory_pools_mb"):
        BuildTrtPass(memory_pools_mb=["workspace"])


@pytest.mark.parametrize(("section", "key", "value"), [("build", "workspace_mb", 1234), ("shapes", "max_batch", 128),
                                                     ("hardware", "tensorrt_major", 11), ("build", "version_compatible", True)])
def test_what_decides_the_engine_changes_the_stage_key_through_the_options(section: str, key: str, value: object) -> None:
    """The target is an option: a changed profile section changes the key with the same cache inputs."""
    data = tomllib.loads((profiles_dir() / "a100.toml").read_text())
    settings = RunSettings(model="m", precision="fp16")
    keys, targets = [], []
    for profile in (parse_profile(data, "a100.toml"), parse_profile({**data, section: {**data[section], key: value}}, "x.toml")):
        pass_ = BuildTrtPass(**resolve_options("build-trt", {}, profile, settings))
        keys.append(stage_key(pass_, {"onnx": "a" * 64}, {"precision": "fp16"}))
        targets.append(pass_.options.target)
    assert keys[0] != keys[1]
    assert getattr(getattr(targets[1], section), key) == value != getattr(getattr(targets[0], section), key)
    renamed = BuildTrtPass(**resolve_options("build-trt", {}, parse_profile({**data, "name": "a100-b"}, "b.toml"), settings))
    assert stage_key(renamed, {"onnx": "a" * 64}, {"precision": "fp16"}) != keys[0]  # the sidecar names the profile


@no_trt
def test_compile_run_without_tensorrt_stops_after_the_onnx_stages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The 'done when' of the TensorRT issue, with tiny_cnn for resnet50: exit 2, package and profile named."""
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["run", "tiny_cnn", "--profile", "a100", "--precision", "int8", "--out", str(out), "--quiet"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("error: build-trt: building a TensorRT engine for profile 'a100' needs the 'tensorrt' "
                       "package, which is not installed (pip install 'compile[trt]')")
    assert (out / "model.onnx").is_file() and onnx.load(str(out / "model.onnx")).graph.node
    stages = sorted(p.name for p in (out / ".stages").glob("*.json"))
    assert any(s.endswith("-export.json") for s in stages)
    assert any(s.endswith("-simplify.json") for s in stages)
    assert not any("build-trt" in s for s in stages)
    assert not (out / "model.plan").exists()


@no_trt
def test_build_runs_in_a_subprocess_whose_log_lands_in_the_run_dir(tmp_path: Path) -> None:
    onnx_path = make_tiny_classifier(tmp_path / "tiny.onnx")
    settings = TrtBuildSettings(tensorrt_major=10, typing="strong", precision="fp32",
                                shapes=(InputProfile("input", (1, 3, 16, 16), (2, 3, 16, 16), (4, 3, 16, 16)),))
    job = {"onnx": str(onnx_path), "engine": str(tmp_path / "model.plan"), "layers": None,
           "result": str(tmp_path / "result.json"), "settings": settings.to_dict()}
    log = tmp_path / "trt-build.log"
    with pytest.raises(PassError) as err:
        run_in_subprocess(job, tmp_path / "job.json", log, timeout_s=120)
    assert "No module named 'tensorrt'" in str(err.value) and str(log) in str(err.value)
    assert "Traceback" in log.read_text()
    assert json.loads((tmp_path / "job.json").read_text())["settings"]["shapes"][0]["max"] == [4, 3, 16, 16]
    assert not (tmp_path / "model.plan").exists()


@no_trt
def test_runner_checks_the_sidecar_before_touching_tensorrt(tmp_path: Path) -> None:
    (tmp_path / "model.plan").write_bytes(b"not an engine")
    (tmp_path / "model.plan.json").write_text(json.dumps(example()))
    artifact = RuntimeArtifact(tmp_path / "model.plan", "tensorrt", tmp_path / "model.plan.json", "int8")
    runner = make_runner(artifact)
    with pytest.raises(EngineCompatibilityError) as err, runner:
        pass
    assert "model.plan cannot be loaded here: TensorRT is not installed here (built with TensorRT 10.13.0.35)" in str(err.value)
    assert "GPU: built for NVIDIA A100 (compute capability 8.0), and this machine has no NVIDIA GPU" in str(err.value)


def test_runner_module_reports_tensorrt_availability() -> None:
    assert trt_runner.is_available() == tensorrt_installed()


def test_layer_times_join_the_analyze_table(tmp_path: Path) -> None:
    rows = [{"name": "conv", "op": "Conv", "macs": 1000}, {"name": "relu", "op": "Relu"}, {"name": "fc", "op": "Gemm"}]
    (tmp_path / "analyze.json").write_text(json.dumps({"layers": rows}))
    table = read_analyze_table(tmp_path)
    assert table == rows
    joined = join_layer_times({"conv + relu": 0.3, "fc": 0.1, "Reformatting CopyNode for input": 0.1}, table)
    assert [j["layer"] for j in joined] == ["conv + relu", "fc", "Reformatting CopyNode for input"]
    assert joined[0]["onnx_nodes"] == ["conv", "relu"] and joined[0]["analyze"][0]["macs"] == 1000
    assert joined[0]["share_pct"] == pytest.approx(60.0)
    assert joined[2]["onnx_nodes"] == []
    assert "onnx_nodes" not in join_layer_times({"PWN(relu)": 1.0}, None)[0]
    assert read_analyze_table(tmp_path / "none") is None


def test_layer_times_join_the_analyze_counts_of_the_source_graph(tmp_path: Path) -> None:
    settings = TrtBuildSettings(tensorrt_major=10, typing="strong", precision="fp32",
                                shapes=(InputProfile("input", (1, 3, 16, 16), (4, 3, 16, 16), (8, 3, 16, 16)),))
    warnings: list[str] = []
    rows = _analyze_rows(OnnxModel(make_tiny_classifier(tmp_path / "tiny.onnx")), settings, warnings)
    assert rows is not None and warnings == []
    # Layer names as TensorRT's ONNX parser gives them: node names, fused ones joined with " + ".
    joined = join_layer_times({"conv + relu": 0.02, "pool": 0.01, "fc": 0.01}, rows)
    conv = joined[0]
    assert conv["onnx_nodes"] == ["conv", "relu"]
    # 3x3 conv, 3 -> 8 channels, 16x16 output, batch 4 (the opt shape): 27 * 8 * 256 * 4 MACs.
    assert conv["analyze"][0]["macs"] == 27 * 8 * 16 * 16 * 4


def test_build_trt_for_onnxruntime_gpu_names_that_package(tmp_path: Path) -> None:
    if gpu_providers_available():
        pytest.skip("onnxruntime-gpu is installed here")
    profile = parse_profile({"name": "ort-gpu", "backend": "tensorrt", "device": "gpu", "hardware": {"name": "any GPU"},
                             "passes": [{"name": "build-trt", "runtime": "onnxruntime-gpu"}]})
    onnx_path = make_tiny_classifier(tmp_path / "tiny.onnx")
    pipeline = Pipeline(RunSettings(model=str(onnx_path), profile="ort-gpu", out=tmp_path / "run", progress=False),
                        profile=profile, log=lambda line: None)
    with pytest.raises(MissingDependencyError, match="ONNX Runtime's TensorRT/CUDA providers for profile 'ort-gpu' "
                                                     "needs the 'onnxruntime-gpu' package"):
        pipeline.run()
