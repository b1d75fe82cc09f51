"""``--precision mixed`` and ``--precision best`` end to end on the planted model (ONNX Runtime, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compile.settings import RunSettings
from tests.helpers import run_cli
from tests.mixed.mixed_models import FRAGILE, make_planted_model

#: All-INT8 measures cosine 0.93 on this model, 0.991 with the fragile layer in float (top-1 of a random
#: network's logits is too close a call to gate on).
GATES = {"min_cosine_similarity": 0.985, "min_top1_agreement": 0.0}


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    return make_planted_model(tmp_path / "planted.onnx")


@pytest.fixture
def nearest(tmp_path: Path) -> str:
    """The cpu profile with round-to-nearest INT8 weights and no bias correction: the planted layer is fragile
    under that rounding (GPTQ repairs most of it, see test_gptq_rounding_repairs_most_of_the_planted_damage; bias
    correction the mean of it: all-INT8 cosine 0.923 -> 0.990)."""
    from compile.profiles import profiles_dir

    text = (profiles_dir() / "cpu.toml").read_text().replace(
        "[calibration]\n", '[calibration]\nweight_rounding = "nearest"\nbias_correction = false\n', 1)
    path = tmp_path / "cpu-nearest.toml"
    path.write_text(text)
    return str(path)


def test_mixed_keeps_only_the_fragile_layer_in_float(planted: Path, nearest: str, tmp_path: Path) -> None:
    from compile.drivers.pipeline import Pipeline
    from compile.onnx_io import load_onnx

    settings = RunSettings(model=str(planted), profile=nearest, precision="mixed", out=tmp_path / "run", gates=GATES,
                           progress=False)
    result = Pipeline(settings, log=lambda line: None).run()
    section = result.report["mixed_precision"]
    assert section["float_layers"] == [FRAGILE]
    assert section["passed"] is True
    steps = section["search"]["steps"]
    assert [s["float_layers"] for s in steps] == [0, 1]  # stopped as soon as the gate passed
    assert steps[0]["metrics"]["cosine_similarity"] < 0.985 <= steps[1]["metrics"]["cosine_similarity"]
    assert section["cost"]["evaluations"] == 2
    assert "overlap" in section["data_warning"]
    # The ranking's figures: what keeping each layer in float adds, and the latency model behind them.
    assert section["top_ranked"][0]["node"] == FRAGILE and "added_ms" in section["top_ranked"][0]
    model_record = section["latency_model"]
    assert model_record["switch_probe_layers"] == 2 and model_record["switch_ms_per_melement"] >= 0
    assert isinstance(model_record["float_layers_add_ms"], float)
    assert result.passed, [g.describe() for g in result.gates]
    assert result.report["metrics"]["float_layers"] == 1.0
    # The fragile Conv reads float weights; every other Conv still reads dequantized INT8 weights.
    model = load_onnx(result.run_dir / "model.mixed.onnx")
    convs = {n.name: list(n.input) for n in model.graph.node if n.op_type == "Conv"}
    assert convs[FRAGILE][1] == f"{FRAGILE}.weight"
    assert all(inputs[1].endswith("_DequantizeLinear_Output") for name, inputs in convs.items() if name != FRAGILE)


def test_mixed_on_a_non_classifier_is_judged_as_validation_judges_it(nearest: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The planted scores come out as (N, 2, 5): validation measures no top-1 agreement there, so the search
    must not gate on it (it used to take an argmax over the flattened output and keep 3 layers in float)."""
    from compile.drivers.pipeline import Pipeline
    from compile.passes.registry import known_metrics

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    grid = make_planted_model(tmp_path / "grid.onnx", grid=True)
    settings = RunSettings(model=str(grid), profile=nearest, precision="mixed", out=tmp_path / "grid",
                           gates={"min_cosine_similarity": 0.985, "min_top1_agreement": 0.97}, progress=False)
    result = Pipeline(settings, log=lambda line: None).run()
    section = result.report["mixed_precision"]
    skipped = {g.name for g in result.gates if g.skipped}
    assert skipped == {"min_top1_agreement", "max_top1_drop"}
    steps = section["search"]["steps"]
    assert not [name for step in steps for name in step["failed_gates"] if name in skipped]
    assert section["float_layers"] == [FRAGILE] and result.passed  # measured: cosine 0.932 all-INT8, 0.9999 with it
    assert section["gates"] == {"min_cosine_similarity": 0.985}
    assert steps[-1]["metrics"]["cosine_similarity"] > 0.985 > steps[0]["metrics"]["cosine_similarity"]
    # Every figure the run measured is one a gate may name.
    assert not [name for name in result.report["metrics"] if not known_metrics().knows(name)]


def test_mixed_without_need_keeps_everything_int8(planted: Path, nearest: str, tmp_path: Path) -> None:
    from compile.drivers.pipeline import Pipeline

    settings = RunSettings(model=str(planted), profile=nearest, precision="mixed", out=tmp_path / "loose",
                           gates={"min_cosine_similarity": 0.5, "min_top1_agreement": 0.0}, progress=False)
    section = Pipeline(settings, log=lambda line: None).run().report["mixed_precision"]
    assert section["float_layers"] == [] and section["cost"]["evaluations"] == 1 and section["ranked_layers"] == 0


def test_precision_best_on_the_cli(planted: Path, nearest: str, tmp_path: Path) -> None:
    out = tmp_path / "best"
    code = run_cli(["run", str(planted), "--profile", nearest, "--precision", "best", "--out", str(out), "-q",
                   "--gate", "min_cosine_similarity=0.985", "--gate", "min_top1_agreement=0"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    by_name = {c["precision"]: c for c in report["candidates"]}
    assert by_name["fp16"]["status"] == "rejected" and "slower than fp32" in by_name["fp16"]["reason"]
    assert by_name["int8"]["status"] == "failed" and "min_cosine_similarity" in by_name["int8"]["failed_gates"]
    assert by_name["mixed"]["float_layers"] == [FRAGILE]
    assert by_name["fp32"]["status"] == by_name["mixed"]["status"] == "passed"
    assert report["chosen"] in ("fp32", "mixed") and report["passed"] is True
    loser = by_name["fp32" if report["chosen"] == "mixed" else "mixed"]
    assert loser["reason"].startswith("passes, ")
    assert report["search_cost"]["evaluations"] == 2
    assert (out / "candidates" / "mixed" / "report.json").is_file()
    assert (out / report["artifacts"]["final"]).is_file()


def test_precision_best_all_failing_exits_1(planted: Path, nearest: str, tmp_path: Path) -> None:
    code = run_cli(["run", str(planted), "--profile", nearest, "--precision", "best", "--out", str(tmp_path / "x"), "-q",
                   "--gate", "max_p50_ms=0.000001"])
    assert code == 1
    report = json.loads((tmp_path / "x" / "report.json").read_text())
    assert report["chosen"] is None and report["verdict"] == "no candidate passes the gates"
    assert {c["status"] for c in report["candidates"]} <= {"failed", "rejected"}


def test_failing_candidates_stop_early_on_the_agreement_gate(planted: Path, nearest: str, tmp_path: Path) -> None:
    from compile.drivers.pipeline import Pipeline

    settings = RunSettings(model=str(planted), profile=nearest, precision="mixed", out=tmp_path / "early",
                           gates={"min_top1_agreement": 0.9, "min_cosine_similarity": 0.0}, progress=False)
    steps = Pipeline(settings, log=lambda line: None).run().report["mixed_precision"]["search"]["steps"]
    first = steps[0]
    assert not first["passed"] and first["stopped_after"] == 16  # 15 of the first 16 disagree: 0.9 is out of reach
    assert first["metrics"]["top1_agreement_at_most"] < 0.9
    assert steps[-1]["passed"] and "stopped_after" not in steps[-1]


def test_gptq_rounding_repairs_most_of_the_planted_damage(planted: Path, nearest: str, tmp_path: Path) -> None:
    """The planted layer's ordinary weights round to 0 or 1 step; GPTQ moves them to cancel that error."""
    from compile.drivers.pipeline import Pipeline

    cosine = {}
    for label, profile in (("nearest", nearest), ("gptq", "cpu")):
        settings = RunSettings(model=str(planted), profile=profile, precision="int8", out=tmp_path / label,
                               gates={"min_cosine_similarity": 0.0, "min_top1_agreement": 0.0}, progress=False)
        result = Pipeline(settings, log=lambda line: None).run()
        cosine[label] = result.report["metrics"]["cosine_similarity"]
        rounding = result.report["quantization"]["weight_rounding"]
        assert rounding["method"] == label
    assert rounding["layers"] == 5 and rounding["layer_output_error_reduction"] > 1.0
    assert cosine["nearest"] < 0.95 and cosine["gptq"] > 0.985, cosine  # measured 0.923 and 0.991


def test_quantize_int8_exclude_nodes_really_stay_float(planted: Path, nearest: str, tmp_path: Path) -> None:
    """A user's own exclude_nodes: the layer takes its folded ReLU along and reads its input through a per-axis
    DequantizeLinear, so ONNX Runtime does not re-quantize its float weights per tensor."""
    from compile.drivers.pipeline import Pipeline
    from compile.onnx_io import load_onnx

    text = Path(nearest).read_text().replace('name = "quantize-int8"', 'name = "quantize-int8"\nexclude_nodes = ["conv_b"]', 1)
    profile = tmp_path / "cpu-exclude.toml"
    profile.write_text(text)
    cosine = {}
    for label, chosen in (("all", nearest), ("exclude", str(profile))):
        settings = RunSettings(model=str(planted), profile=chosen, precision="int8", out=tmp_path / label,
                               gates={"min_cosine_similarity": 0.0, "min_top1_agreement": 0.0}, progress=False)
        result = Pipeline(settings, log=lambda line: None).run()
        cosine[label] = result.report["metrics"]["cosine_similarity"]
    record = json.loads(next((tmp_path / "exclude" / ".stages").glob("*-quantize-int8.json")).read_text())["record"]
    assert record["exclude_nodes"] == ["conv_b", "conv_b_relu"] and record["float_inputs_guarded"] == ["conv_b"]
    model = load_onnx(tmp_path / "exclude" / "model.int8.onnx")
    conv_b = next(n for n in model.graph.node if n.name == FRAGILE)
    assert conv_b.input[1] == f"{FRAGILE}.weight" and conv_b.input[0].endswith("_float_input")
    # The fragile layer in float: the same cosine the mixed search reaches with it (0.991), not the all-INT8 0.92.
    assert cosine["all"] < 0.95 and cosine["exclude"] > 0.985, cosine
