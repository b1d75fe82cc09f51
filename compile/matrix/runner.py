"""Run a matrix plan: the shared prefixes first, then every job, then the matrix report.

Each shared prefix runs once; the jobs that depend on it start as soon as it is done (on Ray through
an object reference, so Ray itself orders them) and take its stages from the shared cache. A job whose shared prefix failed is reported with that error and
not run again. Files that come back from remote workers are written under OUT here.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compile.fsutil import ensure_writable_dir, write_text_atomic
from compile.matrix.executors import make_executor
from compile.matrix.plan import MatrixJob, MatrixPlan, SharedPrefix
from compile.matrix.report import write_matrix_report
from compile.matrix.worker import TOKEN_FILE, JobResult, JobSpec


@dataclass
class MatrixResult:
    plan: MatrixPlan
    jobs: list[tuple[MatrixJob, JobResult]]
    prefixes: list[tuple[SharedPrefix, JobResult]]
    wall_seconds: float
    executor: dict[str, Any]
    report: dict[str, Any]

    @property
    def all_passed(self) -> bool:
        return all(result.status == "passed" for _, result in self.jobs)


def _token(out: Path) -> str:
    path = out / TOKEN_FILE
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    token = uuid.uuid4().hex
    write_text_atomic(path, token + "\n")
    return token


def _clear(plan: MatrixPlan) -> None:
    """--force: forget every stage record and the shared cache under OUT."""
    shutil.rmtree(plan.cache_dir, ignore_errors=True)
    for job in plan.jobs:
        shutil.rmtree(plan.out / job.name / ".stages", ignore_errors=True)


def _spec(plan: MatrixPlan, job: MatrixJob, token: str, stop_after: int | None = None) -> JobSpec:
    s = plan.settings
    return JobSpec(name=job.name, model=job.model, profile=job.profile, precision=job.precision,
                   out=str(plan.out.resolve()), token=token, transfer=s.transfer, share=s.share,
                   data=str(s.data.resolve()) if s.data else None, gates=dict(s.gates), stop_after=stop_after,
                   num_cpus=job.resources.num_cpus if stop_after is None else 1,
                   resources=dict(job.resources.custom) if stop_after is None else {})


def _write_back(out: Path, result: JobResult) -> None:
    if not result.files:
        return
    run_dir = out / result.name
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, data in result.files.items():
        target = run_dir / Path(name).name
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    result.files = {}


def _log_file(out: Path, result: JobResult) -> None:
    lines = list(result.log)
    if result.error:
        lines.append(f"{result.status}: {result.error_type}: {result.error}")
    if result.traceback:
        lines.append(result.traceback)
    if lines and (out / result.name).is_dir():
        suffix = "prefix" if result.kind == "prefix" else "job"
        write_text_atomic(out / result.name / f"matrix-{suffix}.log", "\n".join(lines) + "\n")


def interleave(jobs: list[MatrixJob]) -> list[MatrixJob]:
    """Round-robin over models (each model's first job first), so two jobs of one model seldom run at
    once: the later one then finds more of its stages (an identical build, a calibration) in the cache."""
    per_model: dict[str, list[MatrixJob]] = {}
    for job in jobs:
        per_model.setdefault(job.model, []).append(job)
    rounds = max((len(group) for group in per_model.values()), default=0)
    return [group[i] for i in range(rounds) for group in per_model.values() if i < len(group)]


def run_matrix(plan: MatrixPlan, log: Callable[[str], None] = print) -> MatrixResult:
    """Run every job of ``plan`` (a failing or crashing job never stops the others) and write the report."""

    out = plan.out
    ensure_writable_dir(out)
    if plan.settings.force:
        _clear(plan)
    token = _token(out)
    started = time.perf_counter()
    job_results: dict[str, JobResult] = {}
    prefix_results: list[tuple[SharedPrefix, JobResult]] = []
    runnable = [job for job in plan.jobs if job.plan_error is None]
    for job in plan.jobs:
        if job.plan_error is not None:
            job_results[job.name] = JobResult(job.name, "job", "error", 0.0, error=job.plan_error,
                                              error_type=job.plan_error_type)
            log(f"{job.label}: ERROR {job.plan_error}")
    total = len(runnable)
    finished = [0]

    def on_job(result: JobResult) -> None:
        finished[0] += 1
        _write_back(out, result)
        _log_file(out, result)
        stages = (result.report or {}).get("stages", [])
        shared = [s["name"] for s in stages if s.get("shared")]
        reused = [s["name"] for s in stages if s.get("cached") and not s.get("shared")]
        detail = "; ".join(part for part in (f"shared: {', '.join(shared)}" if shared else "",
                                             f"reused: {', '.join(reused)}" if reused else "") if part) or "all stages ran"
        if not result.ok:
            detail = f"{result.error_type}: {result.error}"
        log(f"[{finished[0]}/{total}] {result.name}: {result.status.upper()} in {result.seconds:.1f}s ({detail})")

    def on_prefix(result: JobResult) -> None:
        _log_file(out, result)
        log(f"shared stages of {result.name}: {result.status if not result.ok else 'done'} in {result.seconds:.1f}s"
            + (f" ({result.error_type}: {result.error})" if not result.ok else ""))

    prefix_specs = [_spec(plan, p.host, token, stop_after=p.host.prefix_len) for p in plan.prefixes]
    after = {name: index for index, prefix in enumerate(plan.prefixes) for name in prefix.jobs}
    todo = interleave(runnable)
    with make_executor(plan.settings.executor, plan.settings.jobs, plan.settings.address) as executor:
        done_prefixes, done_jobs = executor.run_plan(prefix_specs, [_spec(plan, j, token) for j in todo], after,
                                                     on_prefix, on_job)
        executor_info = executor.describe()
    prefix_results = list(zip(plan.prefixes, done_prefixes, strict=True))
    job_results.update((job.name, result) for job, result in zip(todo, done_jobs, strict=True))
    wall = time.perf_counter() - started
    jobs = [(job, job_results[job.name]) for job in plan.jobs]
    report = write_matrix_report(plan, jobs, prefix_results, wall, executor_info)
    return MatrixResult(plan, jobs, prefix_results, wall, executor_info, report)
