"""Which layers may be pruned: the rules, on descriptions, PyTorch modules and ONNX graphs."""

from __future__ import annotations

from pathlib import Path

import pytest

from compile.sparsity.eligibility import LayerDesc, SparsityRules, ineligibility

RULES = SparsityRules(min_channels=8)


@pytest.mark.parametrize(("layer", "reason"), [
    (LayerDesc("a", "Conv", 64, 64), None),
    (LayerDesc("dw", "Conv", 64, 64, groups=64), "depthwise"),
    (LayerDesc("g", "Conv", 64, 64, groups=2), "grouped (groups=2)"),
    (LayerDesc("odd", "Conv", 18, 64), "input channels 18 not divisible by 4"),
    (LayerDesc("stem", "Conv", 16, 64, first_conv=True), "first convolution"),
    (LayerDesc("thin", "Conv", 64, 4), "channels 64->4 below min_channels 8"),
    (LayerDesc("thin_in", "Gemm", 4, 64), "channels 4->64 below min_channels 8"),
])
def test_rules(layer: LayerDesc, reason: str | None) -> None:
    assert ineligibility(layer, RULES) == reason


def test_exclusions_match_any_name_by_glob_and_min_kernel() -> None:
    layer = LayerDesc("node_conv_7", "Conv", 64, 64, kernel=(1, 1), aliases=("blocks.3.conv_pw.weight",))
    assert ineligibility(layer, SparsityRules(min_channels=8, exclude=("blocks.3.*",))) == "excluded by 'blocks.3.*'"
    assert ineligibility(layer, SparsityRules(min_channels=8, exclude=("blocks.4.*",))) is None
    assert ineligibility(layer, SparsityRules(min_channels=8, min_kernel=3)) == "kernel 1x1 below min_kernel 3"
    assert ineligibility(LayerDesc("stem", "Conv", 16, 64, first_conv=True), SparsityRules(min_channels=8, skip_first_conv=False)) is None


def test_torch_pruning_follows_the_rules() -> None:
    from compile.sparsity.mask import is_two_four
    from compile.sparsity.torch_prune import prune_module
    from tests.sparsity.sparse_models import small_cnn

    model = small_cnn()
    result = prune_module(model, RULES)
    by_name = {row["name"]: row for row in result.layers}
    assert by_name["0"]["reason"] == "first convolution"
    assert by_name["4"]["reason"] == "depthwise"
    assert by_name["6"]["reason"] == "grouped (groups=2)"
    assert by_name["12"]["reason"] == "input channels 18 not divisible by 4"
    assert sorted(result.masks) == ["2", "8"]
    assert is_two_four(model[2].weight.detach().numpy(), 1) and is_two_four(model[8].weight.detach().numpy(), 1)
    assert not is_two_four(model[0].weight.detach().numpy(), 1)  # the first conv stays dense


@pytest.mark.parametrize("trans_b", [1, 0])
def test_onnx_layers_and_pruning(tmp_path: Path, trans_b: int) -> None:
    import onnx

    from compile.sparsity.onnx_layers import onnx_layers, read_record
    from compile.sparsity.onnx_prune import prune_onnx
    from tests.sparsity.sparse_models import make_layered_onnx

    model = onnx.load(str(make_layered_onnx(tmp_path / "m.onnx", gemm_trans_b=trans_b)))
    layers = {layer.node: layer for layer in onnx_layers(model)}
    assert layers["fc"].axis == (1 if trans_b else 0) and layers["fc"].desc.in_channels == 16
    assert layers["head"].axis == 0 and layers["head"].desc.in_channels == 12
    assert layers["body"].macs == 16 * 8 * 8 * 16 * 9 and layers["fc"].macs == 16 * 12
    result = prune_onnx(model, RULES)
    assert sorted(result.newly_pruned) == ["body", "fc", "head"]
    status = {row["name"]: row["reason"] for row in result.layers}
    assert status["stem"] == "input channels 3 not divisible by 4" and status["dw"] == "depthwise"
    assert read_record(model)["layers"] == ["body", "fc", "head"]
    again = prune_onnx(model, RULES)  # a no-op on weights already 2:4
    assert again.newly_pruned == [] and sorted(again.already) == ["body", "fc", "head"]


def test_selection_prefers_low_sensitivity_per_mac_until_the_target_share() -> None:
    import torch

    from compile.sparsity.torch_prune import layer_sensitivity, prune_module, select_by_sensitivity
    from tests.sparsity.sparse_models import small_cnn

    sensitivity = {"a": 0.01, "b": 0.5, "c": 0.02, "d": 0.001}
    macs = {"a": 100, "b": 100, "c": 400, "d": 10}
    # per MAC: c 5e-5, a 1e-4, d 1e-4 (a tie: by name), b 5e-3
    assert select_by_sensitivity(sensitivity, macs, 1000, 0.4) == ["c"]
    assert select_by_sensitivity(sensitivity, macs, 1000, 0.45) == ["c", "a"]
    assert select_by_sensitivity(sensitivity, macs, 1000, 1.0) == ["c", "a", "d", "b"]
    model = small_cnn().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = layer_sensitivity(model, ["2", "8"], (torch.randn(4, 4, 6, 6),))
    assert set(scores) == {"2", "8"} and all(v > 0 for v in scores.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # weights restored
    result = prune_module(model, RULES, only={"8"})
    assert list(result.masks) == ["8"]
    assert next(r for r in result.layers if r["name"] == "2")["reason"].startswith("kept dense")
