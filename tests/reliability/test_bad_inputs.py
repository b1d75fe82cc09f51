"""The bad-input catalogue: each case exits 2 with one line naming the problem, and leaves nothing that
looks finished (no report.json, no final artifact)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _compile(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "compile", *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)


def _assert_clean_failure(result: subprocess.CompletedProcess[str], out: Path, message: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [result.stderr.strip().splitlines()[-1]]
    assert not (out / "report.json").exists()
    assert not (out / "model.ort.onnx").exists()


def _external_data_model(folder: Path, location: str) -> Path:
    import onnx
    from onnx import TensorProto, helper

    weight = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


def test_external_data_outside_the_model_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(4, np.float32).tobytes())
    folder = tmp_path / "models"
    folder.mkdir()
    model = _external_data_model(folder, "../secret.bin")
    out = tmp_path / "run"
    _assert_clean_failure(_compile("run", str(model), "--out", str(out)), out, "points its external data outside the model's folder")


def test_missing_external_data_file(tmp_path: Path) -> None:
    model = _external_data_model(tmp_path, "weights.bin")
    out = tmp_path / "run"
    _assert_clean_failure(_compile("run", str(model), "--out", str(out)), out, "needs external data file 'weights.bin', which is missing")


def test_unsupported_op(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("FancyGelu", ["x"], ["y"], name="act")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "run"
    _assert_clean_failure(_compile("run", str(path), "--out", str(out)), out, "unsupported op 'FancyGelu' (node 'act')")


def test_empty_file_and_random_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    for path in (empty, noise):
        out = tmp_path / f"run-{path.stem}"
        result = _compile("run", str(path), "--out", str(out))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert path.name in result.stderr
        # nothing left behind: a run folder holding only a lock and no stage trips `compile compare runs/*`
        assert not out.exists(), sorted(p.name for p in out.rglob("*"))


def test_a_failed_run_keeps_a_folder_it_did_not_create(tmp_path: Path) -> None:
    out = tmp_path / "existing"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(b"not an onnx file")
    result = _compile("run", str(noise), "--out", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (out / "notes.txt").read_text() == "the user's own file"


def test_checkpoint_with_pickled_code_is_not_executed(tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    checkpoint = tmp_path / "evil.pt"
    with checkpoint.open("wb") as handle:
        pickle.dump({"state_dict": Exploit()}, handle)
    out = tmp_path / "run"
    result = _compile("run", "resnet18", "--weights", str(checkpoint), "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert not marker.exists(), "the pickled payload ran"
    assert "weights_only=True" in result.stderr or "cannot read weights file" in result.stderr
    assert "Traceback" not in result.stderr


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    import torch

    checkpoint = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(3, 3)}, checkpoint)
    out = tmp_path / "run"
    _assert_clean_failure(_compile("run", "tiny_cnn", "--weights", str(checkpoint), "--out", str(out)), out,
                          "does not fit the model")


def test_mistyped_profile_key_and_contradictory_profile(tmp_path: Path) -> None:
    cpu = (REPO / "profiles" / "cpu.toml").read_text()
    typo = tmp_path / "typo.toml"
    typo.write_text(cpu.replace("[benchmark]\n", "[benchmark]\niteratoins = 5\n"))
    out = tmp_path / "run"
    _assert_clean_failure(_compile("run", "tiny_cnn", "--profile", str(typo), "--out", str(out)), out,
                          "benchmark.iteratoins: unknown key")
    contradictory = tmp_path / "contra.toml"
    contradictory.write_text(cpu.replace("[build]\n", "[build]\ndla_core = 0\n"))
    _assert_clean_failure(_compile("run", "tiny_cnn", "--profile", str(contradictory), "--out", str(out)), out,
                          "build.dla_core = 0 but hardware.dla_cores = 0")


def test_sparsity_on_t4_is_rejected() -> None:
    result = _compile("run", "tiny_cnn", "--profile", "t4", "--sparsity", "2:4")
    assert result.returncode == 2
    assert "does not allow --sparsity 2:4" in result.stderr and "no sparse tensor cores" in result.stderr


def test_validation_data_problems(tmp_path: Path, sample_images: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    _assert_clean_failure(_compile("run", "tiny_cnn", "--data", str(empty), "--out", str(out)), out, "holds no images")
    bad_labels = tmp_path / "labels"
    bad_labels.mkdir()
    (bad_labels / "labels.csv").write_text("file,label\nghost.jpg,3\n")
    _assert_clean_failure(_compile("run", "tiny_cnn", "--data", str(bad_labels), "--out", str(out)), out,
                          "names ghost.jpg, which does not exist")


def test_odd_images_are_converted_or_skipped_and_counted(tmp_path: Path, sample_images: Path) -> None:
    """Grayscale and CMYK images are converted to RGB; tiny images and non-images are skipped and counted."""
    from PIL import Image

    from compile.data.images import load_images, scan_image_folder
    from compile.models.spec import Preprocessing

    source = next(sample_images.glob("*.jpg"))
    Image.open(source).convert("L").save(tmp_path / "gray.jpg")
    Image.open(source).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.new("RGB", (4, 4)).save(tmp_path / "tiny.png")
    (tmp_path / "fake.jpg").write_text("not an image")
    folder = scan_image_folder(tmp_path)
    images, labels = load_images(folder, Preprocessing(resize=36, crop=32))
    assert images.shape == (2, 3, 32, 32)
    assert sorted(s.split(":")[0] for s in folder.skipped) == ["fake.jpg", "tiny.png"]


def test_full_disk_during_a_write_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from compile import fsutil

    target = tmp_path / "report.json"

    def full(self, data, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError, match="No space left"):
        fsutil.write_json_atomic(target, {"passed": True})
    monkeypatch.undo()
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_full_disk_in_a_stage_is_one_clear_error(tiny_onnx: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from compile.drivers.pipeline import Pipeline
    from compile.errors import OutputError
    from compile.settings import RunSettings

    real_replace = os.replace

    def replace(src, dst):  # type: ignore[no-untyped-def]
        if str(dst).endswith("model.ort.onnx"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "run"
    with pytest.raises(OutputError, match="No space left on device"):
        Pipeline(RunSettings(model=str(tiny_onnx), out=out), log=lambda _: None).run()
    monkeypatch.undo()
    assert not (out / "model.ort.onnx").exists() and not (out / "report.json").exists()
