"""Layer geometry: unfolded input patches times weight rows reproduce each layer's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compile.rounding.moments import input_moments, layer_geometries


def _single_node_model(op: str, weight: np.ndarray, input_shape: list[int], **attrs: Any) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node(op, ["x", "w"], ["y"], name="layer", **attrs)], "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", *input_shape[1:]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(weight.astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _run(model: Any, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


CASES = {
    "conv3x3-stride2-pads": ("Conv", (6, 4, 3, 3), [2, 4, 9, 9], {"strides": [2, 2], "pads": [1, 0, 1, 2]}),
    "conv-dilated-asymmetric-kernel": ("Conv", (5, 4, 3, 2), [2, 4, 8, 8], {"dilations": [2, 1], "pads": [0, 1, 0, 1]}),
    "depthwise5x5": ("Conv", (8, 1, 5, 5), [2, 8, 7, 7], {"group": 8, "pads": [2, 2, 2, 2]}),
    "grouped": ("Conv", (6, 2, 3, 3), [2, 4, 6, 6], {"group": 2}),
    "conv1d": ("Conv", (3, 4, 3), [2, 4, 10], {"pads": [1, 1]}),
    "gemm-transB": ("Gemm", (7, 5), [3, 5], {"transB": 1}),
    "gemm": ("Gemm", (5, 7), [3, 5], {}),
    "matmul": ("MatMul", (5, 7), [3, 5], {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_patches_times_rows_is_the_layer_output(case: str) -> None:
    op, weight_shape, input_shape, attrs = CASES[case]
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 1, weight_shape).astype(np.float32)
    x = rng.normal(0, 1, input_shape).astype(np.float32)
    model = _single_node_model(op, weight, input_shape, **attrs)
    geometry = layer_geometries(model)["layer"]
    patches = geometry.patches(x).numpy().astype(np.float64)  # groups x patches x cols
    rows = geometry.to_rows(weight.astype(np.float64))  # groups x rows x cols
    assert np.array_equal(geometry.from_rows(rows), weight)
    product = np.einsum("gpc,grc->gpr", patches, rows)
    expected = _run(model, x).astype(np.float64)
    if op == "Conv":  # N, C_out, *spatial -> groups x (N * positions) x rows_per_group
        n, c = expected.shape[:2]
        expected = expected.reshape(n, geometry.groups, c // geometry.groups, -1).transpose(1, 0, 3, 2).reshape(geometry.groups, -1, c // geometry.groups)
    else:
        expected = expected.reshape(1, -1, expected.shape[-1])
    np.testing.assert_allclose(product, expected, rtol=1e-4, atol=1e-4)


def test_moments_are_the_sum_of_patch_outer_products(tmp_path: Path) -> None:
    import onnx

    op, weight_shape, input_shape, attrs = CASES["depthwise5x5"]
    rng = np.random.default_rng(1)
    model = _single_node_model(op, rng.normal(0, 1, weight_shape), input_shape, **attrs)
    path = tmp_path / "one.onnx"
    onnx.save(model, str(path))
    geometries = layer_geometries(model)
    batches = [{"x": rng.normal(0, 1, input_shape).astype(np.float32)} for _ in range(3)]
    moments, used = input_moments(path, geometries, iter(batches), limit=5)
    assert used == 5  # two full batches of 2, then 1 of the third
    patches = np.concatenate([geometries["layer"].patches(b["x"]).numpy().astype(np.float64) for b in batches], axis=1)
    patches = patches[:, : 5 * patches.shape[1] // 6]
    expected = np.einsum("gpi,gpj->gij", patches, patches)
    # Patches are multiplied in float32 (memory), summed in float64.
    np.testing.assert_allclose(moments["layer"], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
