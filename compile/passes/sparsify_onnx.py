"""sparsify-onnx: prune an ONNX graph's eligible weights to 2:4 and record which layers carry the pattern.

For a model that arrived as ONNX this is the pruning (no recovery: validation measures the cost).
After the PyTorch ``sparsify`` pass it prunes nothing new: the exported weights already carry 2:4 and
are only recorded, so the verifier and the TensorRT builder know which layers are sparse.
"""

from __future__ import annotations

from typing import Any

from compile.artifacts import ONNX, TORCH, Artifact, OnnxModel, TorchModel
from compile.onnx_io import load_onnx, save_onnx
from compile.passes.base import PassContext, PassResult
from compile.passes.kinds import RulesOptions, SparsityRulesPass
from compile.sparsity.onnx_prune import prune_onnx

OUTPUT_FILE = "model.sparse.onnx"
#: Said (and warned) when the target runs 2:4 weights with dense kernels.
DENSE_KERNELS_NOTE = ("ONNX Runtime has no 2:4 sparse kernels: on this profile sparsity is an accuracy study and gains no "
                      "speed; the pattern pays off on GPUs with sparse tensor cores (TensorRT)")


class SparsifyOnnxOptions(RulesOptions):
    #: Whether the target has 2:4 sparse kernels; without them the report says sparsity gains no speed.
    sparse_kernels: bool = True


class SparsifyOnnxPass(SparsityRulesPass):
    name = "sparsify-onnx"
    description = "Prune eligible Conv/Gemm/MatMul weights of the ONNX graph to 2:4 (no-op on weights already 2:4)."
    Options = SparsifyOnnxOptions
    options: SparsifyOnnxOptions

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        return {"record_only": _pruned_in_torch(ctx)}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        source = self.input(inputs, ONNX, OnnxModel)
        model = load_onnx(source.path)
        record_only = _pruned_in_torch(ctx)
        result = prune_onnx(model, self.options.rules(), record_only=record_only)
        out = ctx.output_path(OUTPUT_FILE)
        save_onnx(model, out)
        warnings: list[str] = []
        if not result.pruned:
            warnings.append(f"no layer carries 2:4 under these rules (min_channels={self.options.min_channels}): the model stays dense")
        if result.newly_pruned and not record_only:
            warnings.append(f"{len(result.newly_pruned)} layers pruned to 2:4 in ONNX without recovery (only a PyTorch model can "
                            "be fine-tuned): validation measures the accuracy cost")
        skipped = [row["name"] for row in result.layers if row["status"].startswith("dense (")]
        note = None if self.options.sparse_kernels else DENSE_KERNELS_NOTE
        if note:
            warnings.append(note)
        section: dict[str, Any] = {"onnx": {"mode": "record (pruned in PyTorch)" if record_only else "prune",
                                            "layers_2to4": len(result.pruned), "newly_pruned": len(result.newly_pruned),
                                            "already_2to4": len(result.already), "eligible_left_dense": len(skipped)}}
        if note:
            section["note"] = note
        record = {"pruned": result.pruned, "newly_pruned": len(result.newly_pruned), "already_2to4": len(result.already),
                  "record_only": record_only}
        return PassResult(OnnxModel(path=out, precision=source.precision, sparsity="2:4"), record=record,
                          report={"sparsity": section}, warnings=warnings)


def _pruned_in_torch(ctx: PassContext) -> bool:
    torch_model = ctx.artifacts.get(TORCH)
    return isinstance(torch_model, TorchModel) and torch_model.spec.get("sparsity") == "2:4"
