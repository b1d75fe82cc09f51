"""Activation ranges chosen per tensor by the error of its 8-bit grid (MSE), not by its min and max.

Min/max stretches a tensor's grid over its rarest outlier. On EfficientNet-Lite0 the projection
outputs and residual sums span +-30 to +-100 while almost all their values lie within a third of
that, so most of the 256 levels cover values that hardly occur and the rest are coarse. Here each
tensor's range is the one that minimises the expected squared error of quantizing it, over the
calibration inputs: a value inside the range is rounded (error ``step^2 / 12``; an exact zero stays
exact, since zero is always on the grid), a value outside is clipped to the edge (error: its
distance squared). The error is evaluated for every pair of candidate edges at once from one
histogram per tensor (one pass of the float model over the calibration inputs, bins spanning the
min/max range), the way TensorRT's and OpenVINO's MSE calibrators choose ranges.

Grids follow the INT8 convention: unsigned asymmetric (``onnxruntime-cpu``: scale ``(high - low) / 255``
with zero in the range, as ONNX Runtime computes it) or signed symmetric (``tensorrt``: scale
``t / 127`` for the range ``[-t, t]``). A ReLU6 output whose values pile up at 6 keeps its range: clipping
there costs more than it saves.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compile.calibration.exposed import exposed_tensors
from compile.errors import PassError

#: Histogram bins over each tensor's min/max range.
BINS = 2048
#: Candidate edges per side, as fractions of the min/max edge (geometric: fine near the full range).
CANDIDATES = 96
#: The narrowest candidate edge, as a fraction of the min/max edge.
NARROWEST = 0.02


@dataclass
class TensorHistogram:
    """Non-zero values of one tensor in ``bins`` equal bins over ``[low, high]`` (zero included), and its exact zeros."""

    low: float
    high: float
    counts: np.ndarray
    zeros: int = 0

    @property
    def centers(self) -> np.ndarray:
        edges = np.linspace(self.low, self.high, len(self.counts) + 1)
        return (edges[:-1] + edges[1:]) / 2

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.zeros


def histogram_of(values: np.ndarray, low: float, high: float, bins: int = BINS) -> TensorHistogram:
    """The histogram of ``values`` over ``[min(low, 0), max(high, 0)]`` (values outside land in the edge bins)."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    nonzero = flat[flat != 0]
    counts = np.histogram(np.clip(nonzero, low, high), bins=bins, range=(low, high))[0] if high > low else np.zeros(bins)
    return TensorHistogram(low, high, counts.astype(np.float64), int(flat.size - nonzero.size))


def _step(low: np.ndarray, high: np.ndarray, signed: bool) -> np.ndarray:
    return np.maximum(high, -low) / 127.0 if signed else (high - low) / 255.0


def _clip_errors(centers: np.ndarray, counts: np.ndarray, edges: np.ndarray, below: bool) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate edge: the squared error of clipping every value beyond it to it, and how many were clipped."""
    order_counts, c1, c2 = counts, counts * centers, counts * centers ** 2
    cum0, cum1, cum2 = (np.concatenate([[0.0], np.cumsum(a)]) for a in (order_counts, c1, c2))
    if below:  # values with centre < edge
        index = np.searchsorted(centers, edges, side="left")
        n, s1, s2 = cum0[index], cum1[index], cum2[index]
    else:  # values with centre > edge
        index = np.searchsorted(centers, edges, side="right")
        n, s1, s2 = cum0[-1] - cum0[index], cum1[-1] - cum1[index], cum2[-1] - cum2[index]
    return np.maximum(s2 - 2 * edges * s1 + edges ** 2 * n, 0.0), n


def range_errors(hist: TensorHistogram, lows: np.ndarray, highs: np.ndarray, signed: bool) -> np.ndarray:
    """Expected squared error (summed over the tensor's values) of quantizing with each ``(lows[i], highs[j])``
    range: a matrix ``len(lows) x len(highs)``. Signed grids are symmetric: only ``max(-low, high)`` matters."""
    centers, counts = hist.centers, hist.counts
    low_error, low_clipped = _clip_errors(centers, counts, np.asarray(lows, dtype=np.float64), below=True)
    high_error, high_clipped = _clip_errors(centers, counts, np.asarray(highs, dtype=np.float64), below=False)
    step = _step(np.asarray(lows, dtype=np.float64)[:, None], np.asarray(highs, dtype=np.float64)[None, :], signed)
    inside = np.maximum(counts.sum() - low_clipped[:, None] - high_clipped[None, :], 0.0)
    return low_error[:, None] + high_error[None, :] + inside * step ** 2 / 12.0


def quantization_mse(hist: TensorHistogram, low: float, high: float, signed: bool) -> float:
    """Mean squared error per value of quantizing the histogram's tensor with the range ``[low, high]``."""
    if hist.total == 0:
        return 0.0
    if signed:
        t = max(-low, high)
        low, high = -t, t
    return float(range_errors(hist, np.array([low]), np.array([high]), signed)[0, 0]) / hist.total


def best_range(hist: TensorHistogram, signed: bool) -> tuple[float, float]:
    """The range with the least quantization error. Unsigned: both edges searched (zero stays inside);
    signed: ``[-t, t]``. The min/max range is always a candidate, so the result is never worse than it."""
    if hist.high <= hist.low or hist.counts.sum() == 0:
        return hist.low, hist.high
    fractions = np.concatenate([np.geomspace(NARROWEST, 1.0, CANDIDATES)[:-1], [1.0]])
    if signed:
        peak = max(-hist.low, hist.high)
        t = peak * fractions
        errors = range_errors(hist, -t, t, signed=True).diagonal()
        best = t[int(np.argmin(errors))]
        return -float(best), float(best)
    lows = hist.low * fractions if hist.low < 0 else np.zeros(1)
    highs = hist.high * fractions if hist.high > 0 else np.zeros(1)
    errors = range_errors(hist, lows, highs, signed=False)
    i, j = np.unravel_index(int(np.argmin(errors)), errors.shape)
    return float(lows[i]), float(highs[j])


def collect_histograms(model_path: Path, ranges: dict[str, tuple[float, float]], batches: Iterable[dict[str, np.ndarray]],
                       bins: int = BINS) -> dict[str, TensorHistogram]:
    """Histograms of every tensor named in ``ranges`` (its min/max) over ``batches``: one run of the float model
    per batch, with those tensors exposed as outputs."""
    import onnx

    model = onnx.load(str(model_path))
    produced = {name for node in model.graph.node for name in node.output} | {i.name for i in model.graph.input}
    wanted = sorted(name for name in ranges if name in produced)
    histograms: dict[str, TensorHistogram] = {}
    with exposed_tensors(model, wanted, "range search") as run:
        for feed in batches:
            values = run(feed)
            for name in wanted:
                array = values.get(name)
                if array is None or not np.issubdtype(array.dtype, np.floating):
                    continue
                low, high = ranges[name]
                part = histogram_of(array, low, high, bins)
                if name in histograms:
                    histograms[name].counts += part.counts
                    histograms[name].zeros += part.zeros
                else:
                    histograms[name] = part
    if not histograms:
        raise PassError("range search: no calibration batch was produced")
    return histograms


@dataclass
class RangeSearch:
    #: tensor -> (low, high): the chosen range of every tensor (min/max where nothing better was found).
    ranges: dict[str, tuple[float, float]]
    #: tensor -> MSE with the chosen range / MSE with min/max, for the tensors whose range changed.
    error_ratios: dict[str, float]
    seconds: float

    def to_record(self) -> dict[str, Any]:
        ratios = sorted(self.error_ratios.values())
        return {"tensors": len(self.ranges), "narrowed": len(ratios), "seconds": round(self.seconds, 3),
                "median_error_ratio": round(float(np.median(ratios)), 4) if ratios else None}


def search_ranges(model_path: Path, minmax: dict[str, tuple[float, float]], batches: Iterable[dict[str, np.ndarray]],
                  signed: bool) -> RangeSearch:
    """The least-error range of every tensor in ``minmax`` (its min/max ranges), on ``batches``."""
    started = time.perf_counter()
    histograms = collect_histograms(model_path, minmax, batches)
    chosen = dict(minmax)
    ratios: dict[str, float] = {}
    for name, hist in histograms.items():
        low, high = best_range(hist, signed)
        full = (-max(-hist.low, hist.high), max(-hist.low, hist.high)) if signed else (hist.low, hist.high)
        before = quantization_mse(hist, *full, signed)
        after = quantization_mse(hist, low, high, signed)
        if (low, high) != full and after < before:
            chosen[name] = (low, high)
            ratios[name] = after / before if before > 0 else 1.0
    return RangeSearch(chosen, ratios, time.perf_counter() - started)


def tensors_data(ranges: dict[str, tuple[float, float]]) -> Any:
    """``ranges`` as ONNX Runtime's ``TensorsData`` (what ``quantize_static`` reads from a range file)."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData

    data = {name: TensorData(lowest=np.array(low, dtype=np.float32), highest=np.array(high, dtype=np.float32))
            for name, (low, high) in ranges.items()}
    return TensorsData(CalibrationMethod.MinMax, data)


def write_ranges(ranges: dict[str, tuple[float, float]], path: Path) -> None:
    """Save ``ranges`` as the range file ``quantize_static`` reads (``calibration_cache_path``)."""
    from onnxruntime.quantization.calibrate import save_tensors_data

    save_tensors_data(tensors_data(ranges), path)
