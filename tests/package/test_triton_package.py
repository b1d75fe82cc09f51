"""Deploy bundles: the Triton model repository (TensorRT plan or ONNX Runtime model), the manifest, the tarball.

The TensorRT cases use a fake plan file with a real sidecar: this tests the packager, not the builder."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from compile.backends.trt.sidecar import Binding, make_sidecar
from compile.errors import UserInputError
from compile.package import package_run
from compile.package.bundle import model_name, read_run
from compile.package.manifest import verify_manifest
from compile.package.triton import render_pbtxt, triton_config

PREPROCESSING = {"resize": 18, "crop": 16, "interpolation": "bilinear", "mean": [0.485, 0.456, 0.406],
                 "std": [0.229, 0.224, 0.225], "channel_order": "RGB", "layout": "NCHW", "assumed": False}


def fake_trt_run(run_dir: Path, batch_axis: bool = True, profile: str = "a100") -> Path:
    run_dir.mkdir(parents=True)
    plan = run_dir / "model.plan"
    plan.write_bytes(b"fake serialized engine " * 10)
    digest = hashlib.sha256(plan.read_bytes()).hexdigest()
    lead = -1 if batch_axis else 1
    opt = (4, 3, 16, 16) if batch_axis else (1, 3, 16, 16)
    bindings = [Binding("input", "input", (lead, 3, 16, 16), "float32", (1, 3, 16, 16), opt, (32 if batch_axis else 1, 3, 16, 16)),
                Binding("logits", "output", (lead, 10), "float16")]
    sidecar = make_sidecar(runtime="tensorrt", tensorrt_version="10.13.0.35", gpu_name="NVIDIA A100-SXM4-80GB",
                           compute_capability="8.0", profile=profile, hardware="NVIDIA A100", precision="fp16",
                           sparsity="dense", bindings=bindings, onnx_sha256="c" * 64, engine_sha256=digest,
                           hardware_compatibility="none", version_compatible=False,
                           build_path="TensorRT 10, strongly typed network", builder={})
    (run_dir / "model.plan.json").write_text(json.dumps(sidecar))
    report: dict[str, Any] = {
        "model": "tiny_cnn", "profile": profile, "backend": "tensorrt", "precision": "fp16", "sparsity": "dense",
        "passed": True, "artifacts": {"onnx": "model.onnx", "final": "model.plan"}, "artifact_sha256": {"final": digest},
        "inputs": [{"name": "input", "shape": ["batch", 3, 16, 16], "dtype": "float32", "low": -2.5, "high": 2.5}],
        "preprocessing": PREPROCESSING, "accuracy": {"top1_agreement": 1.0, "cosine_similarity": 0.9999},
        "latency": {"p50_ms": 0.2, "p99_ms": 0.3, "batch": 1, "throughput_ips": 5000.0},
    }
    (run_dir / "report.json").write_text(json.dumps(report))
    (run_dir / "trt-build.log").write_text("[TRT] [INFO] built\n")
    return run_dir


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (fast) cpu run of a tiny ONNX classifier: the ONNX Runtime path of the packager."""
    from compile.pipeline import Pipeline
    from compile.settings import RunSettings
    from tests.helpers import make_tiny_classifier

    root = tmp_path_factory.mktemp("cpu")
    onnx_path = make_tiny_classifier(root / "tiny.onnx")
    Pipeline(RunSettings(model=str(onnx_path), profile="cpu", precision="fp32", out=root / "run", progress=False),
             log=lambda line: None).run()
    return root / "run"


def test_triton_repository_for_an_engine(tmp_path: Path) -> None:
    run = fake_trt_run(tmp_path / "run")
    model_dir = package_run(run, "triton", tmp_path / "repo")
    assert model_dir == tmp_path / "repo" / "tiny_cnn"
    assert sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*") if p.is_file()) == [
        "1/model.plan", "config.pbtxt", "engine.json", "manifest.json"]
    assert (model_dir / "1" / "model.plan").read_bytes() == (run / "model.plan").read_bytes()
    text = (model_dir / "config.pbtxt").read_text()
    assert text.startswith('name: "tiny_cnn"\nplatform: "tensorrt_plan"\nmax_batch_size: 32\n')
    assert re.search(r'input \[\n  \{\n    name: "input"\n    data_type: TYPE_FP32\n    dims: \[ 3, 16, 16 \]\n  \}\n\]', text)
    assert re.search(r'output \[\n  \{\n    name: "logits"\n    data_type: TYPE_FP16\n    dims: \[ 10 \]\n  \}\n\]', text)
    # a100 measures batches 1, 8, 32, 128; the engine's profile stops at 32.
    assert "dynamic_batching {\n  max_queue_delay_microseconds: 100\n  preferred_batch_size: [ 8, 32 ]\n}" in text
    assert "kind: KIND_GPU" in text
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")


def test_manifest_has_hashes_preprocessing_and_what_built_it(tmp_path: Path) -> None:
    model_dir = package_run(fake_trt_run(tmp_path / "run"), "triton", tmp_path / "repo")
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["format"] == "triton" and manifest["profile"] == "a100" and manifest["precision"] == "fp16"
    assert manifest["preprocessing"] == PREPROCESSING
    assert manifest["built_with"]["tensorrt_version"] == "10.13.0.35"
    assert manifest["built_with"]["gpu"] == {"name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"}
    assert manifest["max_batch_size"] == 32
    plan = (model_dir / "1" / "model.plan").read_bytes()
    assert manifest["files"]["1/model.plan"] == {"sha256": hashlib.sha256(plan).hexdigest(), "bytes": len(plan)}
    assert set(manifest["files"]) == {"1/model.plan", "config.pbtxt", "engine.json"}
    assert verify_manifest(model_dir) == []
    (model_dir / "config.pbtxt").write_text("tampered")
    (model_dir / "engine.json").unlink()
    assert verify_manifest(model_dir) == ["config.pbtxt: content differs from the manifest", "engine.json: missing"]


def test_engine_without_batch_axis_gets_max_batch_size_zero(tmp_path: Path) -> None:
    config = triton_config(read_run(fake_trt_run(tmp_path / "run", batch_axis=False)))
    assert config["max_batch_size"] == 0
    assert config["input"][0]["dims"] == [1, 3, 16, 16]
    assert "dynamic_batching" not in config


def test_packaging_refuses_a_changed_or_unexplained_engine(tmp_path: Path) -> None:
    run = fake_trt_run(tmp_path / "a")
    (run / "model.plan").write_bytes(b"another engine")
    with pytest.raises(UserInputError, match="changed since the run"):
        package_run(run, "triton", tmp_path / "out")
    run = fake_trt_run(tmp_path / "b")
    (run / "model.plan.json").unlink()
    with pytest.raises(UserInputError, match="has no sidecar"):
        package_run(run, "triton", tmp_path / "out")
    with pytest.raises(UserInputError, match="no report.json"):
        package_run(tmp_path / "nothing", "tar", tmp_path / "out")


def test_triton_repository_for_a_cpu_run(cpu_run: Path, tmp_path: Path) -> None:
    model_dir = package_run(cpu_run, "triton", tmp_path / "repo", name="tiny classifier")
    assert model_dir.name == "tiny_classifier"
    text = (model_dir / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"\nbackend: "onnxruntime"\nmax_batch_size: 32' in text
    assert "kind: KIND_CPU" in text and "preferred_batch_size: [ 8 ]" in text
    assert (model_dir / "1" / "model.onnx").read_bytes() == (cpu_run / "model.ort.onnx").read_bytes()
    import onnx

    onnx.checker.check_model(onnx.load(str(model_dir / "1" / "model.onnx")))
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["built_with"]["onnxruntime_version"]
    assert manifest["preprocessing"]["crop"] == 16
    assert verify_manifest(model_dir) == []


def test_tarball_is_reproducible_and_carries_a_manifest(cpu_run: Path, tmp_path: Path) -> None:
    first = package_run(cpu_run, "tar", tmp_path / "a")
    second = package_run(cpu_run, "tar", tmp_path / "b")
    assert first.name == "tiny-cpu-fp32.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        names = tar.getnames()
        assert names == sorted(names)
        assert {"tiny/model.ort.onnx", "tiny/model.ort.json", "tiny/report.json", "tiny/manifest.json"} <= set(names)
        manifest = json.loads(tar.extractfile("tiny/manifest.json").read())  # type: ignore[union-attr]
        onnx_bytes = tar.extractfile("tiny/model.ort.onnx").read()  # type: ignore[union-attr]
    assert manifest["format"] == "tar"
    assert manifest["files"]["model.ort.onnx"]["sha256"] == hashlib.sha256(onnx_bytes).hexdigest()


def test_engine_tarball_includes_the_build_log(tmp_path: Path) -> None:
    archive = package_run(fake_trt_run(tmp_path / "run"), "tar", tmp_path / "out")
    with tarfile.open(archive) as tar:
        assert "tiny_cnn/trt-build.log" in tar.getnames() and "tiny_cnn/model.plan.json" in tar.getnames()


def test_package_command(cpu_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    main(["package", str(cpu_run), "--format", "triton", "--out", str(tmp_path / "repo")])
    assert capsys.readouterr().out.strip() == str(tmp_path / "repo" / "tiny")
    assert (tmp_path / "repo" / "tiny" / "config.pbtxt").is_file()
    with pytest.raises(SystemExit) as exit_:
        main(["package", str(tmp_path / "missing"), "--format", "tar"])
    assert exit_.value.code == 2
    assert "is not a finished run" in capsys.readouterr().err


def test_render_pbtxt_and_model_names() -> None:
    config = {"name": "m", "max_batch_size": 0, "input": [{"name": "x", "data_type": "TYPE_INT64", "dims": [-1]}],
              "optimization": {"execution_accelerators": {"gpu_execution_accelerator": [{"name": "tensorrt"}]}}}
    assert render_pbtxt(config) == (
        'name: "m"\nmax_batch_size: 0\ninput [\n  {\n    name: "x"\n    data_type: TYPE_INT64\n    dims: [ -1 ]\n  }\n]\n'
        'optimization {\n  execution_accelerators {\n    gpu_execution_accelerator [\n      {\n        name: "tensorrt"\n'
        '      }\n    ]\n  }\n}')
    assert model_name("resnet50") == "resnet50"
    assert model_name("/data/my.model.onnx") == "my_model"
    assert model_name("pkg.mod:factory") == "pkg_mod_factory"
