"""The OpenVINO backend end to end on tiny ONNX classifiers: build-openvino, validate, benchmark, the
compiled-model cache, INT8 from the Q/DQ graph, and the IR bundle. Skipped where openvino is not installed."""

from __future__ import annotations

import json
import shutil
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from compile.artifacts import RuntimeArtifact, sidecar_name  # noqa: E402
from compile.backends import make_runner  # noqa: E402
from compile.backends.ort.hardware import cpu_isa  # noqa: E402
from compile.backends.ort.runner import OrtRunner  # noqa: E402
from compile.cli.main import main  # noqa: E402
from compile.drivers.pipeline import Pipeline, RunResult  # noqa: E402
from compile.errors import UserInputError  # noqa: E402
from compile.hashing import hash_file  # noqa: E402
from compile.package import package_run  # noqa: E402
from compile.package.manifest import verify_manifest  # noqa: E402
from compile.profiles import Profile, parse_profile, profiles_dir  # noqa: E402
from compile.settings import RunSettings  # noqa: E402
from tests.helpers import make_tiny_classifier  # noqa: E402


def fast_openvino_profile() -> Profile:
    data = tomllib.loads((profiles_dir() / "openvino-cpu.toml").read_text())
    data["benchmark"] = {"mode": "fixed", "warmup": 1, "iterations": 3, "repeats": 1}
    data["shapes"]["batch_sizes"] = [1, 2]
    data["validation"] = {"samples": 8}
    data["calibration"]["size"] = 8
    return parse_profile(data, "fast-openvino-cpu")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPILE_CACHE_DIR", str(folder))
        yield folder


def _run(model: Path, out: Path, precision: str) -> RunResult:
    settings = RunSettings(model=str(model), profile="openvino-cpu", precision=precision, out=out, progress=False)
    return Pipeline(settings, profile=fast_openvino_profile(), log=lambda line: None).run()


@pytest.fixture(scope="module")
def fp32_run(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    root = tmp_path_factory.mktemp("ov-fp32")
    return _run(make_tiny_classifier(root / "tiny.onnx"), root / "run", "fp32")


def _artifact(run_dir: Path) -> RuntimeArtifact:
    return RuntimeArtifact(path=run_dir / "model.ov.xml", backend="openvino", sidecar=run_dir / sidecar_name("model.ov.xml"))


def test_fp32_run_builds_the_ir_validates_and_benchmarks(fp32_run: RunResult) -> None:
    report, run_dir = fp32_run.report, fp32_run.run_dir
    assert report["passed"] is True and report["backend"] == "openvino"
    assert report["artifacts"]["final"] == "model.ov.xml"
    assert {"model.ov.xml", "model.ov.xml.data", "model.ov.xml.compile.json"} <= {p.name for p in run_dir.iterdir()}
    assert report["accuracy"]["top1_agreement"] == 1.0 and report["accuracy"]["cosine_similarity"] > 0.99999
    assert [b["batch"] for b in report["latency"]["per_batch"]] == [1, 2]
    section = report["openvino"]
    assert section["inference_precision"] == "f32" and section["performance_hint"] == "LATENCY"
    assert section["runtime_precisions"]["Convolution"] == {"f32": 1}
    sidecar = json.loads((run_dir / "model.ov.xml.compile.json").read_text())
    assert sidecar["openvino_version"] == ov.get_version() and sidecar["device"] == "CPU" and sidecar["isa"] == cpu_isa()
    assert sidecar["weights_file"] == "model.ov.xml.data"
    assert sidecar["weights_sha256"] == hash_file(run_dir / "model.ov.xml.data")
    assert sidecar["inputs"] == [{"name": "input", "dtype": "float32", "shape": [-1, 3, 16, 16]}]
    assert sidecar["outputs"] == [{"name": "logits", "dtype": "float32", "shape": [-1, 10]}]
    # FP32 weights kept (save_model would halve them to FP16): 8*3*3*3 + 8 + 10*8 + 10 floats, plus shape constants.
    assert 4 * (216 + 8 + 80 + 10) <= (run_dir / "model.ov.xml.data").stat().st_size < 4 * (216 + 8 + 80 + 10) + 64


def test_runner_matches_onnx_runtime_at_several_batch_sizes(fp32_run: RunResult) -> None:
    source = fp32_run.run_dir / "model.simplified.onnx"
    rng = np.random.default_rng(0)
    with make_runner(_artifact(fp32_run.run_dir)) as ov_runner, OrtRunner(source) as ort_runner:
        assert ov_runner.input_names() == ["input"] and ov_runner.output_names() == ["logits"]
        for batch in (1, 3):
            feed = {"input": rng.standard_normal((batch, 3, 16, 16)).astype(np.float32)}
            got, want = ov_runner.infer(feed)["logits"], ort_runner.infer(feed)["logits"]
            assert got.shape == (batch, 10)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_build_fills_the_compiled_model_cache_that_runners_read(fp32_run: RunResult, cache_dir: Path) -> None:
    blobs = sorted((cache_dir / "openvino").glob("*.blob"))
    section = fp32_run.report["openvino"]
    assert len(blobs) == 1 and section["compile_was_cached"] is False and section["cache_hit_after_build"] is True
    # The CPU plugin applies the hints (threads, precision) when it loads the blob: any runner reads it.
    for threads in (None, 1):
        with make_runner(_artifact(fp32_run.run_dir), threads=threads) as runner:
            assert runner.loaded_from_cache is True
    assert sorted((cache_dir / "openvino").glob("*.blob")) == blobs
    blobs[0].unlink()
    with make_runner(_artifact(fp32_run.run_dir)) as runner:
        assert runner.loaded_from_cache is False
    assert len(list((cache_dir / "openvino").glob("*.blob"))) == 1


def test_second_run_reuses_every_stage(fp32_run: RunResult) -> None:
    again = _run(fp32_run.run_dir.parent / "tiny.onnx", fp32_run.run_dir, "fp32")
    stages = {s["name"]: s for s in again.report["stages"] if not s.get("skipped")}
    assert {"simplify", "build-openvino", "validate", "benchmark"} <= set(stages)
    assert all(stage["cached"] for stage in stages.values()), stages


def test_int8_graph_runs_its_convolutions_in_int8(cache_dir: Path, tmp_path: Path) -> None:
    result = _run(make_tiny_classifier(tmp_path / "tiny.onnx", channels=16), tmp_path / "run", "int8")
    report = result.report
    assert report["quantization"]["convention"] == "onnxruntime-cpu"
    precisions = report["openvino"]["runtime_precisions"]
    assert set(precisions["Convolution"]) <= {"u8", "i8"}, precisions
    assert report["accuracy"]["cosine_similarity"] > 0.99
    assert not any("runs none of its compute layers in INT8" in w for w in report["warnings"])


def test_weights_that_changed_since_the_build_are_refused(fp32_run: RunResult, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(fp32_run.run_dir, copy, ignore=shutil.ignore_patterns(".lock"))
    data = bytearray((copy / "model.ov.xml.data").read_bytes())
    data[:4] = np.float32(7.0).tobytes()
    (copy / "model.ov.xml.data").write_bytes(bytes(data))
    with pytest.raises(UserInputError, match="model.ov.xml.data does not match the weights_sha256"):
        make_runner(_artifact(copy))


def test_openvino_bundle_is_the_ir_under_openvinos_own_names(fp32_run: RunResult, tmp_path: Path) -> None:
    bundle = package_run(fp32_run.run_dir, "openvino", tmp_path / "out", name="tiny")
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json", "model.bin", "model.xml", "model.xml.compile.json"]
    assert verify_manifest(bundle) == []
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "openvino" and manifest["built_with"]["backend"] == "openvino"
    assert manifest["built_with"]["openvino_version"] == ov.get_version()
    assert manifest["inputs"] == [{"name": "input", "dtype": "float32", "shape": [-1, 3, 16, 16]}]
    feed = {"input": np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)}
    with make_runner(_artifact(fp32_run.run_dir)) as runner:
        want = runner.infer(feed)["logits"]
    # OpenVINO alone finds model.bin beside model.xml; the project's runner reads the bundle's sidecar.
    plain = ov.Core().compile_model(str(bundle / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(plain(feed)[0], want, rtol=1e-5, atol=1e-6)
    packaged = RuntimeArtifact(path=bundle / "model.xml", backend="openvino", sidecar=bundle / "model.xml.compile.json")
    with make_runner(packaged) as runner:
        np.testing.assert_allclose(runner.infer(feed)["logits"], want, rtol=1e-6)


def test_tarball_carries_the_weights_and_triton_is_refused_clearly(fp32_run: RunResult, tmp_path: Path) -> None:
    archive = package_run(fp32_run.run_dir, "tar", tmp_path / "tar", name="tiny")
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    assert {"tiny/model.ov.xml", "tiny/model.ov.xml.data", "tiny/model.ov.xml.compile.json", "tiny/manifest.json"} <= set(names)
    with pytest.raises(UserInputError, match="Triton bundles of OpenVINO runs are not written yet"):
        package_run(fp32_run.run_dir, "triton", tmp_path / "triton")


def test_openvino_format_refuses_a_run_of_another_backend(cache_dir: Path, tmp_path: Path) -> None:
    model = make_tiny_classifier(tmp_path / "tiny.onnx")
    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data.update(benchmark={"mode": "fixed", "warmup": 1, "iterations": 2, "repeats": 1}, validation={"samples": 4})
    Pipeline(RunSettings(model=str(model), profile="cpu", out=tmp_path / "cpu", progress=False),
             profile=parse_profile(data, "fast-cpu"), log=lambda line: None).run()
    with pytest.raises(UserInputError, match="--format openvino needs a run built by build-openvino; .* is a onnxruntime run"):
        package_run(tmp_path / "cpu", "openvino", tmp_path / "out")


def test_compile_validate_takes_a_packaged_ir_as_candidate(fp32_run: RunResult, tmp_path: Path) -> None:
    bundle = package_run(fp32_run.run_dir, "openvino", tmp_path / "out", name="tiny")
    out = tmp_path / "validate"
    try:
        main(["validate", "--reference", str(fp32_run.run_dir.parent / "tiny.onnx"), "--candidate", str(bundle / "model.xml"),
              "--samples", "8", "--benchmark", "--out", str(out), "-q"])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "openvino" and report["accuracy"]["top1_agreement"] == 1.0
    assert report["latency"]["method"]["mode"] == "adaptive"  # the default profile (cpu) times adaptively
