"""Joining ops whose inputs' calibrated ranges are too far apart to share one INT8 scale.

A Concat's output is one tensor with one scale, set by its widest input: a detection head that
concatenates box coordinates in pixels (0..64) with class scores (0..1) gives the scores a step of
64/255, so they take a handful of values and the per-anchor class flips (meituan/YOLOv6#969,
ultralytics/ultralytics#25524), while whole-tensor metrics, dominated by the pixels, barely move.
ONNX Runtime's QLinearConcat requantizes every input to the output's scale, and TensorRT needs one
scale on all inputs of a concatenation, so both INT8 conventions have this fault. A join is flagged
when its widest input spans more than ``factor`` times its narrowest one; the caller leaves it in
float, which costs one Dequantize per input and saves the narrow input's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Ops whose output carries each input's values unchanged, side by side, under the output's one scale,
#: and the inputs that are joined (``None``: all of them). ``Where``'s first input is the condition.
JOINING_OPS: dict[str, tuple[int, ...] | None] = {"Concat": None, "Where": (1, 2)}
#: Default ratio of input spans above which a join stays in float. At 8x the narrowest input keeps
#: at least 32 of the 256 levels (5 bits) under a shared scale; wider gaps lose more than 3 bits.
DEFAULT_FACTOR = 8.0


@dataclass(frozen=True)
class MixedRangeJoin:
    """A joining node left in float, with the spans that made it so."""

    node: str
    op_type: str
    #: Input tensor -> (lowest, highest) calibrated (or constant) value.
    ranges: dict[str, tuple[float, float]]
    #: Widest input span over narrowest.
    ratio: float

    def to_record(self) -> dict[str, Any]:
        return {"node": self.node, "op": self.op_type, "ratio": round(self.ratio, 2),
                "input_ranges": {name: [round(low, 6), round(high, 6)] for name, (low, high) in self.ranges.items()},
                "why": f"input ranges {self.ratio:.1f}x apart would share one INT8 scale"}


def span(low: float, high: float) -> float:
    """The width an 8-bit grid must cover for values in [low, high]: quantizers always include zero."""
    return max(high, 0.0) - min(low, 0.0)


def mixed_range_joins(model: Any, ranges: dict[str, tuple[float, float]], factor: float = DEFAULT_FACTOR,
                      op_types: tuple[str, ...] | list[str] | None = None) -> list[MixedRangeJoin]:
    """The named joining nodes of ``model`` (limited to ``op_types`` when given) whose inputs' spans differ
    by more than ``factor``. ``ranges`` are calibrated tensor ranges; constant inputs use their values;
    inputs with no known range or a zero span (exactly representable) are left out of the comparison."""
    from onnx import numpy_helper

    constants = {init.name: init for init in model.graph.initializer}
    found: list[MixedRangeJoin] = []
    for node in model.graph.node:
        if node.op_type not in JOINING_OPS or not node.name or (op_types is not None and node.op_type not in op_types):
            continue
        positions = JOINING_OPS[node.op_type] or tuple(range(len(node.input)))
        known: dict[str, tuple[float, float]] = {}
        for index in positions:
            name = node.input[index] if index < len(node.input) else ""
            if name in ranges:
                known[name] = ranges[name]
            elif name in constants:
                values = numpy_helper.to_array(constants[name])
                if values.size and np.issubdtype(values.dtype, np.floating):
                    known[name] = (float(values.min()), float(values.max()))
        spans = [span(*r) for r in known.values() if span(*r) > 0]
        if len(spans) >= 2 and max(spans) > factor * min(spans):
            found.append(MixedRangeJoin(node.name, node.op_type, known, max(spans) / min(spans)))
    return found
