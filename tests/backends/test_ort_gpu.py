"""ONNX Runtime's TensorRT/CUDA providers (compile/backends/ort/gpu.py): provider options that mirror the TensorRT
builder settings, the artifact and sidecar build-trt writes for them, and which runner such an artifact gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compile.artifacts import OnnxModel, RuntimeArtifact
from compile.backends import make_runner
from compile.backends.ort.gpu import OrtGpuRunner, build_artifact, gpu_providers_available, provider_options
from compile.backends.trt import runner as trt_runner
from compile.backends.trt.detect import LocalGpu
from compile.backends.trt.settings import InputProfile, TrtBuildSettings
from compile.backends.trt.sidecar import read_sidecar
from compile.errors import MissingDependencyError, UserInputError
from compile.models.spec import InputSpec
from tests.helpers import make_tiny_classifier
from tests.trt.test_trt_sidecar import example

A100 = LocalGpu("NVIDIA A100-SXM4-80GB", "8.0", None, "x86_64")


def test_onnxruntime_gpu_provider_options_mirror_the_builder_settings(tmp_path: Path) -> None:
    settings = TrtBuildSettings(tensorrt_major=10, typing="weak", precision="int8", fp16_flag=True, int8_flag=True,
                                memory_pools={"workspace": 1 << 30}, builder_optimization_level=5, sparse_weights=True,
                                dla_core=1, gpu_fallback=True, timing_cache=str(tmp_path / "t" / "x.cache"),
                                shapes=(InputProfile("input", (1, 3, 16, 16), (8, 3, 16, 16), (32, 3, 16, 16)),
                                        InputProfile("mask", (1, 4), (8, 4), (32, 4))))
    (trt_name, trt), (cuda_name, _) = provider_options(settings, tmp_path / "engines")
    assert (trt_name, cuda_name) == ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    assert trt["trt_profile_min_shapes"] == "input:1x3x16x16,mask:1x4"
    assert trt["trt_profile_max_shapes"] == "input:32x3x16x16,mask:32x4"
    assert (trt["trt_fp16_enable"], trt["trt_int8_enable"], trt["trt_sparsity_enable"]) == ("True", "True", "True")
    assert trt["trt_max_workspace_size"] == str(1 << 30) and trt["trt_builder_optimization_level"] == "5"
    assert (trt["trt_dla_enable"], trt["trt_dla_core"]) == ("True", "1")
    assert trt["trt_timing_cache_path"] == str(tmp_path / "t")


def test_the_artifact_is_the_graph_with_a_sidecar_of_provider_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_TRT_CACHE_DIR", str(tmp_path / "cache"))
    source = make_tiny_classifier(tmp_path / "tiny.onnx")
    (tmp_path / "tiny.onnx.data").write_bytes(b"weights")  # external data travels with the graph
    settings = TrtBuildSettings(tensorrt_major=10, typing="strong", precision="fp16", memory_pools={"workspace": 1 << 28},
                                shapes=(InputProfile("input", (1, 3, 16, 16), (4, 3, 16, 16), (8, 3, 16, 16)),))
    out, sidecar_path = tmp_path / "run" / "model.trt-ep.onnx", tmp_path / "run" / "model.trt-ep.onnx.compile.json"
    out.parent.mkdir()
    artifact, record, build_path = build_artifact(OnnxModel(source), [InputSpec("input", ("batch", 3, 16, 16))], out,
                                                  sidecar_path, settings, A100, profile="a100", hardware="NVIDIA A100")
    assert (artifact.path, artifact.backend, artifact.sidecar, artifact.precision) == (out, "tensorrt", sidecar_path, "fp16")
    assert out.read_bytes() == source.read_bytes() and (tmp_path / "run" / "model.trt-ep.onnx.data").read_bytes() == b"weights"
    sidecar = read_sidecar(sidecar_path)
    assert (sidecar["runtime"], sidecar["profile"], sidecar["hardware"], sidecar["tensorrt_version"]) == (
        "onnxruntime-gpu", "a100", "NVIDIA A100", None)
    assert sidecar["gpu"] == {"name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"}
    assert sidecar["bindings"] == [{"name": "input", "mode": "input", "shape": [-1, 3, 16, 16], "dtype": "float32",
                                    "min": [1, 3, 16, 16], "opt": [4, 3, 16, 16], "max": [8, 3, 16, 16]}]
    [(trt_name, trt), (cuda_name, cuda)] = sidecar["providers"]
    assert (trt_name, cuda_name, cuda) == ("TensorrtExecutionProvider", "CUDAExecutionProvider", {"device_id": "0"})
    assert trt["trt_engine_cache_path"] == str(tmp_path / "cache" / "timing" / "ort-engines")
    assert trt["trt_profile_opt_shapes"] == "input:4x3x16x16" and trt["trt_max_workspace_size"] == str(1 << 28)
    assert record == {"runtime": "onnxruntime-gpu", "providers": [trt_name, cuda_name], "settings": settings.to_dict()}
    assert build_path == sidecar["build_path"] == ("ONNX Runtime TensorRT/CUDA execution providers "
                                                   "(TensorRT 10, strongly typed network (precision from the graph's Q/DQ and casts))")
    # The runner for it is ONNX Runtime's, picked by the sidecar's runtime; the TensorRT runner refuses it.
    runner = make_runner(artifact)
    assert isinstance(runner, OrtGpuRunner) and runner.sidecar["providers"] == sidecar["providers"]
    with pytest.raises(UserInputError, match="model.trt-ep.onnx is an engine for onnxruntime-gpu, not for the TensorRT runtime"):
        trt_runner.make_runner(artifact)


def test_a_tensorrt_sidecar_gets_the_tensorrt_runner_and_an_unreadable_one_its_error(tmp_path: Path) -> None:
    (tmp_path / "model.plan").write_bytes(b"plan")
    (tmp_path / "model.plan.json").write_text(json.dumps(example()))
    assert type(make_runner(RuntimeArtifact(tmp_path / "model.plan", "tensorrt", tmp_path / "model.plan.json"))) is trt_runner.TrtRunner
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserInputError, match=r"engine sidecar .*bad.json cannot be read"):
        make_runner(RuntimeArtifact(tmp_path / "model.plan", "tensorrt", tmp_path / "bad.json"))


def test_onnxruntime_gpu_artifacts_need_onnxruntime_gpu(tmp_path: Path) -> None:
    if gpu_providers_available():
        pytest.skip("onnxruntime-gpu is installed here")
    make_tiny_classifier(tmp_path / "model.trt-ep.onnx")
    sidecar = {**example(), "runtime": "onnxruntime-gpu", "providers": [["TensorrtExecutionProvider", {}]]}
    (tmp_path / "model.trt-ep.onnx.json").write_text(json.dumps(sidecar))
    runner = make_runner(RuntimeArtifact(tmp_path / "model.trt-ep.onnx", "tensorrt", tmp_path / "model.trt-ep.onnx.json"))
    assert runner.name == "onnxruntime-gpu"
    with pytest.raises(MissingDependencyError, match="needs the 'onnxruntime-gpu' package"), runner:
        pass
