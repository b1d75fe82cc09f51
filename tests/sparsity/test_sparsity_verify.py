"""Verification: the pattern survives INT8 Q/DQ and FP16 casts, and a broken layer fails the run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compile.errors import PassError
from compile.sparsity.eligibility import SparsityRules
from tests.sparsity.sparse_models import make_layered_onnx

RULES = SparsityRules(min_channels=8)


def _pruned_model(tmp_path: Path) -> Path:
    import onnx

    from compile.sparsity.onnx_prune import prune_onnx

    path = make_layered_onnx(tmp_path / "dense.onnx")
    model = onnx.load(str(path))
    prune_onnx(model, RULES)
    out = tmp_path / "sparse.onnx"
    onnx.save(model, str(out))
    return out


def test_pattern_survives_int8_qdq(tmp_path: Path) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from compile.sparsity.verify import verify_sparsity

    sparse = _pruned_model(tmp_path)
    rng = np.random.default_rng(0)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": rng.normal(size=(2, 3, 8, 8)).astype(np.float32)} for _ in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    quantized = tmp_path / "int8.onnx"
    quantize_static(str(sparse), str(quantized), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    model = onnx.load(str(quantized))
    assert any(node.op_type == "DequantizeLinear" for node in model.graph.node)
    table = verify_sparsity(model, RULES)
    rows = {row["name"]: row for row in table.rows}
    assert table.recorded and table.broken == [] and table.missing == []
    for name in ("body", "fc", "head"):
        assert rows[name]["pruned"] and rows[name]["is_2to4"], rows[name]
        assert "DequantizeLinear" in rows[name]["through"]
    assert not rows["stem"]["pruned"] and not rows["dw"]["eligible"]
    # the int8 zeros are exact: the quantized initializer itself is 2:4
    from onnx import numpy_helper

    from compile.sparsity.mask import is_two_four
    body = next(init for init in model.graph.initializer if init.name == rows["body"]["weight"])
    assert numpy_helper.to_array(body).dtype == np.int8 and is_two_four(numpy_helper.to_array(body), 1)
    summary = table.summary
    assert summary["sparse_share_of_eligible_macs"] == 1.0
    assert 0 < summary["sparse_share_of_all_macs"] < summary["sparse_share_of_non_depthwise_macs"] < 1


def test_pattern_seen_through_fp16_cast(tmp_path: Path) -> None:
    import onnx
    from onnx import helper, numpy_helper

    from compile.sparsity.verify import verify_sparsity

    model = onnx.load(str(_pruned_model(tmp_path)))
    init = next(i for i in model.graph.initializer if i.name == "body.weight")
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), "body.weight"))
    node = next(n for n in model.graph.node if n.name == "body")
    node.input[1] = "body.weight.f32"
    model.graph.node.insert(0, helper.make_node("Cast", ["body.weight"], ["body.weight.f32"], to=1, name="cast_body"))
    table = verify_sparsity(model, RULES)
    row = next(r for r in table.rows if r["name"] == "body")
    assert row["through"] == "Cast" and row["is_2to4"] and table.broken == []


def test_verification_catches_a_broken_layer(tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    from compile.artifacts import OnnxModel
    from compile.passes.verify_sparsity import VerifySparsityPass
    from compile.sparsity.verify import verify_sparsity

    path = _pruned_model(tmp_path)
    model = onnx.load(str(path))
    init = next(i for i in model.graph.initializer if i.name == "fc.weight")
    weight = numpy_helper.to_array(init).copy()
    weight[3, 4:8] = 0.25  # one group of 4 now holds 4 non-zeros
    init.CopyFrom(numpy_helper.from_array(weight, "fc.weight"))
    table = verify_sparsity(model, RULES)
    assert table.broken == ["fc: 1 groups of 4 hold more than 2 non-zeros"]
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    pass_ = VerifySparsityPass(min_channels=8)
    with pytest.raises(PassError, match="verify-sparsity: 1 layers recorded as 2:4 are not 2:4 in broken.onnx: fc"):
        pass_.run({"onnx": OnnxModel(path=broken)}, _context(tmp_path))
    result = pass_.run({"onnx": OnnxModel(path=path)}, _context(tmp_path))
    assert isinstance(result.output, OnnxModel) and result.output.sparsity == "2:4"
    assert result.metrics["sparse_share_of_eligible_macs"] == 1.0
    assert {row["name"] for row in result.report["sparsity"]["layers"]} == {"stem", "body", "dw", "fc", "head"}


def _context(tmp_path: Path):  # noqa: ANN202 - a PassContext
    from compile.passes.base import PassContext
    from compile.profiles import load_profile
    from compile.settings import RunSettings

    return PassContext(RunSettings(model="m.onnx", sparsity="2:4"), load_profile("cpu"), tmp_path, tmp_path / "work", {},
                       log=lambda _: None)
