"""User metrics (--metric): the detection example's mAP@0.5 hand-computed, a user metric gate end to end, and
one clear error (exit 2) for a metric that fails, returns non-numbers or a built-in name, or a gate typo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compile.errors import UserInputError
from compile.models.detection_example import average_precision, map50, mean_average_precision
from tests.helpers import invoke


def test_average_precision_hand_computed() -> None:
    """Two objects; detections by score: hit, false positive, hit -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1:
    AP = 1/2 * 1 + 1/2 * 2/3."""
    assert average_precision(np.array([True, False, True]), np.array([0.9, 0.8, 0.7]), 2) == pytest.approx(5 / 6)
    truth = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), np.array([0, 0]))]
    found = [(np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 31]], float), np.array([0, 0, 0]),
              np.array([0.9, 0.8, 0.7]))]
    assert mean_average_precision(truth, found) == pytest.approx(5 / 6)
    # A box of the wrong class, or one overlapping by less than 0.5 IoU, is a false positive.
    found = [(np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float), np.array([1, 0]), np.array([0.9, 0.8]))]
    assert mean_average_precision(truth, found) == pytest.approx(0.5)
    found = [(np.array([[5, 5, 15, 15], [20, 20, 30, 30]], float), np.array([0, 0]), np.array([0.9, 0.8]))]  # IoU 25/175
    assert mean_average_precision(truth, found) == pytest.approx(0.5 * 0.5)  # hit at rank 2: precision 1/2 over recall 1/2


def test_map50_of_detections_against_the_reference() -> None:
    # One image, 3 anchors (cx, cy, w, h, 2 class scores): two reference objects (scores >= 0.5).
    ref = np.array([[[10, 10, 8, 8, 0.9, 0.1], [40, 40, 8, 8, 0.2, 0.7], [20, 50, 4, 4, 0.1, 0.2]]], dtype=np.float32)
    assert map50({"detections": ref}, {"detections": ref.copy()}) == {"map50": 1.0, "objects": 2.0}
    cand = ref.copy()
    cand[0, 1, 4:] = [0.6, 0.3]  # the second object now looks like class 0: its class-1 object is missed
    assert map50({"detections": ref}, {"detections": cand})["map50"] == pytest.approx((1.0 + 0.0) / 2)


def make_tiny_detector(path: Path, seed: int = 0, size: int = 8) -> Path:
    """images[batch,3,size,size] -> Conv1x1 (7 channels) -> Sigmoid -> x [64]*4 + [1]*3 -> (batch, size*size, 7)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 3.0, (7, 3, 1, 1)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 1.0, (7,)).astype(np.float32), "b"),
             numpy_helper.from_array(np.array([0, 7, -1], dtype=np.int64), "shape"),
             numpy_helper.from_array(np.array([64, 64, 64, 64, 1, 1, 1], dtype=np.float32), "scale")]
    nodes = [helper.make_node("Conv", ["images", "w", "b"], ["c"], name="conv"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sigmoid"),
             helper.make_node("Reshape", ["s", "shape"], ["r"], name="reshape"),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1], name="transpose"),
             helper.make_node("Mul", ["t", "scale"], ["detections"], name="scale_boxes")]
    graph = helper.make_graph(nodes, "detector",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
                              [helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["batch", size * size, 7])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


MAP50 = "compile.models.detection_example:map50"


@pytest.fixture
def detectors(tmp_path: Path) -> dict[str, Path]:
    return {"ref": make_tiny_detector(tmp_path / "ref.onnx"), "other": make_tiny_detector(tmp_path / "other.onnx", seed=3)}


def _validate(detectors: dict[str, Path], candidate: str, tmp_path: Path, *extra: str) -> list[str]:
    return ["validate", "--reference", str(detectors["ref"]), "--candidate", str(detectors[candidate]), "--samples", "6",
            "--profile", "cpu", "--quiet", "--out", str(tmp_path / candidate), *extra]


def test_a_user_metric_gate_passes_and_fails(detectors: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kinds = ["--output-kind", "detections.boxes=[..., 0:4]", "--output-kind", "detections.scores=[..., 4:]"]
    code, out, err = invoke(_validate(detectors, "ref", tmp_path, "--metric", MAP50, "--gate", "min_map50=0.9", *kinds), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "ref" / "report.json").read_text())
    assert report["accuracy"]["user_metrics"][MAP50]["map50"] == 1.0 and report["metrics"]["map50"] == 1.0
    assert report["accuracy"]["user_metrics"][MAP50]["objects"] > 0
    gate = next(g for g in report["gates"] if g["name"] == "min_map50")
    assert gate["verdict"] == "pass" and gate["detail"] == {"judged_on": "point (no interval for this metric)"}
    assert report["accuracy"]["output_kinds"]["detections.scores"]["source"] == "--output-kind"

    junit = tmp_path / "gates.xml"
    code, out, err = invoke(_validate(detectors, "other", tmp_path, "--metric", MAP50, "--gate", "min_map50=0.9",
                                      "--junit", str(junit)), capsys)
    assert code == 1 and out.startswith("FAILED")
    other = json.loads((tmp_path / "other" / "report.json").read_text())
    assert other["metrics"]["map50"] < 0.9
    assert 'name="min_map50"' in junit.read_text() and "map50 = " in junit.read_text()


@pytest.mark.parametrize(("spec", "message"), [
    ("tests.validate.metric_fixtures:broken", "error: --metric tests.validate.metric_fixtures:broken failed: "
                                              "ZeroDivisionError: division by zero"),
    ("tests.validate.metric_fixtures:not_a_number", "returned quality = 'good', not a number"),
    ("tests.validate.metric_fixtures:builtin_name", "returned 'cosine_similarity', a built-in metric's name"),
    ("tests.validate.metric_fixtures:missing", "tests.validate.metric_fixtures has no attribute 'missing'"),
    ("no_such_package.metrics:f", "cannot import no_such_package.metrics"),
    ("map50", "give package.module:function, or the name of an entry point in the 'compile.metrics' group"),
])
def test_a_bad_user_metric_is_one_line_and_exit_2(spec: str, message: str, detectors: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = invoke(_validate(detectors, "ref", tmp_path, "--metric", spec), capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_gate_names_are_checked_against_what_user_metrics_declare_or_return(detectors: dict[str, Path], tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from compile import api

    # map50 declares its names: a typo is refused before anything runs.
    with pytest.raises(UserInputError, match="unknown metric 'map5'.*did you mean min_map50"):
        api.parse_gates(["min_map5=0.5"], [MAP50])
    with pytest.raises(UserInputError, match="unknown metric 'map50'"):
        api.parse_gates(["min_map50=0.5"])  # without the metric, map50 is nobody's
    # A metric that declares nothing: its gates are checked once it has run.
    undeclared = "tests.validate.metric_fixtures:undeclared"
    assert api.parse_gates(["min_seen=1", "min_sen=1"], [undeclared]) == {"min_seen": 1.0, "min_sen": 1.0}
    code, _, err = invoke(_validate(detectors, "ref", tmp_path, "--metric", undeclared, "--gate", "min_sen=1"), capsys)
    assert code == 2 and "gate min_sen: no pass measures 'sen', and --metric returned only had_labels, seen " \
                         "(did you mean 'min_seen'?)" in err
    code, _, err = invoke(_validate(detectors, "ref", tmp_path, "--metric", undeclared, "--gate", "min_seen=6"), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "ref" / "report.json").read_text())
    assert report["accuracy"]["user_metrics"][undeclared] == {"seen": 6.0, "had_labels": 0.0}


def test_an_entry_point_names_a_user_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    from compile.validate import user_metrics

    monkeypatch.setattr(user_metrics, "entry_points", lambda group: [EntryPoint("map50", MAP50, group)] if group == "compile.metrics" else [])
    metric = user_metrics.load_user_metric("map50")
    assert metric.function is map50 and metric.declared == ("map50", "objects")
    with pytest.raises(UserInputError, match="installed: map50"):
        user_metrics.load_user_metric("map95")


def test_the_documented_detector_declares_its_slices_and_map50_reads_its_output() -> None:
    import torch

    from compile.validate.compare import compare_outputs

    built = __import__("compile.models.detection_example", fromlist=["tiny_detector"]).tiny_detector()
    images = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = {"detections": built["model"](images).numpy()}
    assert reference["detections"].shape == (4, 64, 7)
    noisy = {"detections": reference["detections"].copy()}
    noisy["detections"][..., 4:] = np.round(noisy["detections"][..., 4:] * 4) / 4  # scores on a coarse grid, as one INT8 scale does
    report, metrics = compare_outputs(reference, noisy, None, resamples=20, kinds=built["output_kinds"])
    assert report["output_kinds"]["detections.scores"]["kind"] == "scores" and metrics["max_abs_error.detections.boxes"] == 0.0
    assert metrics["top1_agreement.detections.scores"] < 1.0
    assert map50(reference, reference)["map50"] == 1.0
    assert 0.0 < map50(reference, noisy)["map50"] < 1.0
