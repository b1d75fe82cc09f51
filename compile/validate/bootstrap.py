"""Bootstrap confidence intervals for per-sample figures (agreement, paired accuracy difference).

Validation sets in CI are small (tens to a few thousand images), so a point value alone overstates
how sure a result is. A paired bootstrap resamples *samples* (the same indices for reference and
candidate), so the interval of an accuracy drop reflects how often the two models disagree on the
same image, not the noise of each accuracy on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0
#: Resamples drawn per chunk, so memory stays bounded for large sets (chunk x samples indices).
_CHUNK = 100


@dataclass(frozen=True)
class Interval:
    """A point value and its two-sided percentile bootstrap interval."""

    value: float
    low: float
    high: float
    confidence: float
    resamples: int

    def scaled(self, factor: float) -> Interval:
        return Interval(self.value * factor, self.low * factor, self.high * factor, self.confidence, self.resamples)

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high, "confidence": self.confidence,
                "resamples": self.resamples}


def bootstrap_mean(values: Sequence[float] | np.ndarray, resamples: int = DEFAULT_RESAMPLES,
                   confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (seeded: the same inputs give the same interval)."""
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
    return Interval(float(data.mean()), float(low), float(high), confidence, resamples)


def paired_difference(reference_hits: Sequence[float] | np.ndarray, candidate_hits: Sequence[float] | np.ndarray,
                      resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                      seed: int = DEFAULT_SEED) -> Interval:
    """Interval of mean(reference_hits - candidate_hits), resampling samples in pairs."""
    ref = np.asarray(reference_hits, dtype=np.float64).reshape(-1)
    cand = np.asarray(candidate_hits, dtype=np.float64).reshape(-1)
    if ref.shape != cand.shape:
        raise ValueError(f"paired samples must have the same length, got {ref.size} and {cand.size}")
    return bootstrap_mean(ref - cand, resamples, confidence, seed)
