"""Reference outputs are computed once per reference and inputs, then read from the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import make_tiny_classifier


def test_second_call_reads_the_cache_and_new_inputs_miss_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import compile.validate.reference as reference_module
    from compile.artifacts import OnnxModel
    from compile.data.eval_set import EvalSet
    from compile.validate.reference import reference_outputs

    model = OnnxModel(path=make_tiny_classifier(tmp_path / "tiny.onnx"))
    rng = np.random.default_rng(0)
    data = EvalSet({"input": rng.normal(0, 1, (5, 3, 16, 16)).astype(np.float32)}, None, "5 inputs", "generated")
    cache = tmp_path / "reference-cache"
    first, description = reference_outputs(model, data, cache=cache)
    assert len(list(cache.glob("*.npz"))) == 1 and "ONNX Runtime FP32" in description
    assert not list(cache.glob("*.tmp"))

    runs = []
    real = reference_module.run_batched_onnx
    monkeypatch.setattr(reference_module, "run_batched_onnx", lambda path, data: runs.append(path) or real(path, data))
    again, _ = reference_outputs(model, data, cache=cache)
    assert runs == [] and set(again) == set(first)
    assert all(np.array_equal(again[name], first[name]) for name in first)

    changed = EvalSet({"input": data.feeds["input"] + 1.0}, None, "5 inputs", "generated")
    other, _ = reference_outputs(model, changed, cache=cache)
    assert len(runs) == 1 and not np.array_equal(other["logits"], first["logits"])
    assert len(list(cache.glob("*.npz"))) == 2


def test_a_corrupt_entry_is_recomputed(tmp_path: Path) -> None:
    from compile.artifacts import OnnxModel
    from compile.data.eval_set import EvalSet
    from compile.validate.reference import reference_outputs

    model = OnnxModel(path=make_tiny_classifier(tmp_path / "tiny.onnx"))
    data = EvalSet({"input": np.ones((2, 3, 16, 16), dtype=np.float32)}, None, "2 inputs", "generated")
    cache = tmp_path / "c"
    first, _ = reference_outputs(model, data, cache=cache)
    entry = next(cache.glob("*.npz"))
    entry.write_bytes(b"not a zip")
    again, _ = reference_outputs(model, data, cache=cache)
    assert np.array_equal(again["logits"], first["logits"])
    assert np.load(entry)["logits"].shape == first["logits"].shape
