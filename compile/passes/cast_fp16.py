"""cast-fp16: the graph in FP16, with FP32 inputs/outputs and FP32 kept where FP16 would overflow.

In the spirit of ModelOpt's AutoCast, on a maintained converter (ONNX Runtime's
``onnxruntime.transformers.float16``): ops that overflow or lose accuracy in FP16 stay in FP32 (a
block list: exponentials, powers, reductions, normalisations, resizing, top-k, ...), and so does
every node that reads or writes a tensor whose range observed on calibration data exceeds a safe
fraction of the FP16 maximum. The result must run on ONNX Runtime's CPU provider (slowly: x86 has
no FP16 convolutions; on ``cpu`` this is an accuracy check, FP16 is for the GPU profiles).
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from compile.artifacts import ONNX, Artifact, OnnxModel
from compile.backends.ort.runner import OrtRunner
from compile.calibration.exposed import quiet_ort
from compile.calibration.ranges import calibrate
from compile.data.generated import generate_inputs
from compile.errors import PassError, error_cause
from compile.onnx_io import (
    check_onnx,
    count_nodes,
    load_onnx,
    model_info_from_onnx,
    op_histogram,
    save_onnx,
    set_model_info,
)
from compile.parity import describe_mismatch
from compile.passes.base import PassContext, PassResult
from compile.passes.kinds import CalibratedPass, CalibrationOptions
from compile.settings import RunSettings

OUTPUT_FILE = "model.fp16.onnx"
FP16_MAX = 65504.0
#: Op types kept in FP32 besides the converter's own block list (ML-domain and index ops).
OVERFLOW_PRONE_OPS = ("Exp", "Log", "Pow", "Sqrt", "Reciprocal", "Softmax", "LogSoftmax", "ReduceMean", "ReduceSum",
                      "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceProd",
                      "LayerNormalization", "InstanceNormalization", "GroupNormalization", "Resize", "TopK", "CumSum",
                      "Range", "Einsum")


class CastFp16Options(CalibrationOptions):
    #: Tensors whose observed |value| exceeds this stay FP32 with their producers and consumers.
    safe_abs_max: float = Field(default=FP16_MAX / 4, gt=0, le=FP16_MAX)
    #: Extra op types kept in FP32.
    keep_fp32_ops: list[str] = Field(default_factory=list)
    #: Node names kept in FP32.
    keep_fp32_nodes: list[str] = Field(default_factory=list)


class CastFp16Pass(CalibratedPass):
    name = "cast-fp16"
    description = "Cast the graph to FP16, keeping I/O, overflow-prone ops and out-of-range nodes in FP32."
    consumes = (ONNX,)
    produces = ONNX
    Options = CastFp16Options
    options: CastFp16Options
    metrics = ("calibration_images",)

    def applies(self, settings: RunSettings) -> str | None:
        return None if settings.precision == "fp16" else f"precision is {settings.precision}, not fp16"

    def block_list(self) -> list[str]:
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

        return sorted({*DEFAULT_OP_BLOCK_LIST, *OVERFLOW_PRONE_OPS, *self.options.keep_fp32_ops})

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        from onnxruntime.transformers.float16 import convert_float_to_float16

        source = self.input(inputs, ONNX, OnnxModel)
        model = load_onnx(source.path)
        info = model_info_from_onnx(model, source.path.stem)
        _name_nodes(model)
        calib = calibrate(source.path, self.calibration(ctx), "minmax", 100.0, ctx.run_dir / ".calibration-cache", ctx.log)
        out_of_range = out_of_range_nodes(model, calib.ranges(), self.options.safe_abs_max)
        blocked_ops = self.block_list()
        started = time.perf_counter()
        try:
            with quiet_ort():
                converted = convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked_ops,
                                                     node_block_list=sorted({*out_of_range, *self.options.keep_fp32_nodes}))
        except Exception as err:  # noqa: BLE001 - the converter raises anything on graphs it cannot handle

            raise self.fail(f"FP16 conversion failed: {error_cause(err)}") from err
        seconds = time.perf_counter() - started
        topological_sort(converted)
        round_trips = remove_round_trip_casts(converted)
        check_onnx(converted, "the FP16 graph")
        set_model_info(converted, info)
        out = ctx.output_path(OUTPUT_FILE)
        save_onnx(converted, out)
        _check_runs(source.path, out, info)
        kept = fp32_nodes(converted)
        record = {
            "precision": "fp16",
            "calibration": calib.to_record(),
            "convert_seconds": round(seconds, 3),
            "safe_abs_max": self.options.safe_abs_max,
            "nodes_before": count_nodes(model),
            "nodes_after": count_nodes(converted),
            "round_trip_casts_removed": round_trips,
            "casts_added": sum(1 for n in converted.graph.node if n.op_type == "Cast") - sum(1 for n in model.graph.node if n.op_type == "Cast"),
            "kept_fp32_by_op": kept,
            "kept_fp32_by_range": sorted(out_of_range),
            "ops_after": op_histogram(converted),
        }
        report = {"fp16": {key: record[key] for key in ("precision", "calibration", "safe_abs_max", "casts_added",
                                                        "kept_fp32_by_op", "kept_fp32_by_range")}}
        warnings = []
        if calib.stats.skipped:
            warnings.append(f"{len(calib.stats.skipped)} calibration files were unreadable and skipped (first: {calib.stats.skipped[0]})")
        return PassResult(OnnxModel(path=out, precision="fp16", sparsity=source.sparsity), record=record, report=report,
                          metrics={"calibration_images": float(calib.stats.used)}, warnings=warnings)


def out_of_range_nodes(model: Any, ranges: dict[str, tuple[float, float]], limit: float) -> set[str]:
    """Nodes reading or writing a tensor whose observed magnitude exceeds ``limit``."""
    hot = {name for name, (low, high) in ranges.items() if max(abs(low), abs(high)) > limit}
    return {node.name for node in model.graph.node if hot.intersection(node.input) or hot.intersection(node.output)}


def fp32_nodes(model: Any) -> dict[str, int]:
    """Op types of compute nodes left in FP32 after conversion (those fed by a Cast to float)."""
    from onnx import TensorProto

    to_float = {out for n in model.graph.node if n.op_type == "Cast"
                for a in n.attribute if a.name == "to" and a.i == TensorProto.FLOAT for out in n.output}
    counts: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type != "Cast" and to_float.intersection(node.input):
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def remove_round_trip_casts(model: Any) -> int:
    """Fold ``Cast(x -> fp16) -> Cast(fp16 -> T)`` chains the converter leaves in the graph.

    The converter turns every Cast to float into a Cast to FP16 and puts a Cast back to FP32 before each
    node it keeps in FP32, so the FP16 step would round (and overflow) exactly the tensors kept in FP32.
    Where ``x`` already has dtype ``T`` the chain is a round trip and goes: readers of its end read ``x``
    (a graph output is then written by ``x``'s producer). Otherwise ``x`` is of another type (an int32
    count cast to float: FP16 holds integers exactly only up to 2048) and one ``Cast(x -> T)`` stays.
    A chain whose source dtype is unknown is left as it is. Returns how many FP16 casts were removed."""
    from onnx import TensorProto

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    first_casts = {node.output[0]: node for node in graph.node if _cast_to(node) == TensorProto.FLOAT16}
    chains = [node for node in graph.node
              if (to := _cast_to(node)) is not None and to != TensorProto.FLOAT16 and node.input[0] in first_casts]
    if not chains:
        return 0
    types = _elem_types(model, {first_casts[node.input[0]].input[0] for node in chains})
    outputs = {o.name for o in graph.output}
    outer = {i.name for i in graph.input} | {t.name for t in graph.initializer} | outputs
    pinned = _subgraph_reads(graph)  # names read inside If/Loop/Scan bodies: never renamed or removed
    rename: dict[str, str] = {}
    dropped: list[Any] = []
    for second in chains:
        source = first_casts[second.input[0]].input[0]
        if types.get(source) != _cast_to(second):
            if source in types:
                second.input[0] = source  # one Cast(x -> T), straight from x
            continue
        end = second.output[0]
        producer = producers.get(source)
        if end not in outputs and end not in pinned:
            rename[end] = source
            dropped.append(second)
        elif end in outputs and producer is not None and source not in outer | pinned | set(rename):
            # The chain ends in a graph output: x's producer writes the output itself.
            producer.output[list(producer.output).index(source)] = end
            rename[source] = end
            dropped.append(second)
        else:
            second.input[0] = source  # an identity Cast, but no FP16 step
    for node in graph.node:
        for index, name in enumerate(node.input):
            while name in rename:  # y -> x -> a graph output: follow to the end
                name = node.input[index] = rename[name]
    gone_nodes = {id(node) for node in dropped}
    read = {name for node in graph.node if id(node) not in gone_nodes for name in node.input} | outputs | pinned
    removed = [first for name, first in first_casts.items() if name not in read]
    gone_nodes |= {id(node) for node in removed}
    gone = {out for node in [*dropped, *removed] for out in node.output} | set(rename)
    kept = [node for node in graph.node if id(node) not in gone_nodes]
    del graph.node[:]
    graph.node.extend(kept)
    for value in [v for v in graph.value_info if v.name in gone]:
        graph.value_info.remove(value)
    return len(removed)


def _cast_to(node: Any) -> int | None:
    """The ``to`` dtype of a Cast node, None for any other node."""
    return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None


def _elem_types(model: Any, wanted: set[str]) -> dict[str, int]:
    """ONNX element types of tensors: declared ones, Cast outputs, and shape inference for ``wanted`` names still missing."""
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.output, *graph.value_info]
             if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type}
    types.update({t.name: t.data_type for t in graph.initializer})
    types.update({node.output[0]: to for node in graph.node if (to := _cast_to(node)) is not None})
    if not wanted <= set(types):
        import onnx

        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
        except Exception:  # noqa: BLE001 - without inference the chains with unknown sources are kept
            return types
        types.update({v.name: v.type.tensor_type.elem_type for v in inferred
                      if v.name not in types and v.type.HasField("tensor_type") and v.type.tensor_type.elem_type})
    return types


def _subgraph_reads(graph: Any) -> set[str]:
    """Every tensor name read by nodes inside the graph's subgraphs (outer-scope values included)."""
    names: set[str] = set()
    for node in graph.node:
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                names.update(name for inner in sub.node for name in inner.input)
                names.update(o.name for o in sub.output)
                names |= _subgraph_reads(sub)
    return names


def topological_sort(model: Any) -> None:
    """Reorder the main graph's nodes so producers come first (the converter appends its Casts at the end)."""
    nodes = list(model.graph.node)
    available = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    producers = {out: index for index, node in enumerate(nodes) for out in node.output}
    waiting = [sum(1 for name in set(node.input) if name not in available and name in producers) for node in nodes]
    consumers: dict[int, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in set(node.input):
            if name not in available and name in producers:
                consumers.setdefault(producers[name], []).append(index)
    ready = [index for index, count in enumerate(waiting) if count == 0]
    order: list[int] = []
    while ready:
        index = ready.pop(0)
        order.append(index)
        for consumer in consumers.get(index, []):
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    if len(order) != len(nodes):
        raise PassError("cast-fp16: the converted graph has a cycle")
    del model.graph.node[:]
    model.graph.node.extend(nodes[index] for index in order)


def _name_nodes(model: Any) -> None:
    """The converter blocks nodes by name: give unnamed nodes a stable one."""
    for index, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{index}"


def _check_runs(source: Any, path: Any, info: Any) -> None:
    """ONNX Runtime's CPU provider must load and run the FP16 graph, each output with the source's
    dtype and NaN/inf exactly where the source has them (a -inf mask is fine, an FP16 overflow is not)."""

    feeds = generate_inputs(info.inputs, 2, seed=3)
    with OrtRunner(source, optimization="extended") as runner:
        expected = runner.infer(feeds)
    with OrtRunner(path, optimization="extended") as runner:
        outputs = runner.infer(feeds)
    dtypes = [f"{name} ({expected[name].dtype} -> {value.dtype})" for name, value in outputs.items()
              if value.dtype != expected[name].dtype]
    if dtypes:
        raise PassError(f"cast-fp16: the FP16 graph changes output dtypes: {', '.join(dtypes)}")
    bad = [f"{name}: {problem}" for name, value in outputs.items() if (problem := describe_mismatch(expected[name], value))]
    if bad:
        raise PassError(f"cast-fp16: the FP16 graph gives NaN/inf where the FP32 graph does not: {'; '.join(bad)}")
