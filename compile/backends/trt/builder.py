"""Build a serialized TensorRT engine from an ONNX file with the TensorRT Python API.

This module only translates a :class:`TrtBuildSettings` into API calls; what to build was decided in
``settings.py``. It runs inside the build worker subprocess (``build_worker.py``), so a TensorRT crash or
leaked GPU memory cannot take the CLI down. ``tensorrt`` is imported inside the functions; the
``TYPE_CHECKING`` import lets mypy check every call against the TensorRT stubs (``make lint``).

TensorRT 11 builds strongly typed networks only (the STRONGLY_TYPED creation flag is accepted and
ignored there, and the precision builder flags are gone); TensorRT 10 builds strongly typed networks
unless the profile asks for a weakly typed one, the only case where FP16/INT8 builder flags are set.
No INT8 calibrator is ever attached: INT8 comes from the graph's explicit Q/DQ.

Members differ between TensorRT versions (HardwareCompatibilityLevel.SAME_COMPUTE_CAPABILITY from 10.9,
BuilderFlag.FP16 gone in 11): every enum member is looked up by name when it is needed, through
:func:`member`, so a member this TensorRT lacks is one clear PassError, never an AttributeError. The
settings already refuse what a version cannot build; this is the backstop.
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


def member(enum: Any, name: str) -> Any:
    """``enum.NAME`` of the installed TensorRT, or a PassError naming the member and the version."""
    import tensorrt as trt

    try:
        return getattr(enum, name)
    except AttributeError:
        raise PassError(f"TensorRT {trt.__version__} has no {getattr(enum, '__name__', 'enum')}.{name}; "
                        "the profile asks for something this version cannot build") from None


def numpy_dtype_name(dtype: trt.DataType) -> str:
    names = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8", "INT32": "int32",
             "INT64": "int64", "BOOL": "bool", "UINT8": "uint8", "FP8": "float8_e4m3"}
    return names.get(str(dtype.name), str(dtype.name).lower())


def init_plugins(logger: trt.ILogger) -> None:
    """Register TensorRT's standard plugins, which the ONNX parser and the runtime look up by name (as
    Polygraphy's loaders do before parsing and before deserializing)."""
    import tensorrt as trt

    if not trt.init_libnvinfer_plugins(logger, ""):
        raise PassError("TensorRT could not initialise its plugin library (see the build log)")


def create_network(builder: trt.Builder, settings: TrtBuildSettings) -> trt.INetworkDefinition:
    import tensorrt as trt

    flags = 0
    if settings.typing == "strong":
        # Required on TensorRT 10 (value 1); deprecated and always on in 11 (value 0 there): the shift by the
        # installed enum's value is right for both.
        flags |= 1 << int(member(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"))
    return builder.create_network(flags)


def parse_onnx(network: trt.INetworkDefinition, logger: trt.ILogger, onnx_path: Path) -> trt.OnnxParser:
    """Parse ``onnx_path`` into ``network``; PassError with every parser error. Success needs both a true
    return value and no recorded error: the two are checked separately."""
    import tensorrt as trt

    parser = trt.OnnxParser(network, logger)
    ok = parser.parse_from_file(str(onnx_path))
    if not ok or parser.num_errors > 0:
        errors = []
        for index in range(parser.num_errors):
            error = parser.get_error(index)
            errors.append(f"node {error.node()} ({error.node_name()}): {error.desc()}")
        raise PassError("TensorRT's ONNX parser rejected the graph: " + "; ".join(errors or ["no details"]))
    return parser


def memory_pool(name: str) -> trt.MemoryPoolType:
    import tensorrt as trt

    return member(trt.MemoryPoolType, name.upper())


def hardware_compatibility_level(name: str) -> trt.HardwareCompatibilityLevel:
    """The level for a profile's ``build.hardware_compatibility``, looked up only when asked for:
    SAME_COMPUTE_CAPABILITY exists from TensorRT 10.9 only."""
    import tensorrt as trt

    return member(trt.HardwareCompatibilityLevel, name.upper())


def check_dla_cores(builder: trt.Builder, settings: TrtBuildSettings) -> None:
    """The device's DLA cores against the profile's (a Jetson module check: CUDA calls every Orin "Orin")
    and the DLA core the build asks for."""
    found = int(builder.num_DLA_cores)
    if settings.expect_dla_cores is not None and found != settings.expect_dla_cores:
        raise PassError(f"the profile is for a device with {settings.expect_dla_cores} DLA core(s), this one has "
                        f"{found}: another Jetson module than the profile's")
    if settings.dla_core is not None and found <= settings.dla_core:
        raise PassError(f"the profile asks for DLA core {settings.dla_core}, this device has {found}")


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
            config.set_flag(member(trt.BuilderFlag, "FP16"))
        if settings.int8_flag:
            config.set_flag(member(trt.BuilderFlag, "INT8"))
    if settings.sparse_weights:
        config.set_flag(member(trt.BuilderFlag, "SPARSE_WEIGHTS"))
    if settings.dla_core is not None:
        config.default_device_type = member(trt.DeviceType, "DLA")
        config.DLA_core = settings.dla_core
        if settings.gpu_fallback:
            config.set_flag(member(trt.BuilderFlag, "GPU_FALLBACK"))
    if settings.hardware_compatibility != "none":
        config.hardware_compatibility_level = hardware_compatibility_level(settings.hardware_compatibility)
    if settings.version_compatible:
        config.set_flag(member(trt.BuilderFlag, "VERSION_COMPATIBLE"))
    if settings.detailed_profiling:
        config.profiling_verbosity = member(trt.ProfilingVerbosity, "DETAILED")
    add_optimization_profile(builder, network, config, settings.shapes)
    return config


def add_optimization_profile(builder: trt.Builder, network: trt.INetworkDefinition, config: trt.IBuilderConfig,
                             shapes: tuple[InputProfile, ...]) -> None:
    import tensorrt as trt

    by_name = {s.name: s for s in shapes}
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        if tensor.is_shape_tensor:
            # Its values, not its shape, size the outputs: a profile would need value ranges (set_shape_input),
            # which this tool's profiles do not describe.
            raise PassError(f"network input '{tensor.name}' is a shape tensor (its values set other tensors' shapes); "
                            "this tool builds engines whose inputs are data tensors only")
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
    """Load the timing cache for this GPU and TensorRT version (an empty one the first time). A stored cache
    TensorRT cannot read (truncated, corrupt: ``create_timing_cache`` gives None or raises) or will not use
    (another GPU or version: ``set_timing_cache`` is false) is replaced by an empty one and the reason kept,
    as Polygraphy's CreateConfig falls back to ``create_timing_cache(b"")``."""
    info: dict[str, Any] = {"path": str(path) if path else None, "loaded_bytes": 0}
    try:
        data = path.read_bytes() if path is not None and path.is_file() else b""
    except OSError as err:
        data, info["rejected"] = b"", f"the stored timing cache cannot be read ({err.strerror}); starting an empty one"
    if data:
        try:
            cache = config.create_timing_cache(data)
            attached = cache is not None and config.set_timing_cache(cache, False)
        except (RuntimeError, TypeError, ValueError) as err:
            attached, info["rejected"] = False, f"TensorRT cannot read the stored timing cache ({err}); starting an empty one"
        if attached:
            info["loaded_bytes"] = len(data)
            return info
        info.setdefault("rejected", "the stored timing cache is corrupt or from another GPU/TensorRT; starting an empty one")
    config.set_timing_cache(config.create_timing_cache(b""), False)
    return info


def save_timing_cache(config: trt.IBuilderConfig, path: Path) -> int:
    serialized = bytes(config.get_timing_cache().serialize())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(serialized)
    tmp.replace(path)
    return len(serialized)


def write_layer_information(engine_data: bytes, logger: trt.ILogger, out: Path, version_compatible: bool,
                            dla_core: int | None = None) -> int:
    """Per-layer information of the built engine (names, tactics, formats) as the engine inspector's JSON."""
    import tensorrt as trt

    init_plugins(logger)
    runtime = trt.Runtime(logger)
    if version_compatible:
        runtime.engine_host_code_allowed = True
    if dla_core is not None:
        runtime.DLA_core = dla_core
    engine = runtime.deserialize_cuda_engine(engine_data)
    if engine is None:
        raise PassError("TensorRT could not deserialize the engine it has just built (see the build log)")
    inspector = engine.create_engine_inspector()
    info = inspector.get_engine_information(member(trt.LayerInformationFormat, "JSON"))
    out.write_text(info)
    layers = json.loads(info).get("Layers", [])
    return len(layers) if isinstance(layers, list) else int(engine.num_layers)


def build_engine(onnx_path: Path, engine_path: Path, settings: TrtBuildSettings, log: TextIO | None = None,
                 layers_path: Path | None = None) -> BuildOutcome:
    """Parse ``onnx_path``, build with ``settings``, write the plan to ``engine_path``; timing cache reused."""
    import tensorrt as trt

    started = time.perf_counter()
    logger = make_logger(log)
    init_plugins(logger)
    builder = trt.Builder(logger)
    check_dla_cores(builder, settings)
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
        layers = write_layer_information(data, logger, layers_path, settings.version_compatible, settings.dla_core)
    bindings = network_bindings(network, settings.shapes)
    del parser
    return BuildOutcome(tensorrt_version=str(trt.__version__), bindings=bindings,
                        seconds=time.perf_counter() - started, engine_bytes=len(data), timing_cache=cache_info,
                        layers=layers)
