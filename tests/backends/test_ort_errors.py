"""ONNX Runtime's errors reach the user whole, on one line: the part naming the axis and sizes is kept,
its noise (status codes, C++ source paths, failed assertions) is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compile.backends.ort.runner import OrtRunner
from compile.errors import OnnxModelError, error_cause


def _save(path: Path, nodes: list, inputs: list, outputs: list, initializers: list | None = None) -> Path:
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers or []),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _error(path: Path, feeds: dict[str, np.ndarray]) -> str:
    with pytest.raises(OnnxModelError) as caught, OrtRunner(path) as runner:
        runner.infer(feeds)
    message = str(caught.value)
    assert "\n" not in message and "[ONNXRuntimeError]" not in message
    return message


def test_a_batch_baked_into_the_graph_names_the_axis_and_both_sizes(tmp_path: Path) -> None:
    """A graph whose batch is fixed at 2, fed 3: ORT puts 'index: 0 Got: 3 Expected: 2' on its second line."""
    weight = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    path = _save(tmp_path / "fixed_batch.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [weight])
    message = _error(path, {"x": np.zeros((3, 4), np.float32)})
    assert message == ("ONNX Runtime failed to run fixed_batch.onnx: Got invalid dimensions for input: x for the following "
                       "indices: index: 0 Got: 3 Expected: 2")


def test_a_kernel_failure_keeps_the_shapes_and_drops_the_source_location(tmp_path: Path) -> None:
    """A Reshape to a shape with the batch baked in (2, 4) fed a batch of 3."""
    shape = numpy_helper.from_array(np.array([2, 4], np.int64), "shape")
    path = _save(tmp_path / "reshape.onnx", [helper.make_node("Reshape", ["x", "shape"], ["y"], name="fold")],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [shape])
    message = _error(path, {"x": np.zeros((3, 4), np.float32)})
    assert message.startswith("ONNX Runtime failed to run reshape.onnx: Non-zero status code returned while running Reshape node. Name:'fold'")
    assert message.endswith("The input tensor cannot be reshaped to the requested shape. Input shape:{3,4}, requested shape:{2,4}")
    assert ".h:" not in message and "was false" not in message and "onnxruntime::" not in message


def test_a_model_that_cannot_load_names_the_cause_not_the_temporary_path(tmp_path: Path) -> None:
    """An int32 tensor wired into a float op (what the FP16 pass once wrote): the type error, without ORT's full path."""
    path = _save(tmp_path / "mistyped.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.INT32, [1])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    with pytest.raises(OnnxModelError) as caught, OrtRunner(path) as runner:
        runner.infer({"x": np.zeros(1, np.int32)})
    message = str(caught.value)
    assert message.startswith("ONNX Runtime cannot load mistyped.onnx: ")
    assert "tensor(int32)" in message and str(tmp_path) not in message and "\n" not in message


def test_error_cause_joins_lines_and_bounds_the_length() -> None:
    assert error_cause(RuntimeError("first\n\n  second line\n")) == "first: second line"
    assert error_cause(RuntimeError("ends with a stop.\nnext")) == "ends with a stop. next"
    assert error_cause(ValueError("")) == "ValueError"
    long = error_cause(RuntimeError("x" * 1000), limit=100)
    assert len(long) == 100 and long.endswith("...")
    assert error_cause(RuntimeError("\x1b[1;31mred\x1b[m text")) == "red text"
