"""Version-faithful fakes of the ``tensorrt`` module, generated from ``tables.py``.

:func:`make_module` builds a module for one TensorRT version: every enum of the table with exactly that
version's members and values, and the classes the tool touches, whose public members are those the
version's bindings define. A member another version has and this one lacks raises AttributeError, as the
real module does (``trt.HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY`` on 10.3,
``trt.BuilderFlag.FP16`` on 11.1); a member of this version the fake does not implement raises
NotImplementedError, so a gap in the fake is never mistaken for the real behaviour. Every public call and
property set is recorded in ``state.calls`` as ("Class.member", args).

What the fake checks, as the real builder and runtime would (each documented where TensorRT documents it):
the ONNX parser parses the file with ``onnx`` (errors through ``num_errors``/``get_error``; ops needing a
plugin need ``init_libnvinfer_plugins``); the builder needs a profile for dynamic inputs, refuses a
DLA build with dynamic shapes without GPU fallback (and moves every layer to the GPU with it), DLA without
DLA cores, ``AMPERE_PLUS`` below compute capability 8.0 and ``SAME_COMPUTE_CAPABILITY`` below 7.5; the
serialized engine carries its version, device and platform, which ``Runtime.deserialize_cuda_engine``
compares with its own (None plus a logged error on a mismatch, as the real one). The execution context
runs the ONNX graph with ONNX Runtime on the fake CUDA memory, reading shape tensors from host memory
and every other tensor from device memory, and writes data-dependent outputs only through an
``IOutputAllocator``.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import itertools
import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tests.trt.fakes import tables

PLAN_MAGIC = b"FAKETRTPLAN\x00"
CACHE_MAGIC = b"FAKETRTCACHE\x00"
#: ONNX ops the fake's parser imports through a plugin (TensorRT 10's ROIAlign_TRT, EfficientNMS_TRT).
PLUGIN_OPS = {"RoiAlign": "ROIAlign_TRT", "EfficientNMS_TRT": "EfficientNMS_TRT"}
#: ONNX input positions that are shape tensors (their values, not their data, set output shapes).
SHAPE_INPUTS = {"Reshape": (1,), "Expand": (1,), "ConstantOfShape": (0,), "Tile": (1,), "Slice": (1, 2, 3, 4),
                "Resize": (2, 3), "Range": (0, 1, 2), "TopK": (1,), "Pad": (1,), "Unsqueeze": (1,), "Squeeze": (1,)}
#: ONNX elem type -> TensorRT DataType member name.
ONNX_TYPES = {1: "FLOAT", 10: "HALF", 16: "BF16", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8"}
NUMPY_TYPES = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32, "INT64": np.int64,
               "BOOL": np.bool_, "UINT8": np.uint8}
#: ONNX ops DLA runs (a subset of "DLA Supported Layers and Restrictions"): others fall back to the GPU.
DLA_OPS = {"Conv", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Add", "Mul",
           "Sigmoid", "Tanh", "Clip", "Concat", "ConvTranspose", "QuantizeLinear", "DequantizeLinear", "Cast"}


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:3])


@dataclass(frozen=True)
class FakeDevice:
    """The machine the fake runs on: CUDA's name, compute capability, DLA cores, platform."""

    name: str = "NVIDIA A100-SXM4-80GB"
    compute_capability: str = "8.0"
    dla_cores: int = 0
    jetson_module: str | None = None
    machine: str = "x86_64"
    sparse_tensor_cores: bool = True

    @property
    def cc(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "compute_capability": self.compute_capability, "dla_cores": self.dla_cores,
                "jetson_module": self.jetson_module, "machine": self.machine,
                "sparse_tensor_cores": self.sparse_tensor_cores}


@dataclass
class State:
    """One fake module's world: its version and device, the fake CUDA it runs on, what was called."""

    version: str
    device: FakeDevice
    cuda: Any = None
    quirks: set[str] = field(default_factory=set)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    plugins_initialised: bool = False
    module: Any = None

    def record(self, what: str, args: tuple[Any, ...]) -> None:
        self.calls.append((what, args))

    def called(self, what: str) -> list[tuple[Any, ...]]:
        """The arguments of every recorded call (or property set, ``"Class.prop="``) named ``what``."""
        return [args for name, args in self.calls if name == what]

    @property
    def has_dla(self) -> bool:
        found = version_key(self.version)
        return found[:2] <= (10, 7) if found[0] == 10 else found >= (11, 4, 1)

    def enum(self, name: str) -> Any:
        return getattr(self.module, name)

    def log(self, logger: Any, severity: str, message: str) -> None:
        self.logs.append((severity, message))
        logger.log(getattr(self.module.ILogger.Severity, severity), message)


# -- enums ------------------------------------------------------------------------------------------------
class EnumMember:
    """A pybind11 enum value: ``name``, ``value``, ``int()``, equal only to the same member."""

    __slots__ = ("_enum", "_name", "_value")

    def __init__(self, enum: str, name: str, value: int) -> None:
        self._enum, self._name, self._value = enum, name, value

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> int:
        return self._value

    def __int__(self) -> int:
        return self._value

    def __index__(self) -> int:
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumMember) and (other._enum, other._value) == (self._enum, self._value)

    def __hash__(self) -> int:
        return hash((self._enum, self._value))

    def __repr__(self) -> str:
        return f"<{self._enum}.{self._name}: {self._value}>"


def parse_members(text: str) -> dict[str, int]:
    return {name: int(value) for name, value in (item.split("=") for item in text.split())}


def make_enum(name: str, members: dict[str, int]) -> type:
    cls = type(name, (), {"__module__": "tensorrt.tensorrt", "__members__": {}})
    for member, value in members.items():
        item = EnumMember(name, member, value)
        cls.__members__[member] = item  # type: ignore[attr-defined]
        setattr(cls, member, item)
    return cls


# -- API classes ------------------------------------------------------------------------------------------
@functools.cache
def _universe(api: str) -> frozenset[str]:
    """Every public member any tabled version defines on ``api``."""
    return frozenset(itertools.chain.from_iterable(v.get(api, "").split() for v in tables.CLASSES.values()))


class Api:
    """Base of the fake classes. A public member outside this version's table raises AttributeError (members
    a Python subclass defines itself excepted), a tabled member the fake lacks raises NotImplementedError,
    calls of tabled members and sets of tabled properties are recorded."""

    _fake_class: ClassVar[bool] = True
    _api: ClassVar[str] = ""
    _allowed: ClassVar[frozenset[str]] = frozenset()
    _state: ClassVar[State]

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_"):
            return object.__getattribute__(self, name)
        cls = type(self)
        if name not in cls._allowed and not _user_member(self, name):
            raise AttributeError(f"'tensorrt.tensorrt.{cls._api}' object has no attribute '{name}'")
        value = object.__getattribute__(self, name)
        if name in cls._allowed and callable(value) and not isinstance(value, type):
            state, label = cls._state, f"{cls._api}.{name}"

            def recorded(*args: Any, **kwargs: Any) -> Any:
                state.record(label, args + tuple(kwargs.values()))
                return value(*args, **kwargs)

            return recorded
        return value

    def __getattr__(self, name: str) -> Any:
        cls = type(self)
        if name in cls._allowed:
            raise NotImplementedError(f"the fake tensorrt {cls._state.version} does not implement {cls._api}.{name}")
        raise AttributeError(f"'tensorrt.tensorrt.{cls._api}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            cls = type(self)
            if name in cls._allowed:
                cls._state.record(f"{cls._api}.{name}=", (value,))
            elif name in _universe(cls._api) or not _user_class(cls):
                raise AttributeError(f"'tensorrt.tensorrt.{cls._api}' object has no attribute '{name}'")
        object.__setattr__(self, name, value)


def _user_class(cls: type) -> bool:
    """Whether ``cls`` is a Python subclass of a fake class (a logger, profiler or allocator of the tool)."""
    return "_fake_class" not in vars(cls)


def _user_member(obj: Any, name: str) -> bool:
    """Whether ``name`` is the tool's own: set on the instance, or defined by a Python subclass."""
    if name in object.__getattribute__(obj, "__dict__"):
        return True
    return any(name in vars(k) for k in type(obj).__mro__ if "_fake_class" not in vars(k) and k is not object)


class Overridable(Api):
    """A class Python code subclasses (ILogger, IProfiler, IOutputAllocator): pybind11 needs the base
    ``__init__`` called, or using the object fails."""

    def __init__(self) -> None:
        object.__setattr__(self, "_initialised", True)

    def _require_init(self) -> None:
        if not getattr(self, "_initialised", False):
            raise TypeError(f"{type(self).__name__}.__init__() must be called when overriding __init__")


class Dims(tuple):  # type: ignore[type-arg]
    """``trt.Dims``: a sequence of ints."""

    def __new__(cls, shape: Any = ()) -> Dims:
        return super().__new__(cls, (int(d) for d in shape))


class ILogger(Overridable):
    _api = "ILogger"

    def log(self, severity: Any, msg: str) -> None:
        raise NotImplementedError


class Logger(ILogger):
    """``trt.Logger``: writes messages at or above ``min_severity`` (to stderr here)."""

    _api = "Logger"

    def __init__(self, min_severity: Any = None) -> None:
        super().__init__()
        self.min_severity = min_severity if min_severity is not None else type(self)._state.enum("ILogger").Severity.WARNING

    def log(self, severity: Any, msg: str) -> None:
        if int(severity) <= int(self.min_severity):
            print(f"[TRT] [{severity.name[0]}] {msg}", file=sys.stderr)


class IProfiler(Overridable):
    _api = "IProfiler"

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        raise NotImplementedError


class IOutputAllocator(Overridable):
    _api = "IOutputAllocator"


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    is_shape_tensor: bool = False


class ITensor(Api):
    _api = "ITensor"

    def __init__(self, info: TensorInfo, is_input: bool) -> None:
        object.__setattr__(self, "_info", info)
        object.__setattr__(self, "_is_input", is_input)

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def shape(self) -> Dims:
        return Dims(self._info.shape)

    @property
    def dtype(self) -> Any:
        return getattr(self._state.enum("DataType"), self._info.dtype)

    @property
    def is_shape_tensor(self) -> bool:
        return self._info.is_shape_tensor

    @property
    def is_network_input(self) -> bool:
        return self._is_input


class INetworkDefinition(Api):
    _api = "INetworkDefinition"

    def __init__(self, flags: int) -> None:
        object.__setattr__(self, "_flags", flags)
        object.__setattr__(self, "_inputs", [])
        object.__setattr__(self, "_outputs", [])
        object.__setattr__(self, "_model", None)

    @property
    def flags(self) -> int:
        return self._flags

    def get_flag(self, flag: Any) -> bool:
        return bool(self._flags & (1 << int(flag)))

    def _strongly_typed(self) -> bool:
        flag = self._state.enum("NetworkDefinitionCreationFlag").STRONGLY_TYPED
        return bool(self._flags & (1 << int(flag))) or version_key(self._state.version)[0] >= 11

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    @property
    def num_layers(self) -> int:
        return len(self._model.graph.node) if self._model is not None else 0

    def get_input(self, index: int) -> ITensor:
        return self._state.module.ITensor(self._inputs[index], True)

    def get_output(self, index: int) -> ITensor:
        return self._state.module.ITensor(self._outputs[index], False)


class ParserError(Api):
    _api = "ParserError"

    def __init__(self, code: Any, desc: str, node: int = -1, node_name: str = "", node_operator: str = "") -> None:
        object.__setattr__(self, "_fields", (code, desc, node, node_name, node_operator))

    def code(self) -> Any:
        return self._fields[0]

    def desc(self) -> str:
        return self._fields[1]

    def node(self) -> int:
        return self._fields[2]

    def node_name(self) -> str:
        return self._fields[3]

    def node_operator(self) -> str:
        return self._fields[4]

    def file(self) -> str:
        return "ModelImporter.cpp"

    def line(self) -> int:
        return 0

    def func(self) -> str:
        return "parse"


class OnnxParser(Api):
    _api = "OnnxParser"

    def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
        logger._require_init()
        object.__setattr__(self, "_network", network)
        object.__setattr__(self, "_logger", logger)
        object.__setattr__(self, "_errors", [])

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> ParserError:
        return self._errors[index]

    def clear_errors(self) -> None:
        self._errors.clear()

    def _error(self, code: str, desc: str, node: int = -1, name: str = "", op: str = "") -> None:
        error = self._state.module.ParserError(getattr(self._state.enum("ErrorCode"), code), desc, node, name, op)
        self._errors.append(error)
        self._state.log(self._logger, "ERROR", f"ModelImporter: {desc}")

    def parse_from_file(self, model: str) -> bool:
        import onnx

        try:
            proto = onnx.load(model)
        except Exception as err:  # noqa: BLE001 - the real parser reports any unreadable file the same way
            self._error("MODEL_DESERIALIZE_FAILED", f"Failed to parse ONNX model from file: {model} ({type(err).__name__})")
            return "parse_true_with_errors" in self._state.quirks
        return self._parse(proto)

    def parse(self, model: bytes, path: str | None = None) -> bool:
        import onnx

        try:
            proto = onnx.load_from_string(bytes(model))
        except Exception:  # noqa: BLE001
            self._error("MODEL_DESERIALIZE_FAILED", "Failed to parse ONNX model from memory")
            return "parse_true_with_errors" in self._state.quirks
        return self._parse(proto)

    def _parse(self, proto: Any) -> bool:
        import onnx

        try:
            onnx.checker.check_model(proto)
        except onnx.checker.ValidationError as err:
            self._error("INVALID_GRAPH", f"invalid ONNX graph: {str(err).splitlines()[0]}")
        initializers = {init.name for init in proto.graph.initializer}
        shape_inputs: set[str] = set()
        for index, node in enumerate(proto.graph.node):
            if node.op_type in PLUGIN_OPS:
                if not self._state.plugins_initialised:
                    self._error("UNSUPPORTED_NODE", f"Plugin not found, are the plugin name, version, and namespace "
                                f"correct? ({PLUGIN_OPS[node.op_type]})", index, node.name, node.op_type)
            elif node.domain not in ("", "ai.onnx"):
                self._error("UNSUPPORTED_NODE", f"No importer registered for op: {node.op_type}", index, node.name,
                            node.op_type)
            for position in SHAPE_INPUTS.get(node.op_type, ()):
                if position < len(node.input):
                    shape_inputs.add(node.input[position])
        network = self._network
        for value in proto.graph.input:
            if value.name in initializers:
                continue
            info = _tensor_info(value, value.name in shape_inputs)
            if info is None:
                self._error("UNSUPPORTED_GRAPH", f"input '{value.name}' has a data type TensorRT does not take")
                continue
            network._inputs.append(info)
        for value in proto.graph.output:
            info = _tensor_info(value, False)
            if info is not None:
                network._outputs.append(info)
        object.__setattr__(network, "_model", proto)
        if self._errors:
            return "parse_true_with_errors" in self._state.quirks
        return True


def _tensor_info(value: Any, is_shape_tensor: bool) -> TensorInfo | None:
    kind = value.type.tensor_type
    if kind.elem_type not in ONNX_TYPES:
        return None
    shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in kind.shape.dim)
    return TensorInfo(value.name, ONNX_TYPES[kind.elem_type], shape, is_shape_tensor)


class IOptimizationProfile(Api):
    _api = "IOptimizationProfile"

    def __init__(self) -> None:
        object.__setattr__(self, "_shapes", {})
        object.__setattr__(self, "_values", {})

    def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002 - TensorRT's names
        self._shapes[input] = (tuple(min), tuple(opt), tuple(max))

    def set_shape_input(self, input: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002
        """Value ranges of a shape-tensor input."""
        self._values[input] = (tuple(int(v) for v in min), tuple(int(v) for v in opt), tuple(int(v) for v in max))

    def get_shape(self, input: str) -> list[Dims]:  # noqa: A002
        return [Dims(s) for s in self._shapes.get(input, ((), (), ()))]

    def _valid(self) -> bool:
        return all(len(lo) == len(mid) == len(hi) and all(a <= b <= c for a, b, c in zip(lo, mid, hi, strict=True))
                   for lo, mid, hi in self._shapes.values())


class IHostMemory(Api):
    _api = "IHostMemory"

    def __init__(self, data: bytes) -> None:
        object.__setattr__(self, "_data", bytes(data))

    def __bytes__(self) -> bytes:
        return self._data

    def __buffer__(self, flags: int) -> memoryview:
        return memoryview(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return len(self._data)


class ITimingCache(Api):
    _api = "ITimingCache"

    def __init__(self, key: dict[str, Any], entries: dict[str, float]) -> None:
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_entries", entries)

    def serialize(self) -> IHostMemory:
        body = json.dumps({"key": self._key, "entries": self._entries}).encode()
        return self._state.module.IHostMemory(CACHE_MAGIC + body)

    def reset(self) -> bool:
        self._entries.clear()
        return True


class IBuilderConfig(Api):
    _api = "IBuilderConfig"

    def __init__(self, builder: Builder) -> None:
        object.__setattr__(self, "_builder", builder)
        object.__setattr__(self, "_flags", set())
        object.__setattr__(self, "_pools", {})
        object.__setattr__(self, "_profiles", [])
        object.__setattr__(self, "_cache", None)
        object.__setattr__(self, "_values", {"builder_optimization_level": 3, "DLA_core": -1,
                                             "default_device_type": None, "hardware_compatibility_level": None,
                                             "profiling_verbosity": None})

    def _cache_key(self) -> dict[str, Any]:
        return {"version": self._state.version, "device": self._state.device.name,
                "cc": self._state.device.compute_capability}

    # flags, pools, profiles
    def set_flag(self, flag: Any) -> None:
        self._flags.add(flag.name)

    def clear_flag(self, flag: Any) -> None:
        self._flags.discard(flag.name)

    def get_flag(self, flag: Any) -> bool:
        return flag.name in self._flags

    def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
        self._pools[pool.name] = int(pool_size)

    def get_memory_pool_limit(self, pool: Any) -> int:
        return self._pools.get(pool.name, 0)

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        if not profile._valid():
            return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self) -> int:
        return len(self._profiles)

    # properties the tool sets
    def _get(self, name: str) -> Any:
        return self._values[name]

    builder_optimization_level = property(lambda self: self._get("builder_optimization_level"),
                                          lambda self, v: self._values.__setitem__("builder_optimization_level", int(v)))
    DLA_core = property(lambda self: self._get("DLA_core"), lambda self, v: self._values.__setitem__("DLA_core", int(v)))
    default_device_type = property(lambda self: self._get("default_device_type") or self._state.enum("DeviceType").GPU,
                                   lambda self, v: self._values.__setitem__("default_device_type", v))
    hardware_compatibility_level = property(
        lambda self: self._get("hardware_compatibility_level") or self._state.enum("HardwareCompatibilityLevel").NONE,
        lambda self, v: self._values.__setitem__("hardware_compatibility_level", v))
    profiling_verbosity = property(
        lambda self: self._get("profiling_verbosity") or self._state.enum("ProfilingVerbosity").LAYER_NAMES_ONLY,
        lambda self, v: self._values.__setitem__("profiling_verbosity", v))

    # timing cache
    def create_timing_cache(self, serialized_timing_cache: Any) -> ITimingCache | None:
        data = bytes(serialized_timing_cache)
        if not data:
            return self._state.module.ITimingCache(self._cache_key(), {})
        try:
            if not data.startswith(CACHE_MAGIC):
                raise ValueError("magic")
            body = json.loads(data[len(CACHE_MAGIC):])
            return self._state.module.ITimingCache(body["key"], dict(body["entries"]))
        except (ValueError, KeyError, TypeError):
            # As TensorRT: the error is logged and no cache comes back (Polygraphy then starts an empty one).
            self._state.log(self._builder._logger, "ERROR", "Failed to deserialize the timing cache: corrupt data")
            return None

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
        if not isinstance(cache, ITimingCache):
            # pybind11 refuses None for a reference argument before TensorRT sees it.
            raise TypeError("set_timing_cache(): incompatible function arguments. The following argument types are "
                            "supported:\n    1. (self: tensorrt.IBuilderConfig, cache: tensorrt.ITimingCache, "
                            f"ignore_mismatch: bool) -> bool\n\nInvoked with: {cache!r}")
        if cache._key != self._cache_key() and not ignore_mismatch:
            self._state.log(self._builder._logger, "WARNING", "Timing cache from another device or version: not used")
            return False
        object.__setattr__(self, "_cache", cache)
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        return self._cache


class Builder(Api):
    _api = "Builder"

    def __init__(self, logger: ILogger) -> None:
        logger._require_init()
        object.__setattr__(self, "_logger", logger)

    @property
    def num_DLA_cores(self) -> int:  # noqa: N802 - TensorRT's name
        return self._state.device.dla_cores if self._state.has_dla else 0

    @property
    def platform_has_fast_fp16(self) -> bool:
        return True

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        known = 0
        for member in self._state.enum("NetworkDefinitionCreationFlag").__members__.values():
            known |= 1 << int(member)
        if flags & ~known:
            self._state.log(self._logger, "ERROR", f"createNetworkV2: unknown flags {flags:#x}")
        return self._state.module.INetworkDefinition(int(flags))

    def create_builder_config(self) -> IBuilderConfig:
        return self._state.module.IBuilderConfig(self)

    def create_optimization_profile(self) -> IOptimizationProfile:
        return self._state.module.IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> IHostMemory | None:
        try:
            header = self._plan_header(network, config)
        except BuildFailure as failure:
            self._state.log(self._logger, "ERROR", str(failure))
            return None
        if config._cache is not None:
            config._cache._entries.update({layer: 0.01 for layer in header["layers"]})
        body = json.dumps(header).encode()
        return self._state.module.IHostMemory(PLAN_MAGIC + len(body).to_bytes(8, "little") + body +
                                              network._model.SerializeToString())

    def _plan_header(self, network: INetworkDefinition, config: IBuilderConfig) -> dict[str, Any]:
        state, device = self._state, self._state.device
        if network._model is None or not network._inputs:
            raise BuildFailure("Network must have at least one input and one output")
        strong = network._strongly_typed()
        precision_flags = config._flags & {"FP16", "BF16", "INT8", "FP8", "INT4", "FP4"}
        if strong and precision_flags:
            raise BuildFailure(f"BuilderFlag {sorted(precision_flags)} cannot be set on a strongly typed network")
        profile = config._profiles[0] if config._profiles else None
        inputs = []
        for info in network._inputs:
            entry: dict[str, Any] = {"name": info.name, "dtype": info.dtype, "shape": list(info.shape),
                                     "shape_tensor": info.is_shape_tensor}
            if info.is_shape_tensor:
                if profile is None or info.name not in profile._values:
                    raise BuildFailure(f"Network has dynamic or shape inputs, but no optimization profile has been "
                                       f"defined with values for shape input '{info.name}' (set_shape_input)")
                entry["values"] = [list(v) for v in profile._values[info.name]]
            elif -1 in info.shape:
                if profile is None or info.name not in profile._shapes:
                    raise BuildFailure(f"Network has dynamic or shape inputs, but no optimization profile has been "
                                       f"defined for input '{info.name}'")
            if profile is not None and info.name in profile._shapes:
                lo, mid, hi = profile._shapes[info.name]
                if len(lo) != len(info.shape) or any(d != -1 and not lo[i] == hi[i] == d for i, d in enumerate(info.shape)):
                    raise BuildFailure(f"optimization profile for '{info.name}' does not match its dimensions {info.shape}")
                entry.update(min=list(lo), opt=list(mid), max=list(hi))
            inputs.append(entry)
        outputs = [{"name": o.name, "dtype": o.dtype, "shape": list(o.shape)} for o in network._outputs]
        graph_precision = _graph_precision(network._model)
        dla = config._values["default_device_type"] == state.enum("DeviceType").DLA
        fallback = "GPU_FALLBACK" in config._flags
        nodes = list(network._model.graph.node)
        dla_layers: list[str] = []
        if dla:
            if self.num_DLA_cores == 0 or not 0 <= config.DLA_core < self.num_DLA_cores:
                raise BuildFailure(f"DLA core {config.DLA_core} requested, this device has {self.num_DLA_cores} DLA cores")
            dynamic = [i["name"] for i in inputs if "min" in i and not i["min"] == i["opt"] == i["max"]]
            low_precision = graph_precision != "fp32" or precision_flags & {"FP16", "INT8"}
            for node in nodes:
                problem = ("DLA does not support dynamic dimensions (inputs " + ", ".join(dynamic) + ")" if dynamic
                           else None if low_precision else "DLA runs FP16 and INT8 only"
                           ) or (None if node.op_type in DLA_OPS else f"{node.op_type} is not supported on DLA")
                if problem is None:
                    dla_layers.append(node.name or node.op_type)
                elif not fallback:
                    raise BuildFailure(f"{node.name or node.op_type}: {problem}, and GPU fallback is off")
                else:
                    state.log(self._logger, "WARNING", f"Layer '{node.name}': {problem}. Switching this layer's "
                              "device type to GPU.")
        level = config._values["hardware_compatibility_level"]
        level_name = level.name if level is not None else "NONE"
        if level_name == "AMPERE_PLUS" and device.cc < (8, 0):
            raise BuildFailure(f"Hardware compatibility AMPERE_PLUS needs an Ampere or newer GPU, found {device.compute_capability}")
        if level_name == "SAME_COMPUTE_CAPABILITY" and device.cc < (7, 5):
            raise BuildFailure(f"Hardware compatibility SAME_COMPUTE_CAPABILITY needs Turing or newer, found {device.compute_capability}")
        return {
            "version": state.version, "device": device.to_dict(), "inputs": inputs, "outputs": outputs,
            "layers": [n.name or n.op_type for n in nodes], "dla_core": config.DLA_core if dla else None,
            "dla_layers": dla_layers, "gpu_fallback": fallback, "hardware_compatibility": level_name,
            "version_compatible": "VERSION_COMPATIBLE" in config._flags, "sparse_weights": "SPARSE_WEIGHTS" in config._flags
            and device.sparse_tensor_cores, "strongly_typed": strong, "precision_flags": sorted(precision_flags),
            "graph_precision": graph_precision, "pools": dict(config._pools),
            "optimization_level": config.builder_optimization_level,
            "plugins": sorted({PLUGIN_OPS[n.op_type] for n in nodes if n.op_type in PLUGIN_OPS}),
            "detailed": getattr(config._values["profiling_verbosity"], "name", "") == "DETAILED",
        }


class BuildFailure(Exception):
    """The fake builder's reason to return no engine (logged as TensorRT logs it)."""


def _graph_precision(model: Any) -> str:
    ops = {node.op_type for node in model.graph.node}
    if ops & {"QuantizeLinear", "DequantizeLinear"}:
        return "int8"
    if any(init.data_type == 10 for init in model.graph.initializer) or any(
            a.name == "to" and a.i == 10 for n in model.graph.node if n.op_type == "Cast" for a in n.attribute):
        return "fp16"
    return "fp32"


def read_plan(data: bytes) -> tuple[dict[str, Any], bytes] | None:
    """The fake plan's header and ONNX bytes, or None when ``data`` is not a fake plan."""
    if not data.startswith(PLAN_MAGIC):
        return None
    start = len(PLAN_MAGIC)
    size = int.from_bytes(data[start:start + 8], "little")
    header = json.loads(data[start + 8:start + 8 + size])
    return header, data[start + 8 + size:]


class Runtime(Api):
    _api = "Runtime"

    def __init__(self, logger: ILogger) -> None:
        logger._require_init()
        object.__setattr__(self, "_logger", logger)
        object.__setattr__(self, "_dla_core", 0)
        object.__setattr__(self, "_host_code", False)

    @property
    def num_DLA_cores(self) -> int:  # noqa: N802
        return self._state.device.dla_cores if self._state.has_dla else 0

    DLA_core = property(lambda self: self._dla_core, lambda self, v: object.__setattr__(self, "_dla_core", int(v)))
    engine_host_code_allowed = property(lambda self: self._host_code,
                                        lambda self, v: object.__setattr__(self, "_host_code", bool(v)))

    def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine | None:
        state, device = self._state, self._state.device
        found = read_plan(bytes(serialized_engine))
        if found is None:
            state.log(self._logger, "ERROR", "IRuntime::deserializeCudaEngine: Error Code 1: Serialization "
                      "(Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match)")
            return None
        header, model = found
        problem = None
        built = header["version"]
        if built != state.version:
            newer = version_key(state.version) >= version_key(built)
            if not (header["version_compatible"] and newer and self._host_code):
                problem = (f"The engine plan file is not compatible with this version of TensorRT, expecting library "
                           f"version {state.version} got {built}")
        plan_device = header["device"]
        if plan_device["machine"] != device.machine or bool(plan_device["jetson_module"]) != bool(device.jetson_module):
            problem = problem or "The engine plan file is not compatible with this platform"
        cc_built = tuple(int(p) for p in plan_device["compute_capability"].split("."))
        level = header["hardware_compatibility"]
        fits = {"NONE": cc_built == device.cc, "SAME_COMPUTE_CAPABILITY": cc_built == device.cc,
                "AMPERE_PLUS": device.cc >= (8, 0)}[level]
        if not fits:
            problem = problem or (f"The engine plan file is generated on an incompatible device, expecting compute "
                                  f"{device.compute_capability} got compute {plan_device['compute_capability']}")
        for plugin in header["plugins"]:
            if not state.plugins_initialised:
                problem = problem or f"getPluginCreator could not find plugin: {plugin} version: 1"
        if header["dla_core"] is not None and not 0 <= self._dla_core < self.num_DLA_cores:
            problem = problem or f"DLA core {self._dla_core} requested, this device has {self.num_DLA_cores}"
        if problem:
            state.log(self._logger, "ERROR", f"IRuntime::deserializeCudaEngine: {problem}")
            return None
        return state.module.ICudaEngine(header, model, self._logger)


class EngineInspector(Api):
    _api = "EngineInspector"

    def __init__(self, engine: ICudaEngine) -> None:
        object.__setattr__(self, "_engine", engine)

    def get_engine_information(self, format: Any) -> str:  # noqa: A002 - TensorRT's name
        header = self._engine._header
        layers: list[Any] = [{"Name": name, "LayerType": "Fake"} if header["detailed"] else name
                             for name in header["layers"]]
        io_key = "I/O Tensors" if version_key(self._state.version)[0] >= 11 else "Bindings"
        names = [t["name"] for t in header["inputs"] + header["outputs"]]
        if format.name != "JSON":
            return "\n".join(str(layer) for layer in layers)
        return json.dumps({"Layers": layers, io_key: names})


class ICudaEngine(Api):
    _api = "ICudaEngine"

    def __init__(self, header: dict[str, Any], model: bytes, logger: ILogger) -> None:
        object.__setattr__(self, "_header", header)
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_logger", logger)
        object.__setattr__(self, "_io", {t["name"]: t for t in header["inputs"] + header["outputs"]})
        object.__setattr__(self, "_session", None)

    def _tensor(self, name: str) -> dict[str, Any]:
        if name not in self._io:
            raise RuntimeError(f"no tensor named '{name}'")
        return self._io[name]

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    @property
    def num_layers(self) -> int:
        return len(self._header["layers"])

    def get_tensor_name(self, index: int) -> str:
        return list(self._io)[index]

    def get_tensor_mode(self, name: str) -> Any:
        mode = self._state.enum("TensorIOMode")
        return mode.INPUT if any(t["name"] == name for t in self._header["inputs"]) else mode.OUTPUT

    def get_tensor_dtype(self, name: str) -> Any:
        return getattr(self._state.enum("DataType"), self._tensor(name)["dtype"])

    def get_tensor_shape(self, name: str) -> Dims:
        return Dims(self._tensor(name)["shape"])

    def is_shape_inference_io(self, name: str) -> bool:
        return bool(self._tensor(name).get("shape_tensor"))

    def get_tensor_location(self, name: str) -> Any:
        location = self._state.enum("TensorLocation")
        return location.HOST if self.is_shape_inference_io(name) else location.DEVICE

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[Dims]:
        tensor = self._tensor(name)
        return [Dims(tensor[k]) for k in ("min", "opt", "max")] if "min" in tensor else []

    def create_execution_context(self, strategy: Any = None) -> IExecutionContext:
        return self._state.module.IExecutionContext(self)

    def create_engine_inspector(self) -> EngineInspector:
        return self._state.module.EngineInspector(self)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            object.__setattr__(self, "_session", ort.InferenceSession(self._model, options,
                                                                      providers=["CPUExecutionProvider"]))
        names = [o.name for o in self._session.get_outputs()]
        return dict(zip(names, self._session.run(names, feed), strict=True))


class IExecutionContext(Api):
    _api = "IExecutionContext"

    def __init__(self, engine: ICudaEngine) -> None:
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_shapes", {})
        object.__setattr__(self, "_addresses", {})
        object.__setattr__(self, "_allocators", {})
        object.__setattr__(self, "_changed", True)
        object.__setattr__(self, "_profiler", None)
        object.__setattr__(self, "executions", 0)

    @property
    def engine(self) -> ICudaEngine:
        return self._engine

    profiler = property(lambda self: self._profiler, lambda self, v: object.__setattr__(self, "_profiler", v))

    def _log(self, severity: str, message: str) -> None:
        self._state.log(self._engine._logger, severity, message)

    def set_input_shape(self, name: str, shape: Any) -> bool:
        tensor = self._engine._tensor(name)
        dims = tuple(int(d) for d in shape)
        lo, hi = tensor.get("min", tensor["shape"]), tensor.get("max", tensor["shape"])
        if len(dims) != len(tensor["shape"]) or any(not a <= d <= b for a, d, b in zip(lo, dims, hi, strict=True)):
            self._log("ERROR", f"IExecutionContext::setInputShape: Error Code 3: API Usage Error (Given invalid tensor "
                      f"shape {list(dims)} for '{name}', allowed {lo} .. {hi})")
            return False
        if self._shapes.get(name) != dims:
            object.__setattr__(self, "_changed", True)
        self._shapes[name] = dims
        return True

    def set_tensor_address(self, name: str, memory: int) -> bool:
        self._engine._tensor(name)
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0)

    def set_output_allocator(self, name: str, output_allocator: Any) -> bool:
        if self._engine.get_tensor_mode(name) != self._state.enum("TensorIOMode").OUTPUT:
            return False
        output_allocator._require_init()
        self._allocators[name] = output_allocator
        return True

    def get_output_allocator(self, name: str) -> Any:
        return self._allocators.get(name)

    def get_tensor_shape(self, name: str) -> Dims:
        tensor = self._engine._tensor(name)
        if self._engine.get_tensor_mode(name) == self._state.enum("TensorIOMode").INPUT:
            return Dims(self._shapes.get(name, tensor["shape"]))
        return Dims(self._output_shapes().get(name, tensor["shape"]))

    def _host_value(self, tensor: dict[str, Any]) -> np.ndarray | None:
        """A shape tensor's values, read from the host memory its address points at."""
        address = self._addresses.get(tensor["name"])
        shape = self._shapes.get(tensor["name"])
        if not address or shape is None:
            return None
        dtype = np.dtype(NUMPY_TYPES[tensor["dtype"]])
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return np.frombuffer(ctypes.string_at(address, nbytes), dtype=dtype).reshape(shape).copy()

    def _output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shapes from the input shapes and the shape tensors' values (-1: known only by running)."""
        import onnx
        from onnx import numpy_helper, shape_inference

        model = onnx.load_from_string(self._engine._model)
        graph = model.graph
        for tensor in self._engine._header["inputs"]:
            value = next(v for v in graph.input if v.name == tensor["name"])
            if tensor.get("shape_tensor"):
                host = self._host_value(tensor)
                if host is None:
                    return {}
                graph.initializer.append(numpy_helper.from_array(host, tensor["name"]))
            shape = self._shapes.get(tensor["name"])
            if shape is not None:
                for dim, size in zip(value.type.tensor_type.shape.dim, shape, strict=True):
                    dim.Clear()
                    dim.dim_value = size
        inferred = shape_inference.infer_shapes(model, data_prop=True)
        shapes = {}
        for value in inferred.graph.output:
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
            shapes[value.name] = tuple(dims)
        return shapes

    def execute_async_v3(self, stream_handle: int) -> bool:
        cuda = self._state.cuda
        if cuda is None:
            raise RuntimeError("the fake TensorRT has no fake CUDA to run on")
        header = self._engine._header
        if int(stream_handle) in cuda.capturing:
            if self._changed:
                self._log("ERROR", "IExecutionContext::enqueueV3: the first enqueue after an input shape change "
                          "cannot be captured into a CUDA graph")
                return False
            if self._allocators:
                self._log("ERROR", "IExecutionContext::enqueueV3: outputs with an output allocator cannot be captured")
                return False
        feed: dict[str, np.ndarray] = {}
        for tensor in header["inputs"]:
            name, shape, address = tensor["name"], self._shapes.get(tensor["name"]), self._addresses.get(tensor["name"])
            if shape is None or not address:
                self._log("ERROR", f"IExecutionContext::enqueueV3: input '{name}' has no shape or no address set")
                return False
            dtype = np.dtype(NUMPY_TYPES[tensor["dtype"]])
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            on_device = cuda.is_device(address, nbytes)
            if tensor.get("shape_tensor") and on_device:
                self._log("ERROR", f"IExecutionContext::enqueueV3: shape tensor '{name}' must be in host memory; "
                          "its address is device memory")
                return False
            if tensor.get("shape_tensor"):
                values, (lo, _, hi) = self._host_value(tensor), tensor["values"]
                if values is None or any(not a <= int(v) <= b for a, v, b in zip(lo, values.ravel(), hi, strict=True)):
                    self._log("ERROR", f"IExecutionContext::enqueueV3: shape tensor '{name}' values are outside its "
                              f"profile {lo} .. {hi}")
                    return False
            if not tensor.get("shape_tensor") and not on_device:
                self._log("ERROR", f"IExecutionContext::enqueueV3: an illegal memory access was encountered "
                          f"(input '{name}' address {address:#x} is not device memory)")
                return False
            feed[name] = (address, shape, dtype, nbytes)  # type: ignore[assignment]
        static = self._output_shapes()
        for tensor in header["outputs"]:
            name = tensor["name"]
            if name not in self._allocators:
                if not self._addresses.get(name):
                    self._log("ERROR", f"IExecutionContext::enqueueV3: Neither address or allocator is set for output "
                              f"tensor {name}. Call setOutputTensorAddress, setTensorAddress or setOutputAllocator "
                              "before enqueue/execute.")
                    return False
                if -1 in static.get(name, (-1,)):
                    self._log("ERROR", f"IExecutionContext::enqueueV3: output '{name}' has a data-dependent shape and "
                              "needs an output allocator")
                    return False
        object.__setattr__(self, "_changed", False)
        cuda.enqueue(int(stream_handle), lambda: self._execute(feed, int(stream_handle)))
        return self._ok

    _ok = True

    def _execute(self, feed: dict[str, Any], stream: int) -> None:
        arrays = {}
        for name, (address, shape, dtype, nbytes) in feed.items():
            arrays[name] = np.frombuffer(ctypes.string_at(address, nbytes), dtype=dtype).reshape(shape).copy()
        results = self._engine._run(arrays)
        cuda = self._state.cuda
        for tensor in self._engine._header["outputs"]:
            name = tensor["name"]
            array = np.ascontiguousarray(results[name], dtype=NUMPY_TYPES[tensor["dtype"]])
            allocator = self._allocators.get(name)
            if allocator is not None:
                current = self._addresses.get(name, 0)
                override = getattr(type(allocator), "reallocate_output_async", None)
                if override is not None and override is not getattr(IOutputAllocator, "reallocate_output_async", None):
                    address = allocator.reallocate_output_async(name, current, array.nbytes, 256, stream)
                else:
                    address = allocator.reallocate_output(name, current, array.nbytes, 256)
                self._addresses[name] = int(address or 0)
            address = self._addresses.get(name, 0)
            if not cuda.is_device(address, array.nbytes):
                raise RuntimeError(f"fake enqueueV3: output '{name}' address {address:#x} is not device memory of "
                                   f"{array.nbytes} bytes (TensorRT would write out of bounds)")
            ctypes.memmove(address, array.ctypes.data, array.nbytes)
            if allocator is not None:
                allocator.notify_shape(name, Dims(array.shape))
        object.__setattr__(self, "executions", self.executions + 1)
        if self._profiler is not None:
            for layer in self._engine._header["layers"]:
                self._profiler.report_layer_time(layer, 0.01)


# -- the module -------------------------------------------------------------------------------------------
CLASSES: list[type[Api]] = [ILogger, Logger, IProfiler, IOutputAllocator, ITensor, INetworkDefinition, ParserError,
                            OnnxParser, IOptimizationProfile, IHostMemory, ITimingCache, IBuilderConfig, Builder,
                            Runtime, EngineInspector, ICudaEngine, IExecutionContext]
for _impl in (Overridable, *CLASSES):
    _impl._fake_class = True  # set in each class's own namespace: not a user subclass

DTYPE_ALIASES = {"float32": "FLOAT", "float16": "HALF", "bfloat16": "BF16", "int8": "INT8", "int32": "INT32",
                 "int64": "INT64", "bool": "BOOL", "uint8": "UINT8", "fp8": "FP8", "int4": "INT4", "fp4": "FP4",
                 "e8m0": "E8M0"}


def make_module(version: str, device: FakeDevice | None = None, cuda: Any = None,
                quirks: set[str] | None = None) -> types.ModuleType:
    """A fake ``tensorrt`` module of ``version`` (a key of ``tables.CLASSES``) on ``device``, executing on the
    fake ``cuda``. Its ``_fake`` attribute is the :class:`State` (calls, logs, quirks)."""
    if version not in tables.CLASSES:
        raise ValueError(f"no table for TensorRT {version} (tables: {sorted(tables.CLASSES)})")
    state = State(version, device or FakeDevice(), cuda, set(quirks or ()))
    module = types.ModuleType("tensorrt")
    module.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    module.__version__ = version  # type: ignore[attr-defined]
    module._fake = state  # type: ignore[attr-defined]
    state.module = module
    enums = {name: make_enum(name, parse_members(text)) for name, text in tables.ENUMS[version].items()}
    for name, enum in enums.items():
        if name != "Severity":
            setattr(module, name, enum)
    allowed = {name: frozenset(text.split()) for name, text in tables.CLASSES[version].items()}
    for impl in CLASSES:
        cls = type(impl._api, (impl,), {"_fake_class": True, "_allowed": allowed.get(impl._api, frozenset()),
                                         "_state": state, "__module__": "tensorrt.tensorrt"})
        setattr(module, impl._api, cls)
    # ILogger.Severity, exported into ILogger's scope (trt.ILogger.WARNING, trt.Logger.WARNING).
    severity = enums["Severity"]
    for cls in (module.ILogger, module.Logger):
        cls.Severity = severity
        for member_name, member in severity.__members__.items():
            setattr(cls, member_name, member)
    module.Dims = Dims  # type: ignore[attr-defined]
    functions = set(tables.MODULE[version].split())
    for alias, member_name in DTYPE_ALIASES.items():
        if alias in functions:
            setattr(module, alias, getattr(module.DataType, member_name))

    def init_libnvinfer_plugins(logger: Any, namespace: str) -> bool:
        state.record("init_libnvinfer_plugins", (logger, namespace))
        logger._require_init()
        state.plugins_initialised = True
        return True

    def get_nv_onnx_parser_version() -> int:
        major, minor, patch = version_key(version)
        return major * 10000 + minor * 100 + patch

    for name, function in (("init_libnvinfer_plugins", init_libnvinfer_plugins),
                           ("get_nv_onnx_parser_version", get_nv_onnx_parser_version)):
        if name in functions:
            setattr(module, name, function)
    # Python-level helpers of the tensorrt package's __init__.py (all tabled versions have them).
    module.volume = lambda shape: int(np.prod(list(shape), dtype=np.int64))  # type: ignore[attr-defined]
    module.nptype = lambda dtype: NUMPY_TYPES[dtype.name]  # type: ignore[attr-defined]
    return module


def module_from_config(config: dict[str, Any], cuda: Any = None) -> types.ModuleType:
    """A fake module from a JSON-able config: {"version", "device": FakeDevice fields, "quirks"}."""
    return make_module(config["version"], FakeDevice(**config.get("device", {})), cuda, set(config.get("quirks", ())))


def install_into(target: types.ModuleType, config: dict[str, Any], cuda: Any) -> None:
    """Fill the module ``target`` (the ``tensorrt`` shim a child process imports) with a fake's contents."""
    fake = module_from_config(config, cuda)
    for name, value in vars(fake).items():
        if name not in ("__name__", "__spec__", "__loader__", "__path__", "__file__", "__package__"):
            setattr(target, name, value)
    fake._fake.module = target  # type: ignore[attr-defined]


def fake_root() -> Path:
    """The folder holding the ``tensorrt`` shim package for child processes."""
    return Path(__file__).resolve().parent / "site"
