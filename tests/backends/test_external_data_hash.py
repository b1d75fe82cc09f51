"""The content hash of an ONNX file covers every external data file its tensors name, whatever its name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compile.api import compile_model
from compile.errors import OnnxModelError
from compile.hashing import hash_file


def _save_external(path: Path, location: str, seed: int = 0) -> Path:
    """x[batch,4] -> MatMul(W[4,3]) -> y, with W stored in ``location`` beside the model."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(seed).normal(size=(4, 3)).astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path), save_as_external_data=True, location=location, size_threshold=0)
    return path


def _save_subgraph_external(path: Path, location: str) -> Path:
    """An If node whose then-branch holds its own initializer, stored externally in ``location``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def branch(name: str, value: float) -> onnx.GraphProto:
        c = numpy_helper.from_array(np.full((3,), value, np.float32), f"{name}_c")
        return helper.make_graph([helper.make_node("Identity", [f"{name}_c"], [f"{name}_out"])], name, [],
                                 [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [3])], initializer=[c])

    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch("then", 1.0), else_branch=branch("else", 2.0))
    graph = helper.make_graph([node], "sub", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path), save_as_external_data=True, location=location, size_threshold=0)
    return path


def _rewrite_in_place(data: Path) -> None:
    raw = bytearray(data.read_bytes())
    raw[:4] = np.float32(123.0).tobytes()
    data.write_bytes(bytes(raw))


@pytest.mark.parametrize("location", ["net.onnx_data", "weights.bin", "net.onnx.data"])
def test_new_weights_in_any_external_file_change_the_hash(tmp_path: Path, location: str) -> None:
    model = _save_external(tmp_path / "net.onnx", location)
    before = hash_file(model)
    _rewrite_in_place(tmp_path / location)
    assert hash_file(model) != before
    assert hash_file(model) == hash_file(model)  # stable


def test_external_data_of_subgraph_initializers_is_hashed(tmp_path: Path) -> None:
    model = _save_subgraph_external(tmp_path / "branchy.onnx", "branch_weights")
    before = hash_file(model)
    _rewrite_in_place(tmp_path / "branch_weights")
    assert hash_file(model) != before


def test_hashing_reads_no_weights_into_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx.external_data_helper as helper

    model = _save_external(tmp_path / "net.onnx", "net.onnx_data")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("hash_file loaded the external weights")

    monkeypatch.setattr(helper, "load_external_data_for_model", refuse)
    monkeypatch.setattr(helper, "load_external_data_for_tensor", refuse)
    assert len(hash_file(model)) == 64


def test_missing_external_file_is_one_clear_error(tmp_path: Path) -> None:
    model = _save_external(tmp_path / "net.onnx", "net.onnx_data")
    (tmp_path / "net.onnx_data").unlink()
    with pytest.raises(OnnxModelError, match="needs external data file 'net.onnx_data', which is missing"):
        hash_file(model)


def test_a_second_run_after_new_weights_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared case external_data in small: same command, weights rewritten in net.onnx_data."""
    import onnxruntime as ort

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "src").mkdir()
    model = _save_external(tmp_path / "src" / "net.onnx", "net.onnx_data")
    first = compile_model(str(model), out=tmp_path / "run", precision="fp32", progress=False)
    assert first.passed
    _rewrite_in_place(tmp_path / "src" / "net.onnx_data")
    second = compile_model(str(model), out=tmp_path / "run", precision="fp32", progress=False)
    reused = set(second.report["reused_stages"])
    assert not reused & {"simplify", "build-ort", "validate"}
    x = np.random.default_rng(0).uniform(-1, 1, (2, 4)).astype(np.float32)
    final = tmp_path / "run" / second.report["artifacts"]["final"]
    expected = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(final), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
