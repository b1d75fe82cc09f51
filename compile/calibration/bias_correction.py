"""Bias correction: remove the mean shift INT8 adds to each layer's output (Nagel et al., 2019).

Quantization error is not zero-mean per output channel. A depthwise 3x3 filter has 9 weights, so its
rounding errors do not average out, and the activations it reads are mostly positive (ReLU6), so the
weight error times the mean input shifts that channel's output by a constant; clipped activation
ranges (:mod:`compile.calibration.range_search`) shift it too. The next layers read the shift as
signal. For each INT8 Conv/Gemm of a Q/DQ model the shift of each output channel is

    E[conv(Q(x), W_q)] - E[conv(x, W)] = conv(E[Q(x)], W_q) - conv(E[x], W)

(the convolution is linear), where ``x`` is the layer's float input over calibration inputs, ``Q`` the
quantize-dequantize of its input as the model has it and ``W_q`` its dequantized INT8 weight (after
GPTQ). The shift is subtracted from the layer's bias (its INT32 integers when the bias is quantized).
Each layer is corrected for its own error given float inputs; the layers before it are corrected
for theirs, so to first order every layer's input mean is the float one. (Measuring the quantized
model's own means and correcting every layer from one pass over-corrects: a shift and its correction
both propagate, and on EfficientNet-Lite0 that diverged within three rounds.)

Means over the batch are taken first, then unfolded into the patches each weight row meets
(:class:`compile.rounding.moments.LayerGeometry`), so the cost is one run of the float model over the
first ``limit`` calibration inputs and an element-wise quantization of each layer input.

The correction is first-order: it assumes the rest of the network sees a layer's error as a shift.
Where that fails it can hurt (a planted layer whose GPTQ integers lean on an input channel that 8-bit
activations round to zero: output noise-to-signal 0.055 -> 0.063 on its calibration inputs), so the first model corrected is checked: its
output's noise-to-signal ratio against the float model on the same calibration inputs, with and
without the correction, and the correction is kept only if it lowers it (for this model, and every
later Q/DQ version of it the same corrector is given).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compile.calibration.exposed import exposed_tensors, first_inputs
from compile.errors import PassError
from compile.fsutil import cache_arrays, read_cached_arrays
from compile.onnx_io import load_onnx
from compile.rounding.moments import LayerGeometry, layer_geometries

#: Ops whose bias is corrected (a bias input to adjust).
CORRECTED_OPS = ("Conv", "Gemm")
#: Protobuf's limit: a larger model cannot be serialised to hand to ONNX Runtime from memory.
TWO_GB = 2**31 - 1


@dataclass(frozen=True)
class InputQuantization:
    """How a layer's input is quantized: scale, zero point and the integer range."""

    scale: float
    zero_point: float
    qmin: int
    qmax: int

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Quantize-dequantize ``values`` (round half to even, as QuantizeLinear does)."""
        integers = np.clip(np.rint(values / self.scale) + self.zero_point, self.qmin, self.qmax)
        return ((integers - self.zero_point) * self.scale).astype(np.float32)

    def key(self) -> bytes:
        return np.array([self.scale, self.zero_point, self.qmin, self.qmax], dtype=np.float64).tobytes()


@dataclass
class CorrectionStats:
    layers: int = 0
    inputs: int = 0
    seconds: float = 0.0
    #: Root mean square of the shift removed, per layer corrected.
    shifts: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    #: Output noise-to-signal ratio on the calibration inputs without and with the correction (the check).
    output_nsr: dict[str, float] = field(default_factory=dict)


@dataclass
class _Target:
    """One INT8 layer of a Q/DQ model: its input quantization, dequantized weight and bias to adjust."""

    node: str
    quantization: InputQuantization
    weight: np.ndarray
    bias: Any
    bias_scale: np.ndarray | None


def mean_patch(geometry: LayerGeometry, mean_input: np.ndarray) -> np.ndarray:
    """``groups x cols``: the input each weight row meets, averaged over output positions, from the input's
    mean over the batch (``1 x C x ...``; padding contributes zeros, as it does to the layer)."""
    return geometry.patches(mean_input.astype(np.float32)).double().mean(dim=1).numpy()


def output_shift(geometry: LayerGeometry, float_weight: np.ndarray, quantized_weight: np.ndarray,
                 float_patch: np.ndarray, quantized_patch: np.ndarray) -> np.ndarray:
    """Mean shift of each output channel: ``W_q . E[Q(x)] - W . E[x]`` per group, flattened to the output axis."""
    rows_q = geometry.to_rows(quantized_weight.astype(np.float64))
    rows_f = geometry.to_rows(float_weight.astype(np.float64))
    return (np.einsum("grc,gc->gr", rows_q, quantized_patch) - np.einsum("grc,gc->gr", rows_f, float_patch)).reshape(-1)


class BiasCorrector:
    """Bias correction for the INT8 layers of Q/DQ versions of one float model.

    :meth:`apply` can be called on many Q/DQ versions (the mixed-precision search builds one per
    candidate): the input means are measured once per layer and input quantization, then reused, and
    kept in ``cache`` (a file named by the model and the calibration data) for later runs."""

    def __init__(self, float_path: Path, batches: Callable[[], Iterable[dict[str, np.ndarray]]], limit: int,
                 cache: Path | None = None) -> None:
        from onnx import numpy_helper

        float_model = load_onnx(float_path)
        self.float_path, self.batches, self.limit, self.cache = float_path, batches, limit, cache
        self.geometries = {name: g for name, g in layer_geometries(float_model).items() if g.op_type in CORRECTED_OPS}
        weights = {init.name: init for init in float_model.graph.initializer}
        self.weights = {name: numpy_helper.to_array(weights[g.weight]) for name, g in self.geometries.items()}
        self.inputs_of = {node.name: node.input[0] for node in float_model.graph.node if node.name in self.geometries}
        self.stats = CorrectionStats()
        #: sha(layer, input quantization) -> float and quantized mean patches stacked (2 x groups x cols).
        self._patches: dict[str, np.ndarray] = (read_cached_arrays(cache) or {}) if cache is not None else {}
        #: Whether the correction lowered the first corrected model's output error (``None``: not checked yet).
        self.kept: bool | None = None
        #: The check's calibration inputs and the float model's outputs on them.
        self._check_data: list[tuple[dict[str, np.ndarray], list[np.ndarray]]] | None = None

    def record(self, applied: int | None = None) -> dict[str, Any]:
        """What the correction did, for a report: ``applied`` layers corrected (default: those of the last model)."""
        shifts = sorted(self.stats.shifts.items(), key=lambda item: item[1], reverse=True)
        return {"layers": self.stats.layers if applied is None else applied, "inputs": self.stats.inputs,
                "seconds": round(self.stats.seconds, 3), "cached": self.stats.inputs == 0, "kept": self.kept,
                "output_nsr": {key: round(value, 8) for key, value in self.stats.output_nsr.items()},
                "largest_shifts": {name: round(value, 5) for name, value in shifts[:5]}, "skipped": self.stats.skipped}

    def apply(self, qdq_model: Any) -> list[str]:
        """Correct, in place, the biases of the INT8 Conv/Gemm layers of ``qdq_model``; the layers changed (none
        when the check on the first model found that the correction does not lower the output error)."""
        from onnx import numpy_helper

        if self.kept is False:
            self.stats.layers = 0
            return []
        targets = _targets(qdq_model, self.geometries)
        keys = {name: _key(name, target.quantization) for name, target in targets.items()}
        missing = {name: targets[name].quantization for name in targets if keys[name] not in self._patches}
        if missing:
            self._measure(missing, keys)
        originals = {target.bias.name: numpy_helper.to_array(target.bias).copy() for target in targets.values()}
        before = self._output_error(qdq_model) if self.kept is None and targets else None
        if before is None and self.kept is None and targets:
            self.kept = True  # a model ONNX Runtime cannot take from memory (over 2 GB) is corrected unchecked
        changed: list[str] = []
        self.stats.shifts, self.stats.skipped = {}, []
        for name, target in targets.items():
            geometry = self.geometries[name]
            float_patch, quantized_patch = self._patches[keys[name]]
            shift = output_shift(geometry, self.weights[name], target.weight, float_patch, quantized_patch)
            bias = numpy_helper.to_array(target.bias)
            if bias.shape != shift.shape:
                self.stats.skipped.append(name)
                continue
            if target.bias_scale is None:
                corrected = (bias.astype(np.float64) - shift).astype(bias.dtype)
            else:
                steps = np.rint(shift / target.bias_scale).astype(np.int64)
                info = np.iinfo(bias.dtype)
                corrected = np.clip(bias.astype(np.int64) - steps, info.min, info.max).astype(bias.dtype)
            target.bias.CopyFrom(numpy_helper.from_array(corrected, target.bias.name))
            self.stats.shifts[name] = float(np.sqrt(np.mean(shift ** 2)))
            changed.append(name)
        if before is not None:
            after = self._output_error(qdq_model)
            assert after is not None  # the same size as before
            self.stats.output_nsr = {"without": before, "with": after}
            self.kept = after <= before
            if not self.kept:
                for target in targets.values():
                    target.bias.CopyFrom(numpy_helper.from_array(originals[target.bias.name], target.bias.name))
                changed = []
        self.stats.layers = len(changed)
        return changed

    def _output_error(self, qdq_model: Any) -> float | None:
        """Noise-to-signal ratio of ``qdq_model``'s outputs against the float model's, on the first ``limit``
        calibration inputs (the artifact's kernels: ONNX Runtime, all optimisations); ``None`` for a model over
        protobuf's 2 GB, which cannot be handed over from memory."""
        import onnxruntime as ort

        if qdq_model.ByteSize() > TWO_GB:
            return None

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self._check_data is None:
            float_session = ort.InferenceSession(str(self.float_path), options, providers=["CPUExecutionProvider"])
            feeds, used = [], 0
            for feed in self.batches():
                if used >= self.limit:
                    break
                take = min(len(next(iter(feed.values()))), self.limit - used)
                feeds.append({name: value[:take] for name, value in feed.items()})
                used += take
            self._check_data = [(feed, [np.asarray(out, dtype=np.float64) for out in float_session.run(None, feed)])
                                for feed in feeds]
        quantized_session = ort.InferenceSession(qdq_model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        signal = noise = 0.0
        for feed, references in self._check_data:
            for reference, candidate in zip(references, quantized_session.run(None, feed), strict=True):
                signal += float(np.square(reference).sum())
                noise += float(np.square(reference - np.asarray(candidate, dtype=np.float64)).sum())
        return noise / signal if signal > 0 else 0.0

    def _measure(self, quantizations: dict[str, InputQuantization], keys: dict[str, str]) -> None:
        """One run of the float model over the first ``limit`` calibration inputs: each layer's input mean, and
        the mean of its quantize-dequantized values, over the batch; then unfolded into mean patches."""
        started = time.perf_counter()
        sums, count = _input_means(self.float_path, {name: self.inputs_of[name] for name in quantizations}, quantizations,
                                   self.batches(), self.limit)
        for name in quantizations:
            if name not in sums:
                continue
            geometry = self.geometries[name]
            float_mean, quantized_mean = (s / count for s in sums[name])
            self._patches[keys[name]] = np.stack([mean_patch(geometry, float_mean), mean_patch(geometry, quantized_mean)])
        self.stats.inputs = count
        self.stats.seconds += time.perf_counter() - started
        if self.cache is not None:
            cache_arrays(self.cache, self._patches)


def _key(name: str, quantization: InputQuantization) -> str:
    return hashlib.sha256(name.encode() + b"\0" + quantization.key()).hexdigest()


def _input_means(float_path: Path, inputs: dict[str, str], quantizations: dict[str, InputQuantization],
                 batches: Iterable[dict[str, np.ndarray]], limit: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Per layer: the sums over inputs of its float input and of that input quantize-dequantized (``1 x C x ...``
    each), over the first ``limit`` inputs of ``batches``; and how many inputs were used."""
    import onnx

    sums: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    used = 0
    with exposed_tensors(onnx.load(str(float_path)), inputs.values(), "bias correction") as run:
        for feed, take in first_inputs(batches, limit):
            values = run(feed)
            for layer, tensor in inputs.items():
                x = values[tensor].astype(np.float32)
                part = (x.sum(axis=0, keepdims=True, dtype=np.float64),
                        quantizations[layer].apply(x).sum(axis=0, keepdims=True, dtype=np.float64))
                sums[layer] = (sums[layer][0] + part[0], sums[layer][1] + part[1]) if layer in sums else part
            used += take
    if used == 0:
        raise PassError("bias correction: no calibration batch was produced")
    return sums, used


def _targets(qdq_model: Any, geometries: dict[str, LayerGeometry]) -> dict[str, _Target]:
    """The layers of ``qdq_model`` that run in INT8 (input and weight dequantized from constants) and have a
    bias: a float initializer, or INT32 integers behind a DequantizeLinear."""
    from onnx import TensorProto, numpy_helper

    producer = {out: node for node in qdq_model.graph.node for out in node.output}
    initializers = {init.name: init for init in qdq_model.graph.initializer}

    def constant(name: str) -> np.ndarray | None:
        return numpy_helper.to_array(initializers[name]) if name in initializers else None

    found: dict[str, _Target] = {}
    for node in qdq_model.graph.node:
        geometry = geometries.get(node.name)
        if geometry is None or node.op_type != geometry.op_type or len(node.input) < 3 or not node.input[2]:
            continue
        x_dq, w_dq = producer.get(node.input[0]), producer.get(node.input[1])
        if x_dq is None or w_dq is None or x_dq.op_type != "DequantizeLinear" or w_dq.op_type != "DequantizeLinear":
            continue
        x_scale = constant(x_dq.input[1])
        x_zero = constant(x_dq.input[2]) if len(x_dq.input) > 2 and x_dq.input[2] else np.zeros((), np.uint8)
        integers, w_scale = constant(w_dq.input[0]), constant(w_dq.input[1])
        if x_scale is None or x_zero is None or x_scale.size != 1 or integers is None or w_scale is None:
            continue
        if tuple(integers.shape) != geometry.shape:
            continue
        w_zero = constant(w_dq.input[2]) if len(w_dq.input) > 2 and w_dq.input[2] else np.zeros_like(w_scale)
        if w_zero is None:
            continue
        axis = next((a.i for a in w_dq.attribute if a.name == "axis"), 1) % integers.ndim
        shape = [1] * integers.ndim
        if w_scale.size > 1:
            shape[axis] = w_scale.size
        weight = (integers.astype(np.float64) - w_zero.astype(np.float64).reshape(shape)) * w_scale.astype(np.float64).reshape(shape)
        info = np.iinfo(x_zero.dtype)
        # QuantizeLinear saturates at the integer type's limits, whatever range the scale was chosen for.
        quantization = InputQuantization(float(x_scale.reshape(())), float(x_zero.reshape(())), int(info.min), int(info.max))
        bias_name = node.input[2]
        if bias_name in initializers:
            found[node.name] = _Target(node.name, quantization, weight, initializers[bias_name], None)
            continue
        b_dq = producer.get(bias_name)
        if b_dq is None or b_dq.op_type != "DequantizeLinear" or b_dq.input[0] not in initializers:
            continue
        bias = initializers[b_dq.input[0]]
        b_scale = constant(b_dq.input[1])
        if bias.data_type != TensorProto.INT32 or b_scale is None:
            continue
        found[node.name] = _Target(node.name, quantization, weight, bias, b_scale.astype(np.float64).reshape(-1))
    return found

