"""What INT8 saves per layer, measured with ONNX Runtime's profiler on the optimised graphs.

Both models are profiled as the runtime artifact runs them (offline-optimised, so INT8 Q/DQ groups
are fused into QLinear kernels and Conv+activation pairs into fused kernels). An optimised node keeps
the name of the node it was built from, sometimes with a suffix; each profiled node is credited to
the longest original node name it starts with. Nodes of the Q/DQ model that have no float
counterpart (the Quantize/Dequantize left between kernels) are the price of INT8 and are charged to
the node that consumes what they produce when that can be told, else spread over nothing (they are
reported as overhead).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compile.analyze.profiler import profile_nodes
from compile.backends.ort.runner import open_session
from compile.mixed.cost import SWITCH_OPS, LatencyModel, compute_edges, switch_rate
from compile.mixed.sensitivity import COMPUTE_OPS, folded_activations
from compile.onnx_io import load_onnx


@dataclass
class LayerTiming:
    #: Node name -> milliseconds per inference in the float model and in the INT8 model.
    float_ms: dict[str, float]
    int8_ms: dict[str, float]
    float_total_ms: float
    int8_total_ms: float
    seconds: float

    def saving_ms(self, node: str) -> float:
        """Milliseconds the node saves by running in INT8 (negative: INT8 is slower there)."""
        return self.float_ms.get(node, 0.0) - self.int8_ms.get(node, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"float_total_ms": round(self.float_total_ms, 3), "int8_total_ms": round(self.int8_total_ms, 3),
                "seconds": round(self.seconds, 3)}


def credit_to_nodes(profiled: dict[str, float], nodes: Iterable[str], aliases: dict[str, str] | None = None) -> dict[str, float]:
    """Profiled node times credited to original node names (exact name, an alias, else longest name prefix)."""
    names = sorted(set(nodes), key=len, reverse=True)
    aliases = aliases or {}
    credited: dict[str, float] = {}
    for profiled_name, ms in profiled.items():
        owner = profiled_name if profiled_name in credited or profiled_name in names else aliases.get(profiled_name)
        if owner is None:
            owner = next((name for name in names if profiled_name.startswith(name)), None)
        if owner is not None:
            credited[owner] = credited.get(owner, 0.0) + ms
    return credited


def layout_aliases(float_model: Any, nodes: Iterable[str]) -> dict[str, str]:
    """ONNX Runtime's NCHWc layout transform (level ``all``) names each float Conv after the tensor it
    writes, plus ``_nchwc``, and that tensor is the one after any activation fused into it: those names,
    mapped to the original node."""

    wanted = set(nodes)
    folded = folded_activations(float_model)
    written = {name: list(node.output) for node in float_model.graph.node for name in [node.name]}
    aliases: dict[str, str] = {}
    for node in float_model.graph.node:
        if node.name not in wanted:
            continue
        outputs = list(node.output) + [o for activation in folded.get(node.name, []) for o in written.get(activation, [])]
        for output in outputs:
            aliases[f"{output}_nchwc"] = str(node.name)
    return aliases


def measure_layer_timing(float_model: Path, int8_model: Path, nodes: Iterable[str], feed: dict[str, np.ndarray],
                         iterations: int = 10, optimization: str = "extended", threads: int | None = None) -> LayerTiming:
    """Per-node milliseconds of both models on ``feed``, credited to ``nodes`` (original node names)."""
    started = time.perf_counter()

    node_names = list(nodes)
    aliases = layout_aliases(load_onnx(float_model, load_external_data=False), node_names)
    measured = []
    with tempfile.TemporaryDirectory(prefix="compile-timing-") as scratch:
        for label, path in (("float", float_model), ("int8", int8_model)):
            optimized = Path(scratch) / f"{label}.opt.onnx"
            del_session = open_session(path, threads=threads, optimization=optimization, optimized_path=optimized)
            del del_session
            profiled = profile_nodes(optimized, feed, iterations=iterations, warmup=2, optimization="disable", threads=threads)
            measured.append((credit_to_nodes(profiled, node_names, aliases), sum(profiled.values())))
    (float_ms, float_total), (int8_ms, int8_total) = measured
    return LayerTiming(float_ms, int8_ms, float_total, int8_total, time.perf_counter() - started)


def profile_by_op(model: Path, feed: dict[str, np.ndarray], iterations: int = 10, optimization: str = "extended",
                  threads: int | None = None) -> dict[str, float]:
    """Milliseconds per inference of ``model`` as the artifact runs it (optimised at ``optimization``), by op type."""
    with tempfile.TemporaryDirectory(prefix="compile-timing-") as scratch:
        optimized = Path(scratch) / "model.opt.onnx"
        session = open_session(model, threads=threads, optimization=optimization, optimized_path=optimized)
        del session
        profiled = profile_nodes(optimized, feed, iterations=iterations, warmup=2, optimization="disable", threads=threads)
        op_types = {node.name: node.op_type for node in load_onnx(optimized, load_external_data=False).graph.node}
    by_op: dict[str, float] = {}
    for name, ms in profiled.items():
        op = op_types.get(name, "?")
        by_op[op] = by_op.get(op, 0.0) + ms
    return by_op


def tensor_elements(model: Path, tensors: Iterable[str], feed: dict[str, np.ndarray]) -> dict[str, float]:
    """Elements per input of each tensor of ``model`` (a float graph), from one run on ``feed``."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    wanted = sorted(set(tensors))
    graph = onnx.load(str(model))
    present = {o.name for o in graph.graph.output}
    for name in wanted:
        if name not in present:
            graph.graph.output.append(helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # fused nodes would hide tensors
    options.log_severity_level = 3
    session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = dict(zip(names, session.run(None, feed), strict=True))
    values.update(feed)
    batch = max(len(next(iter(feed.values()))), 1)
    return {name: float(np.asarray(values[name]).size) / batch for name in wanted if name in values}


def measure_latency_model(float_model: Path, int8_model: Path, layers: list[str], order: list[str], feed: dict[str, np.ndarray],
                          build: Callable[[list[str]], Path], iterations: int = 20, optimization: str = "extended",
                          threads: int | None = None) -> tuple[LatencyModel, LayerTiming, dict[str, Any]]:
    """The latency model of keeping ``layers`` in float: each layer's INT8 saving (both models profiled), the
    tensors between compute layers, and the switch rate, from a profiled candidate with every other layer of
    ``order`` (graph order) in float, built by ``build`` (no gaps filled)."""
    started = time.perf_counter()
    timing = measure_layer_timing(float_model, int8_model, layers, feed, iterations, optimization, threads)
    graph = load_onnx(float_model, load_external_data=False)
    inputs = [node.input[0] for node in graph.graph.node if node.op_type in COMPUTE_OPS and node.input]
    sizes = tensor_elements(float_model, inputs, feed)
    model = LatencyModel({layer: timing.saving_ms(layer) for layer in layers},
                         compute_edges(graph, COMPUTE_OPS, lambda tensor: sizes.get(tensor, 0.0)))
    alternate = order[1::2]
    record: dict[str, Any] = {"float_total_ms": round(timing.float_total_ms, 3), "int8_total_ms": round(timing.int8_total_ms, 3)}
    elements = model.switched_elements(alternate) - model.switched_elements(())
    if alternate and elements > 0:
        candidate = build(alternate)
        switches = [sum(ms for op, ms in profile_by_op(path, feed, iterations, optimization, threads).items() if op in SWITCH_OPS)
                    for path in (candidate, int8_model)]
        model.switch_ms_per_element = switch_rate(switches[0] - switches[1], elements)
        record.update({"switch_ms_per_melement": round(model.switch_ms_per_element * 1e6, 3),
                       "switch_probe_layers": len(alternate), "switch_probe_ms": round(switches[0] - switches[1], 3)})
    timing.seconds = time.perf_counter() - started
    return model, timing, record
