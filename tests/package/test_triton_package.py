"""Deploy bundles: the Triton model repository (TensorRT plan or ONNX Runtime model), the manifest, the tarball.

The TensorRT cases use a fake plan file with a real sidecar: this tests the packager, not the builder."""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
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
    from compile.drivers.pipeline import Pipeline
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


def parse_config(text: str) -> Any:
    """config.pbtxt read with Triton's own model-config schema (what the server parses it with)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(text, model_config_pb2.ModelConfig())


def _logits(model: Path, optimization: str = "disable") -> np.ndarray:
    from compile.backends.ort.runner import open_session

    x = np.random.default_rng(1).uniform(-2, 2, (3, 3, 16, 16)).astype(np.float32)
    return open_session(model, optimization=optimization).run(None, {"input": x})[0]


def test_triton_repository_for_a_cpu_run_ships_the_portable_graph(cpu_run: Path, tmp_path: Path) -> None:
    model_dir = package_run(cpu_run, "triton", tmp_path / "repo", name="tiny classifier")
    assert model_dir.name == "tiny_classifier"
    text = (model_dir / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"\nbackend: "onnxruntime"\nmax_batch_size: 32' in text
    assert "kind: KIND_CPU" in text and "preferred_batch_size: [ 8 ]" in text
    # Not the graph laid out for this CPU (NCHWc blocks): the one build-ort started from.
    shipped = (model_dir / "1" / "model.onnx").read_bytes()
    assert shipped == (cpu_run / "model.simplified.onnx").read_bytes()
    assert shipped != (cpu_run / "model.ort.onnx").read_bytes()
    import onnx

    served = onnx.load(str(model_dir / "1" / "model.onnx"))
    onnx.checker.check_model(served)
    assert {node.domain for node in served.graph.node} == {""}
    # Triton's ONNX Runtime backend applies the run's settings at load: level "all" is its default (no
    # graph level), sequential execution, one inter-op thread, intra-op threads = one per core.
    config = parse_config(text)
    assert config.platform == "onnxruntime_onnx" and config.max_batch_size == 32
    assert not config.optimization.HasField("graph")
    assert {k: v.string_value for k, v in config.parameters.items()} == {
        "execution_mode": "0", "inter_op_thread_count": "1", "intra_op_thread_count": "0"}
    # Served as Triton would (optimised at load, here), it computes what the validated artifact computes.
    np.testing.assert_allclose(_logits(model_dir / "1" / "model.onnx", "all"), _logits(cpu_run / "model.ort.onnx"),
                               rtol=1e-5, atol=1e-5)
    build = json.loads((model_dir / "build.json").read_text())
    assert build["load_optimization"] == "all" and build["isa"] is None and build["graph"] == "portable"
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["built_with"]["onnxruntime_version"]
    assert manifest["built_with"]["graph"] == "portable" and manifest["built_with"]["isa"] is None
    assert manifest["built_with"]["built_from"] == "model.simplified.onnx"
    assert manifest["preprocessing"]["crop"] == 16
    assert verify_manifest(model_dir) == []


def test_machine_specific_bundle_is_marked_with_its_instruction_set(cpu_run: Path, tmp_path: Path) -> None:
    from compile.backends.ort.hardware import cpu_isa

    model_dir = package_run(cpu_run, "triton", tmp_path / "repo", machine_specific=True)
    assert (model_dir / "1" / "model.onnx").read_bytes() == (cpu_run / "model.ort.onnx").read_bytes()
    config = parse_config((model_dir / "config.pbtxt").read_text())
    assert config.optimization.graph.level == 2  # the backend's "disabled": optimised offline already
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["built_with"]["graph"] == "machine-specific"
    assert manifest["built_with"]["isa"] == cpu_isa() and manifest["built_with"]["optimization"] == "all"


@pytest.mark.parametrize(("level", "expected"), [("extended", 1), ("basic", -1), ("disable", 2)])
def test_ort_levels_map_to_the_backend_graph_levels(level: str, expected: int) -> None:
    from compile.package.triton import ort_session_config

    section = ort_session_config({"load_optimization": level, "intra_op_threads": 4, "inter_op_threads": 1})
    config = parse_config(render_pbtxt({"name": "m", "backend": "onnxruntime", **section}))
    assert config.optimization.graph.level == expected
    assert config.parameters["intra_op_thread_count"].string_value == "4"
    with pytest.raises(UserInputError, match="unknown ONNX Runtime optimisation level 'fastest'"):
        ort_session_config({"load_optimization": "fastest"})


def test_every_generated_config_parses_with_tritons_schema(cpu_run: Path, tmp_path: Path) -> None:
    engine = parse_config((package_run(fake_trt_run(tmp_path / "trt"), "triton", tmp_path / "a") / "config.pbtxt").read_text())
    assert engine.platform == "tensorrt_plan" and engine.max_batch_size == 32
    assert list(engine.input[0].dims) == [3, 16, 16] and engine.output[0].data_type == model_data_type("TYPE_FP16")
    assert list(engine.dynamic_batching.preferred_batch_size) == [8, 32]
    assert engine.instance_group[0].kind == engine.instance_group[0].KIND_GPU
    flat = parse_config(render_pbtxt(triton_config(read_run(fake_trt_run(tmp_path / "flat", batch_axis=False)))))
    assert flat.max_batch_size == 0 and list(flat.input[0].dims) == [1, 3, 16, 16]
    cpu = parse_config((package_run(cpu_run, "triton", tmp_path / "b") / "config.pbtxt").read_text())
    assert cpu.instance_group[0].kind == cpu.instance_group[0].KIND_CPU
    assert cpu.input[0].data_type == model_data_type("TYPE_FP32")


def model_data_type(name: str) -> int:
    from tritonclient.grpc import model_config_pb2

    return int(model_config_pb2.DataType.Value(name))


def test_portable_graph_with_external_data_is_shipped_whole(cpu_run: Path, tmp_path: Path) -> None:
    """The portable graph keeps its weights in a file named anything: the bundle carries that file."""
    import shutil

    import onnx

    from compile.hashing import hash_file

    run = tmp_path / "run"
    shutil.copytree(cpu_run, run)
    graph = onnx.load(str(run / "model.simplified.onnx"))
    onnx.save_model(graph, str(run / "model.simplified.onnx"), save_as_external_data=True, location="weights.bin",
                    size_threshold=0)
    sidecar_path = run / "model.ort.onnx.compile.json"
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["source_onnx_sha256"] = hash_file(run / "model.simplified.onnx")
    sidecar_path.write_text(json.dumps(sidecar))
    model_dir = package_run(run, "triton", tmp_path / "repo")
    assert (model_dir / "1" / "weights.bin").read_bytes() == (run / "weights.bin").read_bytes()
    assert "1/weights.bin" in json.loads((model_dir / "manifest.json").read_text())["files"]
    np.testing.assert_allclose(_logits(model_dir / "1" / "model.onnx", "all"), _logits(cpu_run / "model.ort.onnx"),
                               rtol=1e-5, atol=1e-5)
    archive = package_run(run, "tar", tmp_path / "tar")
    with tarfile.open(archive) as tar:
        assert "tiny/weights.bin" in tar.getnames()


def test_missing_or_changed_portable_graph_is_refused_with_the_way_out(cpu_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(cpu_run, run)
    (run / "model.simplified.onnx").write_bytes(b"another graph")
    with pytest.raises(UserInputError, match="portable graph .* is missing or changed .*--machine-specific"):
        package_run(run, "triton", tmp_path / "repo")
    assert (package_run(run, "triton", tmp_path / "repo", machine_specific=True) / "1" / "model.onnx").is_file()


def test_run_directories_from_before_the_sidecar_rename_still_package(cpu_run: Path, tmp_path: Path) -> None:
    """model.ort.json without source_onnx: the portable graph is the report's last ONNX artifact."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(cpu_run, run)
    sidecar = json.loads((run / "model.ort.onnx.compile.json").read_text())
    del sidecar["source_onnx"]
    (run / "model.ort.onnx.compile.json").unlink()
    (run / "model.ort.json").write_text(json.dumps(sidecar))
    model_dir = package_run(run, "triton", tmp_path / "repo")
    assert (model_dir / "1" / "model.onnx").read_bytes() == (run / "model.simplified.onnx").read_bytes()


def test_tarball_is_reproducible_and_carries_a_manifest(cpu_run: Path, tmp_path: Path) -> None:
    first = package_run(cpu_run, "tar", tmp_path / "a")
    second = package_run(cpu_run, "tar", tmp_path / "b")
    assert first.name == "tiny-cpu-fp32.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        names = tar.getnames()
        assert names == sorted(names)
        assert {"tiny/model.simplified.onnx", "tiny/model.simplified.onnx.compile.json", "tiny/report.json",
                "tiny/manifest.json"} <= set(names)
        assert "tiny/model.ort.onnx" not in names
        manifest = json.loads(tar.extractfile("tiny/manifest.json").read())  # type: ignore[union-attr]
        onnx_bytes = tar.extractfile("tiny/model.simplified.onnx").read()  # type: ignore[union-attr]
        tar.extractall(tmp_path / "x", filter="data")
    assert manifest["format"] == "tar" and manifest["built_with"]["graph"] == "portable"
    assert manifest["files"]["model.simplified.onnx"]["sha256"] == hashlib.sha256(onnx_bytes).hexdigest()
    # On the device side the runner finds the settings beside the graph and optimises it at load.
    from compile.drivers.standalone import resolve_candidate

    candidate = resolve_candidate(str(tmp_path / "x" / "tiny" / "model.simplified.onnx"))
    assert candidate.artifact.read_sidecar()["load_optimization"] == "all" and candidate.warnings == ()


def test_engine_tarball_includes_the_build_log(tmp_path: Path) -> None:
    archive = package_run(fake_trt_run(tmp_path / "run"), "tar", tmp_path / "out")
    with tarfile.open(archive) as tar:
        assert "tiny_cnn/trt-build.log" in tar.getnames() and "tiny_cnn/model.plan.json" in tar.getnames()


def test_package_command(cpu_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    main(["package", str(cpu_run), "--format", "triton", "--out", str(tmp_path / "repo")])
    assert capsys.readouterr().out.strip() == str(tmp_path / "repo" / "tiny")
    assert (tmp_path / "repo" / "tiny" / "config.pbtxt").is_file()
    main(["package", str(cpu_run), "--machine-specific", "--out", str(tmp_path / "native")])
    assert (tmp_path / "native" / "tiny" / "1" / "model.onnx").read_bytes() == (cpu_run / "model.ort.onnx").read_bytes()
    capsys.readouterr()
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
