"""Numerical agreement between two sets of outputs, for the checks passes make on their own output."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def max_relative_error(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> float:
    """max |ref - cand| / max(1, max |ref|) over all outputs: scale-free, robust to near-zero outputs."""
    worst = 0.0
    for ref, cand in zip(reference, candidate, strict=True):
        ref64, cand64 = np.asarray(ref, dtype=np.float64), np.asarray(cand, dtype=np.float64)
        if ref64.shape != cand64.shape:
            return float("inf")
        if not np.isfinite(cand64).all():
            return float("inf")
        scale = max(1.0, float(np.abs(ref64).max(initial=0.0)))
        worst = max(worst, float(np.abs(ref64 - cand64).max(initial=0.0)) / scale)
    return worst
