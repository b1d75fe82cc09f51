"""Build the ONNX Runtime artifact: the graph optimised offline, once, and saved with the session settings that
made it, instead of being optimised again at every load.

The sidecar (``model.ort.onnx.compile.json``) lets a runner load the graph with optimisation off and get exactly
what was validated and measured. It also names the portable graph the artifact was made from, which deploy
bundles ship (with these settings, for the server to apply at load) instead of a graph laid out for this CPU.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from compile.artifacts import OnnxModel, RuntimeArtifact
from compile.backends.ort.hardware import cpu_isa
from compile.backends.ort.runner import open_session
from compile.fsutil import write_json_atomic
from compile.onnx_io import count_nodes, load_onnx, op_histogram

#: The session settings every runner of this tool uses (compile/backends/ort/runner.py), recorded so a
#: server can apply the same ones: intra-op threads None = one per core.
SESSION_THREADS = {"intra_op_threads": None, "inter_op_threads": 1, "execution_mode": "sequential"}


def onnxruntime_version() -> str:
    """The installed ONNX Runtime's version, without importing it."""
    return version("onnxruntime")


def layout_isa(optimization: str) -> str | None:
    """The CPU instruction set an artifact optimised at ``optimization`` is tied to: level ``all`` lays tensors
    out for this CPU's vector width (NCHWc blocks, NHWC INT8 kernels); lower levels are portable (``None``)."""
    return cpu_isa() if optimization == "all" else None


def build_artifact(source: OnnxModel, out: Path, sidecar: Path, optimization: str, providers: list[str],
                   run_dir: Path) -> tuple[RuntimeArtifact, dict[str, Any]]:
    """Optimise ``source`` at level ``optimization`` into ``out`` and write its sidecar at ``sidecar``; returns the
    artifact and a record of the build (session settings, node count, op histogram). ``run_dir``: what the
    sidecar's path to the portable source graph is relative to."""
    import onnxruntime

    session = open_session(source.path, optimization=optimization, providers=providers, optimized_path=out)
    del session
    optimized = load_onnx(out, load_external_data=False)
    settings = {
        "backend": "onnxruntime",
        "onnxruntime_version": onnxruntime.__version__,
        "optimization": optimization,
        "load_optimization": "disable",
        "providers": providers,
        "intra_op_spinning": False,
        "source_onnx_sha256": source.content_hash(),
        # The graph before this optimisation: portable to any CPU (relative to the run directory).
        "source_onnx": _relative(source.path, run_dir),
        **SESSION_THREADS,
        "precision": source.precision,
        "sparsity": source.sparsity,
        # Set when the graph is laid out for this CPU; the runner refuses another instruction set.
        "isa": layout_isa(optimization),
    }
    write_json_atomic(sidecar, settings)
    record = {"session": settings, "nodes": count_nodes(optimized), "ops": op_histogram(optimized)}
    return RuntimeArtifact(path=out, backend="onnxruntime", sidecar=sidecar, precision=source.precision), record


def _relative(path: Path, run_dir: Path) -> str:
    resolved, root = path.resolve(), run_dir.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)
