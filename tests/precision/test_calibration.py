"""Calibration data and cache: streaming, bad folders, unreadable files, generated inputs, cache hits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from compile.calibration.ranges import calibrate
from compile.calibration.source import CalibrationSource, CalibrationStats
from compile.errors import UserInputError
from compile.onnx_io import read_model_info
from compile.passes.quantize_int8 import QuantizeInt8Pass
from tests.conftest import SAMPLE_IMAGES
from tests.precision.precision_models import feature_mlp, residual_cnn, run_precision_pass


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return residual_cnn(tmp_path / "residual.onnx")


def _image_folder(root: Path, good: int, broken: int = 0) -> Path:
    root.mkdir()
    for path in sorted(SAMPLE_IMAGES.glob("*.jpg"))[:good]:
        shutil.copy(path, root / path.name)
    for index in range(broken):
        (root / f"zz_broken_{index}.jpg").write_bytes(b"this is not a JPEG")
    return root


def test_batches_stream_lazily_in_batch_size_chunks(model: Path) -> None:
    source = CalibrationSource(read_model_info(model), None, size=20, batch_size=8)
    stats = CalibrationStats()
    stream = source.batches(stats)
    first = next(stream)
    assert first["input"].shape == (8, 3, 16, 16) and stats.used == 8  # nothing beyond the first batch was read
    rest = list(stream)
    assert [b["input"].shape[0] for b in rest] == [8, 4] and stats.used == 20


def test_cache_hit_on_second_calibration_and_new_key_for_new_method(model: Path, tmp_path: Path) -> None:
    source = CalibrationSource(read_model_info(model), None, size=8, batch_size=4)
    first = calibrate(model, source, "percentile", 99.99, tmp_path / "fallback", log=lambda line: None)
    second = calibrate(model, source, "percentile", 99.99, tmp_path / "fallback", log=lambda line: None)
    assert not first.cache_hit and second.cache_hit
    assert second.entry.ranges_path == first.entry.ranges_path and second.stats.used == 8
    assert first.ranges() == second.ranges()
    other = calibrate(model, source, "percentile", 99.9, tmp_path / "fallback", log=lambda line: None)
    assert not other.cache_hit and other.entry.key != first.entry.key


def test_changing_the_convention_reuses_the_calibration(model: Path, tmp_path: Path) -> None:
    records = []
    for convention in ("onnxruntime-cpu", "tensorrt"):
        run_dir = tmp_path / convention
        run_dir.mkdir()
        result = run_precision_pass(QuantizeInt8Pass(convention=convention, method="minmax", size=8), model, run_dir, "int8")
        records.append(result.record["calibration"])
    assert [r["cache"] for r in records] == ["miss", "hit"]
    assert records[1]["images_used"] == 8


def test_empty_folder_is_a_user_error(model: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserInputError, match="no images"):
        run_precision_pass(QuantizeInt8Pass(size=8), model, tmp_path, "int8", calib=empty)


def test_folder_without_a_readable_image_is_a_user_error(model: Path, tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "bad", good=0, broken=2)
    with pytest.raises(UserInputError, match="no readable image"):
        run_precision_pass(QuantizeInt8Pass(size=8), model, tmp_path, "int8", calib=folder)


def test_unreadable_files_are_skipped_and_counted(model: Path, tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "mixed", good=5, broken=1)
    result = run_precision_pass(QuantizeInt8Pass(size=16, batch_size=4), model, tmp_path, "int8", calib=folder)
    calib = result.record["calibration"]
    assert calib["images_used"] == 5 and calib["skipped"] == 1
    assert calib["skipped_files"][0].startswith("zz_broken_0.jpg")
    assert result.metrics["calibration_skipped"] == 1.0
    assert any("skipped" in warning for warning in result.warnings)


def test_cli_exit_code_2_for_empty_calibration_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    model = residual_cnn(tmp_path / "residual.onnx")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["quantize", str(model), "--calib", str(empty), "--out", str(tmp_path / "run"), "--quiet"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "no images" in err and "Traceback" not in err


def test_non_image_model_calibrates_on_generated_inputs(tmp_path: Path) -> None:
    model = feature_mlp(tmp_path / "mlp.onnx")
    result = run_precision_pass(QuantizeInt8Pass(size=12, batch_size=4), model, tmp_path, "int8")
    calib = result.record["calibration"]
    assert calib["images_used"] == 12 and "generated" in calib["data"]
    assert result.record["quantized_ops"].get("MatMul") == 2


def test_calib_folder_for_non_image_model_is_a_user_error(tmp_path: Path) -> None:
    model = feature_mlp(tmp_path / "mlp.onnx")
    folder = _image_folder(tmp_path / "imgs", good=2)
    with pytest.raises(UserInputError, match="--calib .* is read as an image folder, but feature_mlp takes x .*give an .npz file"):
        run_precision_pass(QuantizeInt8Pass(size=4), model, tmp_path, "int8", calib=folder)


def test_a_calibrator_failure_is_one_pass_error(tmp_path: Path) -> None:
    """ONNX Runtime's entropy calibrator cannot histogram a tensor spanning float32's range (a BERT attention
    mask filled with finfo.min): a one-line PassError naming the method, not a traceback."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from compile.errors import PassError
    from compile.models.spec import InputSpec, ModelInfo
    from compile.onnx_io import set_model_info

    nodes = [helper.make_node("Mul", ["x", "huge"], ["masked"], name="mask"),
             helper.make_node("Softmax", ["masked"], ["y"], axis=-1, name="softmax")]
    graph = helper.make_graph(nodes, "mask", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
                              initializer=[numpy_helper.from_array(np.float32(3.0e38).reshape(()), "huge")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    set_model_info(model, ModelInfo(name="mask", inputs=(InputSpec("x", ("batch", 8), "float32", -1.0, 1.0),), task="other"))
    path = tmp_path / "mask.onnx"
    onnx.save(model, str(path))
    source = CalibrationSource(read_model_info(path), None, size=4, batch_size=4)
    with pytest.raises(PassError, match="entropy calibrator failed at batch 0: .*another --calib-method") as err:
        calibrate(path, source, "entropy", 99.99, tmp_path / "fallback", log=lambda line: None)
    assert "\n" not in str(err.value)
