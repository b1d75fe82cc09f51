"""Build a serialized TensorRT engine from an ONNX file with the TensorRT Python API.

This module only translates a :class:`TrtBuildSettings` into API calls; what to build was decided in
``settings.py``. It runs inside the build worker subprocess (``build_worker.py``), so a TensorRT crash or
leaked GPU memory cannot take the CLI down. ``tensorrt`` is imported inside the functions; the
``TYPE_CHECKING`` import lets mypy check every call against the TensorRT stubs (``make lint``).

TensorRT 11 builds strongly typed networks only (the STRONGLY_TYPED creation flag is accepted and
ignored there, and the precision builder flags are gone); TensorRT 10 builds strongly typed networks
unless the profile asks for a weakly typed one, the only case where FP16/INT8 builder flags are set.
No INT8 calibrator is ever attached: INT8 comes from the graph's explicit Q/DQ.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from compile.backends.trt.settings import InputProfile, TrtBuildSettings
from compile.backends.trt.sidecar import Binding
from compile.errors import PassError

if TYPE_CHECKING:
    import tensorrt as trt


@dataclass
class BuildOutcome:
    """What the worker reports back: bindings, the version used, timing-cache use, layer information."""

    tensorrt_version: str
    bindings: list[Binding]
    seconds: float
    engine_bytes: int
    timing_cache: dict[str, Any] = field(default_factory=dict)
    layers: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"tensorrt_version": self.tensorrt_version, "bindings": [b.to_dict() for b in self.bindings],
                "seconds": self.seconds, "engine_bytes": self.engine_bytes, "timing_cache": self.timing_cache,
                "layers": self.layers, "warnings": self.warnings}


def make_logger(stream: TextIO | None = None, verbose: bool = False) -> trt.ILogger:
    """A TensorRT logger writing every message (VERBOSE too when asked) to ``stream`` (the build log)."""
    import tensorrt as trt

    out = stream or sys.stderr
    limit = int(trt.ILogger.Severity.VERBOSE if verbose else trt.ILogger.Severity.INFO)

    class StreamLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            if int(severity) <= limit:
                out.write(f"[TRT] [{severity.name}] {msg}\n")
                out.flush()

    return StreamLogger()


def numpy_dtype_name(dtype: trt.DataType) -> str:
    import tensorrt as trt

    names = {
        trt.DataType.FLOAT: "float32", trt.DataType.HALF: "float16", trt.DataType.BF16: "bfloat16",
        trt.DataType.INT8: "int8", trt.DataType.INT32: "int32", trt.DataType.INT64: "int64",
        trt.DataType.BOOL: "bool", trt.DataType.UINT8: "uint8", trt.DataType.FP8: "float8_e4m3",
    }
    return names.get(dtype, str(dtype.name).lower())


def create_network(builder: trt.Builder, settings: TrtBuildSettings) -> trt.INetworkDefinition:
    import tensorrt as trt

    flags = 0
    if settings.typing == "strong":
        # Required on TensorRT 10; accepted (and redundant) on 11, where every network is strongly typed.
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return builder.create_network(flags)


def parse_onnx(network: trt.INetworkDefinition, logger: trt.ILogger, onnx_path: Path) -> trt.OnnxParser:
    import tensorrt as trt

    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = []
        for index in range(parser.num_errors):
            error = parser.get_error(index)
            errors.append(f"node {error.node()} ({error.node_name()}): {error.desc()}")
        raise PassError("TensorRT's ONNX parser rejected the graph: " + "; ".join(errors or ["no details"]))
    return parser


def memory_pool(name: str) -> trt.MemoryPoolType:
    import tensorrt as trt

    pools = {
        "workspace": trt.MemoryPoolType.WORKSPACE,
        "dla_managed_sram": trt.MemoryPoolType.DLA_MANAGED_SRAM,
        "dla_local_dram": trt.MemoryPoolType.DLA_LOCAL_DRAM,
        "dla_global_dram": trt.MemoryPoolType.DLA_GLOBAL_DRAM,
        "tactic_shared_memory": trt.MemoryPoolType.TACTIC_SHARED_MEMORY,
    }
    return pools[name]


def hardware_compatibility_level(name: str) -> trt.HardwareCompatibilityLevel:
    import tensorrt as trt

    levels = {
        "none": trt.HardwareCompatibilityLevel.NONE,
        "ampere_plus": trt.HardwareCompatibilityLevel.AMPERE_PLUS,
        "same_compute_capability": trt.HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY,
    }
    return levels[name]


def configure(builder: trt.Builder, network: trt.INetworkDefinition, settings: TrtBuildSettings) -> trt.IBuilderConfig:
    """The builder config for ``settings``: pools, optimisation level, flags, DLA, compatibility, shapes."""
    import tensorrt as trt

    config = builder.create_builder_config()
    for pool, size in settings.memory_pools.items():
        config.set_memory_pool_limit(memory_pool(pool), size)
    config.builder_optimization_level = settings.builder_optimization_level
    if settings.typing == "weak":
        # TensorRT 10 weakly typed builds only: these flags no longer exist in TensorRT 11.
        if settings.fp16_flag:
            config.set_flag(trt.BuilderFlag.FP16)
        if settings.int8_flag:
            config.set_flag(trt.BuilderFlag.INT8)
    if settings.sparse_weights:
        config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
    if settings.dla_core is not None:
        if builder.num_DLA_cores <= settings.dla_core:
            raise PassError(f"the profile asks for DLA core {settings.dla_core}, this device has {builder.num_DLA_cores}")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = settings.dla_core
        if settings.gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    config.hardware_compatibility_level = hardware_compatibility_level(settings.hardware_compatibility)
    if settings.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if settings.detailed_profiling:
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    add_optimization_profile(builder, network, config, settings.shapes)
    return config


def add_optimization_profile(builder: trt.Builder, network: trt.INetworkDefinition, config: trt.IBuilderConfig,
                             shapes: tuple[InputProfile, ...]) -> None:
    import tensorrt as trt

    by_name = {s.name: s for s in shapes}
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        entry = by_name.get(tensor.name)
        if entry is None:
            raise PassError(f"network input '{tensor.name}' has no min/opt/max shape (inputs with shapes: {sorted(by_name)})")
        if len(tensor.shape) != len(entry.opt):
            raise PassError(f"network input '{tensor.name}' has rank {len(tensor.shape)}, its profile shape rank {len(entry.opt)}")
        profile.set_shape(tensor.name, trt.Dims(list(entry.min)), trt.Dims(list(entry.opt)), trt.Dims(list(entry.max)))
    if config.add_optimization_profile(profile) < 0:
        raise PassError("TensorRT rejected the optimization profile (see the build log)")


def dims_tuple(dims: trt.Dims) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


def network_bindings(network: trt.INetworkDefinition, shapes: tuple[InputProfile, ...]) -> list[Binding]:
    by_name = {s.name: s for s in shapes}
    found: list[Binding] = []
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        entry = by_name.get(tensor.name)
        found.append(Binding(tensor.name, "input", dims_tuple(tensor.shape), numpy_dtype_name(tensor.dtype),
                             entry.min if entry else None, entry.opt if entry else None, entry.max if entry else None))
    for index in range(network.num_outputs):
        tensor = network.get_output(index)
        found.append(Binding(tensor.name, "output", dims_tuple(tensor.shape), numpy_dtype_name(tensor.dtype)))
    return found


def attach_timing_cache(config: trt.IBuilderConfig, path: Path | None) -> dict[str, Any]:
    """Load the timing cache for this GPU and TensorRT version (an empty one the first time)."""
    info: dict[str, Any] = {"path": str(path) if path else None, "loaded_bytes": 0}
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, False):
        info["rejected"] = "the stored timing cache does not match this GPU/TensorRT; starting an empty one"
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    else:
        info["loaded_bytes"] = len(data)
    return info


def save_timing_cache(config: trt.IBuilderConfig, path: Path) -> int:
    serialized = bytes(config.get_timing_cache().serialize())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(serialized)
    tmp.replace(path)
    return len(serialized)


def write_layer_information(engine_data: bytes, logger: trt.ILogger, out: Path, version_compatible: bool) -> int:
    """Per-layer information of the built engine (names, tactics, formats) as the engine inspector's JSON."""
    import tensorrt as trt

    runtime = trt.Runtime(logger)
    if version_compatible:
        runtime.engine_host_code_allowed = True
    engine = runtime.deserialize_cuda_engine(engine_data)
    if engine is None:
        raise PassError("TensorRT could not deserialize the engine it has just built (see the build log)")
    inspector = engine.create_engine_inspector()
    info = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    out.write_text(info)
    layers = json.loads(info).get("Layers", [])
    return len(layers) if isinstance(layers, list) else int(engine.num_layers)


def build_engine(onnx_path: Path, engine_path: Path, settings: TrtBuildSettings, log: TextIO | None = None,
                 layers_path: Path | None = None) -> BuildOutcome:
    """Parse ``onnx_path``, build with ``settings``, write the plan to ``engine_path``; timing cache reused."""
    import tensorrt as trt

    started = time.perf_counter()
    logger = make_logger(log)
    builder = trt.Builder(logger)
    network = create_network(builder, settings)
    parser = parse_onnx(network, logger, onnx_path)
    config = configure(builder, network, settings)
    cache_path = Path(settings.timing_cache) if settings.timing_cache else None
    cache_info = attach_timing_cache(config, cache_path) if cache_path else {}
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise PassError("TensorRT's builder produced no engine (see the build log)")
    data = bytes(plan)
    engine_path.write_bytes(data)
    if cache_path is not None:
        cache_info["saved_bytes"] = save_timing_cache(config, cache_path)
    layers = None
    if layers_path is not None:
        layers = write_layer_information(data, logger, layers_path, settings.version_compatible)
    bindings = network_bindings(network, settings.shapes)
    del parser
    return BuildOutcome(tensorrt_version=str(trt.__version__), bindings=bindings,
                        seconds=time.perf_counter() - started, engine_bytes=len(data), timing_cache=cache_info,
                        layers=layers)
