"""Property-based tests: whatever the profile data or the (valid) graph, only the project's own
error types come out of the profile loader and the graph passes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compile.errors import CompileError
from compile.profiles import parse_profile, profiles_dir

CPU = tomllib.loads((profiles_dir() / "cpu.toml").read_text())

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(section=st.sampled_from(sorted(k for k, v in CPU.items() if isinstance(v, dict))), key=st.text(min_size=1, max_size=12), value=values)
def test_profile_loader_raises_only_profile_errors(section: str, key: str, value: object) -> None:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in CPU.items()}
    data[section][key] = value
    try:
        parse_profile(data, "fuzz.toml")
    except CompileError:
        pass


@settings(max_examples=100, deadline=None)
@given(top=st.dictionaries(st.sampled_from(["name", "backend", "device", "passes", "gates", "hardware", "shapes"]), values, max_size=4))
def test_profile_loader_on_arbitrary_top_level(top: dict) -> None:
    data = dict(CPU)
    data.update(top)
    try:
        parse_profile(data, "fuzz.toml")
    except CompileError:
        pass


UNARY = ["Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Identity"]


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[list[str], int, list[int]]:
    ops = draw(st.lists(st.sampled_from(UNARY + ["Add", "Mul", "MatMul"]), min_size=1, max_size=6))
    width = draw(st.sampled_from([2, 4, 8]))
    return ops, width, [draw(st.integers(0, 1000))]


def _build(ops: list[str], width: int, seed: int, path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, current = [], [], "x"
    for i, op in enumerate(ops):
        out = f"t{i}"
        if op in UNARY:
            nodes.append(helper.make_node(op, [current], [out]))
        else:
            shape = (width, width) if op == "MatMul" else (width,)
            inits.append(numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), f"w{i}"))
            nodes.append(helper.make_node(op, [current, f"w{i}"], [out]))
        current = out
    nodes.append(helper.make_node("Identity", [current], ["y"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=random_graphs())
def test_simplify_and_build_on_random_graphs(graph: tuple[list[str], int, list[int]], tmp_path: Path) -> None:
    from compile.artifacts import OnnxModel
    from compile.passes.base import PassContext
    from compile.passes.build_ort import BuildOrtPass
    from compile.passes.simplify import SimplifyPass
    from compile.profiles import load_profile
    from compile.settings import RunSettings

    ops, width, (seed,) = graph
    folder = tmp_path / f"g{seed}-{width}-{'-'.join(ops)}"
    folder.mkdir(exist_ok=True)
    path = folder / "in.onnx"
    _build(ops, width, seed, path)
    ctx = PassContext(RunSettings(model=str(path)), load_profile("cpu"), folder, folder, {})
    try:
        simplified = SimplifyPass().run({"onnx": OnnxModel(path=path)}, ctx)
        assert simplified.record["nodes_after"] <= simplified.record["nodes_before"]
        built = BuildOrtPass().run({"onnx": simplified.output}, ctx)  # type: ignore[dict-item]
        assert built.output is not None
    except CompileError:
        pass
