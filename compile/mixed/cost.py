"""What a set of layers kept in float costs in latency, and the order that buys the most accuracy per ms.

A layer kept in float costs the time INT8 saved on it (:mod:`compile.mixed.timing`, ONNX Runtime's
profiler on the artifact's own kernels) plus, at each place where an INT8 layer meets a float one,
a switch: on ONNX Runtime's CPU provider a Quantize or Dequantize and two layout changes (NHWC for the
QLinear kernels, NCHWc for the float ones), all proportional to the tensor converted. On
EfficientNet-Lite0 a pointwise layer alone in float cost 0.95 ms against the 0.30 ms INT8 saves on
it: switches are most of the price of an isolated float layer, little of a float run. The switch
rate (ms per element converted) is measured on one profiled candidate with many switches.

The order the search keeps layers in float is greedy by accuracy regained per ms added: at each step
the layer (with the INT8 gaps :func:`compile.mixed.keep_float.fill_gaps` then fills around it) whose
added sensitivity, divided by the latency the set gains with it, is largest. A layer next to one
already in float costs less (a switch goes away), a layer INT8 does not speed up is charged only
``floor_ms`` (the timing noise), and of two layers that regain the same accuracy the cheaper goes first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

#: Producer name standing for the graph inputs (float: the all-INT8 model quantizes them).
GRAPH_INPUT = ""
#: Op types of the nodes a switch between INT8 and float adds on ONNX Runtime's CPU provider.
SWITCH_OPS = ("QuantizeLinear", "DequantizeLinear", "Transpose", "ReorderInput", "ReorderOutput")


@dataclass(frozen=True)
class Edge:
    """A tensor from one compute layer (or the graph inputs) to another, through non-compute nodes."""

    producer: str
    consumer: str
    #: Elements of the tensor per input (what a switch converts).
    elements: float


@dataclass
class LatencyModel:
    """Latency of keeping layers in float, relative to the all-INT8 model (ms per inference)."""

    #: Layer -> ms INT8 saves on it (negative: INT8 is slower there).
    savings: dict[str, float]
    edges: list[Edge] = field(default_factory=list)
    #: ms per element converted by one INT8/float switch.
    switch_ms_per_element: float = 0.0

    def switched_elements(self, float_layers: Iterable[str]) -> float:
        chosen = set(float_layers) | {GRAPH_INPUT}
        return sum(edge.elements for edge in self.edges if (edge.producer in chosen) != (edge.consumer in chosen))

    def cost_ms(self, float_layers: Iterable[str]) -> float:
        """Milliseconds the model gains with ``float_layers`` in float (negative: it gets faster)."""
        chosen = set(float_layers)
        base = self.switched_elements(())
        return (sum(self.savings.get(layer, 0.0) for layer in chosen)
                + self.switch_ms_per_element * (self.switched_elements(chosen) - base))


def compute_edges(float_model: Any, compute_ops: tuple[str, ...], elements: Callable[[str], float]) -> list[Edge]:
    """Each compute node's input tensor, traced back through non-compute nodes to the compute nodes (or graph
    inputs) it comes from; ``elements(tensor)`` gives the tensor's size per input."""
    nodes = [node for node in float_model.graph.node if node.name]
    producer = {out: node for node in nodes for out in node.output}
    initializers = {init.name for init in float_model.graph.initializer}
    graph_inputs = {value.name for value in float_model.graph.input} - initializers
    edges: list[Edge] = []
    for node in nodes:
        if node.op_type not in compute_ops or not node.input:
            continue
        sources: set[str] = set()
        frontier, seen = [node.input[0]], set()
        while frontier:
            tensor = frontier.pop()
            if tensor in seen:
                continue
            seen.add(tensor)
            origin = producer.get(tensor)
            if origin is None:
                if tensor in graph_inputs:
                    sources.add(GRAPH_INPUT)
            elif origin.op_type in compute_ops:
                sources.add(str(origin.name))
            else:
                frontier.extend(name for name in origin.input if name and name not in initializers)
        size = elements(node.input[0])
        edges += [Edge(source, str(node.name), size) for source in sorted(sources)]
    return edges


def switch_rate(switch_ms: float, switched_elements: float) -> float:
    """ms per element from a profiled candidate: the time its switch nodes took over the elements they converted."""
    return max(switch_ms, 0.0) / switched_elements if switched_elements > 0 else 0.0


@dataclass(frozen=True)
class Step:
    """One step of the order: the layer chosen, the layers it leaves in float with its gaps filled, and why."""

    layer: str
    added: tuple[str, ...]
    gain: float
    cost_ms: float
    priority: float


def greedy_order(gains: dict[str, float], model: LatencyModel, fill: Callable[[list[str]], list[str]] = list,
                 floor_ms: float = 1e-3) -> list[Step]:
    """The layers that add error (``gains[layer] > 0``: the accuracy keeping it in float regains), in the order
    to keep them in float: each step takes the layer whose gain, with the layers ``fill`` adds around it, per ms
    the set's latency grows (at least ``floor_ms``: below that, timings are noise) is largest."""
    remaining = [layer for layer, gain in gains.items() if gain > 0]
    chosen: list[str] = []
    current: set[str] = set()
    current_cost = 0.0
    steps: list[Step] = []
    while remaining:
        best: tuple[float, float, str, set[str], float] | None = None
        for layer in remaining:
            filled = set(fill([*chosen, layer]))
            added = filled - current
            gain = sum(gains.get(name, 0.0) for name in added)
            cost = model.cost_ms(filled) - current_cost
            # Below floor_ms a cost is timing noise: a layer that looks free (even faster in float) is charged the
            # floor, so a noisy saving never puts a layer of negligible gain ahead of one that matters.
            priority = gain / max(cost, floor_ms)
            key = (priority, gain, layer, added, cost)
            if best is None or (priority, gain, -cost) > (best[0], best[1], -best[4]):
                best = key
        assert best is not None
        priority, gain, layer, added, cost = best
        chosen.append(layer)
        current |= added
        current_cost += cost
        steps.append(Step(layer, tuple(sorted(added)), gain, cost, priority))
        remaining = [name for name in remaining if name not in current]
    return steps

