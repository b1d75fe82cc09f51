"""Profile -> TensorRT builder settings, as plain Python (no tensorrt import): what to build is decided here.

Every choice the builder makes comes from one :class:`TrtBuildSettings` value, computed from the profile,
the run's precision and sparsity, the graph's own precision, and the installed TensorRT major version.
The builder (``builder.py``) only translates these fields into API calls, so everything that decides
what gets built is testable on a machine without TensorRT. Contradictions are errors, never fixed quietly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from compile.errors import PassError, ProfileError
from compile.models.spec import InputSpec
from compile.profiles import Profile, Shapes

MIB = 1 << 20
#: Memory pools a profile or pass may limit (names of ``tensorrt.MemoryPoolType`` members, lower case).
MEMORY_POOLS = ("workspace", "dla_managed_sram", "dla_local_dram", "dla_global_dram", "tactic_shared_memory")
#: Hardware compatibility levels that need an Ampere-or-newer GPU (compute capability 8.0+).
AMPERE_PLUS_MIN_CC = (8, 0)
#: TensorRT majors this tool knows how to drive.
SUPPORTED_MAJORS = (10, 11)

Typing = Literal["strong", "weak"]


@dataclass(frozen=True)
class InputProfile:
    """Min/opt/max shape of one network input for the optimization profile."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputProfile:
        return cls(data["name"], tuple(data["min"]), tuple(data["opt"]), tuple(data["max"]))


@dataclass(frozen=True)
class TrtBuildSettings:
    """Everything the TensorRT builder is told. Field names say which API call each one becomes."""

    #: TensorRT major version the engine is built with (10 or 11).
    tensorrt_major: int
    #: "strong": network created STRONGLY_TYPED, precision from the graph's Q/DQ and casts.
    #: "weak": TensorRT 10 only, precision from the builder flags below.
    typing: Typing
    #: Precision the engine runs at (what the report calls it).
    precision: str
    #: BuilderFlag.FP16 / BuilderFlag.INT8: only ever true for weakly typed TensorRT 10 builds.
    fp16_flag: bool = False
    int8_flag: bool = False
    #: ``IBuilderConfig.set_memory_pool_limit`` per pool (bytes); "workspace" is always present.
    memory_pools: dict[str, int] = field(default_factory=dict)
    builder_optimization_level: int = 3
    #: One optimization profile: min/opt/max per input.
    shapes: tuple[InputProfile, ...] = ()
    #: BuilderFlag.SPARSE_WEIGHTS: 2:4 structured-sparse weights on GPUs with sparse tensor cores.
    sparse_weights: bool = False
    #: DLA: default device type DLA on this core; BuilderFlag.GPU_FALLBACK when ``gpu_fallback``.
    dla_core: int | None = None
    gpu_fallback: bool = False
    #: ``IBuilderConfig.hardware_compatibility_level``.
    hardware_compatibility: str = "none"
    #: BuilderFlag.VERSION_COMPATIBLE (the plan carries a lean runtime; loading needs host code allowed).
    version_compatible: bool = False
    #: Serialized timing cache read before and written after the build (None: no cache).
    timing_cache: str | None = None
    #: ProfilingVerbosity.DETAILED keeps layer names and parameters for per-layer timing.
    detailed_profiling: bool = True

    @property
    def path_description(self) -> str:
        """Which build path was used, as the report says it."""
        if self.typing == "strong":
            origin = "precision from the graph's Q/DQ and casts"
            return f"TensorRT {self.tensorrt_major}, strongly typed network ({origin})"
        flags = [name for name, on in (("FP16", self.fp16_flag), ("INT8", self.int8_flag)) if on]
        return f"TensorRT {self.tensorrt_major}, weakly typed network (builder precision flags: {', '.join(flags) or 'none'})"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shapes"] = [s.to_dict() for s in self.shapes]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrtBuildSettings:
        values = dict(data)
        values["shapes"] = tuple(InputProfile.from_dict(s) for s in values.get("shapes", ()))
        return cls(**values)


def parse_major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError as err:
        raise PassError(f"cannot read the TensorRT version '{version}'") from err


def parse_cc(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    major, _, minor = value.partition(".")
    return int(major), int(minor or 0)


def optimization_shapes(shapes: Shapes, inputs: tuple[InputSpec, ...] | list[InputSpec]) -> tuple[InputProfile, ...]:
    """Min/opt/max per input: ``[shapes.inputs.NAME]`` when the profile gives one, else the ONNX shape with
    its batch axis set to min_batch/opt_batch/max_batch. Any other dynamic axis needs an explicit entry."""
    known = {spec.name for spec in inputs}
    unknown = sorted(set(shapes.inputs) - known)
    if unknown:
        raise ProfileError(f"shapes.inputs names {unknown}, which the model does not have (its inputs: {sorted(known)})")
    result = []
    for spec in inputs:
        explicit = shapes.inputs.get(spec.name)
        if explicit is not None:
            if len(explicit.min) != len(spec.shape):
                raise ProfileError(f"shapes.inputs.{spec.name}: rank {len(explicit.min)} but the model's input has "
                                   f"rank {len(spec.shape)} ({_fmt(spec.shape)})")
            for axis, dim in enumerate(spec.shape):
                if _is_static(dim) and not (explicit.min[axis] == explicit.opt[axis] == explicit.max[axis] == dim):
                    raise ProfileError(f"shapes.inputs.{spec.name}: axis {axis} is fixed at {dim} in the model, "
                                       f"but the profile gives {explicit.min[axis]}/{explicit.opt[axis]}/{explicit.max[axis]}")
            result.append(InputProfile(spec.name, tuple(explicit.min), tuple(explicit.opt), tuple(explicit.max)))
            continue
        lo: list[int] = []
        mid: list[int] = []
        hi: list[int] = []
        for axis, dim in enumerate(spec.shape):
            if _is_static(dim):
                assert isinstance(dim, int)
                lo.append(dim)
                mid.append(dim)
                hi.append(dim)
            elif axis == 0:
                lo.append(shapes.min_batch)
                mid.append(shapes.opt_batch)
                hi.append(shapes.max_batch)
            else:
                raise ProfileError(f"input '{spec.name}' has a dynamic axis {axis} ({_fmt(spec.shape)}): give its "
                                   f"min/opt/max in [shapes.inputs.{spec.name}]")
        result.append(InputProfile(spec.name, tuple(lo), tuple(mid), tuple(hi)))
    return tuple(result)


def _is_static(dim: int | str) -> bool:
    return isinstance(dim, int) and dim > 0


def _fmt(shape: tuple[int | str, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def build_settings(profile: Profile, *, precision: str, graph_precision: str, sparsity: str, tensorrt_version: str,
                   inputs: tuple[InputSpec, ...] | list[InputSpec], timing_cache: str | None = None,
                   memory_pools_mb: dict[str, int] | None = None) -> tuple[TrtBuildSettings, list[str]]:
    """The builder settings for this profile and run, with warnings; contradictions raise.

    ``precision`` is what the run asked for; ``graph_precision`` what the ONNX graph carries (Q/DQ ->
    int8, float16 tensors -> fp16). A strongly typed build takes its precision from the graph only, so the
    two must agree; a weakly typed one (TensorRT 10, ``build.strongly_typed = false``) sets builder flags.
    """
    build, hardware = profile.build, profile.hardware
    major = parse_major(tensorrt_version)
    warnings: list[str] = []
    if major not in SUPPORTED_MAJORS:
        raise PassError(f"TensorRT {tensorrt_version} is installed; this tool builds with TensorRT "
                        f"{' or '.join(str(m) for m in SUPPORTED_MAJORS)}")
    if hardware.tensorrt_major is not None and hardware.tensorrt_major != major:
        raise ProfileError(f"profile '{profile.name}' targets TensorRT {hardware.tensorrt_major} ({hardware.name}), but "
                           f"TensorRT {tensorrt_version} is installed: an engine built with it would not load there")
    if not build.strongly_typed and major >= 11:
        raise ProfileError(f"profile '{profile.name}' sets build.strongly_typed = false, but TensorRT {major} only "
                           "builds strongly typed networks: put the precision in the graph (quantize-int8, cast-fp16)")
    typing: Typing = "strong" if build.strongly_typed else "weak"
    fp16_flag = int8_flag = False
    if typing == "strong":
        if precision != "fp32" and not graph_carries(graph_precision, precision):
            raise PassError(f"a strongly typed build takes its precision from the graph, which is {graph_precision}, "
                            f"but the run asks for {precision}: add the {_precision_pass(precision)} pass before "
                            "build-trt, or set build.strongly_typed = false on TensorRT 10")
        if precision == "fp32" and graph_precision != "fp32":
            warnings.append(f"the graph carries {graph_precision} (Q/DQ or casts); a strongly typed build keeps it")
    else:
        # "mixed" keeps its float layers in FP32 (that is what its search measured), so no FP16 flag.
        fp16_flag = precision in ("fp16", "int8")
        int8_flag = precision in ("int8", "mixed")
        if int8_flag and not graph_carries(graph_precision, "int8"):
            raise PassError("INT8 needs explicit Q/DQ in the graph (add the quantize-int8 pass); implicit INT8 "
                            "calibration is not supported")
    pools = {"workspace": build.workspace_mb * MIB}
    for pool, mb in (memory_pools_mb or {}).items():
        if pool not in MEMORY_POOLS:
            raise ProfileError(f"build-trt: unknown memory pool '{pool}' (known: {', '.join(MEMORY_POOLS)})")
        if pool.startswith("dla_") and build.dla_core is None:
            raise ProfileError(f"build-trt: memory pool '{pool}' is a DLA pool, but the profile sets no build.dla_core")
        pools[pool] = mb * MIB
    cc = parse_cc(hardware.compute_capability)
    if build.hardware_compatibility == "ampere_plus":
        if cc is not None and cc < AMPERE_PLUS_MIN_CC:
            raise ProfileError(f"profile '{profile.name}': build.hardware_compatibility = 'ampere_plus' needs compute "
                               f"capability 8.0 or newer, {hardware.name} is {hardware.compute_capability}")
        if build.dla_core is not None:
            raise ProfileError(f"profile '{profile.name}': hardware compatibility does not apply to DLA engines")
    sparse = sparsity == "2:4"
    if sparse and not hardware.sparse_tensor_cores:
        raise ProfileError(f"profile '{profile.name}': {hardware.name} has no sparse tensor cores for 2:4 weights")
    if build.dla_core is not None:
        if precision == "mixed":
            warnings.append("DLA runs only FP16 and INT8: the layers 'mixed' keeps in FP32 run on the GPU")
        if precision == "fp32":
            if not build.gpu_fallback:
                raise ProfileError(f"profile '{profile.name}': DLA runs only FP16 and INT8, and GPU fallback is off; "
                                   "use --precision fp16 or int8")
            warnings.append("DLA runs only FP16 and INT8: with fp32 every layer falls back to the GPU")
    settings = TrtBuildSettings(
        tensorrt_major=major, typing=typing, precision=precision, fp16_flag=fp16_flag, int8_flag=int8_flag,
        memory_pools=pools, builder_optimization_level=build.builder_optimization_level,
        shapes=optimization_shapes(profile.shapes, inputs), sparse_weights=sparse, dla_core=build.dla_core,
        gpu_fallback=build.dla_core is not None and build.gpu_fallback,
        hardware_compatibility=build.hardware_compatibility, version_compatible=build.version_compatible,
        timing_cache=timing_cache if build.timing_cache else None,
    )
    return settings, warnings


def graph_carries(graph_precision: str, precision: str) -> bool:
    """Whether a graph of ``graph_precision`` (Q/DQ -> int8 or mixed, float16 -> fp16) holds ``precision``."""
    if precision in ("int8", "mixed"):
        return graph_precision in ("int8", "mixed")
    return graph_precision == precision


def _precision_pass(precision: str) -> str:
    return {"int8": "quantize-int8", "fp16": "cast-fp16", "mixed": "mixed-precision"}.get(precision, precision)
