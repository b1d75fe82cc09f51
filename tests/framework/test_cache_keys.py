"""Every cache key covers what can change its content, the producing code included: change any one part and
the key changes (so nothing stale is reused), and a run whose profile or code changed redoes its stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compile.settings import RunSettings


def _fast_profile(**changes: Any):  # type: ignore[no-untyped-def]
    import tomllib

    from compile.profiles import parse_profile, profiles_dir

    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    data["benchmark"] = {"warmup": 1, "iterations": 3, "repeats": 1}
    data["validation"] = {"samples": 8}
    data["build"] = {**data.get("build", {}), **changes}
    return parse_profile(data, "fast-cpu")


def test_each_part_of_the_stage_key_matters(monkeypatch: pytest.MonkeyPatch) -> None:
    import compile.drivers.pipeline as pipeline
    from compile.drivers.options import resolve_options
    from compile.passes.build_ort import BuildOrtPass
    from compile.passes.simplify import SimplifyPass

    build = BuildOrtPass(**resolve_options("build-ort", {}, _fast_profile(), RunSettings(model="m")))
    inputs, extra = {"onnx": "a" * 64}, {"data": "images:x:64"}
    base = pipeline.stage_key(build, inputs, extra)
    assert pipeline.stage_key(build, dict(inputs), dict(extra)) == base  # stable

    renamed = BuildOrtPass(**build.options.model_dump())
    monkeypatch.setattr(renamed, "name", "build-ort-2", raising=False)
    other_options = BuildOrtPass(**{**build.options.model_dump(), "optimization": "basic"})
    variants = {
        "pass name": pipeline.stage_key(renamed, inputs, extra),
        "options": pipeline.stage_key(other_options, inputs, extra),
        "input hashes": pipeline.stage_key(build, {"onnx": "b" * 64}, extra),
        "extra inputs": pipeline.stage_key(build, inputs, {"data": "images:y:64"}),
        "another pass": pipeline.stage_key(SimplifyPass(), inputs, extra),
    }
    monkeypatch.setattr(BuildOrtPass, "version", BuildOrtPass.version + "-next")
    variants["pass version"] = pipeline.stage_key(build, inputs, extra)
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "__version__", "999.0")
    variants["compile version"] = pipeline.stage_key(build, inputs, extra)
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "STAGE_RECORD_FORMAT", pipeline.STAGE_RECORD_FORMAT + 1)
    variants["record format"] = pipeline.stage_key(build, inputs, extra)
    monkeypatch.undo()
    assert pipeline.stage_key(build, inputs, extra) == base
    same = [part for part, key in variants.items() if key == base]
    assert not same, f"the stage key ignores: {same}"
    assert len(set(variants.values())) == len(variants)


def test_a_changed_option_or_tool_version_redoes_the_stage(tiny_onnx: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import compile.drivers.pipeline as pipeline

    def stages(profile: Any) -> dict[str, bool]:
        result = pipeline.Pipeline(RunSettings(model=str(tiny_onnx), out=tmp_path / "run", progress=False), profile=profile,
                                   log=lambda line: None, until="build").run()
        return {s["name"]: s["cached"] for s in result.report["stages"] if not s.get("skipped")}

    monkeypatch.setenv("COMPILE_CACHE_DIR", str(tmp_path / "cache"))
    # Levels below "all" add nothing to the build's other cache inputs: only its options tell them apart.
    assert stages(_fast_profile(graph_optimization_level="extended")) == {"simplify": False, "build-ort": False}
    assert stages(_fast_profile(graph_optimization_level="extended")) == {"simplify": True, "build-ort": True}
    # The profile changes the build's ONNX Runtime level: the build redoes, what comes before it does not.
    assert stages(_fast_profile(graph_optimization_level="basic")) == {"simplify": True, "build-ort": False}
    # Another version of the tool: nothing it cached is taken for its own.
    monkeypatch.setattr(pipeline, "__version__", "999.0")
    assert stages(_fast_profile(graph_optimization_level="basic")) == {"simplify": False, "build-ort": False}


def test_each_part_of_the_calibration_key_matters(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    import compile
    from compile.calibration import cache

    args: dict[str, Any] = {"model_hash": "m", "data_identity": {"kind": "images", "hash": "h", "size": 64},
                            "method": "minmax", "method_options": {"percentile": 99.999}}
    base = cache.cache_key(**args)
    variants = {
        "model": cache.cache_key(**{**args, "model_hash": "m2"}),
        "data": cache.cache_key(**{**args, "data_identity": {**args["data_identity"], "size": 32}}),
        "method": cache.cache_key(**{**args, "method": "entropy"}),
        "options": cache.cache_key(**{**args, "method_options": {"percentile": 99.9}}),
    }
    for part, target, attribute, value in (("format", cache, "FORMAT_VERSION", cache.FORMAT_VERSION + 1),
                                           ("compile version", compile, "__version__", "999.0"),
                                           ("onnxruntime", onnxruntime, "__version__", "0.1.0")):
        monkeypatch.setattr(target, attribute, value)
        variants[part] = cache.cache_key(**args)
        monkeypatch.undo()
    assert cache.cache_key(**args) == base
    assert not [part for part, key in variants.items() if key == base]


def test_shared_stage_cache_entries_of_another_layout_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compile import stage_cache
    from compile.hashing import hash_file

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.onnx").write_bytes(b"m")
    record = {"key": "k", "output": {"kind": "onnx", "path": str(run / "model.onnx")}, "output_hash": hash_file(run / "model.onnx")}
    assert stage_cache.SharedStageCache(tmp_path / "cache").store("k", record, run)
    target = tmp_path / "target"
    target.mkdir()
    monkeypatch.setattr(stage_cache, "ENTRY_FORMAT", stage_cache.ENTRY_FORMAT + 1)
    assert not stage_cache.SharedStageCache(tmp_path / "cache").restore("k", target, target / "01-export.json")
    monkeypatch.undo()
    assert stage_cache.SharedStageCache(tmp_path / "cache").restore("k", target, target / "01-export.json")


def test_versioned_keys_change_with_every_part_the_format_and_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key the reference-output, GPTQ-integer and bias-correction caches share (compile.hashing.versioned_key)."""
    import compile
    from compile.hashing import versioned_key

    base = versioned_key(2, model="m", samples=32)
    variants = {"part": versioned_key(2, model="m2", samples=32), "extra part": versioned_key(2, model="m", samples=32, x=1),
                "format": versioned_key(3, model="m", samples=32)}
    monkeypatch.setattr(compile, "__version__", "999.0")
    variants["compile version"] = versioned_key(2, model="m", samples=32)
    monkeypatch.undo()
    assert versioned_key(2, model="m", samples=32) == base
    assert not [part for part, key in variants.items() if key == base]
