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
from compile.passes.base import PassContext, PassResult
from compile.passes.kinds import CalibratedPass, CalibrationOptions
from compile.profiles import Profile
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

    @classmethod
    def resolve_options(cls, entry_options: dict[str, Any], profile: Profile, settings: RunSettings) -> dict[str, Any]:
        resolved: dict[str, Any] = {"size": profile.calibration.size, "batch_size": profile.calibration.batch_size, **entry_options}
        if settings.calib_size is not None:
            resolved["size"] = settings.calib_size
        return resolved

    def applies(self, settings: RunSettings) -> str | None:
        return None if settings.precision == "fp16" else f"precision is {settings.precision}, not fp16"

    def block_list(self) -> list[str]:
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

        return sorted({*DEFAULT_OP_BLOCK_LIST, *OVERFLOW_PRONE_OPS, *self.options.keep_fp32_ops})

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        from onnxruntime.transformers.float16 import convert_float_to_float16

        from compile.calibration.ranges import calibrate, quiet_ort
        from compile.onnx_io import (
            check_onnx,
            count_nodes,
            load_onnx,
            model_info_from_onnx,
            op_histogram,
            save_onnx,
            set_model_info,
        )

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
            text = str(err).strip()
            raise self.fail(f"FP16 conversion failed: {text.splitlines()[0][:300] if text else type(err).__name__}") from err
        seconds = time.perf_counter() - started
        topological_sort(converted)
        round_trips = remove_round_trip_casts(converted)
        check_onnx(converted, "the FP16 graph")
        set_model_info(converted, info)
        out = ctx.output_path(OUTPUT_FILE)
        save_onnx(converted, out)
        _check_runs(out, info)
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
    """Drop FP32 -> FP16 -> FP32 cast pairs the converter leaves between two FP32 nodes.

    They would round (and overflow) exactly the tensors the range check kept in FP32. Returns how many
    FP16 casts were removed."""
    from onnx import TensorProto

    def cast_to(node: Any) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    dropped: set[str] = set()
    for node in model.graph.node:
        if cast_to(node) != TensorProto.FLOAT16 or node.output[0] in graph_outputs:
            continue
        users = consumers.get(node.output[0], [])
        if not users or any(cast_to(u) != TensorProto.FLOAT or u.output[0] in graph_outputs for u in users):
            continue
        for user in users:
            rename[user.output[0]] = node.input[0]
            dropped.add(user.name or user.output[0])
        dropped.add(node.name or node.output[0])
    if not dropped:
        return 0
    kept = [n for n in model.graph.node if (n.name or n.output[0]) not in dropped]
    for node in kept:
        for index, name in enumerate(node.input):
            if name in rename:
                node.input[index] = rename[name]
    removed_fp16 = sum(1 for n in model.graph.node if (n.name or n.output[0]) in dropped and cast_to(n) == TensorProto.FLOAT16)
    gone = {out for n in model.graph.node if (n.name or n.output[0]) in dropped for out in n.output}
    del model.graph.node[:]
    model.graph.node.extend(kept)
    stale = [v for v in model.graph.value_info if v.name in gone]
    for value in stale:
        model.graph.value_info.remove(value)
    return removed_fp16


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
        from compile.errors import PassError

        raise PassError("cast-fp16: the converted graph has a cycle")
    del model.graph.node[:]
    model.graph.node.extend(nodes[index] for index in order)


def _name_nodes(model: Any) -> None:
    """The converter blocks nodes by name: give unnamed nodes a stable one."""
    for index, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{index}"


def _check_runs(path: Any, info: Any) -> None:
    """ONNX Runtime's CPU provider must load and run the FP16 graph with finite outputs."""
    import numpy as np

    from compile.backends.ort.runner import OrtRunner
    from compile.data.generated import generate_inputs
    from compile.errors import PassError

    feeds = generate_inputs(info.inputs, 2, seed=3)
    with OrtRunner(path, optimization="extended") as runner:
        outputs = runner.infer(feeds)
    bad = [name for name, value in outputs.items() if not np.all(np.isfinite(value))]
    if bad:
        raise PassError(f"cast-fp16: the FP16 graph gives non-finite values in {', '.join(bad)}")
