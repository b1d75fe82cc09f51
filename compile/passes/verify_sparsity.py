"""verify-sparsity: check the final pre-build graph layer by layer; a recorded 2:4 layer that lost it fails.

Runs after quantization and casts, so it looks through DequantizeLinear and Cast to the stored
weights. The per-layer table (2:4 or not, share of the model's MACs) and the shares of eligible,
non-depthwise and all Conv/Gemm/MatMul MACs that carry 2:4 go into the report's ``sparsity`` section.
The same graph is passed on marked ``sparsity="2:4"``, which tells the TensorRT builder to enable
sparse weights.
"""

from __future__ import annotations

from dataclasses import replace

from compile.artifacts import ONNX, Artifact, OnnxModel
from compile.onnx_io import load_onnx
from compile.passes.base import PassContext, PassResult
from compile.passes.kinds import SparsityRulesPass
from compile.sparsity.verify import verify_sparsity

MAX_LISTED = 5


class VerifySparsityPass(SparsityRulesPass):
    name = "verify-sparsity"
    description = "Check that every layer recorded as 2:4 still is (through Q/DQ and casts); per-layer MAC shares."
    metrics = ("sparse_share_of_eligible_macs", "sparse_share_of_non_depthwise_macs", "sparse_share_of_all_macs")

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        source = self.input(inputs, ONNX, OnnxModel)
        table = verify_sparsity(load_onnx(source.path), self.options.rules())
        if table.broken:
            listed = "; ".join(table.broken[:MAX_LISTED]) + (f"; and {len(table.broken) - MAX_LISTED} more" if len(table.broken) > MAX_LISTED else "")
            raise self.fail(f"{len(table.broken)} layers recorded as 2:4 are not 2:4 in {source.path.name}: {listed}")
        warnings: list[str] = []
        if table.missing:
            warnings.append(f"{len(table.missing)} layers recorded as 2:4 are no longer in the graph (renamed by a later pass?), "
                            f"not verified: {', '.join(table.missing[:MAX_LISTED])}")
        if not table.recorded:
            warnings.append("the graph carries no 2:4 record (an earlier pass dropped the metadata): "
                            "eligible layers that are 2:4 are counted as pruned")
        summary = table.summary
        ctx.log(f"  2:4 verified on the {source.precision} graph: {summary['layers_2to4']} layers, "
                f"{100 * summary['sparse_share_of_non_depthwise_macs']:.1f}% of non-depthwise MACs, "
                f"{100 * summary['sparse_share_of_eligible_macs']:.1f}% of eligible MACs")
        metrics = {key: float(summary[key]) for key in ("sparse_share_of_eligible_macs", "sparse_share_of_non_depthwise_macs",
                                                          "sparse_share_of_all_macs")}
        section = {"verified_on": f"{source.path.name} ({source.precision})", "summary": summary, "layers": table.rows}
        output = source if source.sparsity == "2:4" else replace(source, sparsity="2:4")
        return PassResult(output, record={"summary": summary}, modified=output is not source, report={"sparsity": section},
                          metrics=metrics, warnings=warnings)
