"""Data for any model: an .npz per input, a folder of .npz files, a loader; checked against the model's inputs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from compile.calibration.source import CalibrationSource, CalibrationStats
from compile.data.arrays import ArrayData, array_kind
from compile.data.eval_set import build_eval_set, data_identity
from compile.data.split import split_data
from compile.errors import UserInputError
from compile.mixed.overlap import data_overlap
from tests.precision.transformer_models import SEQUENCE, encoder_info, tiny_encoder, token_arrays


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "user-cache"))


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_file_feeds_validation_with_labels_and_metadata(tmp_path: Path) -> None:
    tokens = token_arrays(10)
    data = _npz(tmp_path / "val.npz", **tokens, labels=np.arange(10) % 3, source_id=np.arange(10) * 7)
    evaluation = build_eval_set(encoder_info(), data, samples=6)
    assert evaluation.size == 6 and evaluation.available == 10 and evaluation.source == "npz"
    np.testing.assert_array_equal(evaluation.feeds["input_ids"], tokens["input_ids"][:6])
    assert evaluation.labels == [0, 1, 2, 0, 1, 2]
    np.testing.assert_array_equal(evaluation.metadata["source_id"], np.arange(6) * 7)
    assert evaluation.description == f"6 of 10 samples from {data} with labels"
    # The identity follows the content and the count, not the path.
    copy = _npz(tmp_path / "copy.npz", **tokens, labels=np.arange(10) % 3, source_id=np.arange(10) * 7)
    assert data_identity(encoder_info(), data, 6, 0) == data_identity(encoder_info(), copy, 6, 0)
    assert data_identity(encoder_info(), data, 5, 0) != data_identity(encoder_info(), data, 6, 0)


def test_npz_folder_streams_one_file_at_a_time_across_file_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import compile.data.arrays as arrays_module

    folder = tmp_path / "parts"
    folder.mkdir()
    tokens = token_arrays(12)
    for name, (start, stop) in {"a.npz": (0, 5), "b.npz": (5, 7), "c.npz": (7, 12)}.items():
        _npz(folder / name, **{k: v[start:stop] for k, v in tokens.items()})
    assert array_kind(folder) == "npz-folder"
    opened: list[str] = []
    real = arrays_module.load_npz
    monkeypatch.setattr(arrays_module, "load_npz", lambda path: opened.append(path.name) or real(path))
    stats = CalibrationStats()
    stream = CalibrationSource(encoder_info(), folder, size=11, batch_size=4).batches(stats)
    first = next(stream)
    assert first["input_ids"].shape == (4, SEQUENCE) and opened == ["a.npz"] and stats.used == 4
    rest = list(stream)
    assert [b["input_ids"].shape[0] for b in rest] == [4, 3] and stats.used == 11 and opened == ["a.npz", "b.npz", "c.npz"]
    stacked = np.concatenate([first["input_ids"], *(b["input_ids"] for b in rest)])
    np.testing.assert_array_equal(stacked, tokens["input_ids"][:11])
    evaluation = build_eval_set(encoder_info(), folder, samples=None)
    assert evaluation.size == 12 and evaluation.description.startswith("12 of 12 samples from 3 .npz files in")


def test_loader_yields_feed_dicts_or_pairs_with_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "my_loaders.py"
    module.write_text(textwrap.dedent("""
        import numpy as np
        from tests.precision.transformer_models import token_arrays

        OFFSET = 0

        def batches():
            tokens = token_arrays(9, seed=3)
            for start in range(0, 9, 4):
                yield {name: array[start:start + 4] for name, array in tokens.items()}

        def pairs():
            tokens = token_arrays(6, seed=3)
            for start in range(0, 6, 3):
                yield {name: array[start:start + 3] for name, array in tokens.items()}, np.arange(start, start + 3) + OFFSET
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    info = encoder_info()
    assert array_kind("my_loaders:batches") == "loader"
    evaluation = build_eval_set(info, Path("my_loaders:batches"), samples=None)
    assert evaluation.size == 9 and evaluation.source == "loader" and evaluation.labels is None
    np.testing.assert_array_equal(evaluation.feeds["attention_mask"], token_arrays(9, seed=3)["attention_mask"])
    labeled = build_eval_set(info, Path("my_loaders:pairs"), samples=5)
    assert labeled.labels == [0, 1, 2, 3, 4]
    source = CalibrationSource(info, Path("my_loaders:batches"), size=6, batch_size=4)
    stats = CalibrationStats()
    assert [b["input_ids"].shape[0] for b in source.batches(stats)] == [4, 2] and stats.used == 6
    # A loader's identity is its content: other samples, other cache key.
    before = ArrayData(Path("my_loaders:pairs"), info.inputs).identity()
    import my_loaders  # type: ignore[import-not-found]

    monkeypatch.setattr(my_loaders, "OFFSET", 1)
    assert ArrayData(Path("my_loaders:pairs"), info.inputs).identity() != before


@pytest.mark.parametrize(("arrays", "expected"), [
    ({"input_ids": np.zeros((4, SEQUENCE), np.int64)}, "has no array for input 'attention_mask'"),
    ({"input_ids": np.zeros((4, SEQUENCE), np.float32), "attention_mask": np.ones((4, SEQUENCE), np.int64)},
     "input 'input_ids' expects int64 (N, sequence), got float32 (4, 16)"),
    ({"input_ids": np.zeros((4, 2, SEQUENCE), np.int64), "attention_mask": np.ones((4, SEQUENCE), np.int64)},
     "input 'input_ids' expects int64 (N, sequence), got int64 (4, 2, 16)"),
    ({"input_ids": np.zeros((4, SEQUENCE), np.int64), "attention_mask": np.ones((4, 8), np.int64)},
     "axis 'sequence' is 16 in input 'input_ids' but 8 in input 'attention_mask'"),
    ({"input_ids": np.zeros((4, SEQUENCE), np.int64), "attention_mask": np.ones((3, SEQUENCE), np.int64)},
     "input 'attention_mask' has 3 samples, input 'input_ids' has 4"),
    ({**token_arrays(4), "labels": np.arange(3)}, "array 'labels' has shape (3,), but the inputs have 4 samples"),
    ({**token_arrays(4), "labels": np.array([0, 1, -1, 2])}, "label -1 is negative"),
])
def test_mismatched_arrays_are_one_line_errors(tmp_path: Path, arrays: dict[str, np.ndarray], expected: str) -> None:
    data = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserInputError) as err:
        build_eval_set(encoder_info(), data, None)
    assert expected in str(err.value) and str(data) in str(err.value) and "\n" not in str(err.value)


def test_fixed_dimensions_and_narrowing_casts_are_checked(tmp_path: Path) -> None:
    from compile.models.spec import InputSpec, ModelInfo

    info = ModelInfo(name="m", inputs=(InputSpec("x", ("batch", 3, "width"), "float32"), InputSpec("ids", ("batch",), "int32")))
    ok = _npz(tmp_path / "ok.npz", x=np.zeros((2, 3, 5)), ids=np.array([1, 2], np.int64))
    evaluation = build_eval_set(info, ok, None)
    assert evaluation.feeds["x"].dtype == np.float32 and evaluation.feeds["ids"].dtype == np.int32
    with pytest.raises(UserInputError, match=r"input 'x' expects float32 \(N, 3, width\), got float64 \(2, 4, 5\) \(axis 1 is 4, not 3\)"):
        build_eval_set(info, _npz(tmp_path / "wide.npz", x=np.zeros((2, 4, 5)), ids=np.array([1, 2])), None)
    with pytest.raises(UserInputError, match="int64 values 1..4294967296 that do not fit"):
        build_eval_set(info, _npz(tmp_path / "big.npz", x=np.zeros((2, 3, 5)), ids=np.array([1, 2**32])), None)


def _validate(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from compile.cli.main import main

    try:
        main(["validate", *args, "-q"])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def test_cli_validates_on_an_npz_and_refuses_bad_ones_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_encoder(tmp_path / "encoder.onnx")
    good = _npz(tmp_path / "good.npz", **token_arrays(12))
    code, _ = _validate(["--reference", str(model), "--candidate", str(model), "--data", str(good), "--out", str(tmp_path / "v")],
                        capsys)
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    assert code == 0 and report["accuracy"]["samples"] == 12 and report["accuracy"]["data_source"] == "npz"
    cases = {
        "missing.npz": ({"input_ids": token_arrays(3)["input_ids"]}, "has no array for input 'attention_mask'"),
        "dtype.npz": ({**token_arrays(3), "input_ids": np.zeros((3, SEQUENCE), np.float32)},
                      "input 'input_ids' expects int64 (N, sequence), got float32 (3, 16)"),
        "shape.npz": ({**token_arrays(3), "attention_mask": np.ones((3, SEQUENCE, 1), np.int64)},
                      "input 'attention_mask' expects int64 (N, sequence), got int64 (3, 16, 1)"),
    }
    for name, (arrays, expected) in cases.items():
        code, err = _validate(["--reference", str(model), "--candidate", str(model), "--data", str(_npz(tmp_path / name, **arrays)),
                               "--out", str(tmp_path / name)], capsys)
        assert code == 2 and expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / name / "report.json").exists()
    code, err = _validate(["--reference", str(model), "--candidate", str(model), "--data", "no_such_module_x:batches",
                           "--out", str(tmp_path / "loader")], capsys)
    assert code == 2 and "data loader 'no_such_module_x:batches' not found" in err


def test_same_npz_for_calib_and_data_overlaps_and_split_keeps_them_apart(tmp_path: Path) -> None:
    info = encoder_info()
    data = _npz(tmp_path / "all.npz", **token_arrays(20))
    warning = data_overlap(info, data, None, data, 8)
    assert warning is not None and "both are" in warning
    calib, evaluation = split_data(data, tmp_path / "split", 8)
    assert (calib.name, evaluation.name) == ("calib.npz", "eval.npz")
    assert build_eval_set(info, evaluation, None).size == 12
    assert data_overlap(info, evaluation, None, calib, 8) is None
    # Samples shared by content are counted even across files.
    shared = _npz(tmp_path / "shared.npz", **{k: v[5:10] for k, v in token_arrays(20).items()})
    assert "3 of 5 validation samples" in (data_overlap(info, shared, None, calib, 8) or "")
    with pytest.raises(UserInputError, match="cannot take the first 20 of 20 samples"):
        split_data(data, tmp_path / "x", 20)


def test_run_with_a_mismatched_calib_npz_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    model = tiny_encoder(tmp_path / "encoder.onnx")
    bad = _npz(tmp_path / "calib.npz", **{**token_arrays(4), "attention_mask": np.ones((4, SEQUENCE), np.float32)})
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(model), "-p", "cpu", "--precision", "int8", "--calib", str(bad), "--out", str(tmp_path / "r"), "-q"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"--calib {bad}: input 'attention_mask' expects int64 (N, sequence), got float32 (4, 16)" in err
