"""Per-layer cost counts by the usual conventions, as exact integers.

- MACs: a KxK convolution costs K*K*(Cin/groups)*Cout*Hout*Wout per image (numel(output) * prod(W.shape[1:]));
  a transposed convolution numel(input) * prod(W.shape[1:]); Gemm and MatMul numel(output) * K.
- FLOPs: 2 x MACs for those ops. Ops without multiply-accumulates count one FLOP per arithmetic
  operation: a pooling window element, an elementwise output element (Softmax 5, Quantize/Dequantize 2,
  BatchNormalization 2, the other normalisations 5 per element). Data-movement ops count 0 FLOPs.
- params: elements of the initializers a layer reads (int64 shape tensors excluded); totals count a
  shared initializer once.
- bytes: weights plus activations read plus activations written, at their stored element size (so an
  INT8 model moves fewer bytes); view ops (Reshape, Flatten, ...) move none.
- arithmetic intensity: FLOPs per byte.

Ops in none of these tables are listed as not counted, never silently given zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from compile.analyze.shapes import TensorInfo

if TYPE_CHECKING:
    import onnx

CONV_OPS = {"Conv": 1, "FusedConv": 1, "ConvInteger": 1, "QLinearConv": 3, "NhwcConv": 1}
CONV_TRANSPOSE_OPS = {"ConvTranspose": 1}
GEMM_OPS = {"Gemm", "FusedGemm", "QGemm"}
MATMUL_OPS = {"MatMul", "FusedMatMul", "MatMulInteger", "QLinearMatMul", "MatMulIntegerToFloat"}
POOL_OPS = {"MaxPool", "AveragePool", "LpPool", "QLinearAveragePool"}
GLOBAL_REDUCE_OPS = {"GlobalAveragePool", "GlobalMaxPool", "QLinearGlobalAveragePool", "GlobalLpPool",
                     "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceL1",
                     "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin"}
#: FLOPs per output element.
ELEMENTWISE_FLOPS = {
    **dict.fromkeys(["Add", "Sub", "Mul", "Div", "Relu", "Clip", "Max", "Min", "Neg", "Abs", "Sqrt", "Exp", "Log", "Pow",
                     "Reciprocal", "Sigmoid", "Tanh", "Erf", "LeakyRelu", "PRelu", "HardSigmoid", "HardSwish", "Gelu",
                     "FastGelu", "BiasGelu", "QuickGelu", "Elu", "Selu", "Softplus", "Softsign", "Mish", "Where", "Equal",
                     "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or", "Xor", "Sum", "Mean",
                     "Floor", "Ceil", "Round", "Sign", "Mod", "Sin", "Cos", "QLinearAdd", "QLinearMul",
                     "QLinearSigmoid", "QLinearLeakyRelu", "BiasAdd"], 1),
    **dict.fromkeys(["QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"], 2),
    **dict.fromkeys(["Softmax", "LogSoftmax", "QLinearSoftmax"], 5),
}
NORM_FLOPS = {"BatchNormalization": 2, "InstanceNormalization": 5, "LayerNormalization": 5, "GroupNormalization": 5,
              "SimplifiedLayerNormalization": 4, "SkipLayerNormalization": 6, "SkipSimplifiedLayerNormalization": 5,
              "LpNormalization": 3, "MeanVarianceNormalization": 5, "LRN": 5}
#: No arithmetic; these copy data.
COPY_OPS = {"Transpose", "Concat", "Gather", "GatherElements", "GatherND", "Slice", "Split", "Pad", "Tile", "Expand",
            "Cast", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth", "ScatterND", "ScatterElements", "Compress"}
#: No arithmetic and, in ONNX Runtime, usually no copy either.
VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Constant", "ConstantOfShape", "Range",
            "Size", "Dropout"}


@dataclass
class LayerCost:
    name: str
    op_type: str
    kind: str
    macs: int = 0
    flops: int = 0
    params: int = 0
    weight_bytes: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    output_shape: tuple[int, ...] | None = None
    counted: bool = True
    note: str = ""
    #: Filled by the activation measurement and the profiler join.
    zero_share: float | None = None
    time_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.input_bytes + self.output_bytes

    @property
    def intensity(self) -> float | None:
        return self.flops / self.bytes if self.bytes else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bytes"] = self.bytes
        data["intensity"] = self.intensity
        data["output_shape"] = list(self.output_shape) if self.output_shape else None
        extra = data.pop("extra")
        data.update(extra)
        return data


@dataclass
class Analysis:
    layers: list[LayerCost]
    batch: int
    #: op type -> how many nodes of it were not counted.
    not_counted: dict[str, int]
    total_params: int
    total_weight_bytes: int

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_flops(self) -> int:
        return sum(layer.flops for layer in self.layers)

    @property
    def total_bytes(self) -> int:
        return sum(layer.bytes for layer in self.layers)

    def totals(self) -> dict[str, Any]:
        total_bytes = self.total_bytes
        times = [layer.time_ms for layer in self.layers if layer.time_ms is not None]
        return {"batch": self.batch, "layers": len(self.layers), "macs": self.total_macs, "flops": self.total_flops,
                "params": self.total_params, "weight_bytes": self.total_weight_bytes, "bytes": total_bytes,
                "intensity": self.total_flops / total_bytes if total_bytes else None,
                "time_ms": sum(times) if times else None}

    def to_dict(self) -> dict[str, Any]:
        return {"totals": self.totals(), "not_counted": self.not_counted, "layers": [layer.to_dict() for layer in self.layers]}


def _prod(values: tuple[int, ...] | list[int]) -> int:
    result = 1
    for value in values:
        result *= int(value)
    return result


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _shape(infos: dict[str, TensorInfo], name: str) -> tuple[int, ...] | None:
    info = infos.get(name)
    return info.shape if info is not None else None


def _numel(infos: dict[str, TensorInfo], name: str) -> int | None:
    info = infos.get(name)
    return info.numel if info is not None else None


def _compute(node: onnx.NodeProto, infos: dict[str, TensorInfo]) -> tuple[str, int, int] | None:
    """(kind, MACs, FLOPs), or None when the op is not counted or a needed shape is unknown."""
    op = node.op_type
    out = node.output[0] if node.output else ""
    out_numel = _numel(infos, out)
    if op in CONV_OPS:
        weight = _shape(infos, node.input[CONV_OPS[op]])
        if weight is None or out_numel is None:
            return None
        macs = out_numel * _prod(weight[1:])
        return "conv", macs, 2 * macs
    if op in CONV_TRANSPOSE_OPS:
        weight, in_numel = _shape(infos, node.input[1]), _numel(infos, node.input[0])
        if weight is None or in_numel is None:
            return None
        macs = in_numel * _prod(weight[1:])
        return "conv", macs, 2 * macs
    if op in GEMM_OPS:
        a = _shape(infos, node.input[0])
        if a is None or out_numel is None:
            return None
        k = a[0] if _attr(node, "transA", 0) else a[-1]
        return "gemm", out_numel * k, 2 * out_numel * k
    if op in MATMUL_OPS:
        a = _shape(infos, node.input[0])
        if a is None or out_numel is None:
            return None
        k = a[-2] if (len(a) >= 2 and _attr(node, "transA", 0)) else a[-1]
        return "matmul", out_numel * k, 2 * out_numel * k
    if op in POOL_OPS:
        kernel = _attr(node, "kernel_shape")
        if kernel is None or out_numel is None:
            return None
        return "pool", 0, out_numel * _prod(list(kernel))
    if op in GLOBAL_REDUCE_OPS:
        in_numel = _numel(infos, node.input[0])
        return None if in_numel is None else ("pool", 0, in_numel)
    if op in ELEMENTWISE_FLOPS:
        return None if out_numel is None else ("elementwise", 0, out_numel * ELEMENTWISE_FLOPS[op])
    if op in NORM_FLOPS:
        return None if out_numel is None else ("normalization", 0, out_numel * NORM_FLOPS[op])
    if op in COPY_OPS:
        return "copy", 0, 0
    if op in VIEW_OPS:
        return "view", 0, 0
    return None


def count_layers(model: onnx.ModelProto, infos: dict[str, TensorInfo], batch: int = 1) -> Analysis:
    """One :class:`LayerCost` per node, from a model whose values have concrete shapes in ``infos``."""
    initializers = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            initializers.setdefault(node.output[0], None)  # type: ignore[arg-type]
    layers: list[LayerCost] = []
    not_counted: dict[str, int] = {}
    weights_seen: dict[str, tuple[int, int]] = {}
    for index, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{index}"
        computed = _compute(node, infos)
        layer = LayerCost(name=name, op_type=node.op_type, kind=computed[0] if computed else "not counted")
        if computed is None:
            layer.counted = False
            known = node.op_type in CONV_OPS or node.op_type in CONV_TRANSPOSE_OPS or node.op_type in GEMM_OPS \
                or node.op_type in MATMUL_OPS or node.op_type in POOL_OPS or node.op_type in GLOBAL_REDUCE_OPS \
                or node.op_type in ELEMENTWISE_FLOPS or node.op_type in NORM_FLOPS
            layer.note = "shape unknown" if known else "op not counted"
            not_counted[node.op_type] = not_counted.get(node.op_type, 0) + 1
        else:
            layer.macs, layer.flops = computed[1], computed[2]
        if node.output:
            layer.output_shape = _shape(infos, node.output[0])
        if layer.kind != "view":
            for input_name in node.input:
                if not input_name:
                    continue
                info = infos.get(input_name)
                size = info.nbytes if info is not None else None
                if input_name in initializers:
                    if info is None or info.elem_type == 7:  # int64: shapes and axes, not weights
                        continue
                    numel = info.numel or 0
                    layer.params += numel
                    layer.weight_bytes += size or 0
                    weights_seen[input_name] = (numel, size or 0)
                else:
                    layer.input_bytes += size or 0
            for output_name in node.output:
                info = infos.get(output_name)
                if output_name and info is not None and info.nbytes is not None:
                    layer.output_bytes += info.nbytes
        layers.append(layer)
    total_params = sum(numel for numel, _ in weights_seen.values())
    total_weight_bytes = sum(size for _, size in weights_seen.values())
    return Analysis(layers, batch, not_counted, total_params, total_weight_bytes)
