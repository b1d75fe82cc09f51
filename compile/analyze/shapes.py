"""Concrete tensor shapes for every value of a graph: ONNX shape inference at a fixed batch size.

Dynamic dimensions of the graph inputs are fixed first (the batch axis to ``batch``, any other named
axis to the input spec's default), so every count downstream is an exact integer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compile.analyze.activations import run_with_outputs

if TYPE_CHECKING:
    import onnx


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...] | None
    elem_type: int

    @property
    def itemsize(self) -> int:
        from onnx import helper

        try:
            return int(helper.tensor_dtype_to_np_dtype(self.elem_type).itemsize)
        except (KeyError, TypeError, ValueError):
            return 4

    @property
    def numel(self) -> int | None:
        if self.shape is None:
            return None
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def nbytes(self) -> int | None:
        numel = self.numel
        return None if numel is None else numel * self.itemsize


def fix_input_dims(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A copy of ``model`` whose graph inputs have concrete dims (batch axis = ``batch``, other dynamic = 1)."""
    import onnx

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    initializers = {init.name for init in fixed.graph.initializer}
    for value in fixed.graph.input:
        if value.name in initializers:
            continue
        for index, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_value > 0:
                continue
            dim.Clear()
            dim.dim_value = batch if index == 0 else 1
    return fixed


def _shape_of(value_type: onnx.TypeProto) -> TensorInfo | None:
    if not value_type.HasField("tensor_type"):
        return None
    tensor = value_type.tensor_type
    if not tensor.HasField("shape"):
        return TensorInfo(None, tensor.elem_type)
    dims = []
    for dim in tensor.shape.dim:
        if dim.dim_value <= 0:
            return TensorInfo(None, tensor.elem_type)
        dims.append(int(dim.dim_value))
    return TensorInfo(tuple(dims), tensor.elem_type)


def infer_tensor_infos(model: onnx.ModelProto, batch: int = 1) -> tuple[onnx.ModelProto, dict[str, TensorInfo]]:
    """The input-fixed model and every value's shape and element type (``shape`` None when unknown)."""
    import onnx

    fixed = fix_input_dims(model, batch)
    try:
        inferred = onnx.shape_inference.infer_shapes(fixed, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - shape inference of unknown domains may fail; fall back to partial info
        inferred = fixed
    infos: dict[str, TensorInfo] = {}
    for init in inferred.graph.initializer:
        infos[init.name] = TensorInfo(tuple(int(d) for d in init.dims), init.data_type)
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        info = _shape_of(value.type)
        if info is not None and (value.name not in infos or infos[value.name].shape is None):
            infos[value.name] = info
    for node in inferred.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    infos[node.output[0]] = TensorInfo(tuple(int(d) for d in attr.t.dims), attr.t.data_type)
    return fixed, infos


def fill_missing_by_running(model: onnx.ModelProto, infos: dict[str, TensorInfo], feeds: dict[str, Any]) -> None:
    """Shapes inference could not give (ops of other domains, ORT-fused nodes): run the graph once."""

    missing = [out for node in model.graph.node for out in node.output
               if out and (out not in infos or infos[out].shape is None)]
    if not missing:
        return
    values = run_with_outputs(model, missing, feeds)
    from onnx import helper

    for name, array in values.items():
        try:
            elem = int(helper.np_dtype_to_tensor_dtype(array.dtype))
        except (KeyError, TypeError):
            elem = infos[name].elem_type if name in infos else 1
        infos[name] = TensorInfo(tuple(int(d) for d in array.shape), elem)
