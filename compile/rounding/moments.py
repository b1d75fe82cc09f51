"""Each Conv/Gemm/MatMul layer's input second moments ``H = sum x x^T``, over calibration inputs.

A layer's weight is seen as a stack of matrices, one per group (``groups x rows x cols``): a Conv's
output channels against its unfolded input patches (``C/groups x kh x kw`` per patch), a Gemm's or
MatMul's outputs against its ``K`` inputs. Each row's output is ``row . patch``, so the squared output
error of a weight error ``e`` is ``e H e^T``: ``H`` is all the rounding needs to know about the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compile.calibration.exposed import exposed_tensors, first_inputs

#: Ops whose weights are rounded (a constant weight as the second input).
ROUNDED_OPS = ("Conv", "Gemm", "MatMul")


@dataclass(frozen=True)
class LayerGeometry:
    """How one layer's weight maps to ``groups x rows x cols`` and how its input unfolds into patches."""

    node: str
    op_type: str
    weight: str
    shape: tuple[int, ...]
    groups: int = 1
    kernel: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    dilations: tuple[int, ...] = ()
    #: ONNX order: begin of each spatial axis, then end of each.
    pads: tuple[int, ...] = ()
    #: Gemm with ``transB = 0`` and MatMul keep the weight as ``K x N``.
    transposed: bool = False

    @property
    def cols(self) -> int:
        """Inputs each output row reads."""
        if self.op_type == "Conv":
            return int(np.prod(self.shape[1:]))
        return self.shape[0] if self.transposed else self.shape[1]

    def to_rows(self, weight: np.ndarray) -> np.ndarray:
        """The weight as ``groups x rows x cols``."""
        matrix = weight.T if self.transposed else weight.reshape(weight.shape[0], -1)
        return matrix.reshape(self.groups, -1, matrix.shape[1])

    def from_rows(self, rows: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_rows`."""
        matrix = rows.reshape(-1, rows.shape[-1])
        return (matrix.T if self.transposed else matrix).reshape(self.shape)

    def patches(self, activation: np.ndarray) -> Any:
        """The input as ``groups x patches x cols`` (a torch tensor): what each weight row is applied to."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(activation, dtype=np.float32))
        if self.op_type != "Conv":
            return x.reshape(1, -1, x.shape[-1])
        if self.groups == 1 and all(k == 1 for k in self.kernel) and all(s == 1 for s in self.strides) and not any(self.pads):
            return x.movedim(1, -1).reshape(1, -1, x.shape[1])  # pointwise: each position is a patch
        spatial = len(self.kernel)
        if spatial == 1:  # a 1-D convolution is a 2-D one of height 1
            x = x.unsqueeze(2)
        kernel = self.kernel if spatial == 2 else (1, *self.kernel)
        strides = self.strides if spatial == 2 else (1, *self.strides)
        dilations = self.dilations if spatial == 2 else (1, *self.dilations)
        pads = self.pads if spatial == 2 else (0, self.pads[0], 0, self.pads[1])
        x = torch.nn.functional.pad(x, (pads[1], pads[3], pads[0], pads[2]))
        unfolded = torch.nn.functional.unfold(x, kernel, dilation=dilations, stride=strides)  # N, C*kh*kw, L
        per_group = unfolded.shape[1] // self.groups
        return unfolded.reshape(x.shape[0], self.groups, per_group, -1).permute(1, 0, 3, 2).reshape(self.groups, -1, per_group)


def layer_geometries(model: Any, nodes: Iterable[str] | None = None) -> dict[str, LayerGeometry]:
    """The layers of ``model`` whose weight can be rounded: 2-D convolutions (1-D too), Gemm, MatMul
    with a 2-D constant weight. ``nodes`` limits them to these names."""
    from onnx import helper

    wanted = set(nodes) if nodes is not None else None
    weights = {init.name: init for init in model.graph.initializer}
    found: dict[str, LayerGeometry] = {}
    for node in model.graph.node:
        if node.op_type not in ROUNDED_OPS or not node.name or (wanted is not None and node.name not in wanted):
            continue
        if len(node.input) < 2 or node.input[1] not in weights:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        shape = tuple(int(d) for d in weights[node.input[1]].dims)
        if node.op_type == "Conv":
            kernel = tuple(int(k) for k in attrs.get("kernel_shape", shape[2:]))
            spatial = len(kernel)
            if spatial not in (1, 2) or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                continue
            found[node.name] = LayerGeometry(
                node.name, "Conv", node.input[1], shape, int(attrs.get("group", 1)), kernel,
                tuple(int(s) for s in attrs.get("strides", [1] * spatial)),
                tuple(int(d) for d in attrs.get("dilations", [1] * spatial)),
                tuple(int(p) for p in attrs.get("pads", [0] * 2 * spatial)))
        elif len(shape) == 2:
            transposed = node.op_type == "MatMul" or not attrs.get("transB", 0)
            if node.op_type == "Gemm" and attrs.get("transA", 0):
                continue
            found[node.name] = LayerGeometry(node.name, node.op_type, node.input[1], shape, transposed=transposed)
    return found


def input_moments(float_path: Path, geometries: dict[str, LayerGeometry], batches: Iterable[dict[str, np.ndarray]],
                  limit: int) -> tuple[dict[str, np.ndarray], int]:
    """``H`` (``groups x cols x cols``, float64) for each layer, over the first ``limit`` inputs of ``batches``;
    and how many inputs were used. One run of the float model per batch, every layer input an output."""
    import onnx
    import torch

    model = onnx.load(str(float_path))
    inputs_of = {node.name: node.input[0] for node in model.graph.node if node.name in geometries}
    moments: dict[str, Any] = {}
    used = 0
    with exposed_tensors(model, inputs_of.values(), "weight rounding") as run:
        for feed, count in first_inputs(batches, limit):
            values = run(feed)
            for name, geometry in geometries.items():
                activation = values[inputs_of[name]]
                # One input at a time in float32 (early layers unfold to hundreds of MB), summed in float64.
                for index in range(count):
                    patches = geometry.patches(activation[index:index + 1])
                    update = torch.bmm(patches.transpose(1, 2), patches).double()
                    moments[name] = moments[name] + update if name in moments else update
            used += count
    return {name: value.numpy() for name, value in moments.items()}, used
