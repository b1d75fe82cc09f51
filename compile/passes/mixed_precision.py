"""mixed-precision: INT8 everywhere except the fewest layers that must stay in float to pass the gates.

Runs for ``--precision mixed``. The ranges and GPTQ integers are those of ``quantize-int8`` (same
caches), so no candidate recalibrates. The steps:

1. quantize everything, exactly as ``quantize-int8`` writes it, and measure it on the validation data
   against the run's own FP32 reference (the one ``validate`` uses) at the profile's ONNX Runtime
   optimisation level; if the accuracy gates pass, that is the answer (no layer in float);
2. rank the quantized Conv/Gemm/MatMul layers by what each does alone (the float graph with only
   that layer quantized: one optimised variant per layer on a few inputs, no run of the quantizer;
   :mod:`compile.mixed.sensitivity`): under a top-1 agreement gate, how far it moves the top-1
   margins of the inputs nearest a flip, else the output error; per ms that keeping it in float
   adds (:mod:`compile.mixed.cost`: the time INT8 saves on it, ONNX Runtime's profiler, plus the
   INT8/float switches it adds or removes), chosen greedily so each step buys the most accuracy per ms;
3. keep the first 1, 2, 3, ... ranked layers in float until the gates pass (beyond ``search_scan``
   counts: doubling, then bisection; :mod:`compile.mixed.search`). Candidates are assembled from the
   float and the all-INT8 models (:mod:`compile.mixed.assemble`, checked once against the quantizer)
   and measured on the inputs nearest a flip first, so a failing one stops after a batch.

Layers kept "in float" stay FP32 (the right choice on the ``cpu`` profile, where FP16 is slower).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from compile.artifacts import ONNX, REFERENCE_KIND, Artifact, OnnxModel
from compile.backends.ort.runner import OrtRunner
from compile.calibration.ranges import calibrate
from compile.data.eval_set import EvalSet, build_eval_set, data_identity
from compile.mixed.assemble import CandidateAssembler
from compile.mixed.cost import LatencyModel, greedy_order
from compile.mixed.keep_float import channel_counts, fill_gaps, float_islands, guard_float_layers
from compile.mixed.overlap import data_overlap
from compile.mixed.search import Evaluation, search_float_layers
from compile.mixed.sensitivity import (
    COMPUTE_OPS,
    dequantized_weights,
    folded_activations,
    margin_risk,
    output_nsr,
    quantized_nodes,
    rank_layers,
    single_layer_errors,
    top1_margins,
)
from compile.mixed.timing import measure_latency_model
from compile.onnx_io import load_onnx, model_info_from_onnx, save_onnx, set_model_info
from compile.passes.base import Pass, PassContext, PassResult
from compile.passes.quantize_int8 import (
    QuantizeInt8Options,
    QuantizeInt8Pass,
    describe_rounding,
    qdq_structure,
    with_qdq_opset,
)
from compile.passes.validate import fitting_labels, output_kinds
from compile.settings import RunSettings
from compile.validate.compare import compare_outputs
from compile.validate.gates import checked_gates, evaluate_gates
from compile.validate.kinds import class_view, resolve_views
from compile.validate.reference import reference_cache, reference_outputs
from compile.validate.user_metrics import load_user_metrics

OUTPUT_FILE = "model.mixed.onnx"
#: How many ranked layers the report lists.
REPORT_RANKING = 15
#: Validation inputs per inference while a candidate is measured.
BATCH = 16
#: Below this share of the INT8 model's time, a change in latency is timing noise: the ranking charges at least it.
FLOOR_SHARE = 0.01


class MixedPrecisionOptions(QuantizeInt8Options):
    #: Validation inputs each candidate is measured on: those validate uses (``RunSettings.validation_samples``;
    #: ``None``: every input of the data).
    samples: int | None = Field(default=64, ge=1)
    seed: int = 0
    #: Inputs the one-pass sensitivity analysis runs on, and their batch.
    sensitivity_samples: int = Field(default=8, ge=1)
    #: "single-layer": the output error with only that layer quantized (one cheap float-graph variant per
    #: Conv/Gemm/MatMul); "qdq-debug": the error each node adds, from one pass over both models' tensors.
    sensitivity: Literal["single-layer", "qdq-debug"] = "single-layer"
    #: "error-per-ms": error regained per ms the float set gains (INT8 savings lost and switches added,
    #: :mod:`compile.mixed.cost`); "error": error only.
    ranking: Literal["error-per-ms", "error"] = "error-per-ms"
    #: Counts of ranked layers tried one by one before the search doubles and bisects (:mod:`compile.mixed.search`).
    search_scan: int = Field(default=16, ge=0)
    #: Profiled inferences per model for the per-layer timing.
    profile_iterations: int = Field(default=20, ge=1)
    #: Accuracy gates the search must pass (default: the profile's gates with ``--gate`` overrides);
    #: gates on figures the search does not measure (latency) are left to the run's own gates.
    gates: dict[str, float] = Field(default_factory=dict)
    #: Output kinds and user metrics, as validate gets them (compile/drivers/options.py): the search judges alike.
    output_kinds: dict[str, str] = Field(default_factory=dict)
    output_kind_flags: dict[str, str] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=list)
    #: Also leave in float any run of at most this many INT8 Conv/Gemm/MatMul between two float ones
    #: (graph order): each INT8/float switch costs layout changes and Q/DQ on ONNX Runtime's CPU provider.
    fill_gaps: int = Field(default=2, ge=0)
    #: ONNX Runtime optimisation level candidates are measured at (default: the profile's build level, so the
    #: search sees the kernels, and the rounding, that the validated artifact will run).
    optimization: Literal["basic", "extended", "all"] = "extended"


class MixedPrecisionPass(Pass):
    name = "mixed-precision"
    description = "INT8 with the fewest layers left in float that pass the accuracy gates (sensitivity-ranked search)."
    consumes = (ONNX,)
    #: The run's FP32 reference (the PyTorch model, or the source ONNX), which validate also compares with:
    #: a top-1 agreement gate that allows 2 flips in 400 must not be judged against a different reference.
    uses = (REFERENCE_KIND,)
    produces = ONNX
    Options = MixedPrecisionOptions
    options: MixedPrecisionOptions
    metrics = ("float_layers", "search_evaluations", "search_seconds", "search_top1_agreement")
    version = "7"

    def applies(self, settings: RunSettings) -> str | None:
        return None if settings.precision == "mixed" else f"precision is {settings.precision}, not mixed"

    def _quantizer(self, exclude: list[str], float_model: Any = None) -> QuantizeInt8Pass:
        """The quantize-int8 pass with ``exclude`` left in float, with the activations folded into them and
        the non-compute regions between float layers (``float_model`` gives the graph to find them in)."""
        int8_keys = set(QuantizeInt8Options.model_fields)
        options = {key: value for key, value in self.options.model_dump().items() if key in int8_keys}
        layers = {*self.options.exclude_nodes, *exclude}
        if float_model is not None and layers:
            layers |= {act for name in set(layers) for act in folded_activations(float_model).get(name, [])}
            layers |= set(float_islands(float_model, layers, COMPUTE_OPS))
        options["exclude_nodes"] = sorted(layers)
        return QuantizeInt8Pass(**options)

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        return {"calibration": self._quantizer([]).calibration(ctx).identity(),
                "data": data_identity(ctx.model_info(), ctx.settings.data, self.options.samples, self.options.seed)}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        started = time.perf_counter()
        source, opset = with_qdq_opset(self.input(inputs, ONNX, OnnxModel), ctx, self.name)  # opset >= 13
        info = ctx.model_info()
        o = self.options
        base = self._quantizer([])
        calib = calibrate(source.path, base.calibration(ctx), o.method, o.percentile, ctx.run_dir / ".calibration-cache", ctx.log,
                          symmetric=o.convention == "tensorrt")
        ctx.log(f"  calibration: {calib.stats.used} inputs ({'cached' if calib.cache_hit else f'{calib.seconds:.1f}s'}), "
                f"method {calib.method}")
        warnings: list[str] = []
        overlap = data_overlap(info, ctx.settings.data, o.samples, ctx.settings.calib, o.size)
        if overlap:
            warnings.append(overlap)
        data = build_eval_set(info, ctx.settings.data, o.samples, o.seed)
        ctx.log(f"  search validates on {data.description}")
        reference, reference_description = reference_outputs(inputs.get(REFERENCE_KIND, source), data, ctx.settings.weights,
                                                                reference_cache(ctx.run_dir))
        ctx.log(f"  search compares with {reference_description}")
        # Judged exactly as validate will judge the result: its labels, and only the gates it checks.
        kinds, sources = output_kinds(info, o.output_kinds, o.output_kind_flags)
        user_metrics = load_user_metrics(o.metrics)
        data.labels, _ = fitting_labels(data.labels, reference, ctx.settings.data, kinds)
        gates = checked_gates(o.gates, reference, data.labels, seed=o.seed, kinds=kinds, user_metrics=user_metrics,
                              metadata=data.metadata)
        judged_by = {"kinds": kinds, "kind_sources": sources, "user_metrics": user_metrics, "metadata": data.metadata}
        if dropped := sorted(set(o.gates) - set(gates)):
            ctx.log(f"  search ignores {', '.join(dropped)}: validation does not measure them for this model's outputs")
        scratch = ctx.work_dir / "candidates"
        scratch.mkdir(parents=True, exist_ok=True)
        rounder = base.weight_rounder(source.path, ctx)
        corrector = base.bias_corrector(source.path, ctx)
        evaluator = _Evaluator(self, source.path, calib.entry.ranges_path, calib.method, scratch, data, reference, gates,
                               guard=o.guard_float_layers, rounder=rounder, corrector=corrector, judged_by=judged_by)

        if rounder is not None:
            ctx.log(f"  weight rounding: {describe_rounding(rounder.record())}")
        ranking_record: list[dict[str, Any]] = []
        sensitivity_seconds = timing_seconds = 0.0
        latency: tuple[LatencyModel, dict[str, Any]] | None = None
        first = evaluator.evaluate([])
        if first.passed:
            ranked: list[str] = []
        else:
            ranked, ranking_record, sensitivity_seconds, timing_seconds, latency = self._rank(evaluator, data, reference, ctx,
                                                                                              calib.ranges(), gates)
        result = search_float_layers(ranked, lambda layers: first if not layers else evaluator.evaluate(layers), ctx.log,
                                     scan=o.search_scan)
        if not result.passed:
            warnings.append(f"the gates fail even with all {len(ranked)} ranked layers in float")

        out = ctx.output_path(OUTPUT_FILE)
        shutil.copyfile(evaluator.build(result.float_layers), out)
        final = load_onnx(out)
        set_model_info(final, model_info_from_onnx(evaluator.float_model, source.path.stem))
        save_onnx(final, out)
        seconds = time.perf_counter() - started
        chosen = result.chosen
        cost = {"seconds": round(seconds, 3), "evaluations": len(result.evaluations),
                "search_seconds": round(result.seconds, 3), "sensitivity_seconds": round(sensitivity_seconds, 3),
                "timing_seconds": round(timing_seconds, 3), "calibration_seconds": round(calib.seconds, 3),
                "calibration_cached": calib.cache_hit, "candidates_assembled": evaluator.assembled,
                "assembly": evaluator.assembly}
        if rounder is not None:
            cost["rounding_seconds"] = round(rounder.stats.moments_seconds + rounder.stats.solve_seconds, 3)
        if corrector is not None:
            cost["bias_correction_seconds"] = round(corrector.stats.seconds, 3)
        # One calibration run, as measured when the ranges were computed (this run, or the one that cached them).
        one_calibration = calib.seconds if not calib.cache_hit else float((calib.entry.read_meta() or {}).get("seconds", 0.0))
        if one_calibration > 0:
            cost["one_calibration_seconds"] = round(one_calibration, 3)
            cost["times_calibration"] = round(seconds / one_calibration, 2)
        record = {
            "precision": "mixed",
            "convention": o.convention,
            "float_layers": evaluator.float_set(result.float_layers),
            "search_layers": len(result.float_layers),
            "passed": result.passed,
            "ranking": o.ranking,
            "sensitivity": o.sensitivity,
            "ranked_layers": len(ranked),
            "top_ranked": ranking_record[:REPORT_RANKING],
            "search": result.to_dict(),
            "gates": gates,
            "cost": cost,
            "validation_data": data.description,
            "reference": reference_description,
            "calibration": calib.to_record(),
            "weight_rounding": rounder.record() if rounder is not None else {"method": "nearest"},
            "bias_correction": corrector.record() if corrector is not None else None,
            # What the latency model expects the float layers to add to the all-INT8 model (ms per inference).
            "latency_model": {**latency[1], "float_layers_add_ms": round(latency[0].cost_ms(evaluator.float_set(result.float_layers)), 3)}
            if latency is not None else None,
            **qdq_structure(final),
            **({"opset": opset} if opset else {}),
        }
        report = {"mixed_precision": {key: record[key] for key in ("float_layers", "passed", "ranking", "sensitivity", "ranked_layers",
                                                                   "top_ranked", "search", "gates", "cost", "validation_data",
                                                                   "reference", "weight_rounding")}}
        report["mixed_precision"]["calibration_data"] = calib.data
        if corrector is not None:
            report["mixed_precision"]["bias_correction"] = record["bias_correction"]
        if latency is not None:
            report["mixed_precision"]["latency_model"] = record["latency_model"]
        if opset:
            report["mixed_precision"]["opset"] = opset
        if overlap:
            report["mixed_precision"]["data_warning"] = overlap
        metrics = {"float_layers": float(len(record["float_layers"])), "search_evaluations": float(len(result.evaluations)),
                   "search_seconds": seconds}
        if chosen is not None and "top1_agreement" in chosen.metrics:
            metrics["search_top1_agreement"] = chosen.metrics["top1_agreement"]
        ctx.log(f"  kept {len(record['float_layers'])} layer(s) in float after {len(result.evaluations)} evaluations "
                f"({seconds:.1f}s)")
        return PassResult(OnnxModel(path=out, precision="mixed", sparsity=source.sparsity), record=record, report=report,
                          metrics=metrics, warnings=warnings)

    def _sensitivity_inputs(self, data: Any, top1: Any, gates: dict[str, float]) -> tuple[Any, str]:
        """The inputs the sensitivity is measured on, and how ("margin" or "nsr").

        Under a top-1 agreement gate only inputs near a flip can fail it, so those are measured, by how
        far each layer alone moves their top-1 margin: the inputs with the smallest FP32 margins, after
        the few the gate may lose anyway. Without one, the first inputs, by output NSR."""
        import math

        count = self.options.sensitivity_samples
        threshold = gates.get("min_top1_agreement")
        if threshold is None or threshold <= 0 or top1 is None:
            return build_subset(data, count), "nsr"
        margins = top1_margins(top1)
        affordable = math.floor((1.0 - threshold) * len(margins) + 1e-9)
        order = [int(i) for i in margins.argsort(kind="stable")]
        chosen = order[affordable:affordable + count] or order[:count]
        return build_subset(data, count, chosen), "margin"

    def _rank(self, evaluator: _Evaluator, data: Any, reference: dict[str, Any], ctx: PassContext,
              ranges: dict[str, tuple[float, float]], gates: dict[str, float]
              ) -> tuple[list[str], list[dict[str, Any]], float, float, tuple[LatencyModel, dict[str, Any]] | None]:
        """Layers in the order the search leaves them in float, with the figures behind the order, the seconds the
        sensitivity and the timing took, and the latency model (``None`` when ranked by error alone)."""
        o = self.options
        float_path, int8_path = evaluator.source, evaluator.all_int8
        started = time.perf_counter()
        sample, measure = self._sensitivity_inputs(data, evaluator.top1_scores, gates)
        details: dict[str, dict[str, Any]] = {}
        if o.sensitivity == "single-layer":
            qdq = load_onnx(int8_path, load_external_data=False)
            nodes = quantized_nodes(qdq)
            compute = [node.name for node in nodes if node.op_type in COMPUTE_OPS]
            scorer = margin_risk if measure == "margin" else output_nsr
            measured = single_layer_errors(float_path, compute, ranges, o.convention == "tensorrt", sample.batches(o.batch_size),
                                           score=scorer, weights=dequantized_weights(load_onnx(int8_path)))
            op_types = {node.name: node.op_type for node in nodes}
            scores = sorted(measured.errors.items(), key=lambda item: item[1], reverse=True)
            key = "margin_risk_alone" if measure == "margin" else "error_alone"
            details = {name: {"node": name, "op_type": op_types[name], key: round(error, 9)} for name, error in scores}
        else:
            layers = rank_layers(float_path, int8_path, sample.batches(o.batch_size))
            scores = [(layer.node, layer.score) for layer in layers]
            details = {layer.node: layer.to_dict() for layer in layers}
        sensitivity_seconds = time.perf_counter() - started
        ctx.log(f"  sensitivity ({o.sensitivity}): {len(scores)} layers scored on {sample.size} inputs in {sensitivity_seconds:.1f}s")
        if o.ranking == "error":
            ordered = [(node, score) for node, score in scores if score > 0]
            record = [{**details[node], "priority": round(score, 8)} for node, score in ordered]
            return [node for node, _ in ordered], record, sensitivity_seconds, 0.0, None
        names = [name for name, _ in scores]
        model, timing, latency = measure_latency_model(float_path, int8_path, names, evaluator.compute_order, sample.batches(1)[0],
                                                       lambda layers: evaluator.build(layers, fill=False),
                                                       o.profile_iterations, o.optimization)
        ctx.log(f"  timing: float {timing.float_total_ms:.2f} ms, int8 {timing.int8_total_ms:.2f} ms per inference, INT8/float "
                f"switch {latency.get('switch_ms_per_melement', 0.0):.2f} ms per million elements (profiled in {timing.seconds:.1f}s)")
        steps = greedy_order(dict(scores), model, evaluator.float_set, floor_ms=FLOOR_SHARE * timing.int8_total_ms)
        record = []
        for step in steps:
            entry = dict(details[step.layer])
            entry.update({"priority": round(step.priority, 8), "int8_saving_ms": round(model.savings.get(step.layer, 0.0), 4),
                          "added_ms": round(step.cost_ms, 4)})
            if len(step.added) > 1:
                entry["with_gaps"] = [name for name in step.added if name != step.layer]
            record.append(entry)
        return [step.layer for step in steps], record, sensitivity_seconds, timing.seconds, (model, latency)


def build_subset(data: Any, count: int, indices: list[int] | None = None) -> Any:
    """``count`` inputs of an eval set: the first ones, or those at ``indices``."""

    picked = list(range(min(count, data.size))) if indices is None else list(indices)[:count]
    feeds = {name: array[picked] for name, array in data.feeds.items()}
    labels = [data.labels[i] for i in picked] if data.labels is not None else None
    where = f"first {len(picked)}" if indices is None else f"{len(picked)} nearest a top-1 flip"
    return EvalSet(feeds, labels, f"{where} of {data.description}", data.source)


class _Evaluator:
    """Builds the model with some layers in float and measures it against the float reference."""

    def __init__(self, owner: MixedPrecisionPass, source: Path, ranges: Path, method: str, scratch: Path, data: Any,
                 reference: dict[str, Any], gates: dict[str, float], guard: bool = True, rounder: Any = None,
                 corrector: Any = None, judged_by: dict[str, Any] | None = None) -> None:
        self.owner, self.source, self.ranges, self.method, self.rounder = owner, source, ranges, method, rounder
        self.corrector = corrector
        #: Only gates validation checks on these outputs (see compile.validate.gates.checked_gates).
        self.scratch, self.data, self.reference, self.gates = scratch, data, reference, gates
        self.built = 0
        import numpy as np

        #: How validate judges the outputs (kinds, user metrics, the data's metadata): candidates are compared alike.
        self.judged_by = judged_by or {}
        #: The classifier view (one class vector per sample) a top-1 flip is counted on, if the model has one.
        self.top1_view = class_view(resolve_views({name: tuple(a.shape) for name, a in reference.items()},
                                                  self.judged_by.get("kinds")), reference)
        self.top1_scores = self.top1_view.select(reference[self.top1_view.output]) if self.top1_view is not None else None
        #: Validation inputs, smallest FP32 top-1 margin first under a top-1 agreement gate (see :meth:`_run`).
        first = reference[next(iter(reference))]
        self.order = (top1_margins(self.top1_scores).argsort(kind="stable")
                      if "min_top1_agreement" in gates and self.top1_scores is not None else np.arange(len(first)))

        float_model = load_onnx(source)  # with its weights: the assembler takes float layers from it
        self.float_model = float_model

        #: Conv/Gemm/MatMul in graph order (where gaps between float layers are looked for).
        self.compute_order = [str(n.name) for n in float_model.graph.node if n.op_type in COMPUTE_OPS and n.name]
        #: ONNX Runtime re-quantizes float Conv/Gemm fed by a DequantizeLinear (see compile/mixed/keep_float.py).
        self.guard = guard
        self.channels = channel_counts(float_model) if guard else {}

        raw = scratch / "all-int8.raw.onnx"
        self.owner._quantizer([], float_model)._quantize(source, raw, ranges, method)
        #: Builds candidates from the float and all-INT8 models (None: the quantizer builds each one).
        self.assembler: CandidateAssembler | None = CandidateAssembler(float_model, load_onnx(raw))
        #: "unchecked" until the first assembled candidate is compared with the quantizer's own.
        self.assembly = "unchecked"
        self.assembled = 0
        #: The all-INT8 model (kept: the sensitivity analysis and the timing read it).
        self.all_int8 = self.scratch / "candidate-0.onnx"
        self.owner._quantizer([], float_model).finish(load_onnx(raw), self.all_int8, rounder, corrector)

    def float_set(self, layers: list[str]) -> list[str]:
        """The compute layers actually left in float for ``layers``: gaps between them filled."""

        return fill_gaps(self.compute_order, layers, self.owner.options.fill_gaps)

    def build(self, layers: list[str], fill: bool = True) -> Path:
        """Exactly what quantize-int8 writes (rounding, float graph outputs), with ``layers`` left in float (and
        the gaps between them, unless ``fill`` is false)."""
        layers = self.float_set(layers) if fill else list(layers)
        self.built += 1
        out = self.scratch / f"candidate-{self.built}.onnx"
        quantizer = self.owner._quantizer(layers, self.float_model)
        assembled = self.assembler.assemble(set(quantizer.options.exclude_nodes)) if self.assembler is not None else None
        if assembled is None:
            quantizer.quantize(self.source, out, self.ranges, self.method, self.rounder, self.corrector)
        else:
            quantizer.finish(assembled, out, self.rounder, self.corrector)
            self.assembled += 1
        if self.guard:
            guard_float_layers(out, layers, self.channels)
        if assembled is not None and self.assembly == "unchecked":
            self._check_assembly(out, quantizer, layers)
        return out

    def _check_assembly(self, assembled: Path, quantizer: Any, layers: list[str]) -> None:
        """Compare the first assembled candidate with the quantizer's build of it; on any difference, the
        quantizer builds every later candidate (and this one is replaced by its build)."""
        import numpy as np

        built = self.scratch / "assembly-check.onnx"
        quantizer.quantize(self.source, built, self.ranges, self.method, self.rounder, self.corrector)
        if self.guard:
            guard_float_layers(built, layers, self.channels)
        feed = {name: array[:8] for name, array in self.data.feeds.items()}
        with OrtRunner(assembled, optimization=self.owner.options.optimization) as a, \
                OrtRunner(built, optimization=self.owner.options.optimization) as b:
            ours, theirs = a.infer(feed), b.infer(feed)
        same = set(ours) == set(theirs) and all(
            np.allclose(ours[k], theirs[k], rtol=1e-5, atol=1e-6 * max(float(np.abs(theirs[k]).max()), 1.0)) for k in theirs)
        self.assembly = "matches the quantizer" if same else "differs from the quantizer: quantizer used"
        if not same:
            self.assembler = None
            self.assembled = 0
            built.replace(assembled)
        else:
            built.unlink(missing_ok=True)

    def evaluate(self, layers: list[str]) -> Any:
        started = time.perf_counter()
        path = self.build(layers) if layers else self.all_int8
        with OrtRunner(path, optimization=self.owner.options.optimization) as runner:
            outputs, stopped = self._run(runner)
        if path != self.all_int8:
            path.unlink(missing_ok=True)
        if stopped is not None:
            return Evaluation(list(layers), False, {"top1_agreement_at_most": round(stopped[1], 6)}, ["min_top1_agreement"],
                              time.perf_counter() - started, stopped_after=stopped[0])
        _, metrics = compare_outputs(self.reference, outputs, self.data.labels, seed=self.owner.options.seed, **self.judged_by)
        results = [gate for gate in evaluate_gates(self.gates, metrics) if not gate.skipped]
        shown = {gate.metric for gate in results} | {"top1_agreement", "cosine_similarity"}
        kept = {key: round(value, 6) for key, value in metrics.items() if key in shown}
        return Evaluation(list(layers), all(gate.passed for gate in results), kept,
                          [gate.name for gate in results if not gate.passed], time.perf_counter() - started)

    def _run(self, runner: Any) -> tuple[dict[str, Any], tuple[int, float] | None]:
        """Outputs batch by batch, the inputs nearest a top-1 flip first; stops early, with (inputs seen,
        best reachable agreement), once more top-1 disagreements than ``min_top1_agreement`` allows have
        been seen: the candidate fails anyway. Failing candidates usually show it in the first batch."""
        import numpy as np

        view = self.top1_view
        threshold = self.gates.get("min_top1_agreement") if view is not None else None
        total = len(self.order)
        reference_top1 = self.top1_scores.argmax(axis=1) if self.top1_scores is not None else None
        chunks: list[dict[str, Any]] = []
        seen = disagreements = 0
        for start in range(0, total, BATCH):
            picked = self.order[start:start + BATCH]
            out = runner.infer({name: array[picked] for name, array in self.data.feeds.items()})
            chunks.append(out)
            if view is not None and reference_top1 is not None:
                disagreements += int((view.select(out[view.output]).argmax(axis=1) != reference_top1[picked]).sum())
            seen += len(picked)
            if threshold is not None and (best := 1.0 - disagreements / total) < threshold:
                return {}, (seen, best)
        restore = np.argsort(self.order)
        return {name: np.concatenate([c[name] for c in chunks])[restore] for name in chunks[0]}, None
