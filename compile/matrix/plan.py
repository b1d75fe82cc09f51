"""The matrix plan: which (model, profile, precision) jobs run, which stages they share, what each asks for.

Planning loads and validates every profile and resolves each job's passes, but loads no model and
imports neither torch nor ray, so ``compile matrix --dry-run`` is quick. A profile that cannot be
loaded stops the matrix (bad usage); a job the profile cannot serve (a precision it does not allow)
is planned as failed and reported, and the other jobs still run.

Sharing: the leading target-independent passes of a profile (``PREFIX_PASSES``: export, simplify
and the sparsity passes, as far as they come first) are compared across profiles by name, version
and resolved options. Jobs of one model whose prefixes are equal form a group; the group's prefix
runs once, in the run directory of its first job, before the jobs fan out, and every other job of
the group takes those stages from the shared cache (OUT/.cache). Any other stage whose key matches
(the same build options, a calibration over the same data) is shared by the same cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from compile.artifacts import TORCH
from compile.drivers.pipeline import check_run_against_profile, instantiate_passes
from compile.errors import CompileError, UserInputError
from compile.hashing import hash_json
from compile.passes.registry import check_profile
from compile.profiles import Profile, load_profile
from compile.settings import RunSettings

#: Where ``compile matrix`` writes when ``--out`` is not given.
DEFAULT_MATRIX_DIR = Path("runs") / "matrix"
#: The shared stage cache, under OUT.
CACHE_DIRNAME = ".cache"
#: Passes that do not depend on the target, in the order they may lead a profile.
PREFIX_PASSES = ("sparsify", "export", "simplify", "sparsify-onnx")
EXECUTORS = ("local", "ray")
#: auto: write to OUT when the worker sees the driver's OUT (a shared file system), else return files;
#: shared: always write to OUT; return: always compile in a worker-local folder and return the files.
TRANSFERS = ("auto", "shared", "return")


@dataclass(frozen=True)
class MatrixSettings:
    """Everything one ``compile matrix`` was asked for."""

    models: tuple[str, ...]
    #: Profile names or profile files.
    profiles: tuple[str, ...]
    #: ``None`` takes each profile's default precision.
    precisions: tuple[str | None, ...] = (None,)
    out: Path = DEFAULT_MATRIX_DIR
    #: Local executor: worker processes; Ray without an address: the CPUs of the local instance.
    jobs: int = 2
    executor: str = "local"
    #: Ray cluster address (``auto``, ``HOST:6379``, ``ray://HOST:10001``); ``None`` starts a local instance.
    address: str | None = None
    transfer: str = "auto"
    #: CPUs each job asks Ray for.
    cpus_per_job: int = 1
    data: Path | None = None
    gates: dict[str, float] = field(default_factory=dict)
    #: Clear OUT's stage records and shared cache first, so every stage runs again.
    force: bool = False
    #: Share target-independent stages (False: every job computes everything, for comparison).
    share: bool = True

    def __post_init__(self) -> None:
        if not self.models:
            raise UserInputError("--models names no model")
        if not self.profiles:
            raise UserInputError("--profiles names no profile")
        if self.executor not in EXECUTORS:
            raise UserInputError(f"unknown executor '{self.executor}' (choose from {', '.join(EXECUTORS)})")
        if self.transfer not in TRANSFERS:
            raise UserInputError(f"unknown transfer mode '{self.transfer}' (choose from {', '.join(TRANSFERS)})")
        if self.jobs < 1 or self.cpus_per_job < 1:
            raise UserInputError("--jobs and --cpus-per-job must be at least 1")


@dataclass(frozen=True)
class Resources:
    """What a job asks the scheduler for: CPUs, and a custom resource per GPU target."""

    num_cpus: int = 1
    custom: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"CPU:{self.num_cpus}"] + [f"{name}:{amount:g}" for name, amount in sorted(self.custom.items())]
        return " ".join(parts)


def resource_name(profile: Profile) -> str:
    """The Ray custom resource a GPU profile's jobs ask for: the profile name, lower case.

    A node that has that device is started with, for example, ``ray start --resources '{"t4": 1}'``
    or ``'{"jetson-orin-nano": 1}'``; an engine must be built on the hardware it will run on."""
    return re.sub(r"[^a-z0-9_.-]+", "-", profile.name.lower()).strip("-") or "gpu"


def job_resources(profile: Profile, cpus_per_job: int = 1) -> Resources:
    if profile.device == "gpu":
        return Resources(num_cpus=cpus_per_job, custom={resource_name(profile): 1.0})
    return Resources(num_cpus=cpus_per_job)


@dataclass(frozen=True)
class MatrixJob:
    model: str
    profile: Profile
    precision: str
    #: The run directory's name under OUT: <model>-<profile>-<precision>.
    name: str
    resources: Resources
    #: The target-independent passes this job starts with: how many, those that apply (names), their signature.
    prefix_len: int = 0
    prefix: tuple[str, ...] = ()
    prefix_signature: str = ""
    #: Set when the job cannot run at all (reported as an error; the others still run).
    plan_error: str | None = None
    plan_error_type: str | None = None

    @property
    def label(self) -> str:
        return f"{self.model} x {self.profile.name} ({self.precision})"


@dataclass(frozen=True)
class SharedPrefix:
    """Target-independent stages of one model, run once in ``host``'s run directory and shared."""

    model: str
    #: The stages that run (passes that do not apply, such as sparsify for a dense run, are left out).
    stages: tuple[str, ...]
    host: MatrixJob
    #: Names of every job that takes these stages (``host`` included).
    jobs: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.host.name


@dataclass(frozen=True)
class MatrixPlan:
    settings: MatrixSettings
    jobs: tuple[MatrixJob, ...]
    prefixes: tuple[SharedPrefix, ...]

    @property
    def out(self) -> Path:
        return self.settings.out

    @property
    def cache_dir(self) -> Path:
        return self.settings.out / CACHE_DIRNAME

    def prefix_of(self, job: MatrixJob) -> SharedPrefix | None:
        return next((p for p in self.prefixes if job.name in p.jobs), None)

    def describe(self) -> str:
        """The plan as text: jobs, shared stages, resources (what ``--dry-run`` prints)."""
        s = self.settings
        runner = (f"local process pool, {s.jobs} worker(s)" if s.executor == "local" else
                  f"Ray at {s.address}" if s.address else f"a local Ray instance with {s.jobs} CPU(s)")
        lines = [f"matrix: {len(s.models)} model(s) x {len(s.profiles)} profile(s) x {len(s.precisions)} precision(s) "
                 f"= {len(self.jobs)} job(s) -> {s.out}", f"executor: {runner}; artifacts: {s.transfer}", "", "jobs:"]
        width = max(len(j.name) for j in self.jobs)
        for job in self.jobs:
            note = f"  WILL FAIL: {job.plan_error}" if job.plan_error else ""
            lines.append(f"  {job.name:<{width}}  {job.profile.device:<3}  {job.resources.describe()}{note}")
        lines += ["", "shared stages (run once, then taken from the shared cache " + str(self.cache_dir) + "):"]
        if not s.share:
            lines.append("  none (--no-share)")
        for prefix in self.prefixes:
            others = [name for name in prefix.jobs if name != prefix.host.name]
            lines.append(f"  {prefix.model}: {', '.join(prefix.stages)} in {prefix.host.name}, "
                         f"reused by {', '.join(others)}")
        if s.share and not self.prefixes:
            lines.append("  none planned (no two jobs of a model start with the same target-independent passes)")
        if s.share:
            lines.append("  any other stage with an identical cache key (same build options, same calibration data) is shared too")
        unshared = sum(len(p.stages) * (len(p.jobs) - 1) for p in self.prefixes)
        lines += ["", f"stage runs saved by the planned sharing: at least {unshared}"]
        gpu = sorted({name for j in self.jobs for name in j.resources.custom})
        if s.executor == "ray" and gpu:
            lines.append(f"Ray custom resources needed (one node per device kind): {', '.join(gpu)}")
        return "\n".join(lines)


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    """Accept repeated options and comma lists alike; keep order, drop duplicates and blanks."""
    seen: dict[str, None] = {}
    for value in values:
        for item in value.split(","):
            if item.strip():
                seen.setdefault(item.strip(), None)
    return tuple(seen)


def parse_list(values: tuple[str, ...] | list[str] | str) -> tuple[str, ...]:
    return _split((values,) if isinstance(values, str) else tuple(values))


def run_name(model: str, profile: Profile, precision: str) -> str:
    return RunSettings(model=model).run_dir(profile.name, precision).name


def _prefix(profile: Profile, settings: RunSettings) -> tuple[int, tuple[str, ...], str]:
    """How many leading passes are target-independent, which of them run, and their signature."""

    leading = []
    for pass_ in instantiate_passes(profile, settings):
        if pass_.name not in PREFIX_PASSES:
            break
        leading.append(pass_)
    onnx_model = settings.model.endswith(".onnx")
    running = [p for p in leading if p.applies(settings) is None and not (onnx_model and TORCH in p.consumes)]
    # Only the passes that run matter: a skipped sparsify's options must not split cpu from t4.
    signature = hash_json([(p.name, p.version, p.options.model_dump(mode="json")) for p in running])
    return len(leading), tuple(p.name for p in running), signature


def make_plan(settings: MatrixSettings) -> MatrixPlan:
    """Validate the profiles and lay out the jobs and the shared stages."""

    profiles: list[Profile] = []
    for ref in settings.profiles:
        profile = check_profile(load_profile(ref))
        if any(p.name == profile.name for p in profiles):
            raise UserInputError(f"two profiles are named '{profile.name}' ({ref} and an earlier one); rename one")
        profiles.append(profile)
    jobs: list[MatrixJob] = []
    for model in settings.models:
        for profile in profiles:
            for wanted in settings.precisions:
                precision = wanted or profile.precision.default
                name = run_name(model, profile, precision)
                job = MatrixJob(model, profile, precision, name, job_resources(profile, settings.cpus_per_job))
                run = RunSettings(model=model, profile=profile.name, precision=precision, data=settings.data,
                                  gates=dict(settings.gates))
                try:
                    check_run_against_profile(profile, run, precision)
                    count, stages, signature = _prefix(profile, run)
                    job = replace(job, prefix_len=count, prefix=stages, prefix_signature=signature)
                except CompileError as err:
                    job = replace(job, plan_error=str(err), plan_error_type=type(err).__name__)
                if any(j.name == name for j in jobs):
                    raise UserInputError(f"two jobs would write to {settings.out / name}; give the models distinct names")
                jobs.append(job)
    prefixes: list[SharedPrefix] = []
    if settings.share:
        groups: dict[tuple[str, str], list[MatrixJob]] = {}
        for job in jobs:
            if job.plan_error is None and job.prefix:
                groups.setdefault((job.model, job.prefix_signature), []).append(job)
        for (model, _), members in groups.items():
            if len(members) > 1:
                prefixes.append(SharedPrefix(model, members[0].prefix, members[0], tuple(j.name for j in members)))
    return MatrixPlan(settings, tuple(jobs), tuple(prefixes))
