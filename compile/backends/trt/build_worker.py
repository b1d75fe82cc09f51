"""Run the TensorRT build in a child process: a TensorRT crash or leaked GPU memory cannot take down the CLI.

The parent (``run_in_subprocess``) writes a job file, starts ``python -m compile.backends.trt.build_worker
JOB.json`` with stdout and stderr going to the build log in the run directory, and reads the result file
the child writes. A child that dies without a result (segfault, OOM kill, timeout) is reported with the
end of the log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

from compile.backends.trt.builder import build_engine
from compile.backends.trt.runner import profile_engine
from compile.backends.trt.settings import TrtBuildSettings
from compile.errors import CompileError, PassError
from compile.fsutil import write_json_atomic

#: How much of the log an error message quotes when the child died without saying why.
LOG_TAIL_LINES = 15


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """The child's work: build the engine, then (optionally) profile it on this GPU."""
    settings = TrtBuildSettings.from_dict(job["settings"])
    layers = Path(job["layers"]) if job.get("layers") else None
    outcome = build_engine(Path(job["onnx"]), Path(job["engine"]), settings, log=sys.stderr, layers_path=layers)
    result: dict[str, Any] = {"ok": True, "outcome": outcome.to_dict()}
    profile = job.get("profile")
    if profile:
        result["profile"] = profile_engine(Path(job["engine"]), outcome.bindings, settings.version_compatible,
                                           warmup=profile.get("warmup", 10), iterations=profile.get("iterations", 50),
                                           cuda_graph=profile.get("cuda_graph", True), dla_core=settings.dla_core)
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m compile.backends.trt.build_worker JOB.json", file=sys.stderr)
        return 2
    job = json.loads(Path(args[0]).read_text())
    result_path = Path(job["result"])
    try:
        result = run_job(job)
    except CompileError as err:
        write_json_atomic(result_path, {"ok": False, "error": str(err)})
        return 1
    except Exception as err:  # noqa: BLE001 - anything TensorRT raises is reported to the parent
        traceback.print_exc()
        write_json_atomic(result_path, {"ok": False, "error": f"{type(err).__name__}: {err}"})
        return 1
    write_json_atomic(result_path, result)
    return 0


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def run_in_subprocess(job: dict[str, Any], job_path: Path, log_path: Path, timeout_s: float | None = None) -> dict[str, Any]:
    """Run ``job`` in a child process; its output goes to ``log_path``. Returns the child's result."""
    result_path = Path(job["result"])
    result_path.unlink(missing_ok=True)
    write_json_atomic(job_path, job)
    command = [sys.executable, "-m", "compile.backends.trt.build_worker", str(job_path)]
    with log_path.open("w") as log:
        try:
            completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as err:
            raise PassError(f"the TensorRT build did not finish in {timeout_s:g} s (log: {log_path})") from err
    if result_path.is_file():
        result: dict[str, Any] = json.loads(result_path.read_text())
        if result.get("ok"):
            return result
        raise PassError(f"{result.get('error', 'the TensorRT build failed')} (log: {log_path})")
    code = completed.returncode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    tail = log_tail(log_path)
    raise PassError(f"the TensorRT build process {how} without a result (log: {log_path})" + (f": {tail}" if tail else ""))


if __name__ == "__main__":
    sys.exit(main())
