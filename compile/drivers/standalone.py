"""``compile validate --candidate C [--reference R]``: the validate (and benchmark) pass on an artifact built elsewhere.

The reference is a PyTorch model (anything ``compile run`` accepts) or an ONNX file; the candidate is
an ONNX file, a built runtime artifact (``model.ort.onnx`` or ``model.ov.xml`` with its sidecar, a TensorRT engine), or a
run directory / ``report.json`` whose final artifact is taken (its exported FP32 ONNX is then the
default reference). The passes are the pipeline's own, with the options the profile gives them, and the
gates are judged as a run's (:mod:`compile.drivers.judge`), so the report has the shape of a run's
``report.json``: it can itself serve as a ``--baseline`` or go into ``compile compare``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compile.artifacts import (
    REFERENCE_KIND,
    RUNTIME,
    Artifact,
    OnnxModel,
    RuntimeArtifact,
    TorchModel,
    find_sidecar,
)
from compile.backends import BACKENDS
from compile.drivers.judge import judge
from compile.drivers.options import resolve_options
from compile.errors import UserInputError
from compile.fsutil import ensure_writable_dir
from compile.models.registry import load_torch_model, resolve_model
from compile.models.spec import ModelInfo
from compile.onnx_io import read_model_info
from compile.passes.base import Pass, PassContext
from compile.passes.benchmark import BenchmarkPass
from compile.passes.validate import ValidatePass
from compile.profiles import Profile
from compile.report.build import RunSummary, build_report, write_report
from compile.report.schema import Report
from compile.settings import RunSettings
from compile.validate.baseline import load_report

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


@dataclass
class StandaloneRequest:
    """What ``compile validate --candidate`` was asked; ``None`` takes the profile's value."""

    candidate: str
    reference: str | None = None
    data: Path | None = None
    weights: Path | None = None
    #: Inputs to validate on (``--samples``); ``None``: all of ``data``, else the profile's count of the embedded set.
    samples: int | None = None
    seed: int | None = None
    confidence: float = 0.95
    resamples: int = 1000
    gates: dict[str, float] = field(default_factory=dict)
    #: An inconclusive gate fails (``--strict``).
    strict: bool = False
    #: User metrics (``--metric``) and output kinds (``--output-kind``), as for a run.
    metrics: tuple[str, ...] = ()
    output_kinds: dict[str, str] = field(default_factory=dict)
    benchmark: bool = False
    baseline: Path | None = None
    max_accuracy_regression: float | None = None
    max_latency_regression_pct: float | None = None
    #: Where report.json/.md/.html go; ``None`` writes nothing.
    out: Path | None = None


@dataclass
class Candidate:
    artifact: RuntimeArtifact
    default_reference: str | None
    description: str
    #: Files beside the candidate passed over as not being its sidecar (compile/artifacts.py find_sidecar).
    warnings: tuple[str, ...] = ()


def _from_run(report_path: Path) -> Candidate:
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        final = report["artifacts"]["final"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise UserInputError(f"{report_path} is not a compile report with a final artifact") from err
    run_dir = report_path.parent
    path = Path(final) if Path(final).is_absolute() else run_dir / final
    if not path.is_file():
        raise UserInputError(f"{report_path} names the final artifact {final}, which does not exist")
    onnx_rel = (report.get("artifacts") or {}).get("onnx")
    reference = None
    if onnx_rel:
        onnx_path = Path(onnx_rel) if Path(onnx_rel).is_absolute() else run_dir / onnx_rel
        reference = str(onnx_path) if onnx_path.is_file() and onnx_path.resolve() != path.resolve() else None
    candidate = _from_file(path)
    return Candidate(candidate.artifact, reference, f"{final} of run {run_dir}", candidate.warnings)


def _from_file(path: Path) -> Candidate:
    found = find_sidecar(path)
    sidecar = found.path
    if path.suffix in ENGINE_SUFFIXES:
        return Candidate(RuntimeArtifact(path=path, backend="tensorrt", sidecar=sidecar), None, f"TensorRT engine {path.name}",
                         found.warnings)
    # Any other built artifact (an OpenVINO IR) is known by its sidecar's backend.
    if path.suffix != ".onnx" and not (sidecar is not None and found.data.get("backend") in BACKENDS):
        raise UserInputError(f"candidate {path} is neither an ONNX file, an engine ({', '.join(ENGINE_SUFFIXES)}), "
                             "a built artifact with its sidecar, nor a run")
    if sidecar is not None:
        settings = found.data
        backend = settings.get("backend", "onnxruntime")
        return Candidate(RuntimeArtifact(path=path, backend=backend, sidecar=sidecar, precision=settings.get("precision", "fp32")),
                         None, f"{path.name} ({backend} artifact)", found.warnings)
    # A plain ONNX file: ONNX Runtime optimises it at load, as a user running it directly would.
    scratch = Path(tempfile.mkdtemp(prefix="compile-validate-"))
    sidecar = scratch / "candidate.json"
    sidecar.write_text(json.dumps({"backend": "onnxruntime", "load_optimization": "extended"}), encoding="utf-8")
    return Candidate(RuntimeArtifact(path=path, backend="onnxruntime", sidecar=sidecar), None, f"ONNX file {path.name}",
                     found.warnings)


def resolve_candidate(text: str) -> Candidate:
    path = Path(text)
    if not path.exists():
        raise UserInputError(f"candidate not found: {text}")
    if path.is_dir():
        report = path / "report.json"
        if not report.is_file():
            raise UserInputError(f"candidate folder {path} holds no report.json (give a run directory, an ONNX file or an engine)")
        return _from_run(report)
    if path.name.endswith(".json"):
        return _from_run(path)
    return _from_file(path)


def validate_standalone(request: StandaloneRequest, profile: Profile,
                        log: Callable[[str], None] = lambda line: None) -> Report:
    """Run the validate pass (and, with ``benchmark`` or a ``baseline``, the benchmark pass) on the candidate,
    judge the gates and, with ``out``, write the report there."""
    candidate = resolve_candidate(request.candidate)
    reference_text = request.reference or candidate.default_reference
    if reference_text is None:
        raise UserInputError("give --reference (a PyTorch model or an ONNX file) to compare the candidate with")
    if request.baseline is not None:
        load_report(request.baseline)  # a missing or broken baseline is refused before anything runs
    reference = resolve_model(reference_text, request.weights)
    info = _model_info(reference, request.weights)
    settings = RunSettings(model=reference_text, profile=profile.name, data=request.data, weights=request.weights,
                           samples=request.samples, gates=dict(request.gates), baseline=request.baseline,
                           strict=request.strict, metrics=tuple(request.metrics), output_kinds=dict(request.output_kinds),
                           max_accuracy_regression=request.max_accuracy_regression,
                           max_latency_regression_pct=request.max_latency_regression_pct, progress=False)
    overrides: dict[str, Any] = {"confidence": request.confidence, "bootstrap_resamples": request.resamples}
    if request.seed is not None:
        overrides["seed"] = request.seed
    passes: list[Pass] = [ValidatePass(**_options(profile, settings, "validate", overrides))]
    if request.benchmark or request.baseline is not None:
        passes.append(BenchmarkPass(**_options(profile, settings, "benchmark", {})))
    log(f"validating {candidate.description} against {reference_text}")
    artifacts: dict[str, Artifact] = {RUNTIME: candidate.artifact, REFERENCE_KIND: reference}
    sections: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    warnings: list[str] = [*info.warnings, *candidate.warnings]
    with tempfile.TemporaryDirectory(prefix="compile-validate-") as scratch:
        # The passes' scratch (reference outputs, work files) lives only as long as this validation.
        ctx = PassContext(settings, profile, Path(scratch), Path(scratch) / "work", artifacts, log, info)
        for pass_ in passes:
            result = pass_.run(artifacts, ctx)
            sections.update(result.report)
            metrics.update(result.metrics)
            warnings += result.warnings
    sections["accuracy"]["candidate"] = candidate.description
    gates, baseline = judge(profile, settings, metrics, sections.get("accuracy"))
    if baseline is not None:
        sections["baseline"] = baseline
    report = build_report(RunSummary(
        model=info.name or reference_text, model_source=reference_text, profile=profile.name,
        backend=candidate.artifact.backend, precision=candidate.artifact.precision, sparsity="dense",
        run_dir=request.out or Path.cwd(), info=info,
        artifacts={"onnx": _fp32_onnx(reference_text), "final": str(candidate.artifact.path.resolve())},
        metrics=metrics, gates=gates, sections=sections, warnings=warnings,
        extra={"kind": "validate", "candidate": candidate.description}))
    if request.out is not None:
        ensure_writable_dir(request.out)
        write_report(request.out, report)
    return report


def _options(profile: Profile, settings: RunSettings, name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Pass ``name``'s options as the profile's pipeline would give them, then this command's ``overrides``."""
    entry = next((e.options for e in profile.passes if e.name == name), {})
    return {**resolve_options(name, entry, profile, settings), **overrides}


def _model_info(reference: Artifact, weights: Path | None) -> ModelInfo:
    if isinstance(reference, OnnxModel):
        return read_model_info(reference.path)
    if not isinstance(reference, TorchModel):
        raise UserInputError(f"the reference must be a PyTorch model or an ONNX file, not a {reference.kind} artifact")
    return load_torch_model(reference, weights).info


def _fp32_onnx(reference: str) -> str | None:
    """The schema's ``artifacts.onnx``, the FP32 ONNX model: the reference when it is an ONNX file (a run's
    exported model, when the candidate is a run); ``None`` for a PyTorch reference (no FP32 ONNX exists)."""
    path = Path(reference)
    return str(path.resolve()) if path.suffix == ".onnx" and path.is_file() else None
