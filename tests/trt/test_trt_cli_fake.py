"""``compile build MODEL --profile jetson-orin-nano`` on a Jetson Orin Nano with TensorRT 10.3 (JetPack 6), no
GPU: the CLI in this process and the build worker in its own process both import the 10.3 fake, so the
real subprocess path (job file, log, result) runs, and the worker times the engine on the fake CUDA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compile.cli.main import main
from tests.helpers import make_tiny_classifier
from tests.trt.fakes import JETSON_AGX_ORIN, JETSON_ORIN_NANO, TRT_10_3, TRT_11_1, install, subprocess_env


def exit_code(main: Any, argv: list[str]) -> int:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return int(code or 0)


def test_compile_build_for_jetson_orin_nano_reaches_the_engine_and_its_sidecar(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = install(monkeypatch, tmp_path, TRT_10_3, JETSON_ORIN_NANO)
    subprocess_env(monkeypatch, TRT_10_3, JETSON_ORIN_NANO)
    monkeypatch.setenv("COMPILE_TRT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    model = make_tiny_classifier(tmp_path / "tiny.onnx")
    assert exit_code(main, ["build", str(model), "--profile", "jetson-orin-nano", "--out", str(out), "--quiet"]) == 0, \
        capsys.readouterr().err
    engine = out / "model.plan"
    # The sidecar beside the engine (its file name is the packaging code's: model.plan[.compile].json).
    [sidecar_path] = [p for p in out.glob("model.plan*.json") if not p.name.endswith(".layers.json")]
    assert engine.read_bytes().startswith(b"FAKETRTPLAN")
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["tensorrt_version"] == TRT_10_3 and sidecar["profile"] == "jetson-orin-nano"
    assert sidecar["gpu"] == {"name": "Orin", "compute_capability": "8.7"}
    assert sidecar["platform"] == {"machine": "aarch64", "jetson_module": JETSON_ORIN_NANO.jetson_module}
    assert sidecar["precision"] == "fp16" and sidecar["build_path"].startswith("TensorRT 10, strongly typed")
    log = (out / "trt-build.log").read_text()
    assert "Traceback" not in log
    # The worker (a child process) built and profiled it: timings from the fake CUDA's events and graph.
    latency = json.loads((out / "report.json").read_text())["tensorrt"]["latency"]
    assert latency["device_only_graph"]["cuda_graph"] is True and latency["with_copies"]["p50_ms"] > 0
    assert latency["shapes"] == {"input": [1, 3, 16, 16]}  # the profile's opt batch
    # The parent process only detected the GPU and read the version: the build ran in the child.
    assert not fake.called("Builder.build_serialized_network")


def test_a_profile_pinned_to_tensorrt_10_stops_clearly_on_tensorrt_11(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(monkeypatch, tmp_path, TRT_11_1, JETSON_AGX_ORIN)
    model = make_tiny_classifier(tmp_path / "tiny.onnx")
    assert exit_code(main, ["build", str(model), "--profile", "jetson-agx-orin", "--out", str(tmp_path / "run"),
                            "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: build-trt: profile 'jetson-agx-orin' targets TensorRT 10")
    assert "Traceback" not in "\n".join(err) and "AttributeError" not in "\n".join(err)
