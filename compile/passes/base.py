"""The pass contract.

A pass has a stable kebab-case ``name``, declares the artifact kinds it ``consumes`` and the kind it
``produces`` (or ``None`` for a measuring pass), takes its options as keywords (validated by its
``Options`` model) and returns a :class:`PassResult` saying what it made and what it did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from compile.artifacts import Artifact, TorchModel
from compile.errors import PassError, ProfileError
from compile.models.registry import load_torch_model

if TYPE_CHECKING:
    from compile.models.spec import ModelInfo
    from compile.profiles import Profile
    from compile.settings import RunSettings


class PassOptions(BaseModel):
    """Base for a pass's options: unknown keys are errors, values are typed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class PassContext:
    """What a running pass may see: the run's settings, its profile, and where to write."""

    settings: RunSettings
    profile: Profile
    run_dir: Path
    work_dir: Path
    artifacts: dict[str, Artifact]
    log: Callable[[str], None] = print
    #: Inputs, outputs and preprocessing of the model being compiled (set once known).
    info: ModelInfo | None = None

    def model_info(self) -> ModelInfo:
        if self.info is None:
            source = self.artifacts.get("torch")
            if not isinstance(source, TorchModel):
                raise PassError("no model information is available before the model is exported or loaded")
            self.info = load_torch_model(source, self.settings.weights).info
        return self.info

    @property
    def precision(self) -> str:
        """The run's precision, resolved once by the driver from ``--precision`` and the profile's default."""
        if self.settings.precision is None:
            raise PassError("the run's precision is not resolved: passes run inside a driver, which resolves it")
        return self.settings.precision

    def output_path(self, filename: str) -> Path:
        """Where the pass writes an output file; the pipeline moves it into the run dir on success."""
        return self.work_dir / filename


@dataclass
class PassResult:
    output: Artifact | None
    record: dict[str, Any] = field(default_factory=dict)
    modified: bool = True
    #: Report sections this pass contributes (``accuracy``, ``latency``, ...).
    report: dict[str, Any] = field(default_factory=dict)
    #: Measured figures that gates (``min_<metric>`` / ``max_<metric>``) are checked against.
    metrics: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


A = TypeVar("A", bound=Artifact)


class Pass:
    name: ClassVar[str]
    description: ClassVar[str] = ""
    consumes: ClassVar[tuple[str, ...]]
    #: Kinds used when present (for example the reference model for validation).
    uses: ClassVar[tuple[str, ...]] = ()
    produces: ClassVar[str | None] = None
    #: Bump when the pass's output changes for the same inputs, to invalidate caches.
    version: ClassVar[str] = "1"
    #: Measuring passes are cheap to rerun but their figures are kept for the report.
    Options: ClassVar[type[PassOptions]] = PassOptions
    #: Names of the figures ``run`` may put in ``PassResult.metrics`` (fnmatch patterns such as ``p50_ms_b*``;
    #: ``<metric>.*`` for per-output figures): gates naming anything no pass declares are rejected.
    metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        try:
            self.options = self.Options(**options)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {'unknown option' if e['type'] == 'extra_forbidden' else e['msg']}"
                for e in err.errors()
            )
            raise ProfileError(f"pass '{self.name}': {problems}") from err

    @classmethod
    def metric_names(cls) -> tuple[str, ...]:
        """The metric names this pass can measure (``metrics``; a pass whose names depend on code may compute them)."""
        return cls.metrics

    def applies(self, settings: RunSettings) -> str | None:
        """``None`` if the pass runs for these settings, else the reason it is skipped."""
        return None

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        """Anything besides options and input artifacts that the output depends on (data hashes...)."""
        return {}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:  # pragma: no cover
        raise NotImplementedError

    def input(self, inputs: dict[str, Artifact], kind: str, expected: type[A]) -> A:
        """The input of ``kind``, checked to be the artifact type this pass works on."""
        artifact = inputs.get(kind)
        if not isinstance(artifact, expected):
            got = type(artifact).__name__ if artifact is not None else "nothing"
            raise self.fail(f"expected {expected.__name__} as its {kind} input, got {got}")
        return artifact

    def fail(self, message: str) -> PassError:
        return PassError(f"{self.name}: {message}")
