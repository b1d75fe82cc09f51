"""Hardware profiles: one TOML file per target in ``profiles/``, typed and validated when loaded.

A profile says which backend builds the artifact, which passes run in which order with which
options, and which gates the result must pass. Unknown keys and contradictory settings are rejected
with a message naming the file and the field; nothing is silently fixed.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from compile.errors import ProfileError

#: "mixed": INT8 with the fewest layers left in float that pass the gates (the mixed-precision pass).
Precision = Literal["fp32", "fp16", "int8", "mixed"]
#: "mse": each tensor's range narrowed from its min/max to the least quantization error (compile/calibration/range_search.py).
CalibMethod = Literal["minmax", "entropy", "percentile", "mse"]
#: "tensorrt": signed INT8 activations and weights, zero point 0 (what TensorRT consumes).
#: "onnxruntime-cpu": unsigned 8-bit activations, signed per-channel weights (fast x86 kernels).
Int8Convention = Literal["tensorrt", "onnxruntime-cpu"]

#: ``min_<metric>`` / ``max_<metric>``, optionally ``.<output>`` for one output of a multi-output model.
GATE_NAME = re.compile(r"^(min|max)_[a-z0-9_]+(\.[^\s=]+)?$")
PROFILE_SUFFIX = ".toml"

#: What an output holds, which decides the figures validation measures on it (compile/validate/kinds.py).
OutputKind = Literal["logits", "embedding", "probabilities", "scores", "boxes", "regression", "mask", "generic"]
OUTPUT_KINDS: tuple[str, ...] = get_args(OutputKind)
#: A declared kind: ``KIND``, or a column slice of the last axis ``[KIND][..., START:STOP]`` (``boxes[..., 0:4]``).
_KIND_VALUE = re.compile(r"^(?P<kind>[a-z]*)\s*(?:\[\s*\.\.\.\s*,\s*(?P<start>-?\d*)\s*:\s*(?P<stop>-?\d*)\s*\])?$")
#: (start, stop) of a column slice; ``None`` for an open end.
Columns = tuple[int | None, int | None]


def parse_output_kind(key: str, value: str) -> tuple[str, Columns | None]:
    """One declaration of ``output_kinds`` / ``[outputs]``: ``"embedding"`` -> ("embedding", None);
    ``"boxes[..., 0:4]"`` -> ("boxes", (0, 4)); ``"[..., 4:]"`` under the key ``detections.scores`` takes its
    kind from the key's last part -> ("scores", (4, None)). Raises ValueError naming the key and the problem."""
    match = _KIND_VALUE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"output kind '{key}' = {value!r}: expected KIND or KIND[..., START:STOP] with KIND one of "
                         f"{', '.join(OUTPUT_KINDS)}")
    columns = None
    if "[" in value:
        columns = (int(match["start"]) if match["start"] else None, int(match["stop"]) if match["stop"] else None)
    kind = match["kind"] or (key.rpartition(".")[2] if columns is not None else "")
    if kind not in OUTPUT_KINDS:
        close = difflib.get_close_matches(kind, OUTPUT_KINDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"output kind '{key}' = {value!r}: unknown kind '{kind}'{hint}; known: {', '.join(OUTPUT_KINDS)}")
    return kind, columns


def flatten_output_kinds(declared: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Output kinds as one flat mapping, each value checked (:func:`parse_output_kind`): a nested table (TOML
    ``[outputs.detections]``, or a factory's ``{"detections": {"scores": "[..., 4:]"}}``) becomes dotted keys
    (``detections.scores``). Raises ValueError."""
    flat: dict[str, str] = {}
    for key, value in declared.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_output_kinds(value, f"{name}."))
        else:
            parse_output_kind(name, value)
            flat[name] = str(value).strip()
    return flat


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hardware(_Strict):
    """What the target device is and can do."""

    name: str = Field(description="Human name of the device, e.g. 'NVIDIA A100'.")
    gpu_match: list[str] = Field(default_factory=list, description="Substrings of a local GPU name that select this profile.")
    compute_capability: str | None = Field(default=None, pattern=r"^\d+\.\d+$")
    sparse_tensor_cores: bool = Field(default=False, description="Ampere and newer run 2:4 sparse kernels.")
    dla_cores: int = Field(default=0, ge=0)
    tensorrt_major: int | None = Field(default=None, description="TensorRT major version the device runs, if pinned (JetPack).")


class PrecisionSettings(_Strict):
    default: Precision = "fp32"
    allowed: list[Precision] = Field(default_factory=lambda: list[Precision](["fp32", "fp16", "int8"]))
    int8_convention: Int8Convention = "tensorrt"

    @model_validator(mode="after")
    def _default_is_allowed(self) -> PrecisionSettings:
        if self.default not in self.allowed:
            raise ValueError(f"precision.default '{self.default}' is not in precision.allowed {self.allowed}")
        return self


class Calibration(_Strict):
    method: CalibMethod = "minmax"
    percentile: float = Field(default=99.999, gt=50.0, le=100.0)
    size: int = Field(default=64, ge=1)
    batch_size: int = Field(default=8, ge=1)
    weight_rounding: Literal["nearest", "gptq"] = Field(
        default="gptq", description="INT8 weight integers: round to nearest, or GPTQ (error-compensating, same scales).")
    rounding_samples: int = Field(default=32, ge=1, description="Calibration inputs GPTQ measures layer inputs on.")
    bias_correction: bool = Field(
        default=True, description="Remove the mean shift INT8 adds to each layer's output, measured on the first "
                                  "rounding_samples calibration inputs (compile/calibration/bias_correction.py).")


class Sparsity(_Strict):
    allowed: bool = False
    min_channels: int = Field(default=256, ge=4, description="Prune only layers with at least this many input and output channels.")
    exclude: list[str] = Field(default_factory=list, description="Layer names never pruned (fnmatch globs: module, node or weight name).")
    min_kernel: int = Field(default=1, ge=1, description="Prune only convolutions whose kernel is at least this wide (3: skip 1x1).")
    skip_first_conv: bool = Field(default=True, description="Never prune the model's first convolution.")
    recover_steps: int = Field(default=0, ge=0)
    recover_batch_size: int = Field(default=16, ge=1)
    recover_lr: float = Field(default=1e-4, gt=0)
    target_mac_share: float | None = Field(default=None, gt=0, le=1, description="Prune only the least sensitive eligible layers (per MAC) reaching this share of non-depthwise MACs; unset prunes all eligible.")


class InputShape(_Strict):
    min: list[int]
    opt: list[int]
    max: list[int]

    @model_validator(mode="after")
    def _ordered(self) -> InputShape:
        if not (len(self.min) == len(self.opt) == len(self.max)):
            raise ValueError("min, opt and max must have the same rank")
        for lo, mid, hi in zip(self.min, self.opt, self.max, strict=True):
            if not (1 <= lo <= mid <= hi):
                raise ValueError(f"shapes must satisfy 1 <= min <= opt <= max, got {self.min} / {self.opt} / {self.max}")
        return self


class Shapes(_Strict):
    batch_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1)
    min_batch: int = Field(default=1, ge=1)
    opt_batch: int = Field(default=1, ge=1)
    max_batch: int = Field(default=8, ge=1)
    inputs: dict[str, InputShape] = Field(default_factory=dict, description="Explicit min/opt/max per input name.")

    @model_validator(mode="after")
    def _consistent(self) -> Shapes:
        if not (self.min_batch <= self.opt_batch <= self.max_batch):
            raise ValueError(f"need min_batch <= opt_batch <= max_batch, got {self.min_batch}/{self.opt_batch}/{self.max_batch}")
        outside = [b for b in self.batch_sizes if not self.min_batch <= b <= self.max_batch]
        if outside:
            raise ValueError(f"batch_sizes {outside} lie outside [min_batch, max_batch] = [{self.min_batch}, {self.max_batch}]")
        return self


class Build(_Strict):
    workspace_mb: int = Field(default=4096, ge=16)
    builder_optimization_level: int = Field(default=3, ge=0, le=5)
    hardware_compatibility: Literal["none", "ampere_plus", "same_compute_capability"] = "none"
    version_compatible: bool = False
    strongly_typed: bool = Field(default=True, description="Precision comes from the graph (Q/DQ, casts); False allows builder precision flags on TensorRT 10.")
    dla_core: int | None = Field(default=None, ge=0)
    gpu_fallback: bool = True
    timing_cache: bool = True
    graph_optimization_level: Literal["basic", "extended", "all"] = Field(default="extended", description="ONNX Runtime offline optimisation level.")


class Benchmark(_Strict):
    mode: Literal["fixed", "adaptive"] = Field(
        default="fixed", description="fixed: repeats x iterations (or duration_s); adaptive: each batch size until the "
                                     "median's confidence interval is within target_interval_pct, or budget_s runs out.")
    warmup: int = Field(default=10, ge=0)
    iterations: int = Field(default=50, ge=1)
    duration_s: float | None = Field(default=None, gt=0)
    repeats: int = Field(default=3, ge=1)
    budget_s: float = Field(default=15.0, gt=0, description="adaptive: seconds for all batch sizes, warm-up included.")
    target_interval_pct: float = Field(default=2.0, gt=0, description="adaptive: stop when the median's 95% interval is within +-this %.")
    min_runs: int = Field(default=20, ge=5, description="adaptive: timed calls per batch size before the interval may stop it.")
    threads: int | None = Field(default=None, ge=1)


class Validation(_Strict):
    samples: int = Field(default=64, ge=1, description="How many inputs validation runs on.")
    seed: int = 0


class PassEntry(BaseModel):
    """One step of the pipeline: a registered pass name and its options (every other key)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Profile(_Strict):
    name: str
    description: str = ""
    backend: Literal["onnxruntime", "tensorrt", "openvino"]
    device: Literal["cpu", "gpu"]
    hardware: Hardware
    precision: PrecisionSettings = Field(default_factory=PrecisionSettings)
    calibration: Calibration = Field(default_factory=Calibration)
    sparsity: Sparsity = Field(default_factory=Sparsity)
    shapes: Shapes = Field(default_factory=Shapes)
    build: Build = Field(default_factory=Build)
    benchmark: Benchmark = Field(default_factory=Benchmark)
    validation: Validation = Field(default_factory=Validation)
    gates: dict[str, float] = Field(default_factory=dict)
    #: ``[gates] strict = true``: an INCONCLUSIVE gate (the point passes, its interval does not) fails the run.
    strict_gates: bool = Field(default=False, description="Written as [gates] strict = true.")
    #: Kinds of the model's outputs (``embedding = "embedding"``; ``[outputs.detections]`` ``boxes = "[..., 0:4]"``):
    #: override what the model declares and what is inferred (compile/validate/kinds.py).
    outputs: dict[str, str] = Field(default_factory=dict, description="Output name (or OUTPUT.VIEW) -> KIND or KIND[..., START:STOP].")
    passes: list[PassEntry] = Field(min_length=1)
    #: The file it was read from (for messages), not part of the profile.
    _source: str = PrivateAttr(default="<memory>")

    @model_validator(mode="before")
    @classmethod
    def _strict_out_of_gates(cls, data: Any) -> Any:
        """``[gates] strict = true`` is a switch, not a threshold: it becomes ``strict_gates``."""
        if isinstance(data, dict) and isinstance(data.get("gates"), dict) and "strict" in data["gates"]:
            gates = dict(data["gates"])
            data = {**data, "gates": gates, "strict_gates": gates.pop("strict")}
        return data

    @field_validator("gates", mode="before")
    @classmethod
    def _flatten_output_gates(cls, gates: Any) -> Any:
        """``max_max_abs_error.boxes = 0.05`` (a TOML dotted key) -> the gate ``max_max_abs_error.boxes``; deeper
        tables (``min_top1_agreement.detections.scores``, a slice of an output) are joined the same way."""
        if not isinstance(gates, dict):
            return gates
        flat: dict[str, Any] = {}
        for name, value in gates.items():
            if isinstance(value, dict):
                flat.update({f"{name}.{output}": threshold for output, threshold in cls._flatten_output_gates(value).items()})
            else:
                flat[name] = value
        return flat

    @field_validator("outputs", mode="before")
    @classmethod
    def _flatten_outputs(cls, outputs: Any) -> Any:
        return flatten_output_kinds(outputs) if isinstance(outputs, dict) else outputs

    @field_validator("gates")
    @classmethod
    def _gate_names_carry_direction(cls, gates: dict[str, float]) -> dict[str, float]:
        bad = [name for name in gates if not GATE_NAME.match(name)]
        if bad:
            raise ValueError(f"gate names must start with min_ or max_ (e.g. min_top1_agreement), got {bad}")
        return gates

    @model_validator(mode="after")
    def _no_contradictions(self) -> Profile:
        if self.backend == "tensorrt" and self.device != "gpu":
            raise ValueError("backend 'tensorrt' needs device 'gpu'")
        if self.build.dla_core is not None and self.build.dla_core >= self.hardware.dla_cores:
            raise ValueError(f"build.dla_core = {self.build.dla_core} but hardware.dla_cores = {self.hardware.dla_cores}")
        if self.build.dla_core is not None:
            # DLA has no dynamic shapes; with GPU fallback a range would move every layer to the GPU silently.
            ranged = [name for name, s in self.shapes.inputs.items() if s.min != s.max]
            if self.shapes.min_batch != self.shapes.max_batch or ranged:
                what = f"shapes.inputs {ranged}" if ranged else f"batch {self.shapes.min_batch}..{self.shapes.max_batch}"
                raise ValueError(f"build.dla_core = {self.build.dla_core} needs static shapes (DLA has no dynamic "
                                 f"shapes), but {what} is a range: set min = opt = max")
        if self.backend == "tensorrt" and self.sparsity.allowed and not self.hardware.sparse_tensor_cores:
            raise ValueError("sparsity.allowed = true on hardware without sparse tensor cores")
        if self.hardware.tensorrt_major is not None and self.hardware.tensorrt_major < 10:
            raise ValueError("TensorRT older than 10 is not supported")
        return self

    def pass_names(self) -> list[str]:
        return [entry.name for entry in self.passes]

    @property
    def source(self) -> str:
        """Where the profile was read from: its file, or ``<memory>``."""
        return self._source


def profiles_dir() -> Path:
    """Where named profiles live: $COMPILE_PROFILES_DIR, else the repository's ``profiles/``."""
    env = os.environ.get("COMPILE_PROFILES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "profiles"


def available_profiles() -> list[str]:
    folder = profiles_dir()
    return sorted(p.stem for p in folder.glob(f"*{PROFILE_SUFFIX}")) if folder.is_dir() else []


def resolve_profile_path(name_or_path: str) -> Path:
    """A profile name from ``profiles/`` or the path of a profile file."""
    candidate = Path(name_or_path)
    if candidate.suffix == PROFILE_SUFFIX or os.sep in name_or_path:
        if not candidate.is_file():
            raise ProfileError(f"profile file not found: {name_or_path}")
        return candidate
    path = profiles_dir() / f"{name_or_path}{PROFILE_SUFFIX}"
    if not path.is_file():
        names = available_profiles()
        close = difflib.get_close_matches(name_or_path, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; available: {', '.join(names)}"
        raise ProfileError(f"unknown profile '{name_or_path}'{hint}")
    return path


def _format_validation_error(source: str, err: ValidationError) -> str:
    problems = []
    for item in err.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(f"{where}: {msg}")
    return f"invalid profile {source}: " + "; ".join(problems)


def parse_profile(data: dict[str, Any], source: str = "<memory>") -> Profile:
    """Validate a profile given as a dict (already parsed TOML) against the schema. That its passes are
    registered and its gates name measured metrics is checked a floor up, where the passes are known
    (:func:`compile.passes.registry.check_profile`)."""
    try:
        profile = Profile.model_validate(data)
    except ValidationError as err:
        raise ProfileError(_format_validation_error(source, err)) from err
    profile._source = source
    return profile


def load_profile(name_or_path: str) -> Profile:
    path = resolve_profile_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ProfileError(f"invalid profile {path}: not valid TOML ({err})") from err
    except OSError as err:
        raise ProfileError(f"cannot read profile {path}: {err.strerror}") from err
    return parse_profile(data, str(path))
