"""Profile -> TensorRT builder settings, as plain Python (no tensorrt import): what to build is decided here.

Every choice the builder makes comes from one :class:`TrtBuildSettings` value, computed from the target (the
profile's name and its hardware, build and shapes sections: :class:`TrtTarget`), the run's precision and
sparsity, the graph's own precision, and the installed TensorRT major version.
The builder (``builder.py``) only translates these fields into API calls, so everything that decides
what gets built is testable on a machine without TensorRT. Contradictions are errors, never fixed quietly.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from compile.errors import PassError, ProfileError
from compile.models.spec import InputSpec
from compile.profiles import Build, Hardware, Profile, Shapes

MIB = 1 << 20
#: Memory pools a profile or pass may limit (names of ``tensorrt.MemoryPoolType`` members, lower case).
MEMORY_POOLS = ("workspace", "dla_managed_sram", "dla_local_dram", "dla_global_dram", "tactic_shared_memory")
#: Hardware compatibility levels that need an Ampere-or-newer GPU (compute capability 8.0+).
AMPERE_PLUS_MIN_CC = (8, 0)
#: ``same_compute_capability``: engines built on Turing or newer (NvInfer.h, release/10.13), and the level
#: exists from TensorRT 10.9 (HardwareCompatibilityLevel in pyCore.cpp: absent at v10.3.0, present at v10.9.0).
SAME_CC_MIN_CC = (7, 5)
SAME_CC_MIN_VERSION = (10, 9)
#: TensorRT releases with DLA: 10.x up to 10.7, and 11.x from 11.4.1 (Jetson AGX Orin, JetPack 7.2.2+);
#: 11.0-11.3 have none ("Working with DLA", TensorRT 11.4.1 documentation).
DLA_LAST_10 = (10, 7)
DLA_FIRST_11 = (11, 4, 1)
#: TensorRT majors this tool knows how to drive.
SUPPORTED_MAJORS = (10, 11)

Typing = Literal["strong", "weak"]


class TrtTarget(BaseModel):
    """What an engine is built for: a profile's name (for messages and the sidecar) and the sections of it that
    decide the build. build-trt gets it as an option, so its stage key covers every value read here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    hardware: Hardware
    build: Build = Field(default_factory=Build)
    shapes: Shapes = Field(default_factory=Shapes)

    @classmethod
    def of(cls, profile: Profile) -> TrtTarget:
        return cls(name=profile.name, hardware=profile.hardware, build=profile.build, shapes=profile.shapes)


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
    #: DLA cores the build device must have (a Jetson profile's ``hardware.dla_cores``; None: not checked).
    #: Tells Jetson modules apart that CUDA names alike ("Orin").
    expect_dla_cores: int | None = None

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


def version_tuple(version: str, parts: int = 3) -> tuple[int, ...]:
    """``"10.13.0.35"`` -> ``(10, 13, 0)``: the leading digits of each of the first ``parts`` fields."""
    numbers = []
    for piece in version.split(".")[:parts]:
        match = re.match(r"\d+", piece)
        numbers.append(int(match.group()) if match else 0)
    return tuple(numbers + [0] * (parts - len(numbers)))


def has_dla(version: str) -> bool:
    """Whether TensorRT ``version`` can build DLA engines (see DLA_LAST_10, DLA_FIRST_11)."""
    found = version_tuple(version)
    return found[:2] <= DLA_LAST_10 if found[0] == 10 else found >= DLA_FIRST_11


def is_jetson(hardware: Hardware) -> bool:
    """Hardware of a Jetson module: its name or a ``gpu_match`` token says Jetson."""
    return any("jetson" in text.lower() for text in (hardware.name, *hardware.gpu_match))


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


def build_settings(target: TrtTarget, *, precision: str, graph_precision: str, sparsity: str, tensorrt_version: str,
                   inputs: tuple[InputSpec, ...] | list[InputSpec], timing_cache: str | None = None,
                   memory_pools_mb: dict[str, int] | None = None) -> tuple[TrtBuildSettings, list[str]]:
    """The builder settings for ``target`` and this run, with warnings; contradictions raise (ProfileError,
    PassError).

    ``precision`` is what the run asked for; ``graph_precision`` what the ONNX graph carries (Q/DQ ->
    int8, float16 tensors -> fp16). A strongly typed build takes its precision from the graph only, so the
    two must agree; a weakly typed one (TensorRT 10, ``build.strongly_typed = false``) sets builder flags.
    """
    build, hardware = target.build, target.hardware
    major = parse_major(tensorrt_version)
    warnings: list[str] = []
    if major not in SUPPORTED_MAJORS:
        raise PassError(f"TensorRT {tensorrt_version} is installed; this tool builds with TensorRT "
                        f"{' or '.join(str(m) for m in SUPPORTED_MAJORS)}")
    if hardware.tensorrt_major is not None and hardware.tensorrt_major != major:
        raise ProfileError(f"profile '{target.name}' targets TensorRT {hardware.tensorrt_major} ({hardware.name}), but "
                           f"TensorRT {tensorrt_version} is installed: an engine built with it would not load there")
    if not build.strongly_typed and major >= 11:
        raise ProfileError(f"profile '{target.name}' sets build.strongly_typed = false, but TensorRT {major} only "
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
    _check_compatibility(target, tensorrt_version)
    sparse = sparsity == "2:4"
    if sparse and not hardware.sparse_tensor_cores:
        raise ProfileError(f"profile '{target.name}': {hardware.name} has no sparse tensor cores for 2:4 weights")
    shapes = optimization_shapes(target.shapes, inputs)
    if build.dla_core is not None:
        _check_dla(target, tensorrt_version, shapes)
        if precision == "mixed":
            warnings.append("DLA runs only FP16 and INT8: the layers 'mixed' keeps in FP32 run on the GPU")
        if precision == "fp32":
            if not build.gpu_fallback:
                raise ProfileError(f"profile '{target.name}': DLA runs only FP16 and INT8, and GPU fallback is off; "
                                   "use --precision fp16 or int8")
            warnings.append("DLA runs only FP16 and INT8: with fp32 every layer falls back to the GPU")
    settings = TrtBuildSettings(
        tensorrt_major=major, typing=typing, precision=precision, fp16_flag=fp16_flag, int8_flag=int8_flag,
        memory_pools=pools, builder_optimization_level=build.builder_optimization_level,
        shapes=shapes, sparse_weights=sparse, dla_core=build.dla_core,
        gpu_fallback=build.dla_core is not None and build.gpu_fallback,
        hardware_compatibility=build.hardware_compatibility, version_compatible=build.version_compatible,
        timing_cache=timing_cache if build.timing_cache else None,
        expect_dla_cores=hardware.dla_cores if is_jetson(hardware) else None,
    )
    return settings, warnings


def _check_compatibility(target: TrtTarget, tensorrt_version: str) -> None:
    """Hardware compatibility the GPU, the TensorRT version and the device type allow; ProfileError otherwise."""
    level, hardware = target.build.hardware_compatibility, target.hardware
    if level == "none":
        return
    where = f"profile '{target.name}': build.hardware_compatibility = '{level}'"
    if target.build.dla_core is not None:
        raise ProfileError(f"{where} does not apply to DLA engines (build.dla_core = {target.build.dla_core})")
    cc = parse_cc(hardware.compute_capability)
    if level == "ampere_plus" and cc is not None and cc < AMPERE_PLUS_MIN_CC:
        raise ProfileError(f"{where} needs compute capability 8.0 or newer, {hardware.name} is {hardware.compute_capability}")
    if level == "same_compute_capability":
        if version_tuple(tensorrt_version)[:2] < SAME_CC_MIN_VERSION:
            raise ProfileError(f"{where} needs TensorRT 10.9 or newer, and TensorRT {tensorrt_version} is installed "
                               "(JetPack 6 has 10.3): use 'none' or 'ampere_plus'")
        if cc is not None and cc < SAME_CC_MIN_CC:
            raise ProfileError(f"{where} needs compute capability 7.5 (Turing) or newer, {hardware.name} is "
                               f"{hardware.compute_capability}")


def _check_dla(target: TrtTarget, tensorrt_version: str, shapes: tuple[InputProfile, ...]) -> None:
    """DLA needs a TensorRT that has it and one static shape per input (min = opt = max): with GPU fallback a
    dynamic shape would move every layer to the GPU without a word."""
    if not has_dla(tensorrt_version):
        raise ProfileError(f"profile '{target.name}' runs on DLA core {target.build.dla_core}, but TensorRT "
                           f"{tensorrt_version} has no DLA (TensorRT 10 up to 10.7, and 11.4.1 or newer, build DLA engines)")
    for entry in shapes:
        if not entry.min == entry.opt == entry.max:
            raise ProfileError(f"profile '{target.name}' runs on DLA core {target.build.dla_core}, which needs "
                               f"static shapes, but input '{entry.name}' ranges {list(entry.min)} .. {list(entry.max)}: "
                               "set min = opt = max (min_batch = opt_batch = max_batch)")


def graph_carries(graph_precision: str, precision: str) -> bool:
    """Whether a graph of ``graph_precision`` (Q/DQ -> int8 or mixed, float16 -> fp16) holds ``precision``."""
    if precision in ("int8", "mixed"):
        return graph_precision in ("int8", "mixed")
    return graph_precision == precision


def _precision_pass(precision: str) -> str:
    return {"int8": "quantize-int8", "fp16": "cast-fp16", "mixed": "mixed-precision"}.get(precision, precision)
