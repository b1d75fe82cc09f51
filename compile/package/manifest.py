"""The bundle manifest: what is in it (SHA-256 and size of every file), what built it, and how to feed it
(the preprocessing and the input specs), so the device side can check and use it without the run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from compile import __version__
from compile.errors import UserInputError
from compile.hashing import hash_bytes
from compile.package.bundle import MACHINE_SPECIFIC, PORTABLE, RunBundle

MANIFEST_FILE = "manifest.json"
SCHEMA_VERSION = 1


def file_entry(source: Path | bytes) -> dict[str, Any]:
    data = source if isinstance(source, bytes) else source.read_bytes()
    return {"sha256": hash_bytes(data), "bytes": len(data)}


def build_manifest(run: RunBundle, fmt: str, files: dict[str, Path] | dict[str, Path | bytes]) -> dict[str, Any]:
    """``files``: path inside the bundle -> file on disk or its content (the manifest itself excluded).

    ``built_with.graph`` says what the model file is: ``portable`` (runs on any CPU; the server optimises
    it at ``load_optimization``), ``machine-specific`` (laid out for ``built_with.isa``), ``engine`` or
    ``as-built``."""
    report = run.report
    built: dict[str, Any] = {"backend": run.backend}
    if run.sidecar.get("runtime") == "tensorrt":
        built.update({"tensorrt_version": run.sidecar.get("tensorrt_version"), "gpu": run.sidecar.get("gpu"),
                      "compatibility": run.sidecar.get("compatibility"), "build_path": run.sidecar.get("build_path"),
                      "onnx_sha256": run.sidecar.get("onnx_sha256")})
    elif run.sidecar:
        built.update({k: run.sidecar[k] for k in ("onnxruntime_version", "providers", "runtime", "build_path",
                                                  "openvino_version", "device", "isa", "inference_precision",
                                                  "performance_hint") if k in run.sidecar})
    if run.graph in (PORTABLE, MACHINE_SPECIFIC):
        session = run.session
        built.update({"optimization": run.sidecar.get("optimization"), "load_optimization": session.get("load_optimization"),
                      "isa": session.get("isa"), "built_from": run.shipped.name})
    built["graph"] = run.graph
    accuracy = report.get("accuracy") or {}
    latency = report.get("latency") or {}
    return {
        "schema": SCHEMA_VERSION,
        "format": fmt,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tool_version": __version__,
        "model": run.name,
        "source_model": report.get("model"),
        "profile": report.get("profile"),
        "precision": report.get("precision"),
        "sparsity": report.get("sparsity"),
        "passed": report.get("passed"),
        "built_with": built,
        "inputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in run.inputs],
        "outputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in run.outputs],
        "input_specs": report.get("inputs", []),
        "preprocessing": report.get("preprocessing"),
        "max_batch_size": run.max_batch,
        "accuracy": {k: accuracy[k] for k in ("top1_agreement", "cosine_similarity", "top1_drop") if k in accuracy},
        "latency": {k: latency[k] for k in ("p50_ms", "p99_ms", "batch", "throughput_ips") if k in latency},
        "files": {name: file_entry(path) for name, path in sorted(files.items())},
    }


def verify_manifest(root: Path) -> list[str]:
    """Files under ``root`` that are missing or differ from the manifest (empty when the bundle is intact)."""
    path = root / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserInputError(f"cannot read {path}: {err}") from err
    problems = []
    for name, entry in manifest.get("files", {}).items():
        target = root / name
        if not target.is_file():
            problems.append(f"{name}: missing")
        elif file_entry(target) != entry:
            problems.append(f"{name}: content differs from the manifest")
    return problems
