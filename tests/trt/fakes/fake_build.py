"""The fake network, ONNX parser, builder config and builder: what TensorRT's build API checks (profiles for
dynamic inputs, DLA cores and static shapes, hardware compatibility against the compute capability,
precision flags on strongly typed networks, timing caches) and a fake serialized engine: a header with
the version, device, platform and settings it was built with, then the ONNX model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.trt.fakes.fake_api import CACHE_MAGIC, PLAN_MAGIC, Api, Dims, ILogger, version_key

#: ONNX ops the fake's parser imports through a plugin (TensorRT 10's ROIAlign_TRT, EfficientNMS_TRT).
PLUGIN_OPS = {"RoiAlign": "ROIAlign_TRT", "EfficientNMS_TRT": "EfficientNMS_TRT"}
#: ONNX input positions that are shape tensors (their values, not their data, set output shapes).
SHAPE_INPUTS = {"Reshape": (1,), "Expand": (1,), "ConstantOfShape": (0,), "Tile": (1,), "Slice": (1, 2, 3, 4),
                "Resize": (2, 3), "Range": (0, 1, 2), "TopK": (1,), "Pad": (1,), "Unsqueeze": (1,), "Squeeze": (1,)}
#: ONNX elem type -> TensorRT DataType member name.
ONNX_TYPES = {1: "FLOAT", 10: "HALF", 16: "BF16", 3: "INT8", 6: "INT32", 7: "INT64", 9: "BOOL", 2: "UINT8"}
#: ONNX ops DLA runs (a subset of "DLA Supported Layers and Restrictions"): others fall back to the GPU.
DLA_OPS = {"Conv", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Add", "Mul",
           "Sigmoid", "Tanh", "Clip", "Concat", "ConvTranspose", "QuantizeLinear", "DequantizeLinear", "Cast"}


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
        # A Shape op's output is a shape tensor too; as a network output TensorRT writes it to host memory.
        shape_outputs = {node.output[0] for node in proto.graph.node if node.op_type == "Shape"}
        for value in proto.graph.output:
            info = _tensor_info(value, value.name in shape_outputs)
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
        outputs = [{"name": o.name, "dtype": o.dtype, "shape": list(o.shape), "shape_tensor": o.is_shape_tensor}
                   for o in network._outputs]
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
