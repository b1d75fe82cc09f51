"""The user's validation data is used whole unless ``--samples`` says otherwise; the embedded set stays small;
the report and the progress line say how many of how many inputs were used."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compile.settings import RunSettings

#: More than the profile's ``[validation] samples`` (8 below), so a silent cut would show.
IMAGES = 12


def _images(folder: Path, count: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"img{i:02d}.png")
    (folder / "labels.csv").write_text("file,label\n" + "".join(f"img{i:02d}.png,{i % 10}\n" for i in range(count)))
    return folder


def _profile():  # type: ignore[no-untyped-def]
    import tomllib

    from compile.profiles import parse_profile, profiles_dir

    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["validation"] = {"samples": 8}
    return parse_profile(data, "small-validation")


def _validate(model: Path, out: Path, **settings) -> tuple[dict, list[str]]:  # type: ignore[no-untyped-def,type-arg]
    from compile.drivers.pipeline import Pipeline

    lines: list[str] = []
    result = Pipeline(RunSettings(model=str(model), out=out, progress=False, **settings), profile=_profile(),
                      log=lines.append, until="validate").run()
    return result.report["accuracy"], lines


def test_all_of_the_users_data_unless_samples_says_otherwise(tiny_onnx: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    data = _images(tmp_path / "data", IMAGES)
    accuracy, lines = _validate(tiny_onnx, tmp_path / "all", data=data)
    assert (accuracy["samples"], accuracy["samples_available"]) == (IMAGES, IMAGES)
    assert accuracy["data"] == f"{IMAGES} of {IMAGES} images from {data} with labels"
    assert f"  validating on {IMAGES} of {IMAGES} images from {data} with labels" in lines

    accuracy, lines = _validate(tiny_onnx, tmp_path / "five", data=data, samples=5)
    assert (accuracy["samples"], accuracy["samples_available"]) == (5, IMAGES)
    assert f"  validating on 5 of {IMAGES} images from {data} with labels" in lines

    # Without --data: the profile's count of the embedded sample.
    accuracy, _ = _validate(tiny_onnx, tmp_path / "embedded")
    assert accuracy["samples"] == 8 and accuracy["samples_available"] > 8
    assert accuracy["data"].startswith(f"8 of {accuracy['samples_available']} images from the embedded ImageNet sample")


def test_the_mixed_search_validates_on_what_validate_uses(tmp_path: Path) -> None:
    from compile.drivers.options import resolve_options

    profile = _profile()
    for settings, expected in ((RunSettings(model="m", data=tmp_path), None), (RunSettings(model="m"), 8),
                               (RunSettings(model="m", data=tmp_path, samples=3), 3)):
        assert resolve_options("validate", {}, profile, settings)["samples"] == expected
        assert resolve_options("mixed-precision", {}, profile, settings)["samples"] == expected


def test_standalone_validate_and_the_cli_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from click.testing import CliRunner

    from compile.cli.main import main
    from compile.cli.run_cmd import run_command
    from tests.helpers import make_tiny_classifier

    data = _images(tmp_path / "data", IMAGES)
    model = make_tiny_classifier(tmp_path / "ref.onnx")
    main(["validate", "--reference", str(model), "--candidate", str(model), "--data", str(data), "--out", str(tmp_path / "v")])
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    assert report["accuracy"]["samples"] == IMAGES and report["accuracy"]["samples_available"] == IMAGES
    assert f"on {IMAGES} of {IMAGES} images" in capsys.readouterr().err

    main(["validate", "--reference", str(model), "--candidate", str(model), "--data", str(data), "--samples", "4",
          "--out", str(tmp_path / "v4"), "-q"])
    assert json.loads((tmp_path / "v4" / "report.json").read_text())["accuracy"]["samples"] == 4
    result = CliRunner().invoke(run_command, ["tiny_cnn", "--samples", "0"])
    assert result.exit_code == 2 and "--samples" in result.output
