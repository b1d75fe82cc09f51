"""``compile compare`` compares accuracy like with like: runs validated on other inputs, sample counts or references
are flagged and ranked only within their group (one plot each), and ``--data`` re-validates them on one basis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import invoke, make_report, make_tiny_classifier


def _run(root: Path, name: str, accuracy: dict, metrics: dict) -> Path:
    run = root / name
    run.mkdir()
    report = make_report(accuracy=accuracy, metrics={**metrics, "p50_ms": 5.0}, precision="int8").to_dict()
    (run / "report.json").write_text(json.dumps(report))
    return run


def test_runs_on_other_data_are_flagged_and_ranked_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """EfficientNet-Lite0 as the issue saw it: two runs on the 64 embedded images, one on 500 other images."""
    embedded = {"data": "64 of 64 images from the embedded ImageNet sample with labels", "samples": 64, "data_sha256": "a" * 64,
                "reference": "PyTorch FP32 (efficientnet_lite0)", "reference_sha256": "r" * 64}
    other = {**embedded, "data": "500 of 500 images from imagenet-sample-500 with labels", "samples": 500, "data_sha256": "b" * 64}
    runs = [_run(tmp_path, "lite0-fp32", embedded, {"candidate_top1": 0.9375}),
            _run(tmp_path, "lite0-int8", embedded, {"candidate_top1": 0.921875}),
            _run(tmp_path, "lite0-int8-500", other, {"candidate_top1": 0.88})]
    code, out, err = invoke(["compare", *map(str, runs), "--out", str(tmp_path / "cmp")], capsys)
    assert code == 0, err
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in out.splitlines() if line.startswith("| lite0")}
    assert [rows[name][3] for name in ("lite0-fp32", "lite0-int8", "lite0-int8-500")] == ["A", "A", "B"]
    assert [rows[name][5] for name in ("lite0-fp32", "lite0-int8", "lite0-int8-500")] == ["1 in A", "2 in A", "1 in B"]
    assert "**Warning: these runs were validated on different inputs, sample counts: accuracy is comparable" in out
    assert "- A: 64 of 64 images from the embedded ImageNet sample with labels (inputs sha256 aaaaaaaaaaaa), labeled accuracy" in out
    assert "- B: 500 of 500 images from imagenet-sample-500 with labels (inputs sha256 bbbbbbbbbbbb)" in out
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert html.count("<svg") == 2 and "group A" in html and "group B" in html
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [(v["basis_group"], v["accuracy_rank"]) for v in data] == [("A", 1), ("A", 2), ("B", 1)]


def test_agreement_is_compared_only_against_the_same_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = {"data": "64 generated inputs", "samples": 64, "data_sha256": "a" * 64, "reference": "PyTorch FP32 (m)"}
    runs = [_run(tmp_path, "r1", {**same, "reference_sha256": "1" * 64}, {"top1_agreement": 0.99}),
            _run(tmp_path, "r2", {**same, "reference_sha256": "2" * 64}, {"top1_agreement": 0.98}),
            _run(tmp_path, "r3", {**same, "reference_sha256": "1" * 64}, {"top1_agreement": 0.97})]
    code, out, _ = invoke(["compare", *map(str, runs)], capsys)
    assert code == 0 and "validated on different references" in out
    groups = [line.split(" | ")[3] for line in out.splitlines() if line.startswith("| r")]
    assert groups == ["A", "B", "A"]
    # Runs validated alike: no warning, one plot.
    code, out, _ = invoke(["compare", str(runs[0]), str(runs[2])], capsys)
    assert "Warning" not in out


def test_data_revalidates_every_run_on_one_basis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    model = make_tiny_classifier(tmp_path / "m.onnx")
    other = make_tiny_classifier(tmp_path / "other.onnx", seed=4)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(images / f"{i}.png")
    runs = []
    for name, candidate, samples in (("same", model, "8"), ("other", other, "4")):
        code, _, err = invoke(["validate", "--reference", str(model), "--candidate", str(candidate), "--samples", samples,
                               "--profile", "cpu", "--quiet", "--out", str(tmp_path / name)], capsys)
        assert code in (0, 1), err
        runs.append(tmp_path / name)
    code, out, _ = invoke(["compare", *map(str, runs)], capsys)
    assert "validated on different inputs, sample counts" in out
    code, out, err = invoke(["compare", *map(str, runs), "--data", str(images), "--out", str(tmp_path / "cmp")], capsys)
    assert code == 0, err
    assert "Warning" not in out and f"Accuracy re-validated on {images}: one basis for every run (6 of 6 images" in out
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [v["basis_group"] for v in data] == ["A", "A"] and all(v["revalidated_on"] == str(images) for v in data)
    assert data[0]["metrics"]["top1_agreement"] == 1.0 and data[0]["accuracy_rank"] == 1
    assert data[1]["metrics"]["samples"] == 6.0 and data[1]["accuracy_rank"] == 2
