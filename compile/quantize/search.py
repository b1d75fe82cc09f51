"""Per-layer choice of SmoothQuant's ``alpha`` and of the activation range, by simulated INT8 error.

One ``alpha`` does not suit every layer, and SmoothQuant does not fix everything: on
all-MiniLM-L6-v2 (TensorRT convention, the MatMul outputs in float) smoothing the LayerNorm-fed
projections (channel outliers up to 17x the median) lifts the model's cosine from 0.988 to 0.999 when
only they are INT8, while the feed-forward down-projections' GELU inputs have single values far out
(max 24.7 where 99.99% are below 4.5), which a clipped range serves better (0.989 -> 0.993 with only
them INT8). So, per group of layers reading one activation, every pair of ``alpha`` (or none) and
range fraction is tried on a sample of the activation's calibration rows: the layers' outputs ``X W``
against ``Q(X / s) Q(s W)`` with the convention's quantizers (per-tensor activations, unsigned
asymmetric or signed symmetric; per-output-channel symmetric weights), and the
pair with the smallest relative squared error is kept. This is the layer-wise search of OS+ (Wei et
al. 2023) and of NVIDIA's MSE calibrator, limited to what the Q/DQ graph can express.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compile.quantize.smoothquant import ChannelStats, smoothing_factors, weight_maxima

#: ``alpha`` candidates; ``None``: not smoothed.
ALPHAS: tuple[float | None, ...] = (None, 0.3, 0.5, 0.7, 0.85)
#: Fractions of the calibrated range tried for the activation's quantizer.
CLIPS: tuple[float, ...] = (1.0, 0.8, 0.6, 0.45, 0.3, 0.2)


@dataclass(frozen=True)
class LayerChoice:
    """The chosen ``alpha`` (None: no smoothing) and range fraction, with the relative output error of the
    choice and of plain static INT8 (no smoothing, full range)."""

    alpha: float | None
    clip: float
    error: float
    plain_error: float

    def to_dict(self) -> dict[str, float | None]:
        return {"alpha": self.alpha, "range_fraction": self.clip, "error": round(self.error, 8),
                "plain_error": round(self.plain_error, 8)}


def activation_quantizer(values: np.ndarray, low: float, high: float, symmetric: bool) -> np.ndarray:
    """``values`` through an 8-bit per-tensor quantizer for the range [low, high] (as ONNX Runtime sets it:
    the range always holds 0; signed symmetric [-127, 127], or unsigned [0, 255] with a zero point)."""
    if symmetric:
        scale = max(abs(low), abs(high)) / 127.0 or 1.0
        return np.asarray(np.clip(np.round(values / scale), -127, 127) * scale, dtype=np.float32)
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 or 1.0
    zero = np.round(-low / scale)
    return np.asarray((np.clip(np.round(values / scale) + zero, 0, 255) - zero) * scale, dtype=np.float32)


def weight_quantizer(weight: np.ndarray) -> np.ndarray:
    """A ``[K, N]`` weight through signed symmetric 8-bit quantization per output column."""
    scale = np.abs(weight).max(axis=0, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return np.asarray(np.clip(np.round(weight / scale), -127, 127) * scale, dtype=np.float32)


def choose(stats: ChannelStats, weights: list[np.ndarray], symmetric: bool, alphas: tuple[float | None, ...] = ALPHAS,
           clips: tuple[float, ...] = CLIPS) -> LayerChoice:
    """The ``alpha`` and range fraction with the least simulated INT8 error for layers ``weights`` (each
    ``[K, N]``) reading one activation described by ``stats``."""
    rows = stats.rows.astype(np.float32)
    exact = [rows @ w for w in weights]
    energy = sum(float(np.square(y).sum()) for y in exact) or 1.0
    best: LayerChoice | None = None
    plain = float("nan")
    for alpha in alphas:
        factors = (np.ones_like(stats.maxima, dtype=np.float64) if alpha is None
                   else smoothing_factors(stats.maxima, weight_maxima(weights), alpha))
        scaled_rows = (rows / factors[None, :]).astype(np.float32)
        quantized = [weight_quantizer((w * factors[:, None]).astype(np.float32)) for w in weights]
        low, high = float(np.min(stats.low / factors)), float(np.max(stats.high / factors))
        for clip in clips:
            x = activation_quantizer(scaled_rows, low * clip, high * clip, symmetric)
            error = sum(float(np.square(x @ q - y).sum()) for q, y in zip(quantized, exact, strict=True)) / energy
            if alpha is None and clip == 1.0:
                plain = error
            if best is None or error < best.error:
                best = LayerChoice(alpha, clip, error, plain)
    assert best is not None
    return LayerChoice(best.alpha, best.clip, best.error, plain)
