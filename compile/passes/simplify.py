"""simplify: constant folding and graph clean-up with onnxslim, checked to leave outputs unchanged."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from compile.artifacts import ONNX, Artifact, OnnxModel
from compile.backends.ort.runner import OrtRunner
from compile.data.generated import generate_inputs
from compile.errors import error_cause
from compile.models.spec import ModelInfo, resolve_dynamic_sizes
from compile.onnx_io import (
    check_onnx,
    count_nodes,
    load_onnx,
    model_info_from_onnx,
    op_histogram,
    save_onnx,
    set_model_info,
)
from compile.parity import max_relative_error
from compile.passes.base import Pass, PassContext, PassOptions, PassResult
from compile.profiles import InputShape

OUTPUT_FILE = "model.simplified.onnx"
CHECK_BATCH = 2


class SimplifyOptions(PassOptions):
    #: Maximum output change allowed, relative to max(1, max |output|).
    tolerance: float = 1e-4
    #: The profile's ``[shapes.inputs]``: min/opt/max per input name; opt sizes the dynamic axes of an ONNX source.
    input_shapes: dict[str, InputShape] = Field(default_factory=dict)


class SimplifyPass(Pass):
    name = "simplify"
    description = "Fold constants and remove redundant nodes (onnxslim); outputs must not change."
    consumes = (ONNX,)
    produces = ONNX
    Options = SimplifyOptions
    options: SimplifyOptions

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        import onnxslim

        source = self.input(inputs, ONNX, OnnxModel)
        model = load_onnx(source.path)
        # Sizes of dynamic non-batch axes (profile [shapes.inputs], else recorded): an ONNX source's start here.
        info, sizes = resolve_dynamic_sizes(model_info_from_onnx(model, source.path.stem), self.options.input_shapes)
        before = count_nodes(model)
        try:
            slim = onnxslim.slim(model)
        except Exception as err:  # noqa: BLE001 - onnxslim raises whatever its passes raise

            raise self.fail(f"onnxslim failed: {error_cause(err)}") from err
        check_onnx(slim, "the simplified graph")
        set_model_info(slim, info)
        out = ctx.output_path(OUTPUT_FILE)
        save_onnx(slim, out)
        error = _output_change(source.path, out, info)
        if error > self.options.tolerance:
            raise self.fail(f"simplification changed the outputs by {error:.3g} (tolerance {self.options.tolerance:g})")
        after = count_nodes(slim)
        record = {"nodes_before": before, "nodes_after": after, "ops_after": op_histogram(slim), "max_rel_change": error,
                  **({"dynamic_sizes": sizes, "model_info": info.to_dict()} if sizes else {})}
        return PassResult(OnnxModel(path=out, precision=source.precision, sparsity=source.sparsity), record=record,
                          modified=after != before)


def _output_change(before: Path, after: Path, info: ModelInfo) -> float:
    feeds = generate_inputs(info.inputs, CHECK_BATCH, seed=2)
    with OrtRunner(before) as ref, OrtRunner(after) as cand:
        return max_relative_error(list(ref.infer(feeds).values()), list(cand.infer(feeds).values()))
