"""Verification: per layer, is it 2:4, what share of the MACs it carries, and the model's totals.

Works on any graph the pipeline makes before the build (FP32, FP16 casts, INT8 Q/DQ): weights are
followed back through DequantizeLinear and Cast (see :mod:`compile.sparsity.onnx_layers`). A layer
the pruning record names that is not 2:4 is a failure; the caller turns it into an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compile.sparsity.eligibility import SparsityRules, ineligibility
from compile.sparsity.mask import is_two_four, violating_groups
from compile.sparsity.onnx_layers import onnx_layers, read_record

if TYPE_CHECKING:
    import onnx


@dataclass
class SparsityTable:
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    #: Recorded-as-pruned layers whose weights are not 2:4: "name: why".
    broken: list[str] = field(default_factory=list)
    #: Recorded layers that are no longer in the graph (renamed by a later pass).
    missing: list[str] = field(default_factory=list)
    recorded: bool = False


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def verify_sparsity(model: onnx.ModelProto, rules: SparsityRules) -> SparsityTable:
    """The per-layer table and totals; ``broken`` lists recorded layers that lost the pattern."""
    record = read_record(model)
    recorded = set(record.get("layers", [])) if record else set()
    table = SparsityTable(recorded=record is not None)
    layers = onnx_layers(model)
    totals = {"all": 0, "non_depthwise": 0, "eligible": 0, "sparse": 0}
    unknown_macs = 0
    for layer in layers:
        reason = ineligibility(layer.desc, rules)
        weight = layer.weight
        two_four = weight is not None and weight.shape[layer.axis] % 4 == 0 and is_two_four(weight, layer.axis)
        pruned = layer.node in recorded if record is not None else (two_four and reason is None)
        macs = layer.macs or 0
        if layer.macs is None:
            unknown_macs += 1
        totals["all"] += macs
        if not layer.desc.depthwise:
            totals["non_depthwise"] += macs
        if reason is None:
            totals["eligible"] += macs
        if pruned and two_four:
            totals["sparse"] += macs
        if pruned and not two_four:
            why = "weight not found" if weight is None else (
                f"{violating_groups(weight, layer.axis)} groups of 4 hold more than 2 non-zeros"
                if weight.shape[layer.axis] % 4 == 0 else f"axis length {weight.shape[layer.axis]} not divisible by 4")
            table.broken.append(f"{layer.node}: {why}")
        table.rows.append({"name": layer.node, "op": layer.op, "weight": layer.initializer,
                           "through": "<-".join(layer.chain) or "-", "in_channels": layer.desc.in_channels,
                           "out_channels": layer.desc.out_channels, "groups": layer.desc.groups,
                           "eligible": reason is None, "reason": reason or "", "pruned": pruned, "is_2to4": two_four,
                           "macs": layer.macs})
    for row in table.rows:
        row["mac_share"] = _share(row["macs"] or 0, totals["all"])
    present = {layer.node for layer in layers}
    table.missing = sorted(recorded - present)
    table.summary = {
        "layers": len(layers), "layers_eligible": sum(r["eligible"] for r in table.rows),
        "layers_2to4": sum(bool(r["pruned"] and r["is_2to4"]) for r in table.rows),
        "macs_total": totals["all"], "macs_non_depthwise": totals["non_depthwise"], "macs_eligible": totals["eligible"],
        "macs_sparse": totals["sparse"],
        "sparse_share_of_eligible_macs": _share(totals["sparse"], totals["eligible"]),
        "sparse_share_of_non_depthwise_macs": _share(totals["sparse"], totals["non_depthwise"]),
        "sparse_share_of_all_macs": _share(totals["sparse"], totals["all"]),
        "layers_with_unknown_macs": unknown_macs,
        "record": "metadata" if record is not None else "none (eligible layers that are 2:4 counted as pruned)",
    }
    return table


def markdown_table(table: SparsityTable) -> str:
    """The per-layer table as Markdown (for logs and the benchmark)."""
    lines = ["| layer | op | in->out | groups | eligible | pruned | 2:4 | MAC share |", "|---|---|---|---|---|---|---|---|"]
    for r in table.rows:
        lines.append(f"| {r['name']} | {r['op']} | {r['in_channels']}->{r['out_channels']} | {r['groups']} | "
                     f"{'yes' if r['eligible'] else 'no: ' + r['reason']} | {'yes' if r['pruned'] else 'no'} | "
                     f"{'yes' if r['is_2to4'] else 'no'} | {100 * r['mac_share']:.1f}% |")
    return "\n".join(lines)
