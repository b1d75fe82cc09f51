"""report.md shows the sparsity table and the TensorRT build path when a run has them."""

from __future__ import annotations

from compile.report.markdown import render_markdown
from tests.helpers import make_report

BASE = {"model": "m", "profile": "cpu", "precision": "int8", "passed": True, "backend": "onnxruntime", "sparsity": "2:4"}


def test_sparsity_section_lists_layers_and_shares() -> None:
    report = {**BASE, "sparsity_details": {
        "summary": {"layers": 3, "layers_eligible": 2, "layers_2to4": 1, "sparse_share_of_eligible_macs": 0.5,
                    "sparse_share_of_non_depthwise_macs": 0.25, "sparse_share_of_all_macs": 0.2},
        "layers": [{"name": "conv_a", "op": "Conv", "in_channels": 64, "out_channels": 64, "eligible": True, "is_2to4": True, "mac_share": 0.2},
                   {"name": "conv_dw", "op": "Conv", "in_channels": 64, "out_channels": 64, "eligible": False, "is_2to4": False,
                    "mac_share": 0.1, "reason": "depthwise"}],
        "note": "ONNX Runtime has no 2:4 sparse kernels"}}
    md = render_markdown(make_report(**report))
    assert "1 of 3 layers carry 2:4 (2 eligible)" in md
    assert "50.0% of eligible, 25.0% of non-depthwise, 20.0% of all" in md
    assert "| conv_a | Conv | 64 | 64 | yes | yes | 20.00% |  |" in md
    assert "| conv_dw | Conv | 64 | 64 | no | no | 10.00% | depthwise |" in md
    assert "no 2:4 sparse kernels" in md


def test_tensorrt_section_and_absent_sections() -> None:
    md = render_markdown(make_report(**BASE, tensorrt={"build_path": "TensorRT 10, strongly typed network"}))
    assert "## TensorRT" in md and "build path: TensorRT 10, strongly typed network" in md
    plain = render_markdown(make_report(**BASE))
    assert "## 2:4 sparsity" not in plain and "## TensorRT" not in plain
