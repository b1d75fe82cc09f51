"""The ONNX Runtime artifact: session settings recorded, and refused on a CPU it was not laid out for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compile.artifacts import OnnxModel, RuntimeArtifact
from compile.backends import make_runner
from compile.backends.ort.hardware import cpu_isa, isa_mismatch
from compile.errors import OnnxModelError
from compile.passes.base import PassContext
from compile.passes.build_ort import BuildOrtPass
from compile.profiles import load_profile
from compile.settings import RunSettings


def _build(tiny_onnx: Path, tmp_path: Path, optimization: str) -> RuntimeArtifact:
    ctx = PassContext(RunSettings(model=str(tiny_onnx)), load_profile("cpu"), tmp_path, tmp_path, {})
    result = BuildOrtPass(optimization=optimization).run({"onnx": OnnxModel(path=tiny_onnx)}, ctx)
    assert isinstance(result.output, RuntimeArtifact)
    return result.output


def test_level_all_records_the_instruction_set_and_runs_here(tiny_onnx: Path, tmp_path: Path) -> None:
    artifact = _build(tiny_onnx, tmp_path, "all")
    sidecar = artifact.read_sidecar()
    assert sidecar["isa"] == cpu_isa() and sidecar["load_optimization"] == "disable"
    assert sidecar["intra_op_spinning"] is False
    with make_runner(artifact) as runner:
        out = runner.infer({"input": np.zeros((2, 3, 16, 16), np.float32)})
    assert out["logits"].shape == (2, 10)


def test_artifact_from_another_cpu_is_refused(tiny_onnx: Path, tmp_path: Path) -> None:
    artifact = _build(tiny_onnx, tmp_path, "all")
    assert artifact.sidecar is not None
    data = json.loads(artifact.sidecar.read_text())
    data["isa"] = "x86_64:avx2+fma"
    artifact.sidecar.write_text(json.dumps(data))
    if cpu_isa() == "x86_64:avx2+fma":
        pytest.skip("this machine has exactly the faked instruction set")
    with pytest.raises(OnnxModelError, match="optimised \\(level 'all'\\) for x86_64:avx2\\+fma"):
        make_runner(artifact)


def test_portable_levels_record_no_instruction_set(tiny_onnx: Path, tmp_path: Path) -> None:
    artifact = _build(tiny_onnx, tmp_path, "extended")
    assert artifact.read_sidecar()["isa"] is None
    assert isa_mismatch(None) is None
    key_all = BuildOrtPass(optimization="all").cache_inputs(None)  # type: ignore[arg-type]
    key_ext = BuildOrtPass(optimization="extended").cache_inputs(None)  # type: ignore[arg-type]
    assert key_all["isa"] == cpu_isa() and key_ext["isa"] is None
