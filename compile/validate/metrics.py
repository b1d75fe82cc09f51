"""Parity metrics between reference and candidate outputs, and labeled accuracy when labels exist.

All functions take plain numpy arrays of shape (N, ...) and return plain floats, so they can be
checked against hand-computed cases.

Outputs may legitimately hold NaN or infinities (logits masked with -inf). The same non-finite value
at the same position on both sides counts as equal, and the figures are measured over the positions
finite on both. Where the two disagree on NaN/inf (:func:`compile.parity.non_finite_mismatch`) the
error there is unbounded: the errors are inf, the SNR -inf and the cosine of each sample concerned NaN,
so every gate on them fails, and ``non_finite_mismatch`` counts the positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compile.parity import non_finite_mismatch


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)


def _ranked(x: np.ndarray) -> np.ndarray:
    """Flattened scores for ranking, NaN ranked lowest (as -inf), so argmax and argsort agree on it."""
    flat = _flat(x)
    return np.where(np.isnan(flat), -np.inf, flat)


def _finite_pair(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened (N, D) copies with every non-finite position zeroed on both sides, and the (N, D) mask
    of positions disagreeing on NaN/inf: equal non-finite values then weigh nothing in any figure."""
    ref, cand = _flat(reference), _flat(candidate)
    mismatch = non_finite_mismatch(ref, cand)
    finite = np.isfinite(ref) & np.isfinite(cand)
    return np.where(finite, ref, 0.0), np.where(finite, cand, 0.0), mismatch


def topk_indices(logits: np.ndarray, k: int) -> np.ndarray:
    flat = _ranked(logits)
    k = min(k, flat.shape[1])
    return np.argsort(-flat, axis=1, kind="stable")[:, :k]


def top1_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    return float(np.mean(agreement_hits(reference, candidate, 1)))


def topk_agreement(reference: np.ndarray, candidate: np.ndarray, k: int = 5) -> float:
    """Share of samples whose reference top-1 class is among the candidate's top-k."""
    return float(np.mean(agreement_hits(reference, candidate, k)))


def agreement_hits(reference: np.ndarray, candidate: np.ndarray, k: int = 1) -> np.ndarray:
    """Per sample, 1.0 when the reference's top-1 class is among the candidate's top-k, else 0.0."""
    ref_top1 = _ranked(reference).argmax(1)
    cand_topk = topk_indices(candidate, k)
    return (cand_topk == ref_top1[:, None]).any(axis=1).astype(np.float64)


def labeled_hits(logits: np.ndarray, labels: Sequence[int], k: int) -> np.ndarray:
    """Per sample, 1.0 when the label is among the top-k classes, else 0.0."""
    topk = topk_indices(logits, k)
    return (topk == np.asarray(labels, dtype=np.int64)[:, None]).any(axis=1).astype(np.float64)


def cosine_similarity(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Per-sample cosine similarity over the positions finite on both (1.0 where both vectors are
    zero); NaN for a sample with a position disagreeing on NaN/inf."""
    ref, cand, mismatch = _finite_pair(reference, candidate)
    dot = (ref * cand).sum(1)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    both_zero = norms == 0
    safe = np.where(both_zero, 1.0, norms)
    return np.where(mismatch.any(1), np.nan, np.where(both_zero, 1.0, dot / safe))


def _mean_over_finite(values: np.ndarray, reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean of per-position ``values`` over the positions finite on both sides (0.0 when there are none)."""
    finite = np.isfinite(_flat(reference)) & np.isfinite(_flat(candidate))
    return float(values[finite].mean()) if finite.any() else 0.0


def abs_errors(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float]:
    """Max and mean |ref - cand| over the positions finite on both; (inf, inf) when any position
    disagrees on NaN/inf."""
    ref, cand, mismatch = _finite_pair(reference, candidate)
    if mismatch.any():
        return float("inf"), float("inf")
    diff = np.abs(ref - cand)
    return float(diff.max(initial=0.0)), _mean_over_finite(diff, reference, candidate)


def rel_errors(reference: np.ndarray, candidate: np.ndarray, eps: float = 1e-6) -> tuple[float, float]:
    """Element-wise |ref - cand| / (|ref| + eps): max and mean over the positions finite on both;
    (inf, inf) when any position disagrees on NaN/inf."""
    ref, cand, mismatch = _finite_pair(reference, candidate)
    if mismatch.any():
        return float("inf"), float("inf")
    rel = np.abs(ref - cand) / (np.abs(ref) + eps)
    return float(rel.max(initial=0.0)), _mean_over_finite(rel, reference, candidate)


def snr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Signal-to-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - cand)^2) over the positions finite
    on both; inf when identical, -inf when any position disagrees on NaN/inf."""
    ref, cand, mismatch = _finite_pair(reference, candidate)
    if mismatch.any():
        return float("-inf")
    noise = float(((ref - cand) ** 2).sum())
    signal = float((ref**2).sum())
    if noise == 0.0:
        return float("inf")
    if signal == 0.0:
        return float("-inf")
    return 10.0 * float(np.log10(signal / noise))


def labeled_topk(logits: np.ndarray, labels: Sequence[int], k: int) -> float:
    return float(np.mean(labeled_hits(logits, labels, k)))


def non_finite_count(outputs: np.ndarray) -> int:
    array = np.asarray(outputs)
    if not np.issubdtype(array.dtype, np.floating):
        return 0
    return int((~np.isfinite(array)).sum())


def non_finite_mismatch_count(reference: np.ndarray, candidate: np.ndarray) -> int:
    """Positions where reference and candidate disagree on NaN/inf (see :func:`compile.parity.non_finite_mismatch`)."""
    return int(non_finite_mismatch(reference, candidate).sum())


def output_metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Every parity figure for one output."""
    max_abs, mean_abs = abs_errors(reference, candidate)
    max_rel, mean_rel = rel_errors(reference, candidate)
    cosines = cosine_similarity(reference, candidate)
    return {
        "cosine_similarity": float(cosines.mean()),
        "min_sample_cosine": float(cosines.min(initial=1.0)),
        "max_abs_error": max_abs,
        "mean_abs_error": mean_abs,
        "max_rel_error": max_rel,
        "mean_rel_error": mean_rel,
        "snr_db": snr_db(reference, candidate),
        "non_finite": float(non_finite_count(candidate)),
        "non_finite_mismatch": float(non_finite_mismatch_count(reference, candidate)),
    }
