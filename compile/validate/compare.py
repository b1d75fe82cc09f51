"""Compare reference and candidate outputs: per-output parity figures, agreement and labeled accuracy
with bootstrap intervals, as the flat ``metrics`` dict gates read and a nested section for the report.

Metric names (what ``min_<metric>`` / ``max_<metric>`` gates check):

- headline figures from the first output (the logits): ``cosine_similarity``, ``max_abs_error``, ...
  (measured over the positions finite on both sides: equal NaN/inf at the same position are equal);
- ``non_finite`` (NaN/inf values in the candidate) and ``non_finite_mismatch`` (positions where the
  candidate and the reference disagree on NaN/inf, which also make that output's errors infinite and
  its cosine NaN), summed over the outputs;
- every output's figures as ``<metric>.<output>`` (``max_abs_error.boxes``), for per-output gates;
- ``top1_agreement`` / ``top5_agreement`` and, with labels, ``reference_top1``, ``candidate_top1``,
  ``top1_drop`` (points) and the top-5 counterparts;
- interval bounds ``<metric>_lcb`` / ``<metric>_ucb`` (lower/upper confidence bound) for the
  agreements and the drops, so ``min_top1_agreement_lcb`` or ``max_top1_drop_ucb`` gate on the
  pessimistic end of the interval instead of the point value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compile.errors import UserInputError
from compile.validate.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    Interval,
    bootstrap_mean,
    paired_difference,
)
from compile.validate.metrics import agreement_hits, labeled_hits, non_finite_count, output_metrics


def check_compatible(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> None:
    """Same output names and shapes, or one clear error naming the difference."""
    if set(reference) != set(candidate):
        only_ref = sorted(set(reference) - set(candidate))
        only_cand = sorted(set(candidate) - set(reference))
        raise UserInputError(f"reference and candidate outputs differ: reference only {only_ref}, candidate only {only_cand}")
    for name, ref in reference.items():
        if ref.shape != candidate[name].shape:
            raise UserInputError(f"output '{name}': reference shape {tuple(ref.shape)} vs candidate {tuple(candidate[name].shape)}")


def _bounds(metrics: dict[str, float], name: str, interval: Interval) -> None:
    metrics[f"{name}_lcb"] = interval.low
    metrics[f"{name}_ucb"] = interval.high


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], labels: list[int] | None,
                    confidence: float = DEFAULT_CONFIDENCE, resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0) -> tuple[dict[str, Any], dict[str, float]]:
    """Per-output figures, headline metrics from the first output, intervals for agreement and drop."""
    check_compatible(reference, candidate)
    per_output = {name: output_metrics(ref, candidate[name]) for name, ref in reference.items()}
    first = next(iter(reference))
    ref, cand = reference[first], candidate[first]
    metrics: dict[str, float] = dict(per_output[first])
    metrics["non_finite"] = float(sum(o["non_finite"] for o in per_output.values()))
    metrics["reference_non_finite"] = float(sum(non_finite_count(r) for r in reference.values()))
    metrics["non_finite_mismatch"] = float(sum(o["non_finite_mismatch"] for o in per_output.values()))
    for name, figures in per_output.items():
        for key, value in figures.items():
            metrics[f"{key}.{name}"] = value
    intervals: dict[str, Interval] = {}
    if ref.ndim == 2 and ref.shape[1] > 1:
        for k in (1, 5):
            interval = bootstrap_mean(agreement_hits(ref, cand, k), resamples, confidence, seed)
            metrics[f"top{k}_agreement"] = interval.value
            _bounds(metrics, f"top{k}_agreement", interval)
            intervals[f"top{k}_agreement"] = interval
        if labels is not None:
            if len(labels) != len(ref):
                raise UserInputError(f"{len(labels)} labels for {len(ref)} samples")
            for k in (1, 5):
                ref_hits, cand_hits = labeled_hits(ref, labels, k), labeled_hits(cand, labels, k)
                metrics[f"reference_top{k}"] = float(ref_hits.mean())
                metrics[f"candidate_top{k}"] = float(cand_hits.mean())
                drop = paired_difference(ref_hits, cand_hits, resamples, confidence, seed).scaled(100.0)
                metrics[f"top{k}_drop"] = drop.value
                _bounds(metrics, f"top{k}_drop", drop)
                intervals[f"top{k}_drop"] = drop
    report: dict[str, Any] = {key: value for key, value in metrics.items() if "." not in key}
    report["outputs"] = per_output
    if intervals:
        report["confidence"] = {"level": confidence, "resamples": resamples, "seed": seed, "method": "paired percentile bootstrap",
                                **{name: interval.to_dict() for name, interval in intervals.items()}}
    return report, metrics


def non_finite_warning(metrics: dict[str, float]) -> str | None:
    """One line naming each output whose NaN/inf positions differ from the reference's, with the count
    of such positions (from ``non_finite_mismatch.<output>``), or None when they all agree."""
    counts = {key.partition(".")[2]: int(value) for key, value in metrics.items()
              if key.startswith("non_finite_mismatch.") and value}
    if not counts:
        return None
    where = ", ".join(f"'{name}' at {count} position{'s' if count != 1 else ''}" for name, count in counts.items())
    return f"the candidate's NaN/inf differ from the reference's: {where} (errors there are unbounded: cosine NaN, errors inf)"
