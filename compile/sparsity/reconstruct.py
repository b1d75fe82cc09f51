"""Least-squares reconstruction of pruned weights with the 2:4 masks held fixed (the weight update of
SparseGPT/OBS, solved exactly for one layer at a time).

For each pruned 1x1 Conv or Linear layer, the dense layer's inputs ``X`` over the calibration data
give ``G = X^T X``; every output row keeps its 2-of-4 support ``K`` and its kept weights become the
solution of ``min ||X[:, K] w - X w_dense||^2``, i.e. ``G[K, K] w = (G w_dense)[K]`` (with a small
damping). Seconds of work instead of minutes of fine-tuning; the zeros stay exactly zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Damping added to G's diagonal, relative to its mean diagonal.
DAMPING = 0.01


def _reconstructable(layer: torch.nn.Module) -> bool:
    from torch import nn

    if isinstance(layer, nn.Linear):
        return True
    return (isinstance(layer, nn.modules.conv._ConvNd) and layer.groups == 1
            and all(k == 1 for k in layer.kernel_size) and all(s == 1 for s in layer.stride))


def reconstruct_pruned(student: torch.nn.Module, teacher: torch.nn.Module, masks: dict[str, torch.Tensor],
                       batches: list[tuple[Any, ...]]) -> list[str]:
    """Re-fit the kept weights of every reconstructable pruned layer; returns the layers re-fitted."""
    import torch

    dense = dict(teacher.named_modules())
    sparse = dict(student.named_modules())
    names = [name for name in masks if _reconstructable(dense[name])]
    grams: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Any:
        def collect(_: Any, inputs: tuple[torch.Tensor, ...], __: Any) -> None:
            x = inputs[0]
            rows = x.movedim(1, -1).reshape(-1, x.shape[1]) if x.dim() > 2 and not isinstance(dense[name], torch.nn.Linear) \
                else x.reshape(-1, x.shape[-1])
            rows = rows.double()
            grams[name] = grams.get(name, 0) + rows.T @ rows
        return collect

    handles = [dense[name].register_forward_hook(hook(name)) for name in names]
    try:
        with torch.no_grad():
            for batch in batches:
                teacher(*batch)
    finally:
        for handle in handles:
            handle.remove()
    done = []
    for name in names:
        if name not in grams:
            continue
        weight = dense[name].weight.detach().double()
        w = weight.reshape(weight.shape[0], -1)
        mask = masks[name].reshape(w.shape)
        gram = grams[name]
        damped = DAMPING * gram.diagonal().mean().clamp_min(1e-12)
        kept = torch.stack([torch.nonzero(row).flatten() for row in mask])  # 2 of every 4: same count per row
        sub = gram[kept.unsqueeze(2), kept.unsqueeze(1)] + damped * torch.eye(kept.shape[1], dtype=gram.dtype)
        rhs = torch.gather(w @ gram, 1, kept)
        solved = torch.linalg.solve(sub, rhs.unsqueeze(-1)).squeeze(-1)
        new = torch.zeros_like(w).scatter_(1, kept, solved)
        target = sparse[name].weight
        with torch.no_grad():
            target.copy_(new.reshape(target.shape).to(target.dtype))
        done.append(name)
    return done
