"""build-ort: the ONNX Runtime artifact for a CPU target, optimised offline once instead of at every load
(the build itself: :mod:`compile.backends.ort.builder`)."""

from __future__ import annotations

from typing import Any, Literal

from compile.artifacts import ONNX, RUNTIME, Artifact, OnnxModel, sidecar_name
from compile.backends.ort.builder import build_artifact, layout_isa, onnxruntime_version
from compile.passes.base import Pass, PassContext, PassOptions, PassResult

OUTPUT_FILE = "model.ort.onnx"
SIDECAR_FILE = sidecar_name(OUTPUT_FILE)


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
        # An artifact optimised at level "all" is tied to the instruction set it was built on.
        return {"onnxruntime": onnxruntime_version(), "isa": layout_isa(self.options.optimization)}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        source = self.input(inputs, ONNX, OnnxModel)
        artifact, record = build_artifact(source, ctx.output_path(OUTPUT_FILE), ctx.output_path(SIDECAR_FILE),
                                          self.options.optimization, self.options.providers, ctx.run_dir)
        return PassResult(artifact, record=record)
