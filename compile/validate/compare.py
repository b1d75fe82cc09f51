"""Compare reference and candidate outputs: figures per output chosen by its kind, agreement and labeled accuracy
with bootstrap intervals, as the flat ``metrics`` dict gates read and a nested section for the report.

Every output, and every declared column slice of one, is a *view* with a kind (:mod:`compile.validate.kinds`).
Metric names (what ``min_<metric>`` / ``max_<metric>`` gates check):

- every view's figures as ``<metric>.<view>`` (``max_abs_error.boxes``, ``cosine_mean.embedding``); a gate
  without ``.<view>`` applies to every view that measures the metric (:func:`compile.validate.gates.evaluate_gates`);
- headline figures ``<metric>``: the first view's that measures it (the generic figures are the first output's,
  ``top1_agreement`` the first classifier view's);
- generic figures on every view: ``cosine_similarity``, ``min_sample_cosine``, ``max_abs_error``, ``mean_abs_error``,
  ``max_rel_error``, ``mean_rel_error``, ``snr_db``, ``non_finite``, ``non_finite_mismatch`` (measured over the
  positions finite on both sides; the headline ``non_finite`` / ``non_finite_mismatch`` are sums over the outputs);
- ``logits`` / ``probabilities`` / ``scores``: ``top1_agreement``, ``top5_agreement`` along the last axis (per
  position, averaged per sample); with labels, on the first 2-D one, ``reference_top1``, ``candidate_top1``,
  ``top1_drop`` (points) and the top-5 counterparts;
- ``embedding``: ``cosine_mean``, ``cosine_min``, ``cosine_p1`` (per vector along the last axis);
- ``boxes`` / ``regression``: ``abs_error_p50/p90/p99``, ``rel_error_p50/p90/p99``;
- ``mask``: ``pixel_agreement``, ``mean_iou``;
- ``samples`` (inputs compared); user metrics' figures under their own names;
- interval bounds ``<metric>_lcb`` / ``<metric>_ucb`` (lower/upper confidence bound) of the agreements, drops,
  ``cosine_mean``, ``pixel_agreement`` and ``mean_iou``, so ``min_top1_agreement_lcb`` gates on the pessimistic end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from compile.validate.kinds import CLASS_KINDS, OutputView, class_view, resolve_views
from compile.validate.metrics import (
    class_agreement_hits,
    embedding_figures,
    error_percentiles,
    labeled_hits,
    mask_hits,
    non_finite_count,
    output_metrics,
)
from compile.validate.user_metrics import UserMetric

#: Headline figures summed over the outputs instead of taken from the first.
SUMMED = ("non_finite", "non_finite_mismatch")


def check_compatible(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray]) -> None:
    """Same output names and shapes, or one clear error naming the difference."""
    if set(reference) != set(candidate):
        only_ref = sorted(set(reference) - set(candidate))
        only_cand = sorted(set(candidate) - set(reference))
        raise UserInputError(f"reference and candidate outputs differ: reference only {only_ref}, candidate only {only_cand}")
    for name, ref in reference.items():
        if ref.shape != candidate[name].shape:
            raise UserInputError(f"output '{name}': reference shape {tuple(ref.shape)} vs candidate {tuple(candidate[name].shape)}")


def _bounds(figures: dict[str, float], name: str, interval: Interval) -> None:
    figures[f"{name}_lcb"] = interval.low
    figures[f"{name}_ucb"] = interval.high


def _kind_figures(view: OutputView, ref: np.ndarray, cand: np.ndarray, resamples: int, confidence: float,
                  seed: int) -> tuple[dict[str, float], dict[str, Interval]]:
    """The figures of ``view``'s kind, and their intervals."""
    figures: dict[str, float] = {}
    intervals: dict[str, Interval] = {}

    def measured(name: str, per_sample: np.ndarray, rate: bool) -> None:
        interval = bootstrap_mean(per_sample, resamples, confidence, seed, rate=rate)
        figures[name] = interval.value
        _bounds(figures, name, interval)
        intervals[name] = interval

    if view.kind in CLASS_KINDS:
        for k in (1, 5):
            measured(f"top{k}_agreement", class_agreement_hits(ref, cand, k), rate=True)
    elif view.kind == "embedding":
        cosines, per_sample = embedding_figures(ref, cand)
        figures.update(cosines)
        # Every sample has as many vectors, so the mean of the per-sample means is the mean over every vector.
        measured("cosine_mean", per_sample, rate=False)
    elif view.kind in ("boxes", "regression"):
        figures.update(error_percentiles(ref, cand))
    elif view.kind == "mask":
        agreement, ious = mask_hits(ref, cand)
        measured("pixel_agreement", agreement, rate=True)
        measured("mean_iou", ious, rate=False)
    return figures, intervals


def _labeled(ref: np.ndarray, cand: np.ndarray, labels: Sequence[int], resamples: int, confidence: float,
             seed: int) -> tuple[dict[str, float], dict[str, Interval]]:
    figures: dict[str, float] = {}
    intervals: dict[str, Interval] = {}
    for k in (1, 5):
        ref_hits, cand_hits = labeled_hits(ref, labels, k), labeled_hits(cand, labels, k)
        figures[f"reference_top{k}"] = float(ref_hits.mean())
        figures[f"candidate_top{k}"] = float(cand_hits.mean())
        drop = paired_difference(ref_hits, cand_hits, resamples, confidence, seed).scaled(100.0)
        figures[f"top{k}_drop"] = drop.value
        _bounds(figures, f"top{k}_drop", drop)
        intervals[f"top{k}_drop"] = drop
    return figures, intervals


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], labels: list[int] | None,
                    confidence: float = DEFAULT_CONFIDENCE, resamples: int = DEFAULT_RESAMPLES, seed: int = 0, *,
                    kinds: Mapping[str, str] | None = None, kind_sources: Mapping[str, str] | None = None,
                    user_metrics: Sequence[UserMetric] = (),
                    metadata: Mapping[str, np.ndarray] | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """The report section and the flat metrics of ``candidate`` against ``reference`` (output name -> (N, ...)).

    ``kinds``: declared output kinds (:func:`compile.validate.kinds.resolve_views`; the rest are inferred) and
    ``kind_sources`` where each came from; ``user_metrics`` are called on the whole outputs with ``labels`` and
    ``metadata``. Raises UserInputError for outputs that differ in name or shape, labels that do not match the
    sample count, a bad kind declaration, or a failing user metric."""
    check_compatible(reference, candidate)
    views = resolve_views({name: tuple(array.shape) for name, array in reference.items()}, kinds, kind_sources)
    samples = len(next(iter(reference.values())))
    labeled = class_view(views, reference) if labels is not None else None
    if labeled is not None and labels is not None and len(labels) != samples:
        raise UserInputError(f"{len(labels)} labels for {samples} samples")
    per_view: dict[str, dict[str, float]] = {}
    intervals: dict[str, Interval] = {}
    for view in views:
        ref, cand = view.select(reference[view.output]), view.select(candidate[view.output])
        figures = output_metrics(ref, cand)
        extra, view_intervals = _kind_figures(view, ref, cand, resamples, confidence, seed)
        figures.update(extra)
        if view is labeled and labels is not None:
            extra, labeled_intervals = _labeled(ref, cand, labels, resamples, confidence, seed)
            figures.update(extra)
            view_intervals.update(labeled_intervals)
        per_view[view.name] = figures
        intervals.update({f"{name}.{view.name}": interval for name, interval in view_intervals.items()})

    metrics: dict[str, float] = {}
    headline_intervals: dict[str, Interval] = {}
    for view in views:  # the first view measuring a figure gives its headline value
        for key, value in per_view[view.name].items():
            if key not in metrics:
                metrics[key] = value
                if (interval := intervals.get(f"{key}.{view.name}")) is not None:
                    headline_intervals[key] = interval
    whole = [view.name for view in views if view.columns is None]  # slices would count their output twice
    for key in SUMMED:
        metrics[key] = float(sum(per_view[name][key] for name in whole))
    metrics["reference_non_finite"] = float(sum(non_finite_count(r) for r in reference.values()))
    metrics["samples"] = float(samples)
    for name, figures in per_view.items():
        for key, value in figures.items():
            metrics[f"{key}.{name}"] = value

    report: dict[str, Any] = {key: value for key, value in metrics.items() if "." not in key}
    if user_metrics:
        report["user_metrics"] = {}
        builtin = set(report)
        for metric in user_metrics:
            figures = metric(reference, candidate, labels, metadata, builtin | set(metrics))
            metrics.update(figures)
            report["user_metrics"][metric.spec] = figures
    report["outputs"] = per_view
    report["output_kinds"] = {view.name: view.to_dict() for view in views}
    all_intervals = {**headline_intervals, **intervals}
    if all_intervals:
        report["confidence"] = {"level": confidence, "resamples": resamples, "seed": seed, "method": "paired percentile bootstrap",
                                **{name: interval.to_dict() for name, interval in all_intervals.items()}}
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
