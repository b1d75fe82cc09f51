"""``compile validate --reference R --candidate C``: parity (and optionally latency) without a pipeline.

The reference is a PyTorch model (anything ``compile run`` accepts) or an ONNX file; the candidate is
an ONNX file, a built runtime artifact (``model.ort.onnx`` or ``model.ov.xml`` with its sidecar, a TensorRT engine), or a
run directory / ``report.json`` whose final artifact is taken (its exported FP32 ONNX is then the
default reference). The result has the shape of a run's ``report.json``, so it can itself serve as a
``--baseline`` or go into ``compile compare``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compile.artifacts import OnnxModel, RuntimeArtifact
from compile.errors import UserInputError
from compile.profiles import Profile
from compile.report.schema import Report

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


@dataclass
class StandaloneRequest:
    candidate: str
    reference: str | None = None
    data: Path | None = None
    weights: Path | None = None
    #: Inputs to validate on; ``None``: all of ``data``.
    samples: int | None = 64
    seed: int = 0
    confidence: float = 0.95
    resamples: int = 1000
    gates: dict[str, float] = field(default_factory=dict)
    benchmark: bool = False
    baseline: Path | None = None
    max_accuracy_regression: float | None = None
    max_latency_regression_pct: float | None = None
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
    from compile.artifacts import find_sidecar
    from compile.backends import BACKENDS

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
                        log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run the comparison; the returned report has ``passed``, ``gates``, ``metrics`` like a run's."""
    from compile.backends import make_runner
    from compile.data.eval_set import build_eval_set
    from compile.models.registry import resolve_model
    from compile.passes.validate import fitting_labels
    from compile.validate.compare import compare_outputs, non_finite_warning
    from compile.validate.gates import evaluate_gates
    from compile.validate.reference import reference_outputs, run_batched

    candidate = resolve_candidate(request.candidate)
    reference_text = request.reference or candidate.default_reference
    if reference_text is None:
        raise UserInputError("give --reference (a PyTorch model or an ONNX file) to compare the candidate with")
    reference = resolve_model(reference_text, request.weights)
    info = _model_info(reference, request.weights)
    data = build_eval_set(info, request.data, request.samples, request.seed)
    log(f"validating {candidate.description} against {reference_text} on {data.description}")
    ref_outputs, ref_desc = reference_outputs(reference, data, request.weights)
    warnings: list[str] = list(info.warnings) + list(candidate.warnings)
    labels, label_warning = fitting_labels(data.labels, ref_outputs, request.data)
    if label_warning:
        warnings.append(label_warning)
    with make_runner(candidate.artifact) as runner:
        cand_outputs = run_batched(runner, data)
    accuracy, metrics = compare_outputs(ref_outputs, cand_outputs, labels, request.confidence, request.resamples, request.seed)
    accuracy.update({"reference": ref_desc, "candidate": candidate.description, "data": data.description,
                     "data_source": data.source, "samples": data.size, "samples_available": data.available or data.size,
                     "skipped_inputs": len(data.skipped)})
    if (mismatch := non_finite_warning(metrics)) is not None:
        warnings.append(mismatch)
    report: dict[str, Any] = {"accuracy": accuracy}
    thresholds = dict(profile.gates)
    if request.benchmark or request.baseline is not None:
        from compile.bench.machine import machine_info
        from compile.bench.suite import BenchSettings, benchmark_artifact

        settings = BenchSettings.from_profile(profile.benchmark, profile.shapes.batch_sizes)
        report["latency"], latency_metrics = benchmark_artifact(candidate.artifact, info, settings, log)
        report["machine"] = machine_info()
        metrics.update(latency_metrics)
    if request.baseline is not None:
        from compile.validate.baseline import load_report, regression_metrics, regression_thresholds

        baseline = load_report(request.baseline)
        regression, section = regression_metrics(metrics, baseline["metrics"])
        metrics.update(regression)
        report["baseline"] = {"path": str(request.baseline), **section}
        thresholds.update(regression_thresholds(profile.gates, request.max_accuracy_regression, request.max_latency_regression_pct))
    thresholds.update(request.gates)
    gates = evaluate_gates(thresholds, metrics)
    full = _report(request, profile, candidate, reference_text, info, report, metrics, gates, warnings)
    if request.out is not None:
        from compile.fsutil import ensure_writable_dir
        from compile.report.build import write_report

        ensure_writable_dir(request.out)
        write_report(request.out, full)
    return full.to_dict()


def _model_info(reference: Any, weights: Path | None) -> Any:
    if isinstance(reference, OnnxModel):
        from compile.onnx_io import read_model_info

        return read_model_info(reference.path)
    from compile.models.registry import load_torch_model

    return load_torch_model(reference, weights).info


def _report(request: StandaloneRequest, profile: Profile, candidate: Candidate, reference: str, info: Any,
            sections: dict[str, Any], metrics: dict[str, float], gates: list[Any], warnings: list[str]) -> Report:
    from compile.report.build import RunSummary, build_report

    return build_report(RunSummary(
        model=info.name or reference, model_source=reference, profile=profile.name, backend=candidate.artifact.backend,
        precision=candidate.artifact.precision, sparsity="dense", run_dir=Path.cwd(), info=info,
        artifacts={"onnx": _fp32_onnx(reference), "final": str(candidate.artifact.path.resolve())},
        metrics=metrics, gates=gates, sections=sections, warnings=warnings,
        extra={"kind": "validate", "candidate": candidate.description}))


def _fp32_onnx(reference: str) -> str | None:
    """The schema's ``artifacts.onnx``, the FP32 ONNX model: the reference when it is an ONNX file (a run's
    exported model, when the candidate is a run); ``None`` for a PyTorch reference (no FP32 ONNX exists)."""
    path = Path(reference)
    return str(path.resolve()) if path.suffix == ".onnx" and path.is_file() else None
