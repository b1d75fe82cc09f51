"""2:4 pruning of a PyTorch module: find its Conv/Linear layers, apply the rules, zero the weights.

The masks are returned so recovery can hold them fixed. The mask rule itself is the numpy one in
:mod:`compile.sparsity.mask`, so the PyTorch and ONNX paths cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from compile.sparsity.eligibility import LayerDesc, SparsityRules, ineligibility
from compile.sparsity.mask import two_four_mask

if TYPE_CHECKING:
    import torch


@dataclass
class TorchPruneResult:
    #: Module name -> boolean mask of its weight (True = kept).
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    #: One row per Conv/Linear layer: name, op, channels, eligible/reason, pruned.
    layers: list[dict[str, Any]] = field(default_factory=list)


def torch_layers(module: torch.nn.Module) -> list[tuple[str, torch.nn.Module, LayerDesc]]:
    """The module's Conv and Linear layers in registration order, each with its description."""
    from torch import nn

    found: list[tuple[str, nn.Module, LayerDesc]] = []
    seen_conv = False
    for name, sub in module.named_modules():
        if isinstance(sub, nn.modules.conv._ConvNd) and not sub.transposed:
            desc = LayerDesc(name=name, op=type(sub).__name__, in_channels=sub.in_channels, out_channels=sub.out_channels,
                             groups=sub.groups, kernel=tuple(int(k) for k in sub.kernel_size), first_conv=not seen_conv,
                             aliases=(f"{name}.weight",))
            seen_conv = True
        elif isinstance(sub, nn.Linear):
            desc = LayerDesc(name=name, op="Linear", in_channels=sub.in_features, out_channels=sub.out_features,
                             aliases=(f"{name}.weight",))
        else:
            continue
        found.append((name, sub, desc))
    return found


def prune_module(module: torch.nn.Module, rules: SparsityRules, only: set[str] | None = None) -> TorchPruneResult:
    """Zero the 2 smallest of every 4 input-channel weights of each eligible layer (of ``only`` when
    given: the layers a selection chose), in place."""
    import torch

    result = TorchPruneResult()
    for name, layer, desc in torch_layers(module):
        reason = ineligibility(desc, rules)
        if reason is None and only is not None and name not in only:
            result.layers.append(_row(name, desc, None, pruned=False, note="kept dense: more sensitive per MAC (selection)"))
            continue
        result.layers.append(_row(name, desc, reason, pruned=reason is None))
        if reason is not None:
            continue
        weight = cast("torch.Tensor", layer.weight)
        mask = torch.from_numpy(two_four_mask(weight.detach().cpu().numpy(), axis=1)).to(weight.device)
        with torch.no_grad():
            weight.mul_(mask.to(weight.dtype))
        result.masks[name] = mask
    return result


def _row(name: str, desc: LayerDesc, reason: str | None, pruned: bool, note: str = "") -> dict[str, Any]:
    return {"name": name, "op": desc.op, "in_channels": desc.in_channels, "out_channels": desc.out_channels,
            "groups": desc.groups, "kernel": "x".join(map(str, desc.kernel)) or "-", "eligible": reason is None,
            "reason": reason or note, "pruned": pruned}


def layer_sensitivity(module: torch.nn.Module, names: list[str], inputs: tuple[Any, ...]) -> dict[str, float]:
    """How much the output moves when only that layer is pruned to 2:4: KL divergence from the dense
    class scores (mean squared error relative to the output's for other outputs); one forward per layer."""
    import torch
    import torch.nn.functional as F

    layers = dict(module.named_modules())

    def output() -> torch.Tensor:
        result = module(*inputs)
        return result[0] if isinstance(result, (tuple, list)) else result

    scores: dict[str, float] = {}
    with torch.no_grad():
        reference = output()
        classes = reference.dim() == 2 and reference.shape[1] > 1
        for name in names:
            weight = cast("torch.Tensor", layers[name].weight)
            saved = weight.detach().clone()
            weight.mul_(torch.from_numpy(two_four_mask(saved.cpu().numpy(), axis=1)).to(weight.dtype))
            try:
                moved = output()
            finally:
                weight.copy_(saved)
            if classes:
                scores[name] = float(F.kl_div(F.log_softmax(moved, 1), F.log_softmax(reference, 1), reduction="batchmean",
                                              log_target=True))
            else:
                scores[name] = float(F.mse_loss(moved, reference) / (reference.pow(2).mean() + 1e-12))
    return scores


def select_by_sensitivity(sensitivity: dict[str, float], macs: dict[str, int], non_depthwise_macs: int,
                          target_share: float) -> list[str]:
    """The least sensitive layers per MAC, added until they carry ``target_share`` of the non-depthwise MACs."""
    order = sorted(sensitivity, key=lambda name: (sensitivity[name] / max(1, macs.get(name, 0)), name))
    chosen: list[str] = []
    share = 0.0
    for name in order:
        if share >= target_share:
            break
        chosen.append(name)
        share += macs.get(name, 0) / max(1, non_depthwise_macs)
    return chosen


def apply_masks(module: torch.nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Multiply each masked layer's weight by its mask (after an optimiser step)."""
    import torch

    layers = dict(module.named_modules())
    with torch.no_grad():
        for name, mask in masks.items():
            weight = layers[name].weight  # type: ignore[union-attr]
            weight.mul_(mask.to(weight.dtype))


def masks_hold(module: torch.nn.Module, masks: dict[str, torch.Tensor]) -> bool:
    """True when every masked-out weight is still exactly zero."""
    layers = dict(module.named_modules())
    return all(bool((layers[name].weight.detach()[~mask] == 0).all()) for name, mask in masks.items())  # type: ignore[union-attr]


def layer_macs(module: torch.nn.Module, example_inputs: tuple[Any, ...]) -> dict[str, int]:
    """Multiply-accumulates per sample of each Conv/Linear layer, measured with forward hooks."""
    import torch

    macs: dict[str, int] = {}
    handles = []

    def hook(name: str, layer: torch.nn.Module) -> Any:
        def record(_: Any, __: Any, output: torch.Tensor) -> None:
            per_sample = output.numel() // max(1, output.shape[0])
            weight = cast("torch.Tensor", layer.weight)
            reduction = weight[0].numel() if not isinstance(layer, torch.nn.Linear) else weight.shape[1]
            macs[name] = macs.get(name, 0) + int(per_sample * reduction)
        return record

    for name, layer, _ in torch_layers(module):
        handles.append(layer.register_forward_hook(hook(name, layer)))
    try:
        with torch.no_grad():
            module(*example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return macs
