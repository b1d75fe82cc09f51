"""Tensor ranges from ONNX Runtime's calibrators, fed one batch at a time, with the calibration cache.

Every float tensor of the graph is calibrated (not only those of the ops a convention quantizes), so
one cache entry serves any convention or op selection. ONNX Runtime's entropy calibrator defaults to
128 histogram bins and 128 quantized bins, which leaves its search a single candidate (the min/max
range); it is built here with TensorRT's 2048 bins so the KL search actually chooses a threshold.
``mse`` takes the min/max ranges (their own cache entry) and narrows each tensor's range to the one
with the least quantization error (:mod:`compile.calibration.range_search`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compile.calibration.cache import CacheEntry, cache_entry, cache_key
from compile.calibration.exposed import quiet_ort
from compile.calibration.range_search import BINS, CANDIDATES, NARROWEST, search_ranges, tensors_data
from compile.calibration.reader import make_reader
from compile.calibration.source import CalibrationSource, CalibrationStats
from compile.errors import CompileError, PassError
from compile.hashing import hash_file

METHODS = ("minmax", "entropy", "percentile", "mse")
#: TensorRT's histogram size for entropy (KL) calibration; ONNX Runtime's default of 128 is too coarse.
ENTROPY_BINS = 2048
#: TensorRT merges 128 bins over |x|; ONNX Runtime's search windows span [-t, t], so the same 8-bit
#: resolution is 256 quantized bins there (128 would model a 7-bit grid and clip too hard).
ENTROPY_QUANTIZED_BINS = 256
PERCENTILE_BINS = 2048


def method_options(method: str, percentile: float, symmetric: bool = False) -> dict[str, Any]:
    """The calibrator's extra options for a method (they are part of the cache key); ``symmetric``: the grid
    ``mse`` fits the ranges to (signed symmetric, else unsigned asymmetric)."""
    if method == "mse":
        return {"bins": BINS, "candidates": CANDIDATES, "narrowest": NARROWEST, "symmetric": symmetric}
    if method == "entropy":
        return {"num_bins": ENTROPY_BINS, "num_quantized_bins": ENTROPY_QUANTIZED_BINS}
    if method == "percentile":
        return {"num_bins": PERCENTILE_BINS, "percentile": float(percentile), "symmetric": True}
    if method == "minmax":
        return {}
    raise PassError(f"unknown calibration method '{method}' (known: {', '.join(METHODS)})")


def ort_method(method: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile, "mse": CalibrationMethod.MinMax}[method]


@dataclass
class Calibration:
    """Ranges ready for ``quantize_static(calibration_cache_path=...)`` and what producing them took."""

    entry: CacheEntry
    method: str
    options: dict[str, Any]
    cache_hit: bool
    stats: CalibrationStats
    seconds: float
    data: str
    tensors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def ranges(self) -> dict[str, tuple[float, float]]:
        """tensor name -> (lowest, highest) observed or chosen."""
        return ranges_from_file(self.entry.ranges_path)

    def to_record(self) -> dict[str, Any]:
        return {"method": self.method, "options": self.options, "data": self.data, "cache": "hit" if self.cache_hit else "miss",
                "cache_file": str(self.entry.ranges_path), "seconds": round(self.seconds, 3), "tensors": self.tensors,
                **self.stats.to_dict(), **self.extra}


def ranges_from_file(path: Path) -> dict[str, tuple[float, float]]:
    """tensor name -> (lowest, highest), from a range file ``quantize_static`` reads (``calibration_cache_path``)."""
    from onnxruntime.quantization.calibrate import load_tensors_data

    out: dict[str, tuple[float, float]] = {}
    for name, tensor in load_tensors_data(path).data.items():
        low, high = tensor.range_value
        out[name] = (float(np.min(low)), float(np.max(high)))
    return out


def calibrate(model_path: Path, source: CalibrationSource, method: str, percentile: float, fallback_dir: Path,
              log: Callable[[str], None] = print, symmetric: bool = False) -> Calibration:
    """Ranges of every float tensor of ``model_path`` on ``source``, from the cache when possible (``symmetric``:
    the INT8 activations are signed and symmetric, which ``mse`` fits its ranges to)."""
    options = method_options(method, percentile, symmetric)
    identity = source.identity()
    entry = cache_entry(cache_key(hash_file(model_path), identity, method, options), fallback_dir)
    if entry.exists() and (meta := entry.read_meta()) is not None:
        stats = CalibrationStats(used=int(meta.get("images_used", 0)), skipped=list(meta.get("skipped_all", [])))
        return Calibration(entry, method, options, True, stats, 0.0, source.describe(), int(meta.get("tensors", 0)),
                           {key: meta[key] for key in ("range_search",) if key in meta})
    started = time.perf_counter()
    stats = CalibrationStats()
    extra: dict[str, Any] = {}
    if method == "mse":
        minmax = calibrate(model_path, source, "minmax", percentile, fallback_dir, log)
        search = search_ranges(model_path, minmax.ranges(), source.batches(stats), symmetric)
        result = tensors_data(search.ranges)
        extra = {"range_search": search.to_record()}
        log(f"  ranges searched for {len(search.ranges)} tensors (mse): {len(search.error_ratios)} narrowed")
    else:
        result = _collect(model_path, source.batches(stats), method, options, log)
    seconds = time.perf_counter() - started
    meta = {"images_used": stats.used, "skipped_all": stats.skipped, "tensors": len(result.data),
            "seconds": seconds, "method": method, "options": options, "data": source.describe(), **extra}
    entry.write(result, meta)
    return Calibration(entry, method, options, False, stats, seconds, source.describe(), len(result.data), extra)


def _collect(model_path: Path, batches: Iterator[dict[str, Any]], method: str, options: dict[str, Any],
             log: Callable[[str], None]) -> Any:
    """Run the calibrator one batch per ``collect_data`` call: its intermediate outputs never pile up."""
    from onnxruntime.quantization.calibrate import TensorsData, create_calibrator

    with tempfile.TemporaryDirectory(prefix="compile-calib-") as tmp, quiet_ort():
        try:
            calibrator = create_calibrator(model_path, None, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                           calibrate_method=ort_method(method), extra_options=options)
        except Exception as err:  # noqa: BLE001 - ORT raises anything while augmenting/loading the graph
            raise PassError(f"ONNX Runtime cannot build the {method} calibrator: {_first_line(err)}") from err
        batches_seen = 0
        try:
            for feed in batches:
                calibrator.collect_data(make_reader([feed]))
                batches_seen += 1
            if batches_seen == 0:
                raise PassError("no calibration batch was produced")
            result = calibrator.compute_data()
        except (CompileError, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - e.g. the entropy calibrator's histogram on a constant tensor
            raise PassError(f"ONNX Runtime's {method} calibrator failed at batch {batches_seen}: {_first_line(err)} "
                            "(another --calib-method may work)") from err
    if not isinstance(result, TensorsData):
        raise PassError(f"ONNX Runtime's calibrator returned {type(result).__name__}, not TensorsData")
    log(f"  calibrated {len(result.data)} tensors ({method})")
    return result


def _first_line(err: BaseException) -> str:
    """The error's whole cause on one line (the name is historical: the first line alone lost it)."""
    from compile.errors import error_cause

    return error_cause(err)
