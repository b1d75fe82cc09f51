"""What a deploy bundle is made of, read from a finished run directory: the report, the final artifact,
its sidecar, the model file the bundle ships, the bindings and the serving batch sizes.

An ONNX Runtime CPU artifact (``model.ort.onnx``) may be laid out for the build machine's instruction set
(optimisation level ``all``); bundles ship the portable graph it was optimised from instead, and the
server applies the recorded session settings at load. ``machine_specific=True`` ships the optimised
artifact itself, marked with its instruction set."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compile.artifacts import find_sidecar
from compile.backends.trt.sidecar import bindings, validate_sidecar
from compile.errors import CompileError, UserInputError
from compile.hashing import hash_file
from compile.onnx_io import ONNX_TO_NUMPY, external_data_files, load_onnx
from compile.profiles import load_profile

#: What the bundle's model file is: an engine, the portable ONNX graph, the ONNX Runtime artifact optimised
#: for the build machine, or another final ONNX artifact as built (the TensorRT/CUDA provider path).
ENGINE, PORTABLE, MACHINE_SPECIFIC, AS_BUILT = "engine", "portable", "machine-specific", "as-built"


@dataclass(frozen=True)
class TensorSpec:
    """One served tensor: ``shape`` has -1 for dynamic axes (the batch axis included)."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class RunBundle:
    run_dir: Path
    report: dict[str, Any]
    name: str
    #: "tensorrt" (a plan file), "onnxruntime" (an ONNX file, also the ONNX Runtime GPU path) or "openvino"
    #: (an IR: ``external_files`` holds its weights).
    backend: str
    model_path: Path
    sidecar_path: Path | None
    sidecar: dict[str, Any]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    #: Largest batch the artifact accepts (0: no batch axis), and the batch sizes the profile measures.
    max_batch: int
    batch_sizes: tuple[int, ...] = field(default_factory=tuple)
    device: str = "gpu"
    #: The model file the bundle ships (the final artifact, or the portable graph it was optimised from),
    #: what it is (ENGINE, PORTABLE, MACHINE_SPECIFIC, AS_BUILT), and its ONNX external data files
    #: (location, file).
    ship_path: Path | None = None
    graph: str = ENGINE
    external_files: tuple[tuple[str, Path], ...] = ()
    #: Passed-over sidecar candidates and the like, one line each.
    warnings: tuple[str, ...] = ()

    @property
    def is_engine(self) -> bool:
        return self.model_path.suffix == ".plan"

    @property
    def shipped(self) -> Path:
        return self.ship_path or self.model_path

    @property
    def session(self) -> dict[str, Any]:
        """The ONNX Runtime session settings a server applies when loading the shipped graph: the level
        the run optimised at for the portable graph, none for one already optimised."""
        if self.graph == PORTABLE:
            return {**self.sidecar, "load_optimization": self.sidecar.get("optimization", "all"), "isa": None,
                    "graph": PORTABLE}
        if self.graph == MACHINE_SPECIFIC:
            return {**self.sidecar, "graph": MACHINE_SPECIFIC}
        return self.sidecar


def model_name(text: str) -> str:
    """A Triton-safe model name: letters, digits, '_' and '-'."""
    stem = Path(text).stem if text.endswith((".onnx", ".pt", ".pt2")) else text
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    return name or "model"


def read_run(run_dir: Path, name: str | None = None, machine_specific: bool = False) -> RunBundle:
    """Read a finished run. Raises UserInputError for a missing or changed artifact, an engine without a
    readable sidecar, or a portable graph that is gone (unless ``machine_specific``)."""
    report_path = run_dir / "report.json"
    if not report_path.is_file():
        raise UserInputError(f"{run_dir} is not a finished run: it has no report.json (run 'compile run' first)")
    try:
        report = json.loads(report_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserInputError(f"cannot read {report_path}: {err}") from err
    final = (report.get("artifacts") or {}).get("final")
    if not final:
        raise UserInputError(f"{report_path} names no final artifact: the run built nothing to package")
    model_path = Path(final) if Path(final).is_absolute() else run_dir / final
    if not model_path.is_file():
        raise UserInputError(f"the run's final artifact {model_path} is missing")
    expected = (report.get("artifact_sha256") or {}).get("final")
    if expected and hash_file(model_path) != expected:
        raise UserInputError(f"{model_path.name} changed since the run (its SHA-256 differs from report.json): "
                             "rerun before packaging")
    found = find_sidecar(model_path)
    sidecar_path, sidecar, warnings = found.path, found.data, found.warnings
    ship_path, graph = model_path, ENGINE
    external: tuple[tuple[str, Path], ...] = ()
    if model_path.suffix == ".plan":
        if not sidecar:
            why = f" ({'; '.join(warnings)})" if warnings else ""
            raise UserInputError(f"{model_path.name} has no sidecar ({model_path.name}.compile.json): "
                                 f"its bindings are unknown{why}")

        validate_sidecar(sidecar, str(sidecar_path))
        if sidecar.get("engine_sha256") and sidecar["engine_sha256"] != hash_file(model_path):
            raise UserInputError(f"{model_path.name} does not match its sidecar's engine_sha256")
        inputs, outputs = _engine_tensors(sidecar)
        backend = "tensorrt"
    elif sidecar.get("backend") == "openvino":
        inputs, outputs, external = _openvino_ir(model_path, sidecar)
        graph, backend = AS_BUILT, "openvino"
    else:
        if not _built_by_build_ort(sidecar):
            graph = AS_BUILT
        elif machine_specific:
            graph = MACHINE_SPECIFIC
        else:
            ship_path, graph = _portable_graph(run_dir, report, sidecar), PORTABLE
        inputs, outputs, external = _onnx_tensors(ship_path)
        backend = "onnxruntime"
    batch_sizes, profile_max, device = _profile_batches(report)
    max_batch = _max_batch(inputs, outputs, sidecar, profile_max)
    return RunBundle(run_dir=run_dir, report=report, name=model_name(name or str(report.get("model", "model"))),
                     backend=backend, model_path=model_path, sidecar_path=sidecar_path, sidecar=sidecar,
                     inputs=inputs, outputs=outputs, max_batch=max_batch,
                     batch_sizes=tuple(b for b in batch_sizes if b <= max_batch) if max_batch else (), device=device,
                     ship_path=ship_path, graph=graph, external_files=external, warnings=warnings)


def _built_by_build_ort(sidecar: dict[str, Any]) -> bool:
    """An ONNX Runtime CPU artifact optimised offline (not the TensorRT/CUDA provider path)."""
    return sidecar.get("backend") == "onnxruntime" and "load_optimization" in sidecar


def _portable_graph(run_dir: Path, report: dict[str, Any], sidecar: dict[str, Any]) -> Path:
    """The ONNX file build-ort optimised: named in the sidecar (older runs: the report's last ONNX
    artifact), and checked against the hash the sidecar recorded."""
    names = [sidecar.get("source_onnx"), (report.get("artifacts") or {}).get("onnx")]
    expected = sidecar.get("source_onnx_sha256")
    for text in dict.fromkeys(n for n in names if n):
        path = Path(text) if Path(text).is_absolute() else run_dir / text
        if path.is_file() and (expected is None or hash_file(path) == expected):
            return path
    raise UserInputError(f"the portable graph of {run_dir} (the ONNX file build-ort optimised, "
                         f"{sidecar.get('source_onnx') or 'not named'}) is missing or changed since the run: rerun, "
                         "or ship the artifact laid out for this machine with --machine-specific")


def _engine_tensors(sidecar: dict[str, Any]) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    def specs(mode: str) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(b.name, b.dtype, b.shape) for b in bindings(sidecar, mode))

    return specs("input"), specs("output")


def _openvino_ir(xml: Path, sidecar: dict[str, Any]) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...],
                                                               tuple[tuple[str, Path], ...]]:
    """An OpenVINO IR's bindings (from its sidecar) and its weights file, checked against the sidecar."""
    weights = xml.with_name(str(sidecar.get("weights_file") or ""))
    if not sidecar.get("weights_file") or not weights.is_file():
        raise UserInputError(f"{xml.name}: its weights file {sidecar.get('weights_file')} is missing: rerun before packaging")
    if sidecar.get("weights_sha256") and hash_file(weights) != sidecar["weights_sha256"]:
        raise UserInputError(f"{weights.name} changed since the run (its SHA-256 differs from the sidecar's): rerun before packaging")

    def specs(key: str) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(b["name"], b["dtype"], tuple(b["shape"])) for b in sidecar.get(key, []))

    return specs("inputs"), specs("outputs"), ((weights.name, weights),)


def _onnx_tensors(path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...], tuple[tuple[str, Path], ...]]:
    model = load_onnx(path, load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}

    def spec(value: Any) -> TensorSpec:
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.dim_value > 0 and not d.dim_param else -1 for d in tensor.shape.dim)
        return TensorSpec(value.name, ONNX_TO_NUMPY.get(tensor.elem_type, "float32"), dims)

    inputs = tuple(spec(v) for v in model.graph.input if v.name not in initializers)
    return inputs, tuple(spec(v) for v in model.graph.output), tuple(external_data_files(model, path))


def _profile_batches(report: dict[str, Any]) -> tuple[tuple[int, ...], int | None, str]:
    """The profile's batch sizes and max batch (when the profile still loads), else the measured ones."""

    try:
        profile = load_profile(str(report.get("profile", "")))
    except CompileError:
        measured = tuple(int(b["batch"]) for b in (report.get("latency") or {}).get("per_batch", []) if "batch" in b)
        return measured or (1,), None, "gpu" if report.get("backend") == "tensorrt" else "cpu"
    return tuple(profile.shapes.batch_sizes), profile.shapes.max_batch, profile.device


def _max_batch(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...], sidecar: dict[str, Any],
               profile_max: int | None) -> int:
    """Triton's max_batch_size: 0 unless every tensor's first axis is a dynamic batch axis."""
    if not inputs or any(not t.shape or t.shape[0] != -1 for t in (*inputs, *outputs)):
        return 0

    limits = [b.max[0] for b in bindings(sidecar, "input") if b.max] if sidecar.get("bindings") else []
    if limits:
        return min(limits)
    return profile_max or 1
