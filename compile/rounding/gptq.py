"""GPTQ rounding of a stack of weight groups, with fixed per-row scales.

For each group, columns are rounded left to right. The error of column ``j`` is spread over the
columns to its right through the upper Cholesky factor ``U`` of ``H^-1`` (``w_k -= e_j U[j, k] / U[j, j]``),
which keeps the output error ``e H e^T`` small (Frantar et al., 2023, "GPTQ"). Columns are handled in
blocks: within a block one column at a time, then one matrix product carries the block's errors to
the rest. With ``H`` diagonal (uncorrelated inputs) nothing is spread and the result is plain
round-to-nearest.

A fixed sparsity mask (2:4 pruning done before quantization) is kept as SparseGPT keeps it (Frantar and
Alistarh, 2023): a pruned weight gets the integer 0 whatever compensation reached it, and that whole
value becomes its error, carried on to the kept weights to its right. Without this the compensation
of earlier columns fills pruned zeros and the pattern is lost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Added to ``H``'s diagonal, as a share of its mean: keeps the inverse stable (the GPTQ default).
DAMPING = 0.01
BLOCK = 128


def gptq_round(rows: np.ndarray, hessian: np.ndarray, scale: np.ndarray, qmin: int = -127, qmax: int = 127,
               damping: float = DAMPING, keep: np.ndarray | None = None) -> np.ndarray:
    """Integers for ``rows`` (``groups x rows x cols``) on the grid ``scale`` (``groups x rows``), given each
    group's input moments ``hessian`` (``groups x cols x cols``). Symmetric: zero point 0.

    ``keep`` (bool, ``rows``' shape): the weights that may be non-zero; the others (pruned) come out as
    exactly 0 and their error is spread over the kept weights. ``None`` keeps every weight."""
    import torch

    weights = torch.from_numpy(np.asarray(rows, dtype=np.float64)).clone()
    kept = None if keep is None else torch.from_numpy(np.asarray(keep, dtype=bool))
    steps = torch.from_numpy(np.asarray(scale, dtype=np.float64)).unsqueeze(-1)
    groups, _, cols = weights.shape
    moments = torch.from_numpy(np.asarray(hessian, dtype=np.float64)).clone()
    diagonal = torch.diagonal(moments, dim1=1, dim2=2)
    dead = diagonal <= 0
    # A column no input ever reaches: its weight does not matter; round it alone and keep H invertible.
    diagonal[dead] = 1.0
    unseen = dead.unsqueeze(1).expand_as(weights)
    weights = torch.where(unseen, torch.round(weights / steps).clamp(qmin, qmax) * steps, weights)
    if kept is not None:
        weights = torch.where(kept, weights, torch.zeros_like(weights))
    diagonal += damping * diagonal.mean(dim=1, keepdim=True)
    upper = _inverse_cholesky_upper(moments)
    integers = torch.zeros_like(weights)
    for start in range(0, cols, BLOCK):
        end = min(start + BLOCK, cols)
        errors = torch.zeros(groups, weights.shape[1], end - start, dtype=torch.float64)
        for j in range(start, end):
            column = weights[:, :, j]
            q = torch.round(column / steps[..., 0]).clamp(qmin, qmax)
            if kept is not None:
                q = torch.where(kept[:, :, j], q, torch.zeros_like(q))
            integers[:, :, j] = q
            error = (column - q * steps[..., 0]) / upper[:, j, j].unsqueeze(1)
            weights[:, :, j + 1:end] -= error.unsqueeze(2) * upper[:, j, j + 1:end].unsqueeze(1)
            errors[:, :, j - start] = error
        if end < cols:
            weights[:, :, end:] -= torch.bmm(errors, upper[:, start:end, end:])
    return integers.numpy().astype(np.int64)


def _inverse_cholesky_upper(moments: Any) -> Any:
    """Upper Cholesky factor of ``H^-1``, batched; more damping if ``H`` is numerically singular."""
    import torch

    extra = 0.0
    for _ in range(6):
        try:
            damped = moments + extra * torch.diag_embed(torch.diagonal(moments, dim1=1, dim2=2).mean(1, keepdim=True).expand(-1, moments.shape[1]))
            lower = torch.linalg.cholesky(damped)
            return torch.linalg.cholesky(torch.cholesky_inverse(lower), upper=True)
        except RuntimeError:
            extra = 0.1 if extra == 0.0 else extra * 10
    raise ValueError("weight rounding: the input moments are not positive definite even with damping")


def output_error(rows: np.ndarray, rounded: np.ndarray, hessian: np.ndarray) -> float:
    """``sum e H e^T`` over rows and groups: the squared output error of replacing ``rows`` with ``rounded``."""
    error = np.asarray(rounded, dtype=np.float64) - np.asarray(rows, dtype=np.float64)
    return float((np.matmul(error, np.asarray(hessian, dtype=np.float64)) * error).sum())
