"""The driver: run a profile's passes in order, reuse stages whose inputs are unchanged, write the report.

It knows nothing about backends. For each pass it resolves options, skips it when it does not apply,
computes a cache key from (pass, version, options, input hashes, extra inputs), reuses the stage if
its record and outputs are intact, and otherwise runs it in a private work folder whose files are
moved into the run directory only when the pass succeeds. The stage record is written last: a run
killed mid-stage leaves the finished stages intact and the interrupted one absent.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from compile import __version__
from compile.artifacts import (
    ONNX,
    REFERENCE_KIND,
    TORCH,
    Artifact,
    OnnxModel,
    artifact_from_record,
)
from compile.data.preflight import check_data_path
from compile.drivers.judge import judge
from compile.drivers.options import resolve_options
from compile.errors import CompileError, OutputError, ProfileError
from compile.fsutil import ensure_writable_dir, write_json_atomic
from compile.hashing import hash_json
from compile.models.registry import resolve_model
from compile.models.spec import ModelInfo
from compile.onnx_io import inspect_source_onnx
from compile.passes.base import Pass, PassContext, PassResult
from compile.passes.registry import check_profile, get_pass_class, run_metrics
from compile.profiles import Profile, load_profile
from compile.report.build import RunSummary, build_report, write_report
from compile.settings import RunSettings
from compile.stage_cache import SharedStageCache
from compile.validate.baseline import load_report
from compile.validate.gates import GateResult, check_gate_names

STAGES_DIR = ".stages"
#: Bump when what a stage record holds, or how it is read back, changes meaning.
STAGE_RECORD_FORMAT = 2
LOCK_FILE = ".lock"
LOCK_WAIT_S = 0.0


@dataclass
class StageOutcome:
    index: int
    name: str
    seconds: float
    cached: bool
    skipped: str | None
    result: PassResult | None
    key: str = ""
    #: Reused from the shared cache (``RunSettings.cache_dir``) rather than this run directory's.
    shared: bool = False

    def to_report(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "seconds": round(self.seconds, 3), "cached": self.cached}
        if self.shared:
            entry["shared"] = True
        if self.skipped:
            entry["skipped"] = self.skipped
        if self.result is not None:
            entry["record"] = self.result.record
            if self.result.warnings:
                entry["warnings"] = self.result.warnings
        return entry


@dataclass
class RunResult:
    run_dir: Path
    report: dict[str, Any]
    stages: list[StageOutcome] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.report.get("passed"))


def _remove_if_no_stage_finished(run_dir: Path) -> None:
    """Remove a run directory this run created when it failed before any stage finished.

    A run that stops on its first stage (a corrupt model, say) would otherwise leave a folder holding only
    the lock and an empty ``.stages``, which ``compile compare runs/*`` then trips over."""
    stages = run_dir / STAGES_DIR
    if stages.is_dir() and any(stages.iterdir()):
        return
    if any(p.name not in {STAGES_DIR, LOCK_FILE} for p in run_dir.iterdir()):
        return
    shutil.rmtree(run_dir, ignore_errors=True)


@contextlib.contextmanager
def run_dir_lock(run_dir: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """One run at a time per run directory; a second one waits up to ``wait_s`` then stops clearly."""
    handle = (run_dir / LOCK_FILE).open("a+")
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputError(f"another compile run is using {run_dir}; wait for it or choose another --out") from None
                time.sleep(0.2)
        yield
    finally:
        handle.close()


def instantiate_passes(profile: Profile, settings: RunSettings) -> list[Pass]:
    """The profile's passes, in its order, each with the options it runs with (:mod:`compile.drivers.options`)."""
    return [get_pass_class(entry.name)(**resolve_options(entry.name, entry.options, profile, settings))
            for entry in profile.passes]


def select_until(passes: list[Pass], until: str | None, profile_name: str) -> list[Pass]:
    """The passes needed to reach stage ``until``: earlier passes that produce artifacts, then it.

    ``build`` names whichever build pass the profile has (``build-ort``, ``build-trt``)."""
    if until is None:
        return passes
    matches = [i for i, p in enumerate(passes) if p.name == until or p.name.startswith(f"{until}-")]
    if not matches:
        raise ProfileError(f"profile '{profile_name}' has no '{until}' stage (its passes: {', '.join(p.name for p in passes)})")
    target = matches[-1]
    return [p for p in passes[:target] if p.produces is not None] + [passes[target]]


def check_run_against_profile(profile: Profile, settings: RunSettings, precision: str) -> None:
    """Reject a run the profile cannot serve, with the reason, instead of quietly changing it."""
    if precision not in profile.precision.allowed:
        raise ProfileError(f"profile '{profile.name}' does not allow precision '{precision}' (allowed: {', '.join(profile.precision.allowed)})")
    if settings.sparsity != "dense" and not profile.sparsity.allowed:
        why = " (no sparse tensor cores)" if not profile.hardware.sparse_tensor_cores else ""
        raise ProfileError(f"profile '{profile.name}' does not allow --sparsity {settings.sparsity}: "
                           f"{profile.hardware.name}{why} cannot run 2:4 sparse kernels")


class Pipeline:
    """Runs one profile's passes over one model. ``log`` receives one line per stage."""

    def __init__(self, settings: RunSettings, profile: Profile | None = None, log: Callable[[str], None] = print,
                 until: str | None = None) -> None:
        self.settings = settings
        self.until = until
        catalogue = run_metrics(settings.metrics)
        self.profile = check_profile(profile or load_profile(settings.profile), catalogue)
        self.precision = settings.resolved_precision(self.profile.precision.default)
        check_run_against_profile(self.profile, settings, self.precision)
        check_gate_names(settings.gates, "gate", catalogue)
        self.settings = replace(settings, precision=self.precision)
        self.run_dir = settings.run_dir(self.profile.name, self.precision)
        self.log = log
        self.shared_cache = SharedStageCache(settings.cache_dir) if settings.cache_dir is not None else None

    def run(self) -> RunResult:
        passes = select_until(instantiate_passes(self.profile, self.settings), self.until, self.profile.name)
        source = resolve_model(self.settings.model, self.settings.weights)
        self._preflight()
        created = not self.run_dir.exists()
        ensure_writable_dir(self.run_dir)
        (self.run_dir / STAGES_DIR).mkdir(exist_ok=True)
        try:
            with run_dir_lock(self.run_dir):
                return self._run_locked(passes, source)
        except BaseException:
            if created:
                _remove_if_no_stage_finished(self.run_dir)
            raise

    def _preflight(self) -> None:
        """Fail fast on unusable data folders and a missing baseline, before any expensive stage runs."""
        for folder, role in ((self.settings.data, "--data"), (self.settings.calib, "--calib")):
            if folder is not None:
                check_data_path(folder, role)
        if self.settings.baseline is not None:
            load_report(self.settings.baseline)

    def _run_locked(self, passes: list[Pass], source: Artifact) -> RunResult:
        state: dict[str, Artifact] = {source.kind: source, REFERENCE_KIND: source}
        self.model_info = _initial_model_info(source)
        artifacts: dict[str, str] = {}
        outcomes: list[StageOutcome] = []
        metrics: dict[str, float] = {}
        sections: dict[str, Any] = {}
        ran: list[str] = []
        total = len(passes)
        for index, pass_ in enumerate(passes, start=1):
            label = f"[{index}/{total}] {pass_.name}"
            outcome = self._run_stage(index, pass_, state, ran)
            outcomes.append(outcome)
            if outcome.skipped:
                self.log(f"{label}: skipped ({outcome.skipped})")
                continue
            ran.append(pass_.name)
            result = outcome.result
            assert result is not None  # a stage that is not skipped has a result
            if "model_info" in result.record:
                self.model_info = ModelInfo.from_dict(result.record["model_info"])
            self.log(f"{label}: {'reused' if outcome.cached else 'done'} in {outcome.seconds:.2f}s")
            for warning in result.warnings:
                self.log(f"  warning: {warning}")
            if result.output is not None:
                state[result.output.kind] = result.output
                rel = self._relative(result.output)
                if rel:
                    artifacts[pass_.name] = rel
                    if pass_.produces == ONNX and ONNX not in artifacts:
                        artifacts[ONNX] = rel
            metrics.update(result.metrics)
            for key, value in result.report.items():
                if isinstance(value, dict) and isinstance(sections.get(key), dict):
                    sections[key].update(value)
                else:
                    sections[key] = value
        if ONNX not in artifacts and isinstance(source, OnnxModel):
            artifacts[ONNX] = str(source.path)
        final = state.get("runtime") or state.get(ONNX)
        if final is not None and (rel := self._relative(final)):
            artifacts["final"] = rel
        gates, baseline = judge(self.profile, self.settings, metrics, sections.get("accuracy"))
        if baseline is not None:
            sections["baseline"] = baseline
        summary = RunSummary(
            model=self.settings.model, model_source=getattr(source, "source", str(getattr(source, "path", ""))),
            profile=self.profile.name, backend=self.profile.backend, precision=self.precision,
            sparsity=self.settings.sparsity, run_dir=self.run_dir, info=self.model_info, artifacts=dict(artifacts),
            metrics=metrics, gates=gates, sections=sections, stages=[o.to_report() for o in outcomes],
            warnings=[w for o in outcomes if o.result for w in o.result.warnings])
        report = build_report(summary)
        write_report(self.run_dir, report)
        return RunResult(self.run_dir, report.to_dict(), outcomes, gates)

    def _relative(self, artifact: Artifact) -> str | None:
        path = getattr(artifact, "path", None)
        if path is None:
            return None
        try:
            return str(Path(path).resolve().relative_to(self.run_dir.resolve()))
        except ValueError:
            return str(path)

    def _run_stage(self, index: int, pass_: Pass, state: dict[str, Artifact], ran: list[str]) -> StageOutcome:
        skip = pass_.applies(self.settings)
        missing = [kind for kind in pass_.consumes if kind not in state]
        if skip is None and missing:
            if missing == [TORCH] and ONNX in state:
                skip = "the model is already ONNX"
            else:
                raise ProfileError(f"profile '{self.profile.name}': pass '{pass_.name}' needs a {missing[0]} artifact, "
                                   f"which no earlier pass produced (passes before it: {', '.join(ran) or 'none'})")
        if skip is not None:
            return StageOutcome(index, pass_.name, 0.0, cached=False, skipped=skip, result=None)
        inputs = {kind: state[kind] for kind in (*pass_.consumes, *pass_.uses) if kind in state}
        work_dir = self.run_dir / f".work-{pass_.name}"
        ctx = PassContext(self.settings, self.profile, self.run_dir, work_dir, dict(state), self.log, self.model_info)
        key = stage_key(pass_, {kind: artifact.content_hash() for kind, artifact in inputs.items()}, pass_.cache_inputs(ctx))
        record_path = self.run_dir / STAGES_DIR / f"{index:02d}-{pass_.name}.json"
        started = time.perf_counter()
        if not self.settings.force and (cached := self._load_cached(record_path, key)) is not None:
            return StageOutcome(index, pass_.name, time.perf_counter() - started, cached=True, skipped=None, result=cached, key=key)
        if (not self.settings.force and self.shared_cache is not None and pass_.produces is not None
                and self.shared_cache.restore(key, self.run_dir, record_path)
                and (cached := self._load_cached(record_path, key)) is not None):
            return StageOutcome(index, pass_.name, time.perf_counter() - started, cached=True, skipped=None, result=cached,
                                key=key, shared=True)
        record_path.unlink(missing_ok=True)
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        try:
            result = pass_.run(inputs, ctx)
            if result.output is not None:
                result.output = self._commit_outputs(result.output, work_dir)
        except CompileError as err:
            raise _with_stage(err, pass_.name, ran) from err
        except OSError as err:
            # A full disk or a vanished folder mid-stage: the work folder is discarded below.
            where = f" ({err.filename})" if err.filename else ""
            raise OutputError(f"{pass_.name}: cannot write its output: {err.strerror or err}{where}") from err
        except (KeyboardInterrupt, SystemExit):
            raise
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        seconds = time.perf_counter() - started
        record = _result_to_record(key, result, seconds)
        write_json_atomic(record_path, record)
        if self.shared_cache is not None and pass_.produces is not None:
            self.shared_cache.store(key, record, self.run_dir, stage=pass_.name)
        return StageOutcome(index, pass_.name, seconds, cached=False, skipped=None, result=result, key=key)

    def _commit_outputs(self, output: Artifact, work_dir: Path) -> Artifact:
        """Move a pass's files from its work folder into the run directory (rename: atomic per file)."""
        moved: dict[str, Any] = {}
        for attr in ("path", "sidecar"):
            path = getattr(output, attr, None)
            if path is None or Path(path).parent.resolve() != work_dir.resolve():
                continue
            for part in sorted(work_dir.glob(Path(path).name + "*")):
                os.replace(part, self.run_dir / part.name)
            moved[attr] = self.run_dir / Path(path).name
        return replace(output, **moved) if moved else output  # type: ignore[type-var]

    def _load_cached(self, record_path: Path, key: str) -> PassResult | None:
        try:
            record = json.loads(record_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if record.get("key") != key:
            return None
        output = artifact_from_record(record["output"]) if record.get("output") else None
        if output is not None:
            if not all(Path(f).is_file() for f in output.files()):
                return None
            if output.content_hash() != record.get("output_hash"):
                return None
        return PassResult(output=output, record=record.get("record", {}), modified=record.get("modified", True),
                          report=record.get("report", {}), metrics=record.get("metrics", {}), warnings=record.get("warnings", []))


def stage_key(pass_: Pass, input_hashes: dict[str, str], extra: dict[str, Any]) -> str:
    """The cache key of one stage: everything its output depends on. The pass (name, version, resolved
    options), its input artifacts' content hashes, what else it reads (``cache_inputs``: data, machine),
    and the code: the tool's version and the stage record's format (a record written by other code
    is never taken for this code's)."""
    return hash_json({
        "pass": pass_.name, "version": pass_.version, "options": pass_.options.model_dump(mode="json"),
        "inputs": input_hashes, "extra": extra,
        "code": {"compile": __version__, "record_format": STAGE_RECORD_FORMAT},
    })


def _initial_model_info(source: Artifact) -> ModelInfo | None:
    return inspect_source_onnx(source.path) if isinstance(source, OnnxModel) else None


def _result_to_record(key: str, result: PassResult, seconds: float) -> dict[str, Any]:
    output = result.output
    return {
        "key": key,
        "seconds": seconds,
        "output": output.to_record() if output is not None else None,
        "output_hash": output.content_hash() if output is not None else None,
        "record": result.record,
        "modified": result.modified,
        "report": result.report,
        "metrics": result.metrics,
        "warnings": result.warnings,
    }


def _with_stage(err: CompileError, stage: str, ran: list[str]) -> CompileError:
    """The same error type, its message prefixed with the stage (and what ran before, for debugging)."""
    message = str(err)
    if not message.startswith(f"{stage}:"):
        message = f"{stage}: {message}"
    new = type(err).__new__(type(err))
    Exception.__init__(new, message)
    new.__dict__.update(err.__dict__)
    new.stages_before = list(ran)  # type: ignore[attr-defined]
    return new


__all__ = ["Pipeline", "RunResult", "StageOutcome", "check_run_against_profile", "instantiate_passes", "stage_key"]
