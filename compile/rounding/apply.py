"""Rewrite the INT8 weights of a Q/DQ model with GPTQ integers, keeping the quantizer's scales.

A layer whose float weight carries the 2:4 pattern (pruned before quantization) keeps its zeros as the
integer 0: GPTQ would otherwise fill them with the error of their neighbours and break the pattern that
``verify-sparsity`` checks and sparse kernels need. Scattered exact zeros in dense layers (EfficientNet-Lite0's
weights have 0.2-4% per layer) are ordinary weights: GPTQ may move them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compile.fsutil import cache_arrays, read_cached_arrays
from compile.rounding.moments import LayerGeometry, input_moments, layer_geometries


@dataclass
class RoundingStats:
    layers: int = 0
    inputs: int = 0
    moments_seconds: float = 0.0
    solve_seconds: float = 0.0
    #: Sum over layers of the output error (``e H e^T``) with nearest and with GPTQ rounding.
    nearest_error: float = 0.0
    gptq_error: float = 0.0
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        reduction = self.nearest_error / self.gptq_error if self.gptq_error > 0 else None
        return {"method": "gptq", "layers": self.layers, "inputs": self.inputs, "moments_seconds": round(self.moments_seconds, 3),
                "solve_seconds": round(self.solve_seconds, 3),
                "layer_output_error_reduction": round(reduction, 3) if reduction is not None else None,
                "skipped": self.skipped}


class WeightRounder:
    """GPTQ rounding for the layers of one float model, measured on calibration inputs.

    :meth:`apply` can be called on many Q/DQ versions of the model (the mixed-precision search builds one
    per candidate): integers are solved once per layer and scale, then reused, and kept in ``cache`` (a
    file named by the model and the calibration data) for later runs: the layer inputs are measured
    only when some layer's integers are not there."""

    def __init__(self, float_path: Path, batches: Callable[[], Iterable[dict[str, np.ndarray]]], limit: int,
                 nodes: Iterable[str] | None = None, cache: Path | None = None) -> None:
        from onnx import numpy_helper

        from compile.onnx_io import load_onnx

        float_model = load_onnx(float_path)
        self.float_path, self.batches, self.limit, self.cache = float_path, batches, limit, cache
        self.geometries = layer_geometries(float_model, nodes)
        weights = {init.name: init for init in float_model.graph.initializer}
        self.weights = {name: numpy_helper.to_array(weights[g.weight]) for name, g in self.geometries.items()}
        self._pruned = {name for name, g in self.geometries.items() if _two_four(self.weights[name], g)}
        self.moments: dict[str, np.ndarray] | None = None
        self.stats = RoundingStats()
        #: Layers rewritten whose pruned (2:4) zeros were held at zero.
        self.zeros_kept: set[str] = set()
        self._solved: dict[str, np.ndarray] = (read_cached_arrays(cache) or {}) if cache is not None else {}
        self._unsaved = False

    def record(self, applied: int | None = None) -> dict[str, Any]:
        """What the rounding did, for a report: ``applied`` layers rewritten (default: every layer it can round)."""
        return {**self.stats.to_dict(), "layers": len(self.geometries) if applied is None else applied,
                "cached": self.stats.layers == 0, "layers_with_zeros_kept": len(self.zeros_kept)}

    def _moments(self) -> dict[str, np.ndarray]:
        if self.moments is None:
            started = time.perf_counter()
            self.moments, self.stats.inputs = input_moments(self.float_path, self.geometries, self.batches(), self.limit)
            self.stats.moments_seconds = time.perf_counter() - started
        return self.moments

    def apply(self, qdq_model: Any) -> list[str]:
        """Rewrite, in place, the INT8 weights of the layers ``qdq_model`` quantizes; the layers changed."""
        from onnx import numpy_helper

        from compile.rounding.gptq import gptq_round, output_error

        producer = {out: node for node in qdq_model.graph.node for out in node.output}
        initializers = {init.name: init for init in qdq_model.graph.initializer}
        changed: list[str] = []
        for node in qdq_model.graph.node:
            geometry = self.geometries.get(node.name)
            if geometry is None or len(node.input) < 2:
                continue
            dequantize = producer.get(node.input[1])
            target = _weight_tensors(dequantize, initializers, geometry) if dequantize is not None else None
            if target is None:
                continue
            quantized, scale = target
            key = hashlib.sha256(node.name.encode() + b"\0" + scale.tobytes() + self.weights[node.name].tobytes()).hexdigest()
            if key not in self._solved:
                moments = self._moments().get(node.name)
                if moments is None:
                    continue
                started = time.perf_counter()
                rows = geometry.to_rows(self.weights[node.name].astype(np.float64))
                steps = scale.astype(np.float64).reshape(rows.shape[0], rows.shape[1])
                if not np.all(np.isfinite(moments)) or not np.all(steps > 0):
                    self.stats.skipped.append(node.name)
                    continue
                keep = geometry.to_rows(self.weights[node.name] != 0) if node.name in self._pruned else None
                try:
                    integers = gptq_round(rows, moments, steps, keep=keep)
                except ValueError:  # moments not positive definite even with damping: keep nearest rounding
                    self.stats.skipped.append(node.name)
                    continue
                nearest = np.clip(np.round(rows / steps[..., None]), -127, 127)
                self.stats.nearest_error += output_error(rows, nearest * steps[..., None], moments)
                self.stats.gptq_error += output_error(rows, integers * steps[..., None], moments)
                self.stats.solve_seconds += time.perf_counter() - started
                self.stats.layers += 1
                self._solved[key] = geometry.from_rows(integers).astype(np.int8)
                self._unsaved = True
            quantized.CopyFrom(numpy_helper.from_array(self._solved[key], quantized.name))
            changed.append(node.name)
            if node.name in self._pruned:
                self.zeros_kept.add(node.name)
        if self._unsaved and self.cache is not None:
            cache_arrays(self.cache, self._solved)
            self._unsaved = False
        return changed


def _two_four(weight: np.ndarray, geometry: LayerGeometry) -> bool:
    """Whether ``weight`` carries 2:4 along its reduction axis (input channels, or K) and has zeros."""
    from compile.sparsity.mask import is_two_four

    if geometry.groups != 1 or weight.all():
        return False
    return is_two_four(weight, 0 if geometry.transposed else 1)


def _weight_tensors(dequantize: Any, initializers: dict[str, Any], geometry: LayerGeometry) -> tuple[Any, np.ndarray] | None:
    """The INT8 weight initializer behind ``dequantize`` and its per-output scale, when they are a symmetric
    INT8 quantization of ``geometry``'s weight along its output axis; else ``None``."""
    from onnx import TensorProto, numpy_helper

    if dequantize.op_type != "DequantizeLinear" or dequantize.input[0] not in initializers or dequantize.input[1] not in initializers:
        return None
    quantized = initializers[dequantize.input[0]]
    if quantized.data_type != TensorProto.INT8 or tuple(quantized.dims) != geometry.shape:
        return None
    if len(dequantize.input) > 2 and dequantize.input[2]:
        zero = initializers.get(dequantize.input[2])
        if zero is None or np.any(numpy_helper.to_array(zero) != 0):
            return None
    scale = numpy_helper.to_array(initializers[dequantize.input[1]]).astype(np.float64)
    outputs = geometry.shape[1] if geometry.transposed else geometry.shape[0]
    axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1)
    expected_axis = 1 if geometry.transposed else 0
    if scale.size == 1:
        scale = np.full(outputs, float(scale.reshape(())))
    elif scale.size != outputs or axis % len(geometry.shape) != expected_axis:
        return None
    return quantized, scale
