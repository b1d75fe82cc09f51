"""build-ort: the ONNX Runtime artifact for a CPU target, optimised offline once instead of at every load.

The optimised graph is saved with the session settings that produced it (a sidecar,
``model.ort.onnx.compile.json``), so a runner loads it with optimisation off and gets exactly what was
validated and measured. The sidecar also names the portable graph it was made from, which deploy bundles
ship (with these settings for the server to apply at load) instead of a graph laid out for this CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from compile.artifacts import ONNX, RUNTIME, Artifact, OnnxModel, RuntimeArtifact, sidecar_name
from compile.backends.ort.hardware import cpu_isa
from compile.backends.ort.runner import open_session
from compile.fsutil import write_json_atomic
from compile.onnx_io import count_nodes, load_onnx, op_histogram
from compile.passes.base import Pass, PassContext, PassOptions, PassResult

OUTPUT_FILE = "model.ort.onnx"
SIDECAR_FILE = sidecar_name(OUTPUT_FILE)
#: The session settings every runner of this tool uses (compile/backends/ort/runner.py), recorded so a
#: server can apply the same ones: intra-op threads None = one per core.
SESSION_THREADS = {"intra_op_threads": None, "inter_op_threads": 1, "execution_mode": "sequential"}


class BuildOrtOptions(PassOptions):
    optimization: Literal["basic", "extended", "all"] = "extended"
    providers: list[str] = ["CPUExecutionProvider"]


class BuildOrtPass(Pass):
    name = "build-ort"
    description = "Optimise the graph offline with ONNX Runtime and record the session settings."
    consumes = (ONNX,)
    produces = RUNTIME
    Options = BuildOrtOptions
    options: BuildOrtOptions

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        # Level "all" lays tensors out for this CPU's vector width (NCHWc blocks, NHWC INT8 kernels):
        # such an artifact is tied to the instruction set it was built on.

        return {"onnxruntime": _ort_version(), "isa": cpu_isa() if self.options.optimization == "all" else None}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        import onnxruntime

        source = self.input(inputs, ONNX, OnnxModel)
        out = ctx.output_path(OUTPUT_FILE)
        session = open_session(source.path, optimization=self.options.optimization, providers=self.options.providers,
                               optimized_path=out)
        del session
        optimized = load_onnx(out, load_external_data=False)
        sidecar = ctx.output_path(SIDECAR_FILE)
        settings = {
            "backend": "onnxruntime",
            "onnxruntime_version": onnxruntime.__version__,
            "optimization": self.options.optimization,
            "load_optimization": "disable",
            "providers": self.options.providers,
            "intra_op_spinning": False,
            "source_onnx_sha256": source.content_hash(),
            # The graph before this optimisation: portable to any CPU (relative to the run directory).
            "source_onnx": _relative(source.path, ctx.run_dir),
            **SESSION_THREADS,
            "precision": source.precision,
            "sparsity": source.sparsity,
            # Set when the graph is laid out for this CPU; the runner refuses another instruction set.
            "isa": cpu_isa() if self.options.optimization == "all" else None,
        }
        write_json_atomic(sidecar, settings)
        record = {"session": settings, "nodes": count_nodes(optimized), "ops": op_histogram(optimized)}
        artifact = RuntimeArtifact(path=out, backend="onnxruntime", sidecar=sidecar, precision=source.precision)
        return PassResult(artifact, record=record)


def _ort_version() -> str:
    from importlib.metadata import version

    return version("onnxruntime")


def _relative(path: Path, run_dir: Path) -> str:
    resolved, root = path.resolve(), run_dir.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)
