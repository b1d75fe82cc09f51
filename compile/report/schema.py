"""The report, typed: what every ``report.json`` holds, whichever command wrote it.

``compile run`` (at any precision and ``--precision best``), ``compile validate`` in both forms and each
``compile matrix`` job write this one model; ``report.md``, ``report.html``, the JUnit XML and the CI
summary render from it. The core fields are typed; what a pass adds (``tensorrt``, ``quantization``,
``mixed_precision``, ...) is kept as an extra section, so a new pass needs no change here. A field that
was not given is not written: ``report.json`` holds what the run knew, no placeholder nulls.

``compile schema`` prints the JSON Schema (``docs/report.schema.json`` is that output).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from compile.validate.gates import GateResult

#: The version of this format: bump when a field changes meaning or goes away.
SCHEMA_VERSION = 1
#: What ``artifacts`` always names: the FP32 ONNX model and what the build produced.
REQUIRED_ARTIFACTS = ("onnx", "final")
#: ANSI escape sequences (colours, cursor moves) that libraries put in messages meant for a terminal.
_ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[ -/]+[0-~]|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences (``\\x1b[31m`` ...)."""
    return _ANSI.sub("", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return strip_ansi(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    return value


class Section(BaseModel):
    """A part of the report with a few typed fields; any other key a pass writes is kept as it is."""

    model_config = ConfigDict(extra="allow")


class Accuracy(Section):
    """``accuracy``: the candidate against the FP32 reference. Besides these fields, the headline figures of
    the first output (``top1_agreement``, ``cosine_similarity``, ``max_abs_error``, ...) as numbers."""

    reference: str | None = Field(default=None, description="what the candidate was compared with")
    candidate: str | None = Field(default=None, description="standalone validation: what was checked")
    data: str | None = Field(default=None, description="the inputs, e.g. '64 of 200 images from DIR'")
    data_source: str | None = None
    samples: int | None = Field(default=None, description="inputs used")
    samples_available: int | None = Field(default=None, description="inputs the data offered")
    skipped_inputs: int | None = None
    outputs: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="per output (and declared column slice, OUTPUT.VIEW): metric name -> value, the "
                                          "generic figures and those of its kind")
    output_kinds: dict[str, dict[str, Any]] | None = Field(
        default=None, description="per output: kind (logits, embedding, probabilities, scores, boxes, regression, mask, "
                                  "generic), source (--output-kind, profile, model, or how it was inferred); a column "
                                  "slice also names its output and columns")
    user_metrics: dict[str, dict[str, float]] | None = Field(
        default=None, description="--metric: per user metric (as given) the figures it returned")
    data_sha256: str | None = Field(default=None, description="SHA-256 of the inputs validated on, as fed (compare flags runs "
                                                              "validated on other data)")
    reference_sha256: str | None = Field(default=None, description="identity of the reference and its weights")
    confidence: dict[str, Any] | None = Field(
        default=None, description="intervals (value, low, high, confidence, samples, method) of the agreements, drops, "
                                  "cosine_mean, pixel_agreement and mean_iou, headline and per output (<metric>.<output>)")

    @model_serializer(mode="wrap")
    def _headline_first(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The headline figures first, then the fields above: the order the validate pass writes them in."""
        data: dict[str, Any] = handler(self)
        extra = self.model_extra or {}
        return {**{key: data[key] for key in extra if key in data}, **{k: v for k, v in data.items() if k not in extra}}


class Stage(Section):
    """One stage of the run: how long it took, whether it was reused, what it recorded."""

    name: str
    seconds: float
    cached: bool
    shared: bool = Field(default=False, description="reused from the shared stage cache (written only when true)")
    skipped: str | None = Field(default=None, description="why the stage did not run")
    record: dict[str, Any] = Field(default_factory=dict, description="what the pass did (its own fields)")
    warnings: list[str] = Field(default_factory=list)


class Report(BaseModel):
    """``report.json``. Pass sections named like a core field are written as ``<name>_details``."""

    model_config = ConfigDict(extra="allow", title="compile report")

    schema_version: int = Field(description=f"format version ({SCHEMA_VERSION})")
    tool_version: str
    created: str = Field(description="UTC time, ISO 8601")
    model: str = Field(description="what was compiled, as given")
    model_source: str = Field(description="where the model came from")
    weights: str | None = Field(description="where its weights came from")
    profile: str
    backend: str
    precision: str = Field(description="fp32 | fp16 | int8 | mixed | best")
    sparsity: str = Field(description="dense | 2:4")
    passed: bool = Field(description="true when no gate failed")
    artifacts: dict[str, str | None] = Field(
        description="stage name -> path (relative to the run directory); always 'onnx' (the FP32 model, null for a "
                    "PyTorch reference in standalone validation) and 'final'",
        json_schema_extra={"required": list(REQUIRED_ARTIFACTS)})
    artifact_sha256: dict[str, str] = Field(description="the same names -> SHA-256 of each file")
    inputs: list[dict[str, Any]] = Field(description="input specs: name, shape, dtype, value range, sizes")
    preprocessing: dict[str, Any] | None = Field(description="image models: resize, crop, mean/std, layout")
    accuracy: Accuracy | None
    latency: dict[str, Any] | None = Field(description="p50_ms, p90_ms, p99_ms, ..., per_batch")
    machine: dict[str, Any] | None = Field(description="CPU, usable cores, GPU, library versions")
    metrics: dict[str, int | float] = Field(description="every measured figure by name (what gates read)")
    gates: list[GateResult]
    stages: list[Stage]
    reused_stages: list[str]
    warnings: list[str]

    # Written by some commands only.
    kind: Literal["validate"] | None = Field(default=None, description="'validate': standalone validation")
    candidate: str | None = Field(default=None, description="standalone validation: the artifact checked")
    baseline: dict[str, Any] | None = Field(default=None, description="--baseline: the regression against a stored run")
    chosen: str | None = Field(default=None, description="--precision best: the precision chosen (null: none passed)")
    figures_from: str | None = Field(default=None, description="--precision best: the candidate the figures come from")
    candidates: list[dict[str, Any]] | None = Field(default=None, description="--precision best: every candidate")
    verdict: str | None = Field(default=None, description="--precision best: the choice in words")

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, data: Any) -> Any:
        """Every string without terminal escape sequences (warnings, errors, reasons)."""
        return _clean(data) if isinstance(data, dict) else data

    @field_validator("artifacts")
    @classmethod
    def _names_onnx_and_final(cls, artifacts: dict[str, str | None]) -> dict[str, str | None]:
        missing = [name for name in REQUIRED_ARTIFACTS if name not in artifacts]
        if missing:
            raise ValueError(f"artifacts must name {', '.join(missing)}")
        return artifacts

    def section(self, name: str) -> Any:
        """A section a pass added (``tensorrt``, ``sparsity_details``, ...), or ``None``."""
        return (self.model_extra or {}).get(name)

    def failed_gates(self) -> list[GateResult]:
        return [gate for gate in self.gates if not gate.skipped and not gate.passed]

    def skipped_gates(self) -> list[GateResult]:
        return [gate for gate in self.gates if gate.skipped]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: what was given, nothing added."""
        return self.model_dump(exclude_unset=True)


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``report.json``: what ``compile schema`` prints."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **Report.model_json_schema()}
