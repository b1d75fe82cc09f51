"""2:4 through the pipeline: PyTorch pruning + recovery + verification, ONNX input, and the T4 rejection."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from compile.profiles import Profile, parse_profile, profiles_dir
from compile.settings import RunSettings

QUICK = {"sparsify", "export", "simplify", "sparsify-onnx", "verify-sparsity", "build-ort", "validate"}


def _profile(name: str = "cpu", **sparsity: Any) -> dict[str, Any]:
    data = tomllib.loads((profiles_dir() / f"{name}.toml").read_text())
    data["sparsity"].pop("target_mac_share", None)  # every eligible layer unless a test asks for a selection
    data["sparsity"].update(sparsity)
    data["validation"]["samples"] = 8
    return data


def _quick_cpu(**sparsity: Any) -> Profile:
    data = _profile(**sparsity)
    data["passes"] = [entry for entry in data["passes"] if entry["name"] in QUICK]
    for entry in data["passes"]:
        if entry["name"] == "export":
            entry["exporter"] = "torchscript"  # several times quicker than dynamo on a tiny model
    return parse_profile(data)


def test_pytorch_pruning_recovery_and_verification(tmp_path: Path) -> None:
    import torch

    from compile.artifacts import TorchModel
    from compile.drivers.pipeline import Pipeline
    from compile.models.registry import load_torch_model
    from compile.sparsity.mask import is_two_four

    settings = RunSettings(model="tiny_cnn", sparsity="2:4", out=tmp_path / "run", calib_size=8, recover_steps=3, progress=False)
    result = Pipeline(settings, profile=_quick_cpu(min_channels=16, recover_batch_size=4), log=lambda _: None).run()
    report = result.report
    section = report["sparsity_details"]
    assert report["sparsity"] == "2:4" and section["pytorch"]["pruned_layers"] == 3  # block convs and head conv; not the stem
    assert section["recovery"]["steps"] == 3 and section["recovery"]["seconds"] > 0
    assert {"pruned_top1_agreement", "recovered_top1_agreement"} <= set(section["accuracy"])
    assert section["onnx"]["mode"] == "record (pruned in PyTorch)" and section["onnx"]["newly_pruned"] == 0
    assert section["summary"]["layers_2to4"] == 3 and section["summary"]["sparse_share_of_eligible_macs"] == 1.0
    assert "ONNX Runtime has no 2:4 sparse kernels" in section["note"]
    assert report["metrics"]["sparse_share_of_non_depthwise_macs"] > 0.9
    stage = next(s for s in report["stages"] if s["name"] == "sparsify")
    weights = tmp_path / "run" / stage["record"]["weights_file"]
    state = torch.load(weights, weights_only=True)
    assert is_two_four(state["block.0.weight"].numpy(), 1) and not is_two_four(state["stem.0.weight"].numpy()[:, :0 + 3], 1)
    # the produced recipe loads the pruned weights back
    artifact = TorchModel(source="builtin:tiny_cnn", spec={"weights_path": str(weights)})
    module = load_torch_model(artifact).module
    assert torch.equal(module.state_dict()["block.3.weight"], state["block.3.weight"])
    # a second run reuses every stage
    again = Pipeline(settings, profile=_quick_cpu(min_channels=16, recover_batch_size=4), log=lambda _: None).run()
    assert set(again.report["reused_stages"]) >= {"sparsify", "export", "sparsify-onnx", "verify-sparsity"}


def test_onnx_input_is_pruned_at_the_onnx_level(tmp_path: Path) -> None:
    from compile.artifacts import OnnxModel
    from compile.drivers.pipeline import Pipeline
    from tests.sparsity.sparse_models import make_layered_onnx

    model = make_layered_onnx(tmp_path / "layered.onnx")
    settings = RunSettings(model=str(model), sparsity="2:4", out=tmp_path / "run", progress=False)
    result = Pipeline(settings, profile=_quick_cpu(min_channels=8), log=lambda _: None).run()
    stages = {s.name: s for s in result.stages}
    assert stages["sparsify"].skipped == "the model is already ONNX"
    assert result.report["sparsity_details"]["onnx"]["newly_pruned"] == 3
    assert any("without recovery" in w for w in stages["sparsify-onnx"].result.warnings)  # type: ignore[union-attr]
    verified = stages["verify-sparsity"].result
    assert verified is not None and isinstance(verified.output, OnnxModel) and verified.output.sparsity == "2:4"


def test_dense_runs_skip_the_sparsity_passes(tmp_path: Path) -> None:
    from compile.passes.sparsify import SparsifyPass
    from compile.passes.sparsify_onnx import SparsifyOnnxPass
    from compile.passes.verify_sparsity import VerifySparsityPass

    for cls in (SparsifyPass, SparsifyOnnxPass, VerifySparsityPass):
        assert cls().applies(RunSettings(model="tiny_cnn")) == "dense run (--sparsity 2:4 prunes)"
        assert cls().applies(RunSettings(model="tiny_cnn", sparsity="2:4")) is None


def test_profile_and_cli_flags_reach_the_options() -> None:
    from compile.drivers.options import resolve_options

    profile = _quick_cpu(min_channels=32, exclude=["head.*"], recover_steps=7, recover_lr=3e-4)
    options = resolve_options("sparsify", {}, profile, RunSettings(model="m", sparsity="2:4"))
    assert (options["min_channels"], options["exclude"], options["recover_steps"], options["recover_lr"]) == (32, ["head.*"], 7, 3e-4)
    options = resolve_options("sparsify", {}, profile, RunSettings(model="m", sparsity="2:4", recover_steps=2))
    assert options["recover_steps"] == 2


def test_t4_rejects_2_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main
    from compile.drivers.pipeline import check_run_against_profile
    from compile.errors import ProfileError

    data = _profile("t4")
    t4 = Profile.model_validate(data)
    with pytest.raises(ProfileError, match=r"profile 't4' does not allow --sparsity 2:4: NVIDIA T4 \(no sparse tensor cores\)"):
        check_run_against_profile(t4, RunSettings(model="tiny_cnn", sparsity="2:4"), "fp16")
    check_run_against_profile(t4, RunSettings(model="tiny_cnn"), "fp16")  # dense is fine
    # the command line: one line on stderr, exit code 2 (a copy of t4 with CPU-side passes, so it loads anywhere)
    data["passes"] = [{"name": "export"}, {"name": "build-ort"}]
    profile_file = tmp_path / "t4-copy.toml"
    profile_file.write_text(_to_toml(data))
    for command in (["run", "tiny_cnn", "--sparsity", "2:4"], ["sparsify", "tiny_cnn"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--profile", str(profile_file), "--out", str(tmp_path / "out"), "--quiet"])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: profile 't4' does not allow --sparsity 2:4") and "\n" not in err, err


def _to_toml(data: dict[str, Any]) -> str:
    """Enough TOML for a profile: scalars, lists of scalars, tables and the [[passes]] array."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, (dict, list)) or (isinstance(v, list) and k != "passes")]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for entry in data.get("passes", []):
        lines.append("[[passes]]")
        lines += [f"{k} = {value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def test_token_model_selection_and_recovery_on_generated_inputs(tmp_path: Path) -> None:
    from compile.drivers.pipeline import Pipeline

    settings = RunSettings(model="tiny_transformer", sparsity="2:4", out=tmp_path / "run", recover_steps=2, progress=False)
    profile = _quick_cpu(min_channels=64, target_mac_share=0.5, recover_batch_size=4)
    section = Pipeline(settings, profile=profile, log=lambda _: None).run().report["sparsity_details"]
    selection = section["selection"]
    assert len(selection["sensitivity"]) == 6 and selection["share_selected"] >= 0.5  # 2 x (out_proj, linear1, linear2)
    assert section["pytorch"]["pruned_layers"] == len(selection["chosen"]) == section["summary"]["layers_2to4"]
    assert section["recovery"]["data"] == "generated inputs (the model takes no images)"
