"""The engine sidecar: written, read back, and refused when incomplete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compile.backends.trt.sidecar import Binding, bindings, make_sidecar, read_sidecar, write_sidecar
from compile.errors import UserInputError


def example() -> dict:
    return make_sidecar(
        runtime="tensorrt", tensorrt_version="10.13.0.35", gpu_name="NVIDIA A100", compute_capability="8.0",
        profile="a100", hardware="NVIDIA A100", precision="int8", sparsity="2:4",
        bindings=[Binding("input", "input", (-1, 3, 224, 224), "float32", (1, 3, 224, 224), (8, 3, 224, 224), (256, 3, 224, 224)),
                  Binding("logits", "output", (-1, 1000), "float32")],
        onnx_sha256="0" * 64, engine_sha256="1" * 64, hardware_compatibility="none", version_compatible=True,
        build_path="TensorRT 11, strongly typed network", builder={"typing": "strong"}, dla_core=None)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "model.plan.json"
    write_sidecar(path, example())
    data = read_sidecar(path)
    assert data["tensorrt_version"] == "10.13.0.35"
    assert data["gpu"] == {"name": "NVIDIA A100", "compute_capability": "8.0"}
    assert data["compatibility"] == {"hardware": "none", "version_compatible": True}
    assert data["onnx_sha256"] == "0" * 64 and data["profile"] == "a100"
    [inp] = bindings(data, "input")
    assert inp == Binding("input", "input", (-1, 3, 224, 224), "float32", (1, 3, 224, 224), (8, 3, 224, 224), (256, 3, 224, 224))
    [out] = bindings(data, "output")
    assert out.shape == (-1, 1000) and out.min is None


def test_incomplete_or_foreign_sidecars_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    data = example()
    del data["gpu"], data["onnx_sha256"]
    path.write_text(json.dumps(data))
    with pytest.raises(UserInputError, match="lacks gpu, onnx_sha256"):
        read_sidecar(path)
    path.write_text(json.dumps({**example(), "schema": 7}))
    with pytest.raises(UserInputError, match="schema 7"):
        read_sidecar(path)
    path.write_text("[1, 2]")
    with pytest.raises(UserInputError, match="not a JSON object"):
        read_sidecar(path)
    with pytest.raises(UserInputError, match="is missing"):
        read_sidecar(tmp_path / "absent.json")
