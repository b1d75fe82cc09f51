"""The mixed-precision search judges what validation judges, output kinds included: on an embedding output it is
held to the embedding's figures (cosine_mean), never to a top-1 gate that validation skips for that kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from compile.settings import RunSettings
from tests.mixed.mixed_models import make_planted_model


def test_the_search_on_an_embedding_is_held_to_the_embeddings_gates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compile.drivers.pipeline import Pipeline
    from compile.profiles import profiles_dir

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    model = make_planted_model(tmp_path / "planted.onnx")  # (N, 10) "logits": a classifier unless declared otherwise
    # Round-to-nearest weights, no bias correction: the planted layer breaks INT8 (all-INT8 cosine 0.93), so the search runs.
    text = (profiles_dir() / "cpu.toml").read_text().replace(
        "[calibration]\n", '[calibration]\nweight_rounding = "nearest"\nbias_correction = false\n', 1)
    profile = tmp_path / "cpu-nearest.toml"
    profile.write_text(text)
    settings = RunSettings(model=str(model), profile=str(profile), precision="mixed", out=tmp_path / "run", progress=False,
                           output_kinds={"logits": "embedding"},
                           gates={"min_top1_agreement": 0.999, "min_cosine_mean.logits": 0.985})
    result = Pipeline(settings, log=lambda line: None).run()
    section = result.report["mixed_precision"]
    gates = {g.name: g for g in result.gates}
    # Validation: the embedding gets no top-1 figure, so the profile's and the flag's top-1 gates are skipped ...
    assert gates["min_top1_agreement"].skipped and gates["max_top1_drop"].skipped
    assert result.report["accuracy"]["output_kinds"]["logits"] == {"kind": "embedding", "source": "--output-kind"}
    # ... and the search was held to exactly the gates validation checked, on the same figures.
    checked = {name for name, gate in gates.items() if not gate.skipped and name in {"min_cosine_similarity", "min_cosine_mean.logits"}}
    assert section["gates"] == {"min_cosine_similarity": 0.99, "min_cosine_mean.logits": 0.985} and set(section["gates"]) == checked
    steps = section["search"]["steps"]
    assert steps[0]["failed_gates"] and not steps[-1]["failed_gates"]  # all-INT8 fails (cosine 0.93), the search ends passing
    assert {name for step in steps for name in step["failed_gates"]} <= set(section["gates"])
    assert all("top1_agreement_at_most" not in step["metrics"] for step in steps)
    assert steps[-1]["metrics"]["cosine_mean.logits"] == pytest.approx(result.report["metrics"]["cosine_mean.logits"], abs=1e-4)
    assert result.passed and gates["min_cosine_mean.logits"].verdict == "pass"
