"""Every precision x sparsity combination through the cpu pipeline: a 2:4 layer stays 2:4 to the final artifact.

Passes that rewrite weights after pruning (GPTQ rounding in quantize-int8 and mixed-precision, the FP16
cast, ONNX Runtime's optimised save) must keep the pruned zeros; verify-sparsity checks the pre-build
graph and the checks here also read the built artifact's stored weights.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from compile.profiles import Profile, parse_profile, profiles_dir
from compile.settings import RunSettings

PRECISIONS = ("fp32", "fp16", "int8", "mixed")
#: The layered model's layers eligible at min_channels 8: a 3x3 Conv, a Gemm and a MatMul.
PRUNABLE = {"body", "fc", "head"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))


def _profile(convention: str = "onnxruntime-cpu") -> Profile:
    data: dict[str, Any] = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["sparsity"].pop("target_mac_share", None)
    data["sparsity"]["min_channels"] = 8
    data["precision"]["int8_convention"] = convention
    data["validation"]["samples"] = 8
    # The pattern is what is tested: a gate that pruning without recovery (cosine ~0.96 against the dense
    # model) and INT8 pass, so every run completes and mixed-precision keeps INT8 layers.
    data["gates"] = {"min_cosine_similarity": 0.9}
    # "all" stores FP32 Conv weights reordered for NCHWc kernels (blocked channels): the reduction axis the
    # pattern is defined on is gone. "extended" still fuses Q/DQ into QLinearConv/QGemm but keeps ONNX layouts.
    data["build"]["graph_optimization_level"] = "extended"
    data["passes"] = [entry for entry in data["passes"] if entry["name"] != "benchmark"]
    return parse_profile(data)


def _run(tmp_path: Path, precision: str, sparsity: str, convention: str = "onnxruntime-cpu") -> Any:
    from compile.drivers.pipeline import Pipeline
    from tests.sparsity.sparse_models import make_layered_onnx

    model = make_layered_onnx(tmp_path / "layered.onnx")
    settings = RunSettings(model=str(model), precision=precision, sparsity=sparsity, out=tmp_path / "run",
                           calib_size=16, progress=False)
    return Pipeline(settings, profile=_profile(convention), log=lambda _: None).run()


def _pruned_weights(run_dir: Path, artifacts: dict[str, str]) -> dict[str, tuple[np.ndarray, int]]:
    """Recorded 2:4 layer -> (its pruned float weight, reduction axis), from sparsify-onnx's output."""
    import onnx

    from compile.sparsity.onnx_layers import onnx_layers, read_record

    model = onnx.load(str(run_dir / artifacts["sparsify-onnx"]))
    recorded = set(read_record(model)["layers"])  # type: ignore[index]
    return {layer.node: (layer.weight, layer.axis) for layer in onnx_layers(model)
            if layer.node in recorded and layer.weight is not None}


def _stored_weights(path: Path) -> list[np.ndarray]:
    import onnx
    from onnx import numpy_helper

    return [numpy_helper.to_array(init) for init in onnx.load(str(path)).graph.initializer if len(init.dims) >= 2]


def _keeps_pattern(stored: np.ndarray, pruned: np.ndarray, axis: int) -> bool:
    """``stored`` is ``pruned`` as a later pass wrote it: zero wherever the pruned weight is, 2:4, not all zero."""
    from compile.sparsity.mask import is_two_four

    return bool(stored.shape == pruned.shape and np.all(stored[pruned == 0] == 0) and np.count_nonzero(stored)
                and is_two_four(stored, axis))


@pytest.mark.parametrize("sparsity", ["dense", "2:4"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_and_sparsity_keeps_the_pattern(tmp_path: Path, precision: str, sparsity: str) -> None:
    result = _run(tmp_path, precision, sparsity)
    report = result.report
    stages = {stage.name: stage for stage in result.stages}
    assert report["precision"] == precision and report["sparsity"] == sparsity
    assert report["passed"], report["gates"]
    if sparsity == "dense":
        assert stages["verify-sparsity"].skipped and stages["sparsify-onnx"].skipped
        return
    verified = stages["verify-sparsity"].result
    assert verified is not None
    summary = report["sparsity_details"]["summary"]
    assert summary["layers_2to4"] == len(PRUNABLE) and summary["sparse_share_of_eligible_macs"] == 1.0
    rows = {row["name"]: row for row in report["sparsity_details"]["layers"]}
    assert {name for name, row in rows.items() if row["pruned"] and row["is_2to4"]} == PRUNABLE
    if precision in ("int8", "mixed"):
        # The pruned layers really run in INT8 (weights behind DequantizeLinear), with GPTQ integers.
        assert all("DequantizeLinear" in rows[name]["through"] for name in PRUNABLE), rows
        rounding = next(s for s in report["stages"] if s["name"] == ("quantize-int8" if precision == "int8" else "mixed-precision"))
        assert rounding["record"]["weight_rounding"]["method"] == "gptq"
        assert rounding["record"]["weight_rounding"]["layers_with_zeros_kept"] == len(PRUNABLE)
    run_dir = tmp_path / "run"
    final = _stored_weights(run_dir / report["artifacts"]["final"])
    for name, (pruned, axis) in _pruned_weights(run_dir, report["artifacts"]).items():
        assert any(_keeps_pattern(stored, pruned, axis) for stored in final), f"{name} lost 2:4 in the final artifact"


def test_tensorrt_convention_keeps_the_pattern(tmp_path: Path) -> None:
    """The signed symmetric convention (TensorRT's Q/DQ placement), run by ONNX Runtime on the CPU."""
    result = _run(tmp_path, "int8", "2:4", convention="tensorrt")
    summary = result.report["sparsity_details"]["summary"]
    assert summary["layers_2to4"] == len(PRUNABLE)
    run_dir = tmp_path / "run"
    int8 = _stored_weights(run_dir / result.report["artifacts"]["quantize-int8"])
    for name, (pruned, axis) in _pruned_weights(run_dir, result.report["artifacts"]).items():
        assert any(_keeps_pattern(stored, pruned, axis) for stored in int8 if stored.dtype == np.int8), name
