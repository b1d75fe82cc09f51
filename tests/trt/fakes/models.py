"""Tiny ONNX graphs for the TensorRT tests, one per kind of engine I/O or build path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(path: Path, nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto],
          outputs: list[onnx.ValueInfoProto], initializers: list[onnx.TensorProto], opset: int = 17) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def fp16_classifier(path: Path, classes: int = 10) -> Path:
    """input[batch,3,16,16] float32 -> Cast fp16 -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm ->
    Cast float32 -> logits[batch,classes]: a graph that carries FP16, as cast-fp16 leaves it."""
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float16), "conv.weight"),
            numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float16), "conv.bias"),
            numpy_helper.from_array(rng.normal(0, 0.3, (classes, 8)).astype(np.float16), "fc.weight"),
            numpy_helper.from_array(rng.normal(0, 0.1, (classes,)).astype(np.float16), "fc.bias")]
    nodes = [helper.make_node("Cast", ["input"], ["h"], to=TensorProto.FLOAT16, name="to_fp16"),
             helper.make_node("Conv", ["h", "conv.weight", "conv.bias"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["l16"], transB=1, name="fc"),
             helper.make_node("Cast", ["l16"], ["logits"], to=TensorProto.FLOAT, name="to_fp32")]
    return _save(path, nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], init)


def nonzero_model(path: Path) -> Path:
    """x[batch,5] -> Relu -> NonZero -> indices[2, N]: N is known only once the data is (a data-dependent
    output, as NMS gives)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"), helper.make_node("NonZero", ["r"], ["indices"], name="nonzero")]
    return _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 5])],
                 [helper.make_tensor_value_info("indices", TensorProto.INT64, [2, "n"])], [])


def reshape_model(path: Path) -> Path:
    """data[24] reshaped by the values of the shape-tensor input ``shape`` (int64[2]) -> out[a, b]."""
    nodes = [helper.make_node("Reshape", ["data", "shape"], ["out"], name="reshape")]
    return _save(path, nodes, [helper.make_tensor_value_info("data", TensorProto.FLOAT, [24]),
                               helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                 [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["a", "b"])], [])


def shape_output_model(path: Path) -> Path:
    """x[batch,3] -> (Relu -> y, Shape -> shape): ``shape`` is a shape-tensor output, written to host memory."""
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu"), helper.make_node("Shape", ["x"], ["shape"], name="shape")]
    return _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
                  helper.make_tensor_value_info("shape", TensorProto.INT64, [2])], [])


def roialign_model(path: Path) -> Path:
    """x[batch,3,16,16] -> RoiAlign over two fixed boxes -> crops[2,3,4,4]: TensorRT 10 imports RoiAlign
    through its ROIAlign_TRT plugin, so the engine names a plugin."""
    rois = numpy_helper.from_array(np.array([[0, 0, 7, 7], [4, 4, 15, 15]], dtype=np.float32), "rois")
    index = numpy_helper.from_array(np.array([0, 0], dtype=np.int64), "batch_index")
    nodes = [helper.make_node("RoiAlign", ["x", "rois", "batch_index"], ["crops"], output_height=4, output_width=4,
                              sampling_ratio=2, name="roialign")]
    return _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                 [helper.make_tensor_value_info("crops", TensorProto.FLOAT, [2, 3, 4, 4])], [rois, index])


def custom_op_model(path: Path) -> Path:
    """x -> Relu -> a custom-domain op no TensorRT importer knows -> y."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Mystery", ["r"], ["y"], domain="com.example", name="mystery")]
    graph = helper.make_graph(nodes, "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
