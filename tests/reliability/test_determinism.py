"""Same inputs and options give byte-identical artifacts, and the report records their hashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(out: Path, *extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "compile", "run", "tiny_cnn", "--out", str(out), "--quiet", *extra],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert result.returncode in (0, 1), result.stderr
    return json.loads((out / "report.json").read_text())


def test_two_runs_give_identical_artifacts(tmp_path: Path) -> None:
    first, second = _run(tmp_path / "a"), _run(tmp_path / "b")
    assert first["artifact_sha256"].keys() == second["artifact_sha256"].keys()
    assert {"onnx", "final"} <= set(first["artifact_sha256"])
    for name, digest in first["artifact_sha256"].items():
        assert len(digest) == 64
        assert second["artifact_sha256"][name] == digest, name
        assert (tmp_path / "a" / first["artifacts"][name]).read_bytes() == (tmp_path / "b" / second["artifacts"][name]).read_bytes()


def test_int8_artifacts_are_identical_too(tmp_path: Path) -> None:
    first = _run(tmp_path / "a", "--precision", "int8", "--calib-size", "8")
    second = _run(tmp_path / "b", "--precision", "int8", "--calib-size", "8")
    quantized = [name for name in first["artifact_sha256"] if "quantize" in name]
    assert quantized, first["artifacts"]
    for name in quantized + ["final"]:
        assert first["artifact_sha256"][name] == second["artifact_sha256"][name], name
