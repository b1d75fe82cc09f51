"""One matrix job, as it runs in a worker process or a Ray task: compile, then describe what happened.

``execute_job`` never raises: a :class:`~compile.errors.CompileError` becomes an ``error`` result, any
other exception a ``crashed`` result with its type and traceback, so one job cannot stop the others.
The job carries its profile as data (not a path), so a worker on another machine needs no profile
files. Where the job writes: the driver's OUT when the worker sees it (a shared file system: OUT
holds a token file the worker compares), else a worker-local folder whose run directory files
(report, final artifact and the other top-level files) come back as bytes in the result.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compile.drivers.pipeline import STAGES_DIR, Pipeline, RunResult
from compile.errors import CompileError
from compile.profiles import Profile
from compile.settings import RunSettings
from compile.stage_cache import SharedStageCache

TOKEN_FILE = ".matrix-token"
#: Worker-local root for runs whose files travel back to the driver.
SCRATCH_DIRNAME = "compile-matrix"
#: Results: "passed" / "failed" (a gate failed) came from a finished run; "error" is a CompileError;
#: "crashed" is any other exception, or a worker that died.
FINISHED = ("passed", "failed")


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to run one job (picklable; paths as strings)."""

    name: str
    model: str
    profile: Profile
    precision: str
    #: The driver's output folder (absolute) and the token its TOKEN_FILE holds.
    out: str
    token: str
    transfer: str = "auto"
    share: bool = True
    data: str | None = None
    gates: dict[str, float] = field(default_factory=dict)
    #: Run only the first N passes of the profile (the shared prefix); ``None`` runs them all.
    stop_after: int | None = None
    num_cpus: int = 1
    resources: dict[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "job" if self.stop_after is None else "prefix"


@dataclass
class JobResult:
    name: str
    kind: str
    status: str
    seconds: float
    report: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    host: str = ""
    #: Files of the run directory (name -> bytes) when they travel back to the driver.
    files: dict[str, bytes] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in FINISHED


def failure(spec: JobSpec, err: BaseException, status: str = "crashed", seconds: float = 0.0) -> JobResult:
    message = str(err).strip() or type(err).__name__
    return JobResult(spec.name, spec.kind, status, seconds, error=message, error_type=type(err).__name__,
                     host=socket.gethostname())


def prefix_failure(spec: JobSpec, prefix: JobResult) -> JobResult:
    """The result of a job that was not run because its shared stages failed."""
    return JobResult(spec.name, spec.kind, prefix.status, 0.0, error=f"its shared stages (run in {prefix.name}) failed: {prefix.error}",
                     error_type=prefix.error_type, host=prefix.host)


def execute_job_after(spec: JobSpec, prefix: JobResult) -> JobResult:
    """A job that depends on its shared prefix: runs once the prefix finished, unless it failed.

    With Ray the prefix's result is passed as an object reference, so Ray itself starts the job when
    the prefix is done: each model's jobs fan out as soon as that model's shared stages exist."""
    return execute_job(spec) if prefix.ok else prefix_failure(spec, prefix)


def workspace(spec: JobSpec) -> tuple[Path, bool]:
    """The folder that holds this job's run directory, and whether its files must travel back."""
    out = Path(spec.out)
    if spec.transfer == "shared":
        return out, False
    if spec.transfer == "auto":
        try:
            if (out / TOKEN_FILE).read_text(encoding="utf-8").strip() == spec.token:
                return out, False
        except OSError:
            pass
    return Path(tempfile.gettempdir()) / SCRATCH_DIRNAME / spec.token, True


def run_dir_files(run_dir: Path) -> dict[str, bytes]:
    """The run directory's top-level files (report, artifacts, sidecars), not its records or locks."""
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file() and not p.name.startswith(".")}


def publish_prefix(result: RunResult, cache_dir: Path) -> None:
    """Put a prefix's stages that it took from its own run directory into the shared cache.

    A prefix exists so that its model's other jobs take these stages from the shared cache. A stage
    reused from the run directory is not stored again by the pipeline, yet its entry may be missing:
    the prefix's earlier attempt was killed between writing the stage record and storing the entry
    (a worker of a broken pool is terminated mid-run, and the prefix then runs again), or the run
    directory was filled without sharing. Its dependents would then all run the stage again."""
    cache = SharedStageCache(cache_dir)
    for outcome in result.stages:
        if not outcome.cached or outcome.shared or outcome.skipped or not outcome.key or cache.entry(outcome.key).is_dir():
            continue
        record_path = result.run_dir / STAGES_DIR / f"{outcome.index:02d}-{outcome.name}.json"
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if record.get("key") == outcome.key:
            cache.store(outcome.key, record, result.run_dir, stage=outcome.name)


def execute_job(spec: JobSpec) -> JobResult:
    """Run one job (or a shared prefix) and describe the outcome; never raises."""

    started = time.perf_counter()
    log: list[str] = []
    try:
        base, travels = workspace(spec)
        run_dir = base / spec.name
        profile = spec.profile
        if spec.stop_after is not None:
            profile = profile.model_copy(update={"passes": profile.passes[:spec.stop_after]})
        settings = RunSettings(model=spec.model, profile=profile.name, precision=spec.precision, out=run_dir,
                               data=Path(spec.data) if spec.data else None, gates=dict(spec.gates),
                               progress=False, cache_dir=base / ".cache" if spec.share else None)
        result = Pipeline(settings, profile=profile, log=log.append).run()
        if spec.stop_after is not None and settings.cache_dir is not None:
            publish_prefix(result, settings.cache_dir)
        files = run_dir_files(run_dir) if travels and spec.stop_after is None else {}
        return JobResult(spec.name, spec.kind, "passed" if result.passed else "failed", time.perf_counter() - started,
                         report=result.report, host=socket.gethostname(), files=files, log=log)
    except CompileError as err:
        out = failure(spec, err, "error", time.perf_counter() - started)
    except Exception as err:  # noqa: BLE001 - a crashing job is reported, never allowed to stop the matrix
        out = failure(spec, err, "crashed", time.perf_counter() - started)
        out.traceback = traceback.format_exc()[-4000:]
    out.log = log
    return out
