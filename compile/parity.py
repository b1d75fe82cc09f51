"""Numerical agreement between two sets of outputs, for the checks passes make on their own output.

NaN and infinities are values a model may legitimately produce (logits masked with -inf): the same
non-finite value at the same position on both sides is agreement, and errors are measured over the
positions finite on both. A position where only one side is non-finite, or the two hold different
non-finite values (+inf vs -inf, NaN vs inf), is a mismatch no tolerance can accept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compile.errors import PassError


def non_finite_mismatch(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Boolean mask (the inputs' common shape) of positions that disagree on NaN/inf: non-finite on
    one side only, or non-finite on both with different values. Both NaN, both +inf or both -inf agree."""
    ref, cand = np.asarray(reference), np.asarray(candidate)
    ref_bad, cand_bad = ~np.isfinite(ref), ~np.isfinite(cand)
    with np.errstate(invalid="ignore"):
        same = (np.isnan(ref) & np.isnan(cand)) | (np.isinf(ref) & (ref == cand))
    return np.asarray((ref_bad | cand_bad) & ~same)


def describe_mismatch(reference: np.ndarray, candidate: np.ndarray) -> str | None:
    """``"N positions disagree on NaN/inf (a non-finite only in the candidate, ...)"``, or None when none do."""
    ref, cand = np.asarray(reference), np.asarray(candidate)
    mismatch = non_finite_mismatch(ref, cand)
    total = int(mismatch.sum())
    if total == 0:
        return None
    ref_bad, cand_bad = ~np.isfinite(ref), ~np.isfinite(cand)
    parts = [(int((cand_bad & ~ref_bad).sum()), "non-finite only in the candidate"),
             (int((ref_bad & ~cand_bad).sum()), "non-finite only in the reference"),
             (int((mismatch & ref_bad & cand_bad).sum()), "with different non-finite values")]
    detail = ", ".join(f"{count} {what}" for count, what in parts if count)
    return f"{total} position{'s' if total != 1 else ''} disagree{'' if total != 1 else 's'} on NaN/inf ({detail})"


def max_relative_error(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> float:
    """max |ref - cand| / max(1, max |ref|) over all outputs: scale-free, robust to near-zero outputs.

    Measured over the positions finite on both sides (equal NaN/inf count as equal); inf when two
    outputs differ in shape. Raises :class:`~compile.errors.PassError` naming the output and the count
    of positions when the two disagree on where NaN/inf are (see :func:`non_finite_mismatch`)."""
    worst = 0.0
    for index, (ref, cand) in enumerate(zip(reference, candidate, strict=True)):
        ref64, cand64 = np.asarray(ref, dtype=np.float64), np.asarray(cand, dtype=np.float64)
        if ref64.shape != cand64.shape:
            return float("inf")
        if (problem := describe_mismatch(ref64, cand64)) is not None:
            raise PassError(f"output {index + 1} of {len(reference)}: {problem}")
        finite = np.isfinite(ref64)  # equal on both sides now
        scale = max(1.0, float(np.abs(ref64[finite]).max(initial=0.0)))
        worst = max(worst, float(np.abs(ref64[finite] - cand64[finite]).max(initial=0.0)) / scale)
    return worst
