"""Real TensorRT builds on a GPU (skipped without tensorrt and an NVIDIA GPU): a tiny engine is built in the
worker subprocess, run, compared with ONNX Runtime, profiled, rebuilt from the timing cache, and packaged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compile.backends.ort.runner import OrtRunner
from compile.backends.trt.build_worker import run_in_subprocess
from compile.backends.trt.detect import local_gpu, tensorrt_version
from compile.backends.trt.runner import TrtRunner
from compile.backends.trt.settings import InputProfile, TrtBuildSettings
from compile.backends.trt.sidecar import Binding, make_sidecar
from compile.drivers.pipeline import Pipeline
from compile.package import package_run
from compile.profiles import parse_profile
from compile.settings import RunSettings
from tests.helpers import make_tiny_classifier

pytestmark = pytest.mark.tensorrt

SHAPES = (InputProfile("input", (1, 3, 16, 16), (4, 3, 16, 16), (8, 3, 16, 16)),)


def _build(tmp_path: Path, onnx_path: Path, cache: Path, name: str = "model.plan", profile: bool = False) -> dict[str, Any]:
    major = int(str(tensorrt_version()).split(".")[0])
    settings = TrtBuildSettings(tensorrt_major=major, typing="strong", precision="fp32", memory_pools={"workspace": 256 << 20},
                                builder_optimization_level=1, shapes=SHAPES, timing_cache=str(cache))
    job: dict[str, Any] = {"onnx": str(onnx_path), "engine": str(tmp_path / name), "layers": str(tmp_path / f"{name}.layers.json"),
                           "result": str(tmp_path / f"{name}.result.json"), "settings": settings.to_dict()}
    if profile:
        job["profile"] = {"warmup": 3, "iterations": 10, "cuda_graph": True}
    return run_in_subprocess(job, tmp_path / f"{name}.job.json", tmp_path / f"{name}.log", timeout_s=600)


def test_build_run_compare_profile_and_reuse_the_timing_cache(tmp_path: Path) -> None:
    onnx_path = make_tiny_classifier(tmp_path / "tiny.onnx")
    cache = tmp_path / "timing.cache"
    first = _build(tmp_path, onnx_path, cache, profile=True)
    assert cache.is_file() and first["outcome"]["timing_cache"]["saved_bytes"] > 0
    assert "[TRT]" in (tmp_path / "model.plan.log").read_text()
    bindings = [Binding.from_dict(b) for b in first["outcome"]["bindings"]]
    assert [(b.name, b.mode, b.shape) for b in bindings] == [("input", "input", (-1, 3, 16, 16)), ("logits", "output", (-1, 10))]
    measured = first["profile"]
    assert measured["device_only"]["p50_ms"] > 0 and measured["with_copies"]["p50_ms"] > 0
    assert measured["device_only_graph"]["cuda_graph"] is True
    assert measured["layers_ms"]
    second = _build(tmp_path, onnx_path, cache, name="again.plan")
    assert second["outcome"]["timing_cache"]["loaded_bytes"] > 0

    gpu = local_gpu()
    assert gpu is not None
    sidecar = make_sidecar(runtime="tensorrt", tensorrt_version=tensorrt_version(), gpu_name=gpu.name,
                           compute_capability=gpu.compute_capability, profile="test", hardware=gpu.name, precision="fp32",
                           sparsity="dense", bindings=bindings, onnx_sha256="", engine_sha256=None,
                           hardware_compatibility="none", version_compatible=False, build_path="", builder={})
    feed = {"input": np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)}
    with TrtRunner(tmp_path / "model.plan", sidecar) as trt_runner:
        got = trt_runner.infer(feed)["logits"]
    with OrtRunner(onnx_path) as ort_runner:
        want = ort_runner.infer(feed)["logits"]
    assert got.shape == (5, 10)
    # FP32 engines may use TF32 tensor-core math (TensorRT's default on Ampere and newer).
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)


def test_pipeline_build_validate_and_package_on_this_gpu(tmp_path: Path) -> None:
    gpu = local_gpu()
    assert gpu is not None
    major = int(str(tensorrt_version()).split(".")[0])
    profile = parse_profile({
        "name": "local-gpu", "backend": "tensorrt", "device": "gpu",
        "hardware": {"name": gpu.name, "gpu_match": [gpu.name], "compute_capability": gpu.compute_capability},
        "shapes": {"batch_sizes": [1, 4], "min_batch": 1, "opt_batch": 4, "max_batch": 8},
        "build": {"workspace_mb": 256, "builder_optimization_level": 1, "timing_cache": False},
        "validation": {"samples": 8}, "benchmark": {"warmup": 2, "iterations": 5, "repeats": 1},
        "passes": [{"name": "build-trt", "profile_iterations": 5}, {"name": "validate"}, {"name": "benchmark"}],
    })
    onnx_path = make_tiny_classifier(tmp_path / "tiny.onnx")
    settings = RunSettings(model=str(onnx_path), profile="local-gpu", precision="fp32", out=tmp_path / "run", progress=False)
    result = Pipeline(settings, profile=profile, log=lambda line: None).run()
    report = result.report
    assert report["tensorrt"]["build_path"].startswith(f"TensorRT {major}, strongly typed")
    assert report["accuracy"]["max_abs_error"] < 1e-2
    assert (tmp_path / "run" / "trt-build.log").is_file()
    model_dir = package_run(tmp_path / "run", "triton", tmp_path / "repo")
    assert (model_dir / "1" / "model.plan").read_bytes() == (tmp_path / "run" / "model.plan").read_bytes()
    assert "max_batch_size: 8" in (model_dir / "config.pbtxt").read_text()
