"""The shared, content-addressed stage cache: reuse across run directories, atomic entries, races."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from compile.drivers.pipeline import Pipeline
from compile.settings import RunSettings
from compile.stage_cache import RECORD_FILE, SharedStageCache


def _run(model: Path, out: Path, cache: Path | None, **kwargs: object) -> dict:
    settings = RunSettings(model=str(model), profile="cpu", out=out, cache_dir=cache, progress=False, **kwargs)  # type: ignore[arg-type]
    return Pipeline(settings, log=lambda line: None).run().report


def _stages(report: dict) -> dict[str, dict]:
    return {s["name"]: s for s in report["stages"]}


def test_second_run_dir_takes_artifact_stages_from_the_shared_cache(tiny_onnx: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _stages(_run(tiny_onnx, tmp_path / "a", cache))
    assert not any(s["cached"] for s in first.values())
    # simplify and build-ort produce artifacts and are stored; export is skipped (the model is ONNX).
    stored = {SharedStageCache(cache).read_record(k)["stage"] for k in SharedStageCache(cache).keys()}
    assert stored == {"simplify", "build-ort"}

    report = _run(tiny_onnx, tmp_path / "b", cache)
    second = _stages(report)
    assert second["simplify"]["cached"] and second["simplify"].get("shared")
    assert second["build-ort"]["cached"] and second["build-ort"].get("shared")
    # Measuring stages are never shared: each run measures for itself.
    assert not second["validate"]["cached"] and not second["benchmark"]["cached"]
    assert report["passed"]
    b = tmp_path / "b"
    assert (b / report["artifacts"]["final"]).is_file() and (b / "model.ort.onnx.compile.json").is_file()
    assert report["artifact_sha256"]["final"] == _run(tiny_onnx, tmp_path / "a", None)["artifact_sha256"]["final"]
    # The restored stage is recorded in b's own records, so b's next run reuses it without the cache.
    again = _stages(_run(tiny_onnx, b, None))
    assert again["simplify"]["cached"] and not again["simplify"].get("shared")


def test_without_cache_dir_nothing_is_shared(tiny_onnx: Path, tmp_path: Path) -> None:
    _run(tiny_onnx, tmp_path / "a", None)
    second = _stages(_run(tiny_onnx, tmp_path / "b", None))
    assert not second["simplify"]["cached"]


def test_force_ignores_the_shared_cache(tiny_onnx: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _run(tiny_onnx, tmp_path / "a", cache)
    forced = _stages(_run(tiny_onnx, tmp_path / "b", cache, force=True))
    assert not forced["simplify"]["cached"]


def test_corrupt_entry_is_discarded_and_the_stage_runs(tiny_onnx: Path, tmp_path: Path) -> None:
    from compile.hashing import hash_file

    cache_dir = tmp_path / "cache"
    _run(tiny_onnx, tmp_path / "a", cache_dir)
    cache = SharedStageCache(cache_dir)
    key = next(k for k in cache.keys() if cache.read_record(k)["stage"] == "simplify")
    stored = cache.entry(key) / cache.read_record(key)["output"]["path"]
    stored.unlink()  # break the hard link first: never write through it into run dir a
    stored.write_bytes(b"not the model")
    second = _stages(_run(tiny_onnx, tmp_path / "b", cache_dir))
    assert not second["simplify"]["cached"]
    assert second["build-ort"]["cached"]  # simplify's output is identical, so build-ort's key still hits
    # the broken entry was replaced by the fresh, intact one
    assert hash_file(cache.entry(key) / "model.simplified.onnx") == cache.read_record(key)["output_hash"]
    # a's files were never touched
    assert _stages(_run(tiny_onnx, tmp_path / "a", None))["simplify"]["cached"]


def test_concurrent_stores_of_one_key_leave_one_whole_entry(tmp_path: Path) -> None:
    from compile.hashing import hash_file

    cache = SharedStageCache(tmp_path / "cache")
    runs = []
    for i in range(6):
        run_dir = tmp_path / f"run{i}"
        run_dir.mkdir()
        (run_dir / "model.onnx").write_bytes(b"x" * 200_000)
        record = {"key": "k1", "output": {"kind": "onnx", "path": run_dir / "model.onnx", "precision": "fp32"},
                  "output_hash": hash_file(run_dir / "model.onnx"), "record": {}}
        runs.append((record, run_dir))
    results: list[bool] = []
    threads = [threading.Thread(target=lambda r=r, d=d: results.append(cache.store("k1", r, d, stage="export")))
               for r, d in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    assert cache.keys() == ["k1"]
    assert sorted(p.name for p in cache.root.iterdir()) == ["k1"]  # no temporary folders left
    entry = json.loads((cache.entry("k1") / RECORD_FILE).read_text())
    assert entry["output"]["path"] == "model.onnx" and entry["stage"] == "export"
    target = tmp_path / "target"
    target.mkdir()
    assert cache.restore("k1", target, target / "01-export.json")
    restored = json.loads((target / "01-export.json").read_text())
    assert Path(restored["output"]["path"]) == target / "model.onnx"
    assert (target / "model.onnx").read_bytes() == b"x" * 200_000


def test_output_outside_the_run_dir_is_not_stored(tmp_path: Path) -> None:
    cache = SharedStageCache(tmp_path / "cache")
    elsewhere = tmp_path / "model.onnx"
    elsewhere.write_bytes(b"m")
    (tmp_path / "run").mkdir()
    assert not cache.store("k", {"key": "k", "output": {"kind": "onnx", "path": elsewhere}}, tmp_path / "run")
    assert not cache.store("k", {"key": "k", "output": None}, tmp_path / "run")
    assert cache.keys() == []
