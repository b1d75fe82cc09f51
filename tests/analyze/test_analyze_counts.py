"""``analyze`` counts on small hand-built graphs, checked against figures computed by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compile.analyze.api import AnalyzeRequest, analyze, join_times
from compile.analyze.counts import Analysis, LayerCost, count_layers
from compile.analyze.profiler import parse_trace
from compile.analyze.shapes import infer_tensor_infos


def _model(nodes: list[Any], inputs: list[tuple[str, list[Any]]], outputs: list[str], inits: dict[str, np.ndarray]) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializer=[numpy_helper.from_array(value, name) for name, value in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _count(model: Any, batch: int = 1) -> Analysis:
    fixed, infos = infer_tensor_infos(model, batch)
    return count_layers(fixed, infos, batch)


def _w(*shape: int) -> np.ndarray:
    return np.ones(shape, dtype=np.float32)


def test_grouped_conv_with_bias() -> None:
    from onnx import helper

    # 3x3, Cin 4, groups 2, Cout 6, 8x8 out: MACs = 3*3*(4/2)*6*8*8 = 6912.
    model = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", group=2, pads=[1, 1, 1, 1])],
                   [("x", [1, 4, 8, 8])], ["y"], {"w": _w(6, 2, 3, 3), "b": _w(6)})
    conv = _count(model).layers[0]
    assert (conv.macs, conv.flops, conv.params) == (6912, 13824, 6 * 2 * 9 + 6)
    assert conv.output_shape == (1, 6, 8, 8)
    assert (conv.weight_bytes, conv.input_bytes, conv.output_bytes) == (114 * 4, 4 * 64 * 4, 6 * 64 * 4)
    assert conv.intensity == pytest.approx(13824 / (456 + 1024 + 1536))


def test_strided_conv_and_dynamic_batch() -> None:
    from onnx import helper

    # 3x3 stride 2 on 9x9, no padding -> 4x4; MACs = 9*3*5*16 = 2160 per image.
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", strides=[2, 2])],
                   [("x", ["batch", 3, 9, 9])], ["y"], {"w": _w(5, 3, 3, 3)})
    assert _count(model, batch=1).total_macs == 2160
    assert _count(model, batch=3).total_macs == 3 * 2160


def test_conv_transpose() -> None:
    from onnx import helper

    # Every input pixel (4 ch x 5x5) scatters into Cout(3) x 2x2 outputs: 100 * 12 = 1200 MACs.
    model = _model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="deconv", strides=[2, 2])],
                   [("x", [1, 4, 5, 5])], ["y"], {"w": _w(4, 3, 2, 2)})
    layer = _count(model).layers[0]
    assert layer.output_shape == (1, 3, 10, 10)
    assert (layer.macs, layer.flops, layer.params) == (1200, 2400, 48)


def test_gemm_with_transposes_and_batched_matmul() -> None:
    from onnx import helper

    model = _model([
        helper.make_node("Gemm", ["a", "w"], ["g"], name="gemm", transB=1),             # [2,16] x [16,8]^T
        helper.make_node("Gemm", ["at", "w"], ["g2"], name="gemm_t", transA=1, transB=1),  # [16,2]^T x ...
        helper.make_node("MatMul", ["m", "k"], ["mm"], name="matmul"),                    # [3,4,5] x [5,6]
    ], [("a", [2, 16]), ("at", [16, 2]), ("m", [3, 4, 5])], ["g", "g2", "mm"], {"w": _w(8, 16), "k": _w(5, 6)})
    analysis = _count(model)
    by_name = {layer.name: layer for layer in analysis.layers}
    assert by_name["gemm"].macs == 2 * 8 * 16 == by_name["gemm_t"].macs
    assert by_name["matmul"].macs == 3 * 4 * 6 * 5
    assert analysis.total_params == 8 * 16 + 5 * 6  # the shared Gemm weight counts once


def test_pooling_elementwise_normalisation_and_not_counted() -> None:
    from onnx import helper

    model = _model([
        helper.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("Add", ["r", "x"], ["sum"], name="add"),
        helper.make_node("MaxPool", ["sum"], ["mp"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["sum"], ["gap"], name="gap"),
        helper.make_node("Reshape", ["gap", "shape"], ["flat"], name="reshape"),
        helper.make_node("Hardmax", ["flat"], ["hm"], name="hardmax"),
    ], [("x", [1, 2, 4, 4])], ["mp", "hm"], {"s": _w(2), "b": _w(2), "mu": _w(2), "var": _w(2),
                                             "shape": np.array([1, 2], dtype=np.int64)})
    analysis = _count(model)
    by_name = {layer.name: layer for layer in analysis.layers}
    assert (by_name["bn"].flops, by_name["bn"].params, by_name["bn"].macs) == (2 * 32, 8, 0)
    assert by_name["relu"].flops == 32 and by_name["add"].flops == 32
    assert by_name["maxpool"].flops == 8 * 4 and by_name["maxpool"].output_shape == (1, 2, 2, 2)
    assert by_name["gap"].flops == 32
    assert by_name["reshape"].kind == "view" and by_name["reshape"].bytes == 0 and by_name["reshape"].params == 0
    assert analysis.not_counted == {"Hardmax": 1}
    assert not by_name["hardmax"].counted and by_name["hardmax"].note == "op not counted"
    assert analysis.total_macs == 0 and analysis.total_flops == 64 + 32 + 32 + 32 + 32


def test_tiny_classifier_totals_and_activation_zeros(tiny_onnx: Path) -> None:
    analysis = analyze(AnalyzeRequest(model=tiny_onnx, activations=True, samples=4))
    # Conv 3x3 3->8 at 16x16: 27*8*256 = 55296 MACs; Gemm 8->10: 80 MACs.
    assert analysis.total_macs == 55296 + 80 and analysis.total_flops == 2 * 55376 + 2048 + 2048
    assert analysis.total_params == 8 * 27 + 8 + 10 * 8 + 10
    relu = next(layer for layer in analysis.layers if layer.op_type == "Relu")
    assert relu.zero_share is not None and 0.0 < relu.zero_share < 1.0


def test_zero_share_on_known_input() -> None:
    from onnx import helper

    from compile.analyze.activations import zero_shares

    model = _model([helper.make_node("Relu", ["x"], ["y"], name="relu"),
                    helper.make_node("Clip", ["x", "lo"], ["c"], name="clip")],
                   [("x", ["batch", 4])], ["y", "c"], {"lo": np.array(0.5, dtype=np.float32)})
    feeds = [{"x": np.array([[-1.0, 0.0, 1.0, 2.0]], dtype=np.float32)}, {"x": np.array([[-3.0, -2.0, 4.0, 0.25]], dtype=np.float32)}]
    shares = zero_shares(model, feeds)
    assert shares["relu"] == pytest.approx(4 / 8)
    assert shares["clip"] == 0.0  # clipped at 0.5: no exact zeros


def test_profiler_trace_parsing_and_join() -> None:
    events = [{"cat": "Session", "name": "model_run", "dur": 999},
              {"cat": "Node", "name": "conv_kernel_time", "dur": 800}, {"cat": "Node", "name": "conv_kernel_time", "dur": 1200},
              {"cat": "Node", "name": "dw_kernel_time", "dur": 2000}, {"cat": "Node", "name": "dw_fence_before", "dur": 5}]
    times = parse_trace(events, runs=2)
    assert times == {"conv": pytest.approx(1.0), "dw": pytest.approx(1.0)}
    analysis = Analysis([LayerCost("conv", "Conv", "conv", macs=990, flops=1980), LayerCost("dw", "Conv", "conv", macs=10, flops=20)],
                        1, {}, 0, 0)
    join_times(analysis, times)
    dw = analysis.layers[1]
    assert dw.extra["time_share"] == 0.5 and dw.extra["flop_share"] == pytest.approx(0.01)
    assert dw.extra.get("slow_for_flops") and "50.0x its FLOP share" in dw.note
    assert not analysis.layers[0].extra.get("slow_for_flops")


def test_cli_json_with_profile_run(tiny_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    main(["analyze", str(tiny_onnx), "--json", "--profile-run", "--iterations", "3"])
    payload = json.loads(capsys.readouterr().out)
    assert payload["totals"]["macs"] == 55376 and payload["not_counted"] == {}
    conv = next(layer for layer in payload["layers"] if layer["op_type"] == "Conv")
    assert conv["macs"] == 55296 and conv["time_ms"] is not None and conv["time_ms"] > 0


def test_cli_missing_model_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["analyze", str(tmp_path / "nope.onnx")])
    assert exit_.value.code == 2
    assert "model file not found" in capsys.readouterr().err
