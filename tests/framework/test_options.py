"""Option resolution in one place (compile/drivers/options.py): every built-in pass takes what it reads as options,
so its stage key covers it; passes read nothing of the profile while they run."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from compile.drivers.options import RESOLVERS, resolve_options
from compile.drivers.pipeline import stage_key
from compile.passes.registry import BUILTIN_PASSES, get_pass_class
from compile.profiles import load_profile, parse_profile, profiles_dir
from compile.settings import RunSettings

PASSES = Path(__file__).resolve().parents[2] / "compile" / "passes"


def test_every_pass_takes_the_resolved_options() -> None:
    """Each built-in pass, for every shipped profile, accepts what the resolver gives it; none resolves its own."""
    for name in ("cpu", "a100", "jetson-agx-orin", "openvino-cpu"):
        profile = load_profile(name)
        settings = RunSettings(model="m", profile=name, precision="int8", sparsity="2:4", calib_size=5, bench_budget=2.0)
        for entry in profile.passes:
            cls = get_pass_class(entry.name)
            assert not hasattr(cls, "resolve_options"), entry.name
            options = cls(**resolve_options(entry.name, entry.options, profile, settings)).options
            if "size" in type(options).model_fields and entry.name in ("quantize-int8", "cast-fp16"):
                assert options.size == 5  # --calib-size beats the profile and the entry
    assert set(RESOLVERS) <= set(BUILTIN_PASSES)


def test_no_pass_reads_the_profile_while_it_runs() -> None:
    readers = set()
    for path in PASSES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "profile" and isinstance(node.value, ast.Name) and node.value.id == "ctx":
                readers.add(path.name)
    assert readers == set(), sorted(readers)


def test_what_depended_on_the_backend_is_an_option() -> None:
    cpu, a100 = load_profile("cpu"), load_profile("a100")
    settings = RunSettings(model="m", precision="int8", sparsity="2:4")
    for name in ("quantize-int8", "mixed-precision"):
        assert resolve_options(name, {}, cpu, settings)["guard_float_layers"] is True
        assert resolve_options(name, {}, a100, settings)["guard_float_layers"] is False
    assert resolve_options("sparsify-onnx", {}, cpu, settings)["sparse_kernels"] is False
    assert resolve_options("sparsify-onnx", {}, a100, settings)["sparse_kernels"] is True


@pytest.mark.parametrize("name", ["export", "simplify"])
def test_a_profile_input_shape_changes_the_stage_key_through_the_options(name: str) -> None:
    data = tomllib.loads((profiles_dir() / "cpu.toml").read_text())
    plain = parse_profile(data, "cpu.toml")
    data["shapes"]["inputs"] = {"ids": {"min": [1, 1], "opt": [1, 24], "max": [8, 64]}}
    shaped = parse_profile(data, "shaped.toml")
    settings = RunSettings(model="m")
    cls = get_pass_class(name)
    keys = [stage_key(cls(**resolve_options(name, {}, p, settings)), {"onnx": "a" * 64}, {}) for p in (plain, shaped)]
    assert keys[0] != keys[1]
    assert cls(**resolve_options(name, {}, shaped, settings)).options.input_shapes["ids"].opt == [1, 24]  # type: ignore[attr-defined]
