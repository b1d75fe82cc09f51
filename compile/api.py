"""The Python API, and the one front door: the CLI is a shell over these functions and names.

    from compile import api
    result = api.compile_model("resnet50", profile="cpu", precision="int8")
    print(result.passed, result.report["latency"]["p50_ms"])

- compile: :func:`compile_model` (and :func:`export`, :func:`build`), or :func:`run` with a
  :class:`RunSettings`; ``precision="best"`` compiles every candidate precision and keeps the fastest that
  passes (a :class:`BestResult`);
- validate an artifact built elsewhere: :func:`validate`; hold a run against a stored one: ``baseline``
  in :class:`RunSettings`;
- many models for many targets: :func:`plan_matrix`, :func:`run_matrix`;
- look inside a model: :func:`analyze`; put runs side by side: :func:`compare_runs`; ship one: :func:`package`;
- profiles, passes and gates: :func:`load_profile`, :func:`list_profiles`, :func:`default_profile_name`,
  :func:`list_passes`, :func:`parse_gates`;
- the report: :class:`Report` (``report.json``, typed), :func:`report_schema`, :func:`write_ci_files`.

Errors are :class:`compile.errors.CompileError` subclasses, each with the exit code the CLI uses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from compile import __version__
from compile.analyze.api import AnalyzeRequest, analyze
from compile.analyze.counts import Analysis
from compile.analyze.table import render_text as render_analysis
from compile.backends.detect import default_profile_name
from compile.drivers.best import BestResult, run_best
from compile.drivers.pipeline import Pipeline, RunResult
from compile.drivers.standalone import StandaloneRequest, validate_standalone
from compile.errors import CompileError, UserInputError
from compile.matrix import MatrixPlan, MatrixResult, MatrixSettings, run_matrix
from compile.matrix.plan import DEFAULT_MATRIX_DIR, make_plan, parse_list
from compile.models.registry import OFFLINE_ENV
from compile.package import FORMATS as PACKAGE_FORMATS
from compile.package import package_run as package
from compile.passes.registry import (
    BUILTIN_PASSES,
    all_pass_targets,
    check_profile,
    get_pass_class,
    run_metrics,
)
from compile.profiles import Precision, Profile, available_profiles, parse_output_kind
from compile.profiles import load_profile as _read_profile
from compile.report.compare import compare_runs as _compare_runs
from compile.report.junit import write_junit
from compile.report.schema import Report, report_json_schema
from compile.report.summary import write_summary
from compile.settings import RunSettings
from compile.validate.baseline import load_report
from compile.validate.gates import GateResult, parse_gate_overrides

#: The precisions a run can be asked for (``best``: every candidate, the fastest that passes).
PRECISIONS: tuple[str, ...] = (*get_args(Precision), "best")
#: The stage each per-stage command stops after.
STAGE_FOR_PRECISION = {"int8": "quantize-int8", "fp16": "cast-fp16"}
#: The last sparsity stage a profile may have, in the order ``compile sparsify`` looks for them.
SPARSITY_STAGES = ("verify-sparsity", "sparsify-onnx", "sparsify")


def load_profile(name_or_path: str, metrics: tuple[str, ...] | list[str] = ()) -> Profile:
    """A profile by name (``profiles/NAME.toml``) or file, validated: its schema, its passes registered, its
    gates naming metrics some pass measures (or one of the user ``metrics`` declares). Raises ProfileError naming
    the file and the field."""
    return check_profile(_read_profile(name_or_path), run_metrics(metrics))


def list_profiles() -> list[Profile]:
    """Every profile in the profiles folder, validated."""
    return [load_profile(name) for name in available_profiles()]


def run(settings: RunSettings, *, until: str | None = None, profile: Profile | None = None,
        log: Callable[[str], None] = print) -> RunResult | BestResult:
    """Compile ``settings.model`` for ``settings.profile`` (loaded here, once, unless given): every pass, or
    those up to stage ``until``; ``precision="best"`` compiles every candidate precision and chooses."""
    profile = profile or load_profile(settings.profile, settings.metrics)
    if settings.precision == "best":
        if until is not None:
            raise UserInputError("--precision best compiles whole pipelines and compares them; use it with 'compile run'")
        return run_best(settings, profile, log)
    return Pipeline(settings, profile=profile, log=log, until=until).run()


def compile_model(model: str, *, profile: str = "cpu", until: str | None = None,
                  log: Callable[[str], None] = lambda line: None, **options: Any) -> RunResult | BestResult:
    """Run ``profile``'s passes over ``model`` (up to stage ``until`` if given) and write the report.

    ``options`` are :class:`RunSettings` fields (``precision``, ``sparsity``, ``out``, ``data``, ``calib``,
    ``gates``, ``baseline``, ``force``, ...); paths may be given as strings."""
    for key in ("out", "data", "weights", "calib", "cache_dir", "baseline"):
        if isinstance(options.get(key), str):
            options[key] = Path(options[key])
    return run(RunSettings(model=model, profile=profile, **options), until=until, log=log)


def export(model: str, **options: Any) -> RunResult | BestResult:
    return compile_model(model, until="export", **options)


def build(model: str, **options: Any) -> RunResult | BestResult:
    return compile_model(model, until="build", **options)


def sparsity_stage(profile: Profile) -> str:
    """The last 2:4 stage ``profile`` has (``compile sparsify`` stops after it)."""
    names = profile.pass_names()
    # A profile without sparsity passes gets the pipeline's own message (after its check that the profile
    # allows 2:4 at all).
    return next((stage for stage in SPARSITY_STAGES if stage in names), SPARSITY_STAGES[0])


def validate(request: StandaloneRequest, profile: str | None = None, log: Callable[[str], None] = lambda line: None) -> Report:
    """Check the candidate artifact of ``request`` against its reference with the validate (and benchmark) pass,
    held to the gates of ``profile`` (default: the local GPU's, else ``cpu``)."""
    return validate_standalone(request, load_profile(profile or default_profile_name(), request.metrics), log)


def compare_runs(run_dirs: list[Path], out: Path | None = None, remeasure: bool = False, rounds: int = 5,
                 iterations: int = 20, log: Callable[[str], None] = lambda line: None, data: Path | None = None,
                 samples: int | None = None) -> str:
    """Runs side by side (:func:`compile.report.compare.compare_runs`): Markdown, and with ``out`` the files. With
    ``data``, every run's final artifact is validated again on it (``samples`` of it; all by default) against the
    run's FP32 ONNX, so their accuracy shares one basis; the stored gates' verdicts are kept."""
    revalidated = None
    if data is not None:
        revalidated = {}
        for run_dir in run_dirs:
            stored = load_report(run_dir, "run report")
            profile_name = str(stored.get("profile") or default_profile_name())
            try:
                profile = load_profile(profile_name)
            except CompileError:
                log(f"  {run_dir}: profile '{profile_name}' not found here: re-validated with {default_profile_name()}'s settings")
                profile = load_profile(default_profile_name())
            log(f"re-validating {run_dir} on {data}")
            request = StandaloneRequest(candidate=str(run_dir), reference=_fp32_reference(run_dir, stored), data=data, samples=samples)
            revalidated[run_dir] = validate_standalone(request, profile, log).to_dict()
    return _compare_runs(run_dirs, out, remeasure, rounds, iterations, log, revalidated, str(data) if data is not None else None)


def _fp32_reference(run_dir: Path, report: dict[str, Any]) -> str:
    """The FP32 ONNX a run's artifact is validated against: its ``artifacts.onnx``; a UserInputError without one."""
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    onnx_rel = (report.get("artifacts") or {}).get("onnx")
    path = (Path(onnx_rel) if Path(onnx_rel).is_absolute() else folder / onnx_rel) if onnx_rel else None
    if path is None or not path.is_file():
        raise UserInputError(f"{run_dir}: cannot re-validate on --data: the run records no FP32 ONNX model to compare with "
                             f"({onnx_rel or 'artifacts.onnx is null'})")
    return str(path)


def plan_matrix(settings: MatrixSettings) -> MatrixPlan:
    """The jobs of a matrix run and the stages they share; ``run_matrix(plan)`` runs them."""
    return make_plan(settings)


def parse_gates(items: tuple[str, ...] | list[str], metrics: tuple[str, ...] | list[str] = ()) -> dict[str, float]:
    """``["min_top1_agreement=0.99", ...]`` -> thresholds; a malformed item or a metric no pass measures (nor one of
    the user ``metrics`` declares) is a UserInputError with the closest known names."""
    return parse_gate_overrides(items, run_metrics(metrics))


def parse_output_kinds(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["embedding=embedding", "detections.scores=[..., 4:]"]`` -> output kinds (``--output-kind``); a malformed
    item or an unknown kind is a UserInputError."""
    kinds: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserInputError(f"--output-kind expects NAME=KIND or OUTPUT.VIEW=KIND[..., START:STOP], got '{item}'")
        try:
            parse_output_kind(name.strip(), value)
        except ValueError as err:
            raise UserInputError(f"--output-kind: {err}") from err
        kinds[name.strip()] = value.strip()
    return kinds


@dataclass(frozen=True)
class PassListing:
    """One registered pass as ``compile passes`` lists it; ``error`` when a plugin cannot be loaded."""

    name: str
    origin: str
    consumes: tuple[str, ...] = ()
    produces: str | None = None
    description: str = ""
    error: str | None = None


def list_passes() -> list[PassListing]:
    """Every registered pass, built-ins first; a broken plugin is listed with its error, not fatal to the listing."""
    listings = []
    for name, target in all_pass_targets().items():
        origin = "built-in" if name in BUILTIN_PASSES else f"plugin ({target})"
        try:
            cls = get_pass_class(name)
        except Exception as err:  # noqa: BLE001 - a broken plugin is reported, not fatal to the listing
            listings.append(PassListing(name, origin, error=str(err)))
            continue
        listings.append(PassListing(name, origin, tuple(cls.consumes), cls.produces, cls.description))
    return listings


def set_offline() -> None:
    """Never download pretrained weights, in this process and the workers it starts (``COMPILE_OFFLINE=1``)."""
    os.environ[OFFLINE_ENV] = "1"


def report_schema() -> dict[str, Any]:
    """The JSON Schema every ``report.json`` follows (``compile schema``; docs/report.schema.json)."""
    return report_json_schema()


def write_ci_files(report: Report, junit: Path | None = None, summary: Path | None = None) -> None:
    """What a CI job asked for: JUnit XML (one test case per gate) and a Markdown summary."""
    if junit is not None:
        write_junit(junit, report)
    if summary is not None:
        write_summary(summary, report)


__all__ = [
    "DEFAULT_MATRIX_DIR", "PACKAGE_FORMATS", "PRECISIONS", "STAGE_FOR_PRECISION", "Analysis", "AnalyzeRequest",
    "BestResult", "GateResult", "MatrixPlan", "MatrixResult", "MatrixSettings", "PassListing", "Profile", "Report",
    "RunResult", "RunSettings", "StandaloneRequest", "__version__", "analyze", "build", "compare_runs", "compile_model",
    "default_profile_name", "export", "list_passes", "list_profiles", "load_profile", "package", "parse_gates",
    "parse_list", "parse_output_kinds", "plan_matrix", "render_analysis", "report_schema", "run", "run_matrix", "set_offline",
    "sparsity_stage", "validate", "write_ci_files",
]
