"""Bootstrap confidence intervals for per-sample figures (agreement, paired accuracy difference).

Validation sets in CI are small (tens to a few thousand images), so a point value alone overstates
how sure a result is. A paired bootstrap resamples *samples* (the same indices for reference and
candidate), so the interval of an accuracy drop reflects how often the two models disagree on the
same image, not the noise of each accuracy on its own.

When every sample is identical (the candidate agrees on every image, or no pair is discordant) the
bootstrap interval collapses to a point, which would claim certainty from a few dozen images; the
exact Clopper-Pearson bound for zero events is reported instead (about 3/n at 95%: 64 images that
all agree still allow an agreement of 94.4%, a drop of up to 5.6 points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0
#: Resamples drawn per chunk, so memory stays bounded for large sets (chunk x samples indices).
_CHUNK = 100


#: How an interval was found: resampling, or the exact bound for a rate where no event was seen.
BOOTSTRAP = "percentile bootstrap"
ZERO_EVENT = "exact zero-event bound"


@dataclass(frozen=True)
class Interval:
    """A point value and its two-sided interval: percentile bootstrap, or the exact zero-event bound."""

    value: float
    low: float
    high: float
    confidence: float
    resamples: int
    #: Samples the figure was measured on.
    samples: int = 0
    method: str = BOOTSTRAP

    def scaled(self, factor: float) -> Interval:
        return Interval(self.value * factor, self.low * factor, self.high * factor, self.confidence, self.resamples,
                        self.samples, self.method)

    def to_dict(self) -> dict[str, float | str]:
        return {"value": self.value, "low": self.low, "high": self.high, "confidence": self.confidence,
                "resamples": self.resamples, "samples": self.samples, "method": self.method}


def bootstrap_mean(values: Sequence[float] | np.ndarray, resamples: int = DEFAULT_RESAMPLES,
                   confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED, rate: bool = True) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (seeded: the same inputs give the same interval).

    ``rate``: the values are per-sample rates (hits, agreement shares), so all-1 or all-0 values get the exact
    zero-event bound instead of a collapsed interval; false for continuous figures (a cosine of exactly 1.0 on
    every sample is certain: the outputs are identical)."""
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    if data.size == 0:
        raise ValueError("bootstrap needs at least one sample")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, _CHUNK):
        count = min(_CHUNK, resamples - start)
        indices = rng.integers(0, data.size, size=(count, data.size))
        means[start:start + count] = data[indices].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    interval = Interval(float(data.mean()), float(low), float(high), confidence, resamples, data.size)
    if rate and np.all(data == data[0]) and data[0] in (0.0, 1.0):
        # Every sample identical (all agree, or none): resampling cannot move the mean, so the
        # percentile interval collapses to a point. Use the exact (Clopper-Pearson) bound for zero
        # events instead: with n samples and none of the other kind, the rate of the other kind
        # can still be up to 1 - (alpha)^(1/n) (about 3/n at 95%).
        bound = zero_event_bound(data.size, confidence)
        interval = Interval(interval.value, 1.0 - bound if data[0] == 1.0 else 0.0,
                            1.0 if data[0] == 1.0 else bound, confidence, resamples, data.size, ZERO_EVENT)
    return interval


def zero_event_bound(samples: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """Exact two-sided upper bound on a rate when 0 events were seen in ``samples`` trials."""
    alpha = (1.0 - confidence) / 2.0
    return float(1.0 - alpha ** (1.0 / samples))


def paired_difference(reference_hits: Sequence[float] | np.ndarray, candidate_hits: Sequence[float] | np.ndarray,
                      resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                      seed: int = DEFAULT_SEED) -> Interval:
    """Interval of mean(reference_hits - candidate_hits), resampling samples in pairs."""
    ref = np.asarray(reference_hits, dtype=np.float64).reshape(-1)
    cand = np.asarray(candidate_hits, dtype=np.float64).reshape(-1)
    if ref.shape != cand.shape:
        raise ValueError(f"paired samples must have the same length, got {ref.size} and {cand.size}")
    diff = ref - cand
    if diff.size and np.all(diff == 0.0):
        # No discordant pair: the difference is bounded by the rate of discordant pairs, whose exact
        # bound for zero events is used (the bootstrap would collapse to [0, 0]).
        bound = zero_event_bound(diff.size, confidence)
        return Interval(0.0, -bound, bound, confidence, resamples, diff.size, ZERO_EVENT)
    return bootstrap_mean(diff, resamples, confidence, seed)


def samples_needed(value: float, bound: float, threshold: float, samples: int, confidence: float, method: str) -> int | None:
    """About how many samples would make a gate conclusive at the observed rate: the count at which the interval's
    pessimistic ``bound`` (the lower one of a ``min_`` gate, the upper one of a ``max_``) reaches ``threshold``,
    ``value`` (which passes) staying as measured. ``None`` when none can (``value`` equals the threshold).

    A bootstrap interval's half-width shrinks as 1/sqrt(n): n' = ceil(n ((value - bound) / (value - threshold))^2).
    The exact zero-event bound at n samples is s (1 - (alpha/2)^(1/n)) with s its scale (1 for a rate, 100 for a
    drop in points, recovered from the bound itself): n' = ceil(ln(alpha/2) / ln(1 - |value - threshold| / s)),
    e.g. 122 samples that all agree for min_top1_agreement = 0.97 at 95%."""
    margin, width = abs(value - threshold), abs(value - bound)
    if margin == 0.0 or samples < 1:
        return None
    if method == ZERO_EVENT:
        scale = width / zero_event_bound(samples, confidence)
        share = margin / scale
        if share >= 1.0:
            return 1
        return max(samples, math.ceil(math.log((1.0 - confidence) / 2.0) / math.log(1.0 - share)))
    return max(samples, math.ceil(samples * (width / margin) ** 2))
