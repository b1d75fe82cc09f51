"""``--precision best``: compile every candidate precision and keep the fastest that passes the gates.

Each candidate (fp32, fp16, int8, mixed) is one ordinary pipeline run in ``<run dir>/candidates/<p>``,
sharing a stage cache so export and simplify run once, and the calibration cache so ``mixed``
re-quantizes ``int8``'s ranges instead of recalibrating. Some candidates are rejected before they
are compiled, with the reason: a precision the profile does not allow, FP16 on a CPU profile (ONNX
Runtime's CPU provider has no fast FP16 kernels: it is slower than FP32 there), and ``mixed`` when
plain ``int8`` already passes (its search would keep no layer in float, the same model).

The candidates that pass are timed again side by side (alternating blocks, see
:mod:`compile.bench.interleave`), since pipelines minutes apart on a shared machine are not
comparable; the fastest wins, ties going to the more accurate, then to the higher precision.
The combined report (``report.json`` in the run directory) lists every candidate with its
accuracy, latency, verdict and reason, the layers ``mixed`` kept in float and what its search cost.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from compile.artifacts import RuntimeArtifact
from compile.backends import make_runner
from compile.bench.interleave import measure_interleaved
from compile.data.generated import generate_inputs
from compile.drivers.pipeline import Pipeline, RunResult
from compile.errors import CompileError, UserInputError
from compile.fsutil import ensure_writable_dir
from compile.models.spec import ModelInfo
from compile.profiles import Profile
from compile.report.build import write_report
from compile.report.schema import Report
from compile.settings import RunSettings

#: Candidates, from the highest precision to the lowest (the order ties are broken in).
CANDIDATES = ("fp32", "fp16", "mixed", "int8")
#: Compilation order: int8 before mixed, so mixed can be skipped when int8 passes.
BUILD_ORDER = ("fp32", "fp16", "int8", "mixed")
ACCURACY_KEYS = ("top1_agreement", "top5_agreement", "cosine_similarity", "top1_drop", "max_abs_error")
PASSED, FAILED, REJECTED, ERROR = "passed", "failed", "rejected", "error"
CANDIDATES_DIR = "candidates"


@dataclass
class Candidate:
    precision: str
    status: str
    reason: str = ""
    latency_ms: float | None = None
    #: "interleaved" (timed again beside the other passing candidates) or "pipeline" (its own benchmark).
    latency_source: str = ""
    accuracy: dict[str, float] = field(default_factory=dict)
    failed_gates: list[str] = field(default_factory=list)
    float_layers: list[str] | None = None
    search_cost: dict[str, Any] | None = None
    run_dir: str | None = None
    seconds: float = 0.0
    #: The built runtime artifact (not in the report).
    runtime: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        entry = asdict(self)
        entry.pop("runtime")
        entry["seconds"] = round(self.seconds, 3)
        if self.latency_ms is not None:
            entry["latency_ms"] = round(self.latency_ms, 4)
        return {key: value for key, value in entry.items() if value not in (None, "", [])}


@dataclass
class BestResult:
    run_dir: Path
    chosen: Candidate | None
    candidates: list[Candidate]
    report: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.chosen is not None


def rejection_before_build(precision: str, profile: Profile, built: dict[str, Candidate]) -> str | None:
    """Why a candidate is not worth compiling on this profile, or ``None``."""
    if precision not in profile.precision.allowed:
        return f"rejected: profile '{profile.name}' does not allow {precision}"
    if precision == "fp16" and profile.device == "cpu":
        return "rejected: slower than fp32 on this backend (ONNX Runtime's CPU provider has no fast FP16 kernels)"
    if precision == "mixed" and built.get("int8") is not None and built["int8"].status == PASSED:
        return "not needed: int8 already passes the gates, so the search would keep no layer in float"
    return None


def choose(candidates: list[Candidate]) -> Candidate | None:
    """The fastest passing candidate; ties go to the more accurate one, then to the higher precision."""
    passing = [c for c in candidates if c.status == PASSED and c.latency_ms is not None]
    if not passing:
        return None
    rank = {name: i for i, name in enumerate(CANDIDATES)}

    def key(c: Candidate) -> tuple[float, float, int]:
        agreement = c.accuracy.get("top1_agreement", c.accuracy.get("cosine_similarity", 0.0))
        return (float(c.latency_ms or 0.0), -agreement, rank.get(c.precision, len(rank)))

    return min(passing, key=key)


def explain(candidates: list[Candidate], chosen: Candidate | None) -> None:
    """Fill in why each passing candidate that was not chosen lost."""
    if chosen is None:
        return
    for c in candidates:
        if c is chosen or c.status != PASSED:
            continue
        if c.latency_ms is None:
            c.reason = "passes, but its latency was not measured"
        elif c.latency_ms > (chosen.latency_ms or 0.0):
            c.reason = f"passes, but slower: {c.latency_ms:.3f} ms vs {chosen.precision} {chosen.latency_ms:.3f} ms"
        else:
            c.reason = f"passes, as fast as {chosen.precision} ({c.latency_ms:.3f} ms); the tie went to {chosen.precision}"


def candidate_from_result(precision: str, result: RunResult, seconds: float) -> Candidate:
    """A compiled candidate's record, from its pipeline result."""
    report = result.report
    metrics = report.get("metrics", {})
    failed = [g["name"] for g in report.get("gates", []) if not g.get("passed")]
    status = PASSED if report.get("passed") else FAILED
    candidate = Candidate(precision, status, reason="" if status == PASSED else f"fails {', '.join(failed)}",
                          latency_ms=metrics.get("p50_ms"), latency_source="pipeline" if "p50_ms" in metrics else "",
                          accuracy={k: round(float(metrics[k]), 6) for k in ACCURACY_KEYS if k in metrics},
                          failed_gates=failed, run_dir=str(result.run_dir), seconds=seconds)
    mixed = report.get("mixed_precision")
    if isinstance(mixed, dict):
        candidate.float_layers = list(mixed.get("float_layers", []))
        candidate.search_cost = mixed.get("cost")
    for outcome in result.stages:
        output = outcome.result.output if outcome.result is not None else None
        if isinstance(output, RuntimeArtifact):
            candidate.runtime = output
    return candidate


def retime(candidates: list[Candidate], info: ModelInfo | None, log: Callable[[str], None], rounds: int = 5) -> None:
    """Time the passing candidates again, side by side, so their latencies are comparable."""
    timed = [c for c in candidates if c.status == PASSED and c.runtime is not None]
    if len(timed) < 2 or info is None:
        return
    feed = generate_inputs(info.inputs, 1, seed=0)
    with contextlib.ExitStack() as stack:
        runners = {c.precision: stack.enter_context(make_runner(c.runtime)) for c in timed}
        steps: dict[str, Callable[[], Any]] = {name: functools.partial(runner.infer, feed) for name, runner in runners.items()}
        stats = measure_interleaved(steps, batch=1, rounds=rounds)
    for c in timed:
        c.latency_ms = stats[c.precision].p50_ms
        c.latency_source = "interleaved"
    log("  re-timed side by side: " + ", ".join(f"{c.precision} {c.latency_ms:.3f} ms" for c in timed))


def run_best(settings: RunSettings, profile: Profile, log: Callable[[str], None] = print) -> BestResult:
    """Compile every candidate precision of ``profile`` (loaded once, by the caller) and choose."""
    started = time.perf_counter()
    root = settings.run_dir(profile.name, "best")
    ensure_writable_dir(root)
    cache_dir = settings.cache_dir or root / ".cache"
    built: dict[str, Candidate] = {}
    first_error: CompileError | None = None
    info: ModelInfo | None = None
    for precision in BUILD_ORDER:
        reason = rejection_before_build(precision, profile, built)
        if reason is not None:
            log(f"[best] {precision}: {reason}")
            built[precision] = Candidate(precision, REJECTED, reason=reason)
            continue
        log(f"[best] {precision}: compiling")
        sub = replace(settings, precision=precision, out=root / CANDIDATES_DIR / precision, cache_dir=cache_dir)
        began = time.perf_counter()
        try:
            pipeline = Pipeline(sub, profile=profile, log=_prefixed(log, f"  [{precision}] "))
            result = pipeline.run()
        except CompileError as err:
            first_error = first_error or err
            built[precision] = Candidate(precision, ERROR, reason=f"error: {err}", seconds=time.perf_counter() - began)
            log(f"[best] {precision}: {err}")
            continue
        info = info or pipeline.model_info
        built[precision] = candidate_from_result(precision, result, time.perf_counter() - began)
        c = built[precision]
        log(f"[best] {precision}: {c.status}" + (f" ({c.reason})" if c.reason else "")
            + (f", p50 {c.latency_ms:.3f} ms" if c.latency_ms is not None else ""))
    candidates = [built[name] for name in CANDIDATES if name in built]
    if not any(c.run_dir for c in candidates):
        # Nothing compiled: the cause is the model or the input, not a precision (exit 2, not "failed").
        if first_error is not None:
            raise first_error
        raise UserInputError("--precision best: no candidate precision could be compiled: "
                             + "; ".join(f"{c.precision} {c.reason}" for c in candidates))
    retime(candidates, info, log)
    chosen = choose(candidates)
    explain(candidates, chosen)
    report = best_report(settings, profile.name, root, candidates, chosen, time.perf_counter() - started)
    write_report(root, report)
    return BestResult(root, chosen, candidates, report.to_dict())


def _prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda line: log(prefix + line)


def best_report(settings: RunSettings, profile: str, root: Path, candidates: list[Candidate], chosen: Candidate | None,
                seconds: float) -> Report:
    """The combined report: every candidate and the choice, in the schema of every report. The model, the
    accuracy, latency, metrics, gates, stages and artifacts are those of the chosen candidate's run (when
    none passes, of the highest precision that compiled; ``figures_from`` names it), paths relative to
    the run directory."""
    base = chosen or next((c for c in candidates if _sub_report(c)), None)
    sub = _sub_report(base) if base is not None else {}
    if base is None or not sub:
        raise AssertionError("best_report needs at least one compiled candidate")
    assert base.run_dir is not None  # a candidate with a report has a run directory
    report: dict[str, Any] = dict(sub)
    report.update({
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": settings.model,
        "profile": profile,
        "precision": "best",
        "chosen": chosen.precision if chosen else None,
        "figures_from": base.precision,
        "passed": chosen is not None,
        "artifacts": {name: _rebase(path, Path(base.run_dir), root) for name, path in (sub.get("artifacts") or {}).items()},
        "candidates": [c.to_dict() for c in candidates],
        "seconds": round(seconds, 3),
        "note": "latencies of passing candidates are re-measured side by side; on a shared machine differences "
                "smaller than the reported spread are noise",
        "warnings": [f"{c.precision}: {w}" for c in candidates for w in _sub_report(c).get("warnings", [])],
    })
    mixed = next((c for c in candidates if c.precision == "mixed" and c.float_layers is not None), None)
    if mixed is not None:
        report["float_layers"] = mixed.float_layers
        report["search_cost"] = mixed.search_cost
    if chosen is None:
        report["verdict"] = "no candidate passes the gates"
    else:
        report["verdict"] = f"{chosen.precision}: the fastest candidate that passes ({chosen.latency_ms:.3f} ms)"
    return Report.model_validate(report)


def _sub_report(candidate: Candidate | None) -> dict[str, Any]:
    """A compiled candidate's own report.json (empty when it has none)."""
    if candidate is None or not candidate.run_dir:
        return {}
    try:
        report = json.loads((Path(candidate.run_dir) / "report.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return report if isinstance(report, dict) else {}


def _rebase(path: str, run_dir: Path, root: Path) -> str:
    """A path of a candidate's report (relative to its run directory) made relative to the best run's root."""
    full = Path(path) if Path(path).is_absolute() else run_dir / path
    resolved = full.resolve()
    return str(resolved.relative_to(root.resolve())) if resolved.is_relative_to(root.resolve()) else str(full)

