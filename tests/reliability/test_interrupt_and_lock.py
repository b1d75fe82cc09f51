"""Interrupted and concurrent runs: finished stages survive, the interrupted one is absent, the next
run resumes; two runs on one folder never interleave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs the real pipeline in a child process with the benchmark stage made slow, so the parent can
# interrupt it at a known point. Nothing else is changed.
CHILD = """
import sys, time
from pathlib import Path
from compile.passes.benchmark import BenchmarkPass
from compile.drivers.pipeline import Pipeline
from compile.settings import RunSettings

def slow(self, inputs, ctx):
    Path(sys.argv[3]).write_text("benchmark started")
    time.sleep(60)
    raise SystemExit("not reached")

if sys.argv[4] == "slow":
    BenchmarkPass.run = slow
Pipeline(RunSettings(model=sys.argv[1], out=Path(sys.argv[2]), progress=False), log=lambda line: None).run()
"""


def _start(model: Path, out: Path, flag: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(model), str(out), str(flag), mode], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_keeps_finished_stages_and_resumes(tiny_onnx: Path, tmp_path: Path, sig: int) -> None:
    out, flag = tmp_path / "run", tmp_path / "started"
    child = _start(tiny_onnx, out, flag, "slow")
    _wait_for(flag)
    child.send_signal(sig)
    child.wait(timeout=60)
    assert child.returncode != 0
    records = sorted(p.name.split("-", 1)[1] for p in (out / ".stages").glob("*.json"))
    assert records == ["build-ort.json", "simplify.json", "validate.json"]
    assert (out / "model.ort.onnx").is_file()
    assert not (out / "report.json").exists()
    assert not list(out.glob(".work-*")) or sig == signal.SIGKILL  # SIGKILL cannot clean up; the next run does

    resumed = _start(tiny_onnx, out, flag, "normal")
    resumed.wait(timeout=300)
    assert resumed.returncode == 0, resumed.stderr.read() if resumed.stderr else ""
    report = json.loads((out / "report.json").read_text())
    by_name = {s["name"]: s for s in report["stages"]}
    assert by_name["simplify"]["cached"] and by_name["build-ort"]["cached"] and by_name["validate"]["cached"]
    assert by_name["benchmark"]["cached"] is False
    assert not list(out.glob(".work-*"))


def test_second_concurrent_run_stops_clearly_and_first_is_intact(tiny_onnx: Path, tmp_path: Path) -> None:
    out, flag = tmp_path / "run", tmp_path / "started"
    first = _start(tiny_onnx, out, flag, "slow")
    try:
        _wait_for(flag)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        second = subprocess.run([sys.executable, "-m", "compile", "run", str(tiny_onnx), "--out", str(out)],
                                capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
        assert second.returncode == 2
        assert "another compile run is using" in second.stderr
        assert first.poll() is None, "the first run must still be going"
    finally:
        first.kill()
        first.wait()
    records = sorted(p.name.split("-", 1)[1] for p in (out / ".stages").glob("*.json"))
    assert records == ["build-ort.json", "simplify.json", "validate.json"]
