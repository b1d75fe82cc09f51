"""The fakes themselves: each version's module has exactly the members its bindings define (checked against
the tensorrt-stubs of 10.13 where they are installed), calls are recorded, the parser reports errors the
way TensorRT's does, and the runtime refuses a plan built elsewhere."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import make_tiny_classifier
from tests.trt.fakes import A100, JETSON_ORIN_NANO, TRT_10_3, TRT_10_9, TRT_10_13, TRT_11_1, tables
from tests.trt.fakes.fake_cuda import FakeCuda
from tests.trt.fakes.fake_tensorrt import FakeDevice, make_module
from tests.trt.fakes.models import custom_op_model

STUBS = Path(__file__).resolve().parents[2] / ".lint" / "stubs" / "tensorrt_bindings" / "tensorrt.pyi"
ALL = (TRT_10_3, TRT_10_9, TRT_10_13, TRT_11_1)


def exists(obj: Any, name: str) -> bool:
    """Whether the real module would have ``name`` (a member the fake has not implemented still exists)."""
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    except NotImplementedError:
        return True
    return True


@pytest.mark.parametrize(("owner", "member", "present"), [
    # pyCore.cpp: absent at v10.3.0, bound from v10.9.0.
    ("HardwareCompatibilityLevel", "SAME_COMPUTE_CAPABILITY", (False, True, True, True)),
    # Weak-typing flags and the calibrator: removed in 11 (main = 11.1).
    ("BuilderFlag", "FP16", (True, True, True, False)),
    ("BuilderFlag", "INT8", (True, True, True, False)),
    ("NetworkDefinitionCreationFlag", "EXPLICIT_BATCH", (True, True, True, False)),
    ("BuilderFlag", "SPARSE_WEIGHTS", (True, True, True, True)),
    ("BuilderFlag", "GPU_FALLBACK", (True, True, True, True)),
    ("BuilderFlag", "VERSION_COMPATIBLE", (True, True, True, True)),
    ("DataType", "FP4", (False, True, True, True)),
])
def test_enum_members_follow_each_versions_bindings(owner: str, member: str, present: tuple[bool, ...]) -> None:
    for version, expected in zip(ALL, present, strict=True):
        trt = make_module(version)
        assert exists(getattr(trt, owner), member) is expected, (version, owner, member)
    with pytest.raises(AttributeError, match="SAME_COMPUTE_CAPABILITY"):
        make_module(TRT_10_3).HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY  # noqa: B018


def test_enum_values_are_the_headers() -> None:
    # STRONGLY_TYPED is bit 1 in TensorRT 10 and bit 0 (deprecated, always on) in 11: NvInfer.h.
    assert [int(make_module(v).NetworkDefinitionCreationFlag.STRONGLY_TYPED) for v in ALL] == [1, 1, 1, 0]
    trt = make_module(TRT_10_3)
    assert int(trt.ILogger.Severity.VERBOSE) == 4 and trt.Logger.WARNING is trt.ILogger.Severity.WARNING
    assert trt.float16 == trt.DataType.HALF and trt.DataType.HALF.name == "HALF"
    assert trt.HardwareCompatibilityLevel.NONE != trt.DeviceType.GPU  # both 0, different enums


@pytest.mark.parametrize(("owner", "member", "present"), [
    ("IBuilderConfig", "int8_calibrator", (True, True, True, False)),
    ("IBuilderConfig", "tiling_optimization_level", (False, True, True, True)),
    ("Builder", "platform_has_fast_fp16", (True, True, True, False)),
    ("Builder", "build_serialized_network", (True, True, True, True)),
    ("ICudaEngine", "device_memory_size", (True, True, True, False)),
    ("IExecutionContext", "set_output_allocator", (True, True, True, True)),
])
def test_class_members_follow_each_versions_bindings(owner: str, member: str, present: tuple[bool, ...]) -> None:
    for version, expected in zip(ALL, present, strict=True):
        assert (member in tables.CLASSES[version][owner].split()) is expected, (version, owner, member)
        trt = make_module(version)
        builder = trt.Builder(trt.Logger())
        instance = {"Builder": builder, "IBuilderConfig": builder.create_builder_config()}.get(owner)
        if instance is not None:
            assert exists(instance, member) is expected, (version, owner, member)


def test_missing_members_raise_attribute_errors_and_calls_are_recorded(tmp_path: Path) -> None:
    trt = make_module(TRT_11_1, A100, FakeCuda())
    config = trt.Builder(trt.Logger()).create_builder_config()
    with pytest.raises(AttributeError, match="'tensorrt.tensorrt.IBuilderConfig' object has no attribute 'int8_calibrator'"):
        config.int8_calibrator = None
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        config.no_such_thing = 1
    config.builder_optimization_level = 5
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 20)
    state = trt._fake
    assert state.called("IBuilderConfig.builder_optimization_level=") == [(5,)]
    assert state.called("IBuilderConfig.set_memory_pool_limit") == [(trt.MemoryPoolType.WORKSPACE, 1 << 20)]
    assert config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE) == 1 << 20


def test_parser_reports_errors_through_num_errors_and_get_error(tmp_path: Path) -> None:
    trt = make_module(TRT_10_13)
    logger = trt.Logger(trt.Logger.ERROR)
    network = trt.Builder(logger).create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    assert parser.parse_from_file(str(custom_op_model(tmp_path / "custom.onnx"))) is False
    assert parser.num_errors == 1
    error = parser.get_error(0)
    assert (error.code(), error.node(), error.node_name()) == (trt.ErrorCode.UNSUPPORTED_NODE, 1, "mystery")
    assert "No importer registered for op: Mystery" in error.desc()
    good = trt.OnnxParser(trt.Builder(logger).create_network(0), logger)
    assert good.parse_from_file(str(make_tiny_classifier(tmp_path / "tiny.onnx"))) and good.num_errors == 0


def test_subclasses_must_call_the_base_init_as_with_pybind11() -> None:
    trt = make_module(TRT_10_3)

    class Forgetful(trt.ILogger):
        def __init__(self) -> None:
            pass

        def log(self, severity: Any, msg: str) -> None:
            pass

    with pytest.raises(TypeError, match="__init__"):
        trt.Builder(Forgetful())


def _plan(version: str, device: FakeDevice, tmp_path: Path) -> bytes:
    trt = make_module(version, device)
    logger = trt.Logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    trt.OnnxParser(network, logger).parse_from_file(str(make_tiny_classifier(tmp_path / "tiny.onnx")))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("input", trt.Dims([1, 3, 16, 16]), trt.Dims([1, 3, 16, 16]), trt.Dims([2, 3, 16, 16]))
    config.add_optimization_profile(profile)
    return bytes(builder.build_serialized_network(network, config))


def test_runtime_refuses_a_plan_from_another_version_or_device(tmp_path: Path) -> None:
    plan = _plan(TRT_10_3, A100, tmp_path)
    same = make_module(TRT_10_3, A100)
    assert same.Runtime(same.Logger()).deserialize_cuda_engine(plan) is not None
    newer = make_module(TRT_10_13, A100)
    assert newer.Runtime(newer.Logger()).deserialize_cuda_engine(plan) is None
    assert "not compatible with this version of TensorRT" in newer._fake.logs[-1][1]
    orin = make_module(TRT_10_3, JETSON_ORIN_NANO)
    assert orin.Runtime(orin.Logger()).deserialize_cuda_engine(plan) is None
    assert "platform" in orin._fake.logs[-1][1]
    assert same.Runtime(same.Logger()).deserialize_cuda_engine(b"garbage") is None


def test_builder_needs_an_optimization_profile_for_dynamic_inputs(tmp_path: Path) -> None:
    trt = make_module(TRT_10_3)
    logger = trt.Logger(trt.Logger.INTERNAL_ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    trt.OnnxParser(network, logger).parse_from_file(str(make_tiny_classifier(tmp_path / "tiny.onnx")))
    assert builder.build_serialized_network(network, builder.create_builder_config()) is None
    assert "no optimization profile" in trt._fake.logs[-1][1]


def _stub_members() -> dict[str, set[str]]:
    tree = ast.parse(STUBS.read_text())
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.ClassDef):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    names.update(t.id for t in item.targets if isinstance(t, ast.Name))
            found[node.name] = {n for n in names if not n.startswith("_")}
    return found


@pytest.mark.skipif(not STUBS.is_file(), reason="tensorrt-stubs not installed here (make trt-stubs)")
def test_the_10_13_tables_agree_with_the_tensorrt_stubs() -> None:
    """The stubs are generated from the real 10.13 module: an independent check of the tables' reading."""
    stub = _stub_members()
    # Write-only properties (no getter to introspect) and members only a Python subclass defines.
    not_in_stub = {"Builder": {"gpu_allocator"}, "Runtime": {"gpu_allocator"}, "IExecutionContext": {"device_memory"},
                   "INetworkDefinition": {"serialize"},
                   "IOutputAllocator": {"reallocate_output", "reallocate_output_async", "notify_shape"}}
    # Members the stubs add: ILogger.Severity's values exported into the logger classes, Dims.MAX_DIMS.
    severity = {"Severity", "INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"}
    only_in_stub = {"ILogger": severity, "Logger": severity, "Dims": {"MAX_DIMS"}}
    for owner, text in tables.CLASSES[TRT_10_13].items():
        mine = set(text.split())
        assert mine - stub[owner] == not_in_stub.get(owner, set()), owner
        assert stub[owner] - mine == only_in_stub.get(owner, set()), owner
    for owner, text in tables.ENUMS[TRT_10_13].items():
        if owner != "Severity":  # nested in ILogger
            values = {name for name in stub[owner] if name.isupper() or name[0].isdigit()}  # not name/value/itemsize
            assert {item.split("=")[0] for item in text.split()} == values, owner
