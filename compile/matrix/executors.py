"""Executors run job specs somewhere and hand back one result per spec, as each finishes.

``LocalExecutor``: a process pool on this machine (spawned workers: no state inherited from the
driver, a crash stays in its process). ``RayExecutor``: Ray tasks with resource requests, on a
cluster (``address``) or on a local instance it starts; ray is imported only here, when used.
Both are context managers. ``run_plan(prefixes, jobs, after, on_prefix, on_job)`` runs the shared
prefixes and the jobs, a job only after the prefix it depends on (``after``) and not at all when that
prefix failed; each model's jobs start as soon as its own prefix is done. Results come back in the
order of the specs.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any

from compile.errors import MissingDependencyError, UserInputError
from compile.matrix.worker import JobResult, JobSpec, execute_job, execute_job_after, failure, prefix_failure

OnDone = Callable[[JobResult], None]
#: job name -> index of the prefix spec it depends on.
After = dict[str, int]


class LocalExecutor:
    """A pool of ``workers`` spawned processes; a worker that dies costs only the job it ran."""

    name = "local"

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.name, "workers": self.workers}

    def run_plan(self, prefixes: list[JobSpec], jobs: list[JobSpec], after: After, on_prefix: OnDone,
                 on_job: OnDone) -> tuple[list[JobResult], list[JobResult]]:
        """Prefixes first; a job that depends on one is submitted as soon as that prefix succeeded.

        If a worker dies, the pool is broken and every job it held fails with it; what is left then
        runs one job at a time, each in its own process, so only the job that kills its worker fails."""
        results: dict[tuple[str, str], JobResult] = {}
        prefix_index = {spec.name: index for index, spec in enumerate(prefixes)}
        dependents: dict[int, list[JobSpec]] = {}
        for spec in jobs:
            if spec.name in after:
                dependents.setdefault(after[spec.name], []).append(spec)
        queue = [*prefixes, *(spec for spec in jobs if spec.name not in after)]

        def finish(spec: JobSpec, result: JobResult) -> None:
            results[(spec.kind, spec.name)] = result
            if spec.kind == "job":
                on_job(result)
                return
            on_prefix(result)
            for job in dependents.get(prefix_index[spec.name], []):
                if result.ok:
                    queue.append(job)
                else:
                    finish(job, prefix_failure(job, result))

        if self._pool is None:
            self._pool = self._new_pool(self.workers)
        pool = self._pool
        running: dict[Future[JobResult], JobSpec] = {}
        orphans: list[JobSpec] = []

        def submit_queued() -> None:
            while queue:
                spec = queue.pop(0)
                if orphans:  # the pool is broken
                    orphans.append(spec)
                    continue
                try:
                    running[pool.submit(execute_job, spec)] = spec
                except BrokenProcessPool:
                    orphans.append(spec)

        submit_queued()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                spec = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    orphans.append(spec)  # some worker died; which job killed it is found below
                    continue
                except Exception as err:  # noqa: BLE001 - e.g. a result that cannot be unpickled
                    result = failure(spec, err)
                finish(spec, result)
            submit_queued()
        if orphans:
            pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            pending = sorted(orphans, key=lambda spec: spec.kind == "job")  # prefixes first
            while pending:
                spec = pending.pop(0)
                finish(spec, self._run_isolated(spec))
                pending.extend(queue)  # the jobs a finished prefix released
                queue.clear()
        return [results[("prefix", s.name)] for s in prefixes], [results[("job", s.name)] for s in jobs]

    def _run_isolated(self, spec: JobSpec) -> JobResult:
        with self._new_pool(1) as pool:
            try:
                return pool.submit(execute_job, spec).result()
            except BrokenProcessPool as err:
                result = failure(spec, err)
                result.error = "the worker process died while running this job (a crash in native code, or out of memory)"
                return result


class RayExecutor:
    """Ray tasks: a CPU job asks for ``num_cpus``; a GPU job also for the custom resource of its device."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int = 2) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self._owned = False
        self._ray: Any = None

    def __enter__(self) -> RayExecutor:
        try:
            import ray
        except ImportError as err:
            raise MissingDependencyError("ray", "compile matrix --executor ray", extra="ray") from err
        self._ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:
                    ray.init(num_cpus=self.num_cpus, **kwargs)
            except ConnectionError as err:
                raise UserInputError(f"cannot connect to the Ray cluster at {self.address}: {err}") from err
            self._owned = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._owned:
            self._ray.shutdown()
            self._owned = False

    def describe(self) -> dict[str, Any]:
        ray = self._ray
        info: dict[str, Any] = {"kind": self.name, "address": self.address or "local"}
        if ray is not None and ray.is_initialized():
            info["nodes"] = sum(1 for node in ray.nodes() if node.get("Alive"))
            info["cluster_resources"] = {k: v for k, v in ray.cluster_resources().items() if not k.startswith("node:")
                                         and k not in ("memory", "object_store_memory")}
        return info

    def run_plan(self, prefixes: list[JobSpec], jobs: list[JobSpec], after: After, on_prefix: OnDone,
                 on_job: OnDone) -> tuple[list[JobResult], list[JobResult]]:
        """Submit everything at once: a job gets its prefix's result reference as an argument, so Ray
        starts it when that prefix is done (no barrier between models)."""
        ray = self._ray
        remote, remote_after = ray.remote(execute_job), ray.remote(execute_job_after)
        offered = ray.cluster_resources()
        prefix_results: dict[str, JobResult] = {}
        job_results: dict[str, JobResult] = {}
        pending: dict[Any, JobSpec] = {}
        prefix_refs = []
        for spec in prefixes:
            ref = self._options(remote, spec).remote(spec)
            prefix_refs.append(ref)
            pending[ref] = spec
        for spec in jobs:
            missing = [name for name in spec.resources if name not in offered]
            if missing:  # the task would wait forever: say which node is missing instead
                result = failure(spec, UserInputError(""), "error")
                result.error = (f"no node of the Ray cluster offers resource '{missing[0]}'; start one on that device with "
                                f"ray start --address ... --resources '{{\"{missing[0]}\": 1}}'")
                job_results[spec.name] = result
                on_job(result)
            elif spec.name in after:
                pending[self._options(remote_after, spec).remote(spec, prefix_refs[after[spec.name]])] = spec
            else:
                pending[self._options(remote, spec).remote(spec)] = spec
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                spec = pending[ref]
                try:
                    result = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - a dead worker or node: report it, go on
                    result = failure(spec, err)
                if spec.kind == "prefix":
                    prefix_results[spec.name] = result
                    on_prefix(result)
                else:
                    job_results[spec.name] = result
                    on_job(result)
        return [prefix_results[s.name] for s in prefixes], [job_results[s.name] for s in jobs]

    @staticmethod
    def _options(remote: Any, spec: JobSpec) -> Any:
        return remote.options(num_cpus=spec.num_cpus, resources=spec.resources or None, max_retries=1,
                              name=f"compile:{spec.kind}:{spec.name}")


def make_executor(kind: str, jobs: int, address: str | None = None) -> LocalExecutor | RayExecutor:
    if kind == "ray":
        return RayExecutor(address=address, num_cpus=jobs)
    return LocalExecutor(workers=jobs)
