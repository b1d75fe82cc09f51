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


# --- figures of one kind of output (compile/validate/kinds.py) -------------------------------------------


def _class_rows(x: np.ndarray) -> np.ndarray:
    """(N, P, C): class scores along the last axis for each of the P positions of a sample (P = 1 for (N, C)),
    NaN ranked lowest."""
    array = np.asarray(x, dtype=np.float64)
    rows = array.reshape(len(array), -1, array.shape[-1])
    return np.where(np.isnan(rows), -np.inf, rows)


def class_agreement_hits(reference: np.ndarray, candidate: np.ndarray, k: int = 1) -> np.ndarray:
    """Per sample, the share of its positions whose reference top-1 class (last axis) is among the candidate's
    top-k: 0.0 or 1.0 for an (N, C) output (as :func:`agreement_hits`), the per-anchor share for (N, A, C)."""
    ref, cand = _class_rows(reference), _class_rows(candidate)
    k = min(k, ref.shape[-1])
    ref_top1 = ref.argmax(-1)
    cand_topk = np.argsort(-cand, axis=-1, kind="stable")[..., :k]
    return (cand_topk == ref_top1[..., None]).any(-1).mean(axis=1)


def vector_cosines(reference: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """(N, P) cosine of each vector along the last axis (P = 1 for (N, D) embeddings, the tokens of (N, T, D)),
    with :func:`cosine_similarity`'s handling of NaN/inf."""
    ref, cand = np.asarray(reference), np.asarray(candidate)
    rows = len(ref) * int(np.prod(ref.shape[1:-1], dtype=np.int64))
    cosines = cosine_similarity(ref.reshape(rows, ref.shape[-1]), cand.reshape(rows, cand.shape[-1]))
    return cosines.reshape(len(ref), -1)


def embedding_figures(reference: np.ndarray, candidate: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """``cosine_mean``, ``cosine_min`` and ``cosine_p1`` (1st percentile, linear interpolation) over every
    vector, and the per-sample mean cosine the interval of ``cosine_mean`` resamples. NaN (a NaN/inf mismatch)
    propagates, so every gate on them fails."""
    cosines = vector_cosines(reference, candidate)
    flat = cosines.reshape(-1)
    return ({"cosine_mean": float(flat.mean()), "cosine_min": float(flat.min()),
             "cosine_p1": float(np.percentile(flat, 1.0))}, cosines.mean(axis=1))


#: Relative errors divide by ``max(|ref|, REL_FLOOR x mean |ref|)``: coordinates at 0 do not make them explode.
REL_FLOOR = 0.01


def error_percentiles(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """``abs_error_p50/p90/p99`` of |ref - cand| and ``rel_error_p50/p90/p99`` of |ref - cand| / max(|ref|,
    1% of the output's mean |ref|), over the positions finite on both (linear interpolation); inf when a
    position disagrees on NaN/inf."""
    ref, cand, mismatch = _finite_pair(reference, candidate)
    finite = np.isfinite(_flat(reference)) & np.isfinite(_flat(candidate))
    keys = [f"{what}_error_p{q}" for what in ("abs", "rel") for q in (50, 90, 99)]
    if mismatch.any():
        return dict.fromkeys(keys, float("inf"))
    diff = np.abs(ref - cand)[finite]
    if diff.size == 0:
        return dict.fromkeys(keys, 0.0)
    magnitude = np.abs(ref[finite])
    rel = diff / np.maximum(magnitude, max(REL_FLOOR * float(magnitude.mean()), 1e-12))
    abs_q, rel_q = np.percentile(diff, [50, 90, 99]), np.percentile(rel, [50, 90, 99])
    return dict(zip(keys, [float(v) for v in (*abs_q, *rel_q)], strict=True))


def mask_labels(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(N, H, W) class maps of both and the class count: the argmax over axis 1 of (N, C, H, W) maps with C > 1;
    else a binary map (count ``None``), thresholded at 0.5 when the reference lies in [0, 1] (probabilities), at 0
    otherwise (logits)."""
    ref, cand = np.asarray(reference, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if ref.ndim == 4 and ref.shape[1] > 1:
        return (np.where(np.isnan(ref), -np.inf, ref).argmax(1), np.where(np.isnan(cand), -np.inf, cand).argmax(1),
                int(ref.shape[1]))
    if ref.ndim == 4:
        ref, cand = ref[:, 0], cand[:, 0]
    finite = ref[np.isfinite(ref)]
    threshold = 0.5 if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0 else 0.0
    return (ref > threshold).astype(np.int64), (cand > threshold).astype(np.int64), None


def mask_hits(reference: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the share of pixels whose class agrees, and the IoU of the two class maps: for C classes the
    mean over the classes present in either map of |ref = c and cand = c| / |ref = c or cand = c|; for a binary
    map the foreground's IoU (1.0 when neither has foreground)."""
    ref, cand, count = mask_labels(reference, candidate)
    classes = count or 2
    agreement = (ref == cand).reshape(len(ref), -1).mean(axis=1)
    ious = np.empty(len(ref))
    for i in range(len(ref)):
        confusion = np.bincount((ref[i] * classes + cand[i]).reshape(-1), minlength=classes * classes).reshape(classes, classes)
        inter = np.diag(confusion).astype(np.float64)
        union = confusion.sum(0) + confusion.sum(1) - inter
        if count is None:
            ious[i] = inter[1] / union[1] if union[1] else 1.0
        else:
            present = union > 0
            ious[i] = float((inter[present] / union[present]).mean()) if present.any() else 1.0
    return agreement, ious

