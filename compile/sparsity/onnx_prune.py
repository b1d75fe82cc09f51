"""2:4 pruning of an ONNX graph's plain float weights, with the same rules as the PyTorch path.

Layers whose weights already carry 2:4 (pruned and recovered in PyTorch, then exported) are left as
they are and recorded. With ``record_only`` (the PyTorch pass already pruned and recovered), nothing
new is pruned: a layer pruned here would get no recovery. The record of pruned layers goes into the
model's metadata (:data:`compile.sparsity.onnx_layers.RECORD_KEY`) for the verifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compile.sparsity.eligibility import SparsityRules, ineligibility
from compile.sparsity.mask import PATTERN, apply_two_four, is_two_four
from compile.sparsity.onnx_layers import GraphIndex, onnx_layers, write_record

if TYPE_CHECKING:
    import onnx


@dataclass
class OnnxPruneResult:
    #: Node names of the layers that carry 2:4 (pruned here or already).
    pruned: list[str] = field(default_factory=list)
    newly_pruned: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)


def prune_onnx(model: onnx.ModelProto, rules: SparsityRules, record_only: bool = False) -> OnnxPruneResult:
    """Prune ``model`` in place and record what carries 2:4 in its metadata."""
    from onnx import numpy_helper

    index = GraphIndex(model)
    result = OnnxPruneResult()
    for layer in onnx_layers(model):
        reason = ineligibility(layer.desc, rules)
        status = "dense"
        if reason is None and not layer.plain_float:
            reason = f"weight is not a plain float initializer ({' <- '.join(layer.chain) or 'unknown'})"
        if reason is None and layer.initializer is not None and len(index.consumers.get(layer.initializer, [])) > 1:
            reason = "weight shared with other nodes"
        if reason is None:
            assert layer.weight is not None and layer.initializer is not None  # plain_float checked both
            if is_two_four(layer.weight, layer.axis):
                status = "already 2:4"
                result.already.append(layer.node)
                result.pruned.append(layer.node)
            elif record_only:
                status = "dense (not pruned in PyTorch)"
            else:
                pruned = apply_two_four(layer.weight, layer.axis)
                index.initializers[layer.initializer].CopyFrom(numpy_helper.from_array(pruned, layer.initializer))
                status = "pruned"
                result.newly_pruned.append(layer.node)
                result.pruned.append(layer.node)
        result.layers.append({"name": layer.node, "op": layer.op, "weight": layer.initializer,
                              "in_channels": layer.desc.in_channels, "out_channels": layer.desc.out_channels,
                              "groups": layer.desc.groups, "eligible": reason is None, "reason": reason or "",
                              "status": status, "macs": layer.macs})
    write_record(model, {"pattern": PATTERN, "layers": sorted(result.pruned),
                         "rules": {"min_channels": rules.min_channels, "exclude": list(rules.exclude),
                                   "min_kernel": rules.min_kernel}})
    return result
