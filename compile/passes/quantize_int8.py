"""quantize-int8: post-training INT8 with explicit Q/DQ nodes, calibrated on real inputs.

Built on ONNX Runtime's ``quantize_static`` in QDQ format with per-channel weight scales. The
profile's ``precision.int8_convention`` decides the number formats, because the targets disagree:

* ``tensorrt``: signed INT8 activations and weights, symmetric, zero point 0 everywhere, Q/DQ on the
  inputs of Conv/Gemm/MatMul and of residual Adds and pooling, which is what TensorRT fuses;
* ``onnxruntime-cpu``: unsigned 8-bit activations (ReLU/ReLU6 fold into the range) and signed
  symmetric per-channel weights, every op ONNX Runtime has an INT8 kernel for, so the x86 VNNI
  kernels run back to back without returning to float.

Ranges come from :mod:`compile.calibration` (minmax, entropy or percentile; cached by model, data
and method), so changing the convention or the op selection does not recalibrate. The weight
integers are then re-chosen by GPTQ for the same scales (:mod:`compile.rounding`; profile
``calibration.weight_rounding``): on EfficientNet-Lite0 it cuts the INT8 model's output error 3x.

Transformer-like graphs (:func:`compile.quantize.recipe.graph_family`) get their own recipe, in both
conventions: Q/DQ on the inputs of MatMul/Gemm only (outputs, LayerNorm, Softmax, GELU, residual Adds
and the embedding Gather in float), after SmoothQuant with ``alpha`` and activation range chosen per
layer by simulated INT8 error (:mod:`compile.quantize`). ``int8_mode = "dynamic"`` instead runs ONNX
Runtime's dynamic INT8 (``onnxruntime-cpu`` only). The CNN path is unchanged.

Per-channel Q/DQ (the ``axis`` attribute of Quantize/DequantizeLinear) needs opset 13: an older graph
is first converted with ONNX's version converter (recorded as ``opset: {from, to}``); one the converter
cannot upgrade is refused before anything is quantized.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from compile.artifacts import ONNX, Artifact, OnnxModel
from compile.calibration.bias_correction import BiasCorrector
from compile.calibration.cache import user_cache_folder
from compile.calibration.exposed import quiet_ort
from compile.calibration.joins import MixedRangeJoin, mixed_range_joins
from compile.calibration.ranges import calibrate, ort_method, ranges_from_file
from compile.calibration.source import CalibrationStats
from compile.errors import PassError, error_cause
from compile.hashing import hash_file, versioned_key
from compile.mixed.keep_float import channel_counts, guard_float_layers
from compile.mixed.sensitivity import folded_activations
from compile.onnx_io import (
    count_nodes,
    load_onnx,
    model_info_from_onnx,
    op_histogram,
    save_onnx,
    set_model_info,
)
from compile.passes.base import PassContext, PassResult
from compile.passes.kinds import CalibratedPass, CalibrationOptions
from compile.quantize.dynamic import dynamic_structure, quantize_dynamic_int8
from compile.quantize.recipe import (
    TRANSFORMER_OPS,
    StaticPlan,
    graph_family,
    keep_float_readers,
    override_ranges,
    prepare_static,
)
from compile.rounding.apply import WeightRounder
from compile.settings import RunSettings

OUTPUT_FILE = "model.int8.onnx"
#: Per-channel QuantizeLinear/DequantizeLinear (their ``axis`` attribute) exist from this opset on.
QDQ_MIN_OPSET = 13
#: Op types that get Q/DQ under the TensorRT convention (compute ops, residual Adds, pooling, concat).
TENSORRT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
#: Op types a warning names before "and N more".
MAX_LISTED_OPS = 8
#: Record fields the report's ``quantization`` section carries.
REPORTED = ("precision", "convention", "int8_mode", "graph", "recipe", "smooth_quant", "calibration", "quantize_seconds",
            "weight_rounding", "bias_correction", "quantize_linear", "dequantize_linear", "quantized_ops", "quantized_layers", "float_joins",
            "opset")


class QuantizeInt8Options(CalibrationOptions):
    convention: Literal["tensorrt", "onnxruntime-cpu"] = "tensorrt"
    method: Literal["minmax", "entropy", "percentile", "mse"] = "minmax"
    percentile: float = Field(default=99.999, gt=50.0, le=100.0)
    per_channel: bool = True
    #: Op types to quantize; ``None`` takes the convention's choice.
    op_types: list[str] | None = None
    #: Node names left in float.
    exclude_nodes: list[str] = Field(default_factory=list)
    #: Keep ONNX Runtime's CPU kernels from re-quantizing the nodes left in float (:mod:`compile.mixed.keep_float`).
    guard_float_layers: bool = False
    #: Drop the Q/DQ pair on graph outputs: rounding the logits to 8 bits flips near-tied top-1 classes
    #: and saves nothing (the last op still reads INT8 inputs).
    float_outputs: bool = True
    #: "gptq": error-compensating integers for the same scales (:mod:`compile.rounding`); "nearest": plain rounding.
    weight_rounding: Literal["nearest", "gptq"] = "gptq"
    #: Calibration inputs the GPTQ layer-input moments are measured on (the first ones).
    rounding_samples: int = Field(default=32, ge=1)
    #: Remove each INT8 layer's output mean shift, measured on ``rounding_samples`` inputs (:mod:`compile.calibration.bias_correction`):
    #: EfficientNet-Lite0's top-1 flips against FP32 32 -> 21 over five 100/400 splits of imagenet-sample-500.
    bias_correction: bool = True
    #: A Concat (or Where) whose inputs' calibrated spans differ by more than this factor stays in float:
    #: one shared scale would flatten the narrow input (:mod:`compile.calibration.joins`). ``None``: never.
    join_range_factor: float | None = Field(default=8.0, gt=1.0)
    #: "static": Q/DQ from calibrated ranges (every backend); "dynamic": ONNX Runtime's dynamic INT8 (INT8
    #: weights, each MatMul input quantized per call from its own range; onnxruntime-cpu convention only).
    int8_mode: Literal["static", "dynamic"] = "static"
    #: The transformer recipe (MatMul/Gemm inputs only, their outputs in float, SmoothQuant and per-layer
    #: ranges): "auto" on transformer-like graphs, "on" for any graph, "off" never.
    transformer_recipe: Literal["auto", "on", "off"] = "auto"
    #: SmoothQuant within the transformer recipe (off: only the per-layer activation ranges are searched).
    smooth_quant: bool = True
    #: SmoothQuant's alpha for every layer; ``None``: alpha (or none) and the activation range are chosen per
    #: layer by simulated INT8 error (:mod:`compile.quantize.search`).
    smooth_alpha: float | None = Field(default=None, gt=0.0, lt=1.0)
    #: Activation rows per layer (spread over the calibration inputs) the per-layer search measures.
    smooth_rows: int = Field(default=1024, ge=16)
    #: No Q/DQ on the outputs of MatMul/Gemm (set by the transformer recipe): a transformer's residual stream
    #: has a range one INT8 scale cannot hold.
    float_layer_outputs: bool = False


class QuantizeInt8Pass(CalibratedPass):
    name = "quantize-int8"
    #: 3: GPTQ keeps the zeros of 2:4 layers; Concat/Where of far-apart ranges in float. 4: transformer recipe;
    #: 5: its residual readers of quantized activations read them in float.
    version = "5"
    description = "INT8 post-training quantization with explicit Q/DQ (ONNX Runtime quantize_static, per-channel weights)."
    consumes = (ONNX,)
    produces = ONNX
    Options = QuantizeInt8Options
    options: QuantizeInt8Options
    metrics = ("calibration_images", "calibration_skipped", "calibration_seconds")

    def applies(self, settings: RunSettings) -> str | None:
        return None if settings.precision == "int8" else f"precision is {settings.precision}, not int8"

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:

        source, opset = with_qdq_opset(self.input(inputs, ONNX, OnnxModel), ctx, self.name)
        original = load_onnx(source.path, load_external_data=False)
        info = model_info_from_onnx(original, source.path.stem)
        family = graph_family(original)
        transformer = self.options.transformer_recipe == "on" or (self.options.transformer_recipe == "auto" and family == "transformer")
        if self.options.int8_mode == "dynamic":
            return self._run_dynamic(source, original, info, ctx, family, opset)
        started = time.perf_counter()
        model_path, plan = source.path, None
        if transformer:
            plan = self.prepare_transformer(source.path, ctx)
            model_path = plan.model
            ctx.log(f"  transformer recipe: {describe_plan(plan.record)}")
        calib = calibrate(model_path, self.calibration(ctx), self.options.method, self.options.percentile,
                          ctx.run_dir / ".calibration-cache", ctx.log, symmetric=self.options.convention == "tensorrt")
        ctx.log(f"  calibration: {calib.stats.used} inputs ({'cached' if calib.cache_hit else f'{calib.seconds:.1f}s'}), "
                f"{len(calib.stats.skipped)} skipped, method {calib.method}")
        ranges = calib.entry.ranges_path
        if plan is not None:
            ranges = override_ranges(ranges, plan.ranges, ctx.output_path("ranges") / "ranges.json")
        out = ctx.output_path(OUTPUT_FILE)
        rounder = self.weight_rounder(model_path, ctx)
        quantizer, float_nodes = (self.for_transformer() if transformer else self)._with_exclusions(original)
        quantized, finish = quantizer.quantize(model_path, out, ranges, calib.method, rounder, self.bias_corrector(model_path, ctx))
        quantize_seconds = time.perf_counter() - started
        ctx.log(f"  weight rounding: {describe_rounding(finish['weight_rounding'])}")
        for join in finish["float_joins"]:
            ctx.log(f"  kept in float: {join['node']} ({join['op']}), {join['why']}")
        if opset is not None:
            finish["opset"] = opset
        set_model_info(quantized, info)
        save_onnx(quantized, out)
        if float_nodes:
            finish["exclude_nodes"] = float_nodes
            if self.options.guard_float_layers:

                finish["float_inputs_guarded"] = guard_float_layers(out, float_nodes, channel_counts(original))
                quantized = load_onnx(out)
        structure = qdq_structure(quantized)
        quantized_layers = sum(structure["quantized_ops"].values())
        record = {
            "precision": "int8",
            "convention": self.options.convention,
            "int8_mode": "static",
            "graph": family,
            "recipe": "transformer" if transformer else "default",
            **({"smooth_quant": plan.record} if plan is not None else {}),
            "calibration": calib.to_record(),
            "quantize_seconds": round(quantize_seconds, 3),
            "nodes_before": count_nodes(original),
            "nodes_after": count_nodes(quantized),
            **structure,
            "quantized_layers": quantized_layers,
            **finish,
            "ops_after": op_histogram(quantized),
        }
        report = {"quantization": {key: record[key] for key in REPORTED if key in record}}
        metrics = {"calibration_images": float(calib.stats.used), "calibration_skipped": float(len(calib.stats.skipped)),
                   "calibration_seconds": calib.seconds}
        warnings = []
        if calib.stats.skipped:
            warnings.append(f"{len(calib.stats.skipped)} calibration files were unreadable and skipped "
                            f"(first: {calib.stats.skipped[0]})")
        if not quantized_layers:
            warnings.append(nothing_quantized(original, self.options.convention))
        if calib.stats.used < self.options.size:
            warnings.append(f"calibrated on {calib.stats.used} inputs, fewer than the {self.options.size} asked for")
        return PassResult(OnnxModel(path=out, precision="int8", sparsity=source.sparsity), record=record, report=report,
                          metrics=metrics, warnings=warnings)

    def for_transformer(self) -> QuantizeInt8Pass:
        """This pass with the transformer recipe's op selection: MatMul/Gemm inputs only, their outputs in float."""

        return QuantizeInt8Pass(**{**self.options.model_dump(), "op_types": self.options.op_types or list(TRANSFORMER_OPS),
                                   "float_layer_outputs": True})

    def prepare_transformer(self, source: Path, ctx: PassContext) -> StaticPlan:
        """SmoothQuant and the per-layer activation ranges for ``source`` (a model file in the work folder)."""

        out = ctx.output_path("smoothquant") / source.name  # same name: the model info falls back on it
        out.parent.mkdir(parents=True, exist_ok=True)
        return prepare_static(source, out, self.calibration(ctx).batches(CalibrationStats()), self.options.size,
                              symmetric=self.options.convention == "tensorrt", alpha=self.options.smooth_alpha,
                              rows=self.options.smooth_rows, smooth=self.options.smooth_quant)

    def _run_dynamic(self, source: OnnxModel, original: Any, info: Any, ctx: PassContext, family: str,
                     opset: dict[str, int] | None) -> PassResult:
        """ONNX Runtime's dynamic INT8: MatMul weights INT8 per channel, activations quantized per call."""

        if self.options.convention != "onnxruntime-cpu":
            raise PassError(f"{self.name}: int8_mode = \"dynamic\" runs on ONNX Runtime's CPU kernels only; the "
                            f"{self.options.convention} convention needs static Q/DQ (int8_mode = \"static\")")
        out = ctx.output_path(OUTPUT_FILE)
        started = time.perf_counter()
        quantize_dynamic_int8(source.path, out, self.options.per_channel, self.options.op_types, self.options.exclude_nodes)
        seconds = time.perf_counter() - started
        quantized = load_onnx(out)
        set_model_info(quantized, info)
        save_onnx(quantized, out)
        structure = dynamic_structure(quantized)
        ctx.log(f"  dynamic INT8: {structure['quantized_layers']} layers with INT8 weights ({seconds:.1f}s)")
        record = {"precision": "int8", "convention": self.options.convention, "int8_mode": "dynamic", "graph": family,
                  "recipe": "dynamic", "quantize_seconds": round(seconds, 3), "weight_rounding": {"method": "nearest"},
                  "nodes_before": count_nodes(original), "nodes_after": count_nodes(quantized), **structure,
                  **({"opset": opset} if opset else {}), "ops_after": op_histogram(quantized)}
        report = {"quantization": {key: record[key] for key in REPORTED if key in record}}
        warnings = [] if structure["quantized_layers"] else [nothing_quantized(original, self.options.convention)]
        return PassResult(OnnxModel(path=out, precision="int8", sparsity=source.sparsity), record=record, report=report,
                          metrics={"calibration_images": 0.0, "calibration_skipped": 0.0, "calibration_seconds": 0.0},
                          warnings=warnings)

    def _with_exclusions(self, float_model: Any) -> tuple[QuantizeInt8Pass, list[str]]:
        """This pass, with ``exclude_nodes`` extended by the activations the quantizer would fold into them
        (a Conv left in float keeps its ReLU6 in float; alone, the ReLU6 would be quantized with the wider
        range of its raw input); and the nodes left in float."""
        if not self.options.exclude_nodes:
            return self, []

        folded = folded_activations(float_model)
        nodes = sorted({*self.options.exclude_nodes, *(a for n in self.options.exclude_nodes for a in folded.get(n, []))})
        return QuantizeInt8Pass(**{**self.options.model_dump(), "exclude_nodes": nodes}), nodes

    def weight_rounder(self, source: Path, ctx: PassContext) -> WeightRounder | None:
        """GPTQ for ``source`` on the first ``rounding_samples`` calibration inputs (``None``: nearest rounding).

        Solved integers are cached in the user cache folder under the model, the calibration data and the
        sample count, so quantize-int8 and mixed-precision (and later runs) measure the layer inputs once."""
        if self.options.weight_rounding != "gptq":
            return None

        calibration = self.calibration(ctx)
        cache = self._measurement_cache("rounding", 3, source, calibration.identity(), ctx)
        return WeightRounder(source, lambda: calibration.batches(CalibrationStats()), self.options.rounding_samples, cache=cache)

    def bias_corrector(self, source: Path, ctx: PassContext) -> BiasCorrector | None:
        """Bias correction for ``source`` on the first ``rounding_samples`` calibration inputs (``None``: off); the
        measured input means are cached like the GPTQ integers."""
        if not self.options.bias_correction:
            return None

        calibration = self.calibration(ctx)
        cache = self._measurement_cache("bias", 1, source, calibration.identity(), ctx)
        return BiasCorrector(source, lambda: calibration.batches(CalibrationStats()), self.options.rounding_samples, cache=cache)

    def _measurement_cache(self, name: str, format_version: int, source: Path, data: Any, ctx: PassContext) -> Path:
        """The cache file of a measurement ``name`` over ``source`` and the first ``rounding_samples`` inputs of
        the calibration data ``data`` (its identity): in the user cache folder, else the run directory."""
        key = versioned_key(format_version, model=hash_file(source), data=data, samples=self.options.rounding_samples)
        return user_cache_folder(name, ctx.run_dir / f".{name}-cache") / f"{key}.npz"

    def quantize(self, source: Path, out: Path, ranges: Path, method: str, rounder: WeightRounder | None = None,
                 corrector: BiasCorrector | None = None) -> tuple[Any, dict[str, Any]]:
        """The Q/DQ model of ``source`` as this pass writes it to ``out``: quantized, weights rounded,
        graph outputs left in float and (TensorRT) residual Adds made fusable. Returns the model and
        what the steps after ``quantize_static`` did."""

        joins = self._quantize(source, out, ranges, method)
        quantized, finish = self.finish(load_onnx(out), out, rounder, corrector)
        return quantized, {**finish, "float_joins": [join.to_record() for join in joins]}

    def finish(self, quantized: Any, out: Path, rounder: WeightRounder | None = None,
               corrector: BiasCorrector | None = None) -> tuple[Any, dict[str, Any]]:
        """The steps after ``quantize_static``, on its output ``quantized``, saved to ``out``."""

        rounding: dict[str, Any] = {"method": "nearest"}
        if rounder is not None:
            rounding = rounder.record(len(rounder.apply(quantized)))
        # After rounding: the shift is that of the final integers.
        correction = {"bias_correction": corrector.record(len(corrector.apply(quantized)))} if corrector is not None else {}
        finish = {"weight_rounding": rounding, **correction,
                  "float_outputs": remove_output_qdq(quantized) if self.options.float_outputs else [],
                  "residual_adds_fusable": fuse_residual_adds(quantized) if self.options.convention == "tensorrt" else []}
        save_onnx(quantized, out)
        return quantized, finish

    def quantize_settings(self) -> dict[str, Any]:
        """``quantize_static`` keywords for the convention (public so tests and benchmarks can inspect them)."""
        from onnxruntime.quantization import QuantFormat, QuantType

        extra: dict[str, Any] = {"WeightSymmetric": True, "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}}
        if self.options.float_layer_outputs:
            extra["OpTypesToExcludeOutputQuantization"] = ["MatMul", "Gemm"]
        op_types: list[str] | None
        if self.options.convention == "tensorrt":
            activation = QuantType.QInt8
            extra["ActivationSymmetric"] = True
            op_types = self.options.op_types or list(TENSORRT_OPS)
        else:
            activation = QuantType.QUInt8
            op_types = self.options.op_types  # None: every op ONNX Runtime can quantize
        return {"quant_format": QuantFormat.QDQ, "per_channel": self.options.per_channel, "reduce_range": False,
                "activation_type": activation, "weight_type": QuantType.QInt8, "op_types_to_quantize": op_types,
                "nodes_to_exclude": list(self.options.exclude_nodes) or None, "extra_options": extra}

    def mixed_range_joins(self, model: Path, ranges: Path) -> list[MixedRangeJoin]:
        """The joining nodes this pass leaves in float: inputs' ranges more than ``join_range_factor`` apart."""
        if self.options.join_range_factor is None:
            return []

        op_types = self.quantize_settings()["op_types_to_quantize"]
        joins = mixed_range_joins(load_onnx(model, load_external_data=False), ranges_from_file(ranges),
                                  self.options.join_range_factor, op_types)
        return [join for join in joins if join.node not in self.options.exclude_nodes]

    def _quantize(self, model: Path, out: Path, ranges: Path, method: str) -> list[MixedRangeJoin]:
        """``quantize_static`` of ``model`` into ``out``; returns the joins it was told to leave in float."""
        from onnxruntime.quantization import quantize_static


        joins = self.mixed_range_joins(model, ranges)
        settings = self.quantize_settings()
        if joins:
            settings["nodes_to_exclude"] = [*(settings["nodes_to_exclude"] or []), *(join.node for join in joins)]
        try:
            with quiet_ort():
                quantize_static(str(model), str(out), None, calibrate_method=ort_method(method),
                                calibration_cache_path=str(ranges), **settings)
        except Exception as err:  # noqa: BLE001 - the quantizer raises anything on graphs it cannot handle

            raise self.fail(f"onnxruntime quantize_static failed: {error_cause(err)}") from err
        if self.options.float_layer_outputs and settings["op_types_to_quantize"]:

            quantized = load_onnx(out)
            if keep_float_readers(quantized, settings["op_types_to_quantize"]):  # residual Adds read float again
                save_onnx(quantized, out)
        return joins


def with_qdq_opset(source: OnnxModel, ctx: PassContext, who: str) -> tuple[OnnxModel, dict[str, int] | None]:
    """``source`` ready for per-channel Q/DQ: as it is at opset 13 or later; else converted to opset 13 by
    ONNX's version converter (a scratch file in ``ctx``'s work folder), with ``{"from": old, "to": 13}``.

    Raises :class:`PassError` (exit 2) naming the opset when the converter cannot upgrade the graph, so
    that nothing is quantized into a graph ONNX Runtime would refuse to load."""

    model = load_onnx(source.path, load_external_data=False)
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), QDQ_MIN_OPSET)
    if version >= QDQ_MIN_OPSET:
        return source, None
    import onnx
    from onnx import version_converter

    model = load_onnx(source.path)
    try:
        converted = version_converter.convert_version(model, QDQ_MIN_OPSET)
        # ONNX Runtime checks the IR version against the opsets: opset 13 needs IR 7.
        converted.ir_version = max(converted.ir_version, 7)
        onnx.checker.check_model(converted)
    except Exception as err:  # noqa: BLE001 - the converter raises RuntimeError, ValueError or its own errors

        raise PassError(f"{who}: the model is ONNX opset {version}; INT8 with per-channel Q/DQ needs opset {QDQ_MIN_OPSET} "
                        f"and ONNX's version converter cannot upgrade it ({error_cause(err, 300)}): "
                        f"re-export the model at opset {QDQ_MIN_OPSET} or later") from err
    path = ctx.output_path(f"opset{QDQ_MIN_OPSET}") / source.path.name  # same name: the model info falls back on it
    path.parent.mkdir(parents=True, exist_ok=True)
    save_onnx(converted, path)
    ctx.log(f"  opset {version} -> {QDQ_MIN_OPSET} (ONNX version converter): per-channel Q/DQ needs opset {QDQ_MIN_OPSET}")
    return replace(source, path=path), {"from": int(version), "to": QDQ_MIN_OPSET}


def nothing_quantized(model: Any, convention: str) -> str:
    """The warning for an INT8 run whose graph has no op reading INT8 inputs, naming the model's op types."""

    ops = sorted(op_histogram(model))
    listed = ", ".join(ops[:MAX_LISTED_OPS]) + (f" and {len(ops) - MAX_LISTED_OPS} more" if len(ops) > MAX_LISTED_OPS else "")
    return (f"no layer was quantized: none of the model's ops ({listed}) has INT8 support under the {convention} "
            "convention (or all were excluded); the INT8 artifact computes in FP32")


def describe_plan(record: dict[str, Any]) -> str:
    """One log line for the transformer recipe's SmoothQuant record."""
    if record.get("method") != "smoothquant":
        return f"MatMul/Gemm inputs only ({record.get('why', 'no smoothing')})"
    error = record.get("simulated_error", {})
    return (f"MatMul/Gemm inputs only; SmoothQuant on {record.get('smoothed_groups', 0)} of {record.get('groups', 0)} layer "
            f"inputs (alpha {record.get('alpha')}), {record.get('clipped_ranges', 0)} clipped ranges; simulated layer "
            f"error {error.get('plain')} -> {error.get('chosen')}")


def describe_rounding(record: dict[str, Any]) -> str:
    """One log line for a ``weight_rounding`` record."""
    if record.get("method") != "gptq":
        return "round to nearest"
    if record.get("cached"):
        return f"GPTQ on {record.get('layers', 0)} layers (integers from the cache)"
    return (f"GPTQ on {record.get('layers', 0)} layers, layer inputs measured on {record.get('inputs', 0)} inputs "
            f"({record.get('moments_seconds', 0.0) + record.get('solve_seconds', 0.0):.1f}s; layer output error "
            f"{record.get('layer_output_error_reduction')}x lower than nearest rounding)")


def fuse_residual_adds(model: Any) -> list[str]:
    """TensorRT placement for residual Adds: Q/DQ on the skip input only.

    ONNX Runtime puts Q/DQ on both inputs of an Add. TensorRT fuses ``Conv -> Add(skip) -> ReLU`` into one
    INT8 convolution when the convolution's output reaches the Add in float and the skip input comes
    through a DequantizeLinear; so for an Add with one input straight from a Conv/Gemm/MatMul (through a
    Q/DQ pair nothing else reads), that pair is removed. Returns the Adds changed."""
    producer = {out: node for node in model.graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    graph_outputs = {o.name for o in model.graph.output}
    changed: list[str] = []
    dropped: list[Any] = []
    for add in [n for n in model.graph.node if n.op_type == "Add" and len(n.input) == 2]:
        branches: list[tuple[int, Any, Any, Any]] = []
        for index, name in enumerate(add.input):
            dq = producer.get(name)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is None or q.op_type != "QuantizeLinear":
                break
            source = producer.get(q.input[0])
            branches.append((index, dq, q, source))
        if len(branches) != 2:
            continue
        for index, dq, q, source in branches:
            if (source is not None and source.op_type in ("Conv", "Gemm", "MatMul") and uses.get(dq.output[0]) == 1
                    and uses.get(q.output[0]) == 1 and uses.get(q.input[0]) == 1 and q.input[0] not in graph_outputs):
                add.input[index] = q.input[0]
                dropped += [q, dq]
                changed.append(add.name or add.output[0])
                break
    for node in dropped:
        model.graph.node.remove(node)
    return changed


def remove_output_qdq(model: Any) -> list[str]:
    """Remove QuantizeLinear -> DequantizeLinear pairs that only round a graph output; return those outputs."""
    nodes = list(model.graph.node)
    producer = {out: node for node in nodes for out in node.output}
    uses: dict[str, int] = {}
    for node in nodes:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    graph_outputs = {o.name for o in model.graph.output}
    dropped: list[Any] = []
    renamed: list[str] = []
    for output in model.graph.output:
        dq = producer.get(output.name)
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = producer.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or uses.get(q.output[0], 0) != 1:
            continue
        source = producer.get(q.input[0])
        if source is None or uses.get(q.input[0], 0) != 1 or q.input[0] in graph_outputs:
            continue
        index = list(source.output).index(q.input[0])
        source.output[index] = output.name
        dropped += [q, dq]
        renamed.append(output.name)
    for node in dropped:
        model.graph.node.remove(node)
    return renamed


def qdq_structure(model: Any) -> dict[str, Any]:
    """Counts of Q/DQ nodes and of the ops that consume dequantized inputs (those run in INT8)."""
    dq_outputs = {out for node in model.graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    quantized: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type in QDQ_OPS:
            continue
        if any(name in dq_outputs for name in node.input):
            quantized[node.op_type] = quantized.get(node.op_type, 0) + 1
    return {
        "quantize_linear": sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear"),
        "dequantize_linear": sum(1 for n in model.graph.node if n.op_type == "DequantizeLinear"),
        "quantized_ops": dict(sorted(quantized.items())),
    }
