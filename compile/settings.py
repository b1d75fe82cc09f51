"""RunSettings: everything one compile run was asked for, in one typed, documented place."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: Where runs go when ``--out`` is not given.
DEFAULT_RUNS_DIR = Path("runs")


@dataclass(frozen=True)
class RunSettings:
    #: A model name, ``package.module:function``, or a path (.onnx, .pt2, TorchScript .pt).
    model: str
    #: Profile name or path.
    profile: str = "cpu"
    #: fp32 | fp16 | int8 | mixed (INT8 with the fewest layers in float that pass the gates); ``None`` takes the
    #: profile's default. ``--precision best`` never reaches here: compile/drivers/best.py runs one pipeline per candidate.
    precision: str | None = None
    #: "dense" or "2:4".
    sparsity: str = "dense"
    #: Run directory; ``None`` gives runs/<model>-<profile>-<precision>.
    out: Path | None = None
    #: Image folder for validation (labels.csv or class subfolders give labeled accuracy).
    data: Path | None = None
    #: Weights file loaded with ``weights_only=True`` into the model.
    weights: Path | None = None
    #: Validation inputs (``--samples``); ``None``: every input of ``data`` when given, else the profile's
    #: ``[validation] samples`` of the embedded set (see :meth:`validation_samples`).
    samples: int | None = None
    #: Calibration image folder (INT8); ``None`` uses the embedded sample.
    calib: Path | None = None
    calib_size: int | None = None
    calib_method: str | None = None
    calib_percentile: float | None = None
    recover_steps: int | None = None
    #: Gate overrides from ``--gate NAME=VALUE``.
    gates: dict[str, float] = field(default_factory=dict)
    #: ``--strict``: an INCONCLUSIVE gate (point passes, interval does not) fails the run, as ``[gates] strict = true``.
    strict: bool = False
    #: ``--metric``: user metrics (``package.module:function`` or a ``compile.metrics`` entry point) run by validate.
    metrics: tuple[str, ...] = ()
    #: ``--output-kind NAME=KIND``: output kinds over the profile's ``[outputs]`` and the model's own.
    output_kinds: dict[str, str] = field(default_factory=dict)
    #: A stored ``report.json`` (or run directory) to hold this run against: two more gates, on the accuracy
    #: lost (points) and the p50 latency gained (percent) since (see compile/validate/baseline.py).
    baseline: Path | None = None
    max_accuracy_regression: float | None = None
    max_latency_regression_pct: float | None = None
    #: ``--bench-budget``: adaptive benchmarking within this many seconds (``None``: the profile's method).
    bench_budget: float | None = None
    #: Redo every stage even when its cache is valid.
    force: bool = False
    #: Show progress bars.
    progress: bool = True
    #: A content-addressed stage cache shared between run directories (see compile/stage_cache.py);
    #: ``None`` keeps the cache per run directory only. ``compile matrix`` sets it to OUT/.cache.
    cache_dir: Path | None = None

    def validation_samples(self, profile_samples: int) -> int | None:
        """How many inputs validation (and the mixed-precision search) use: ``--samples`` when given; else all
        of the user's ``--data`` (``None``); else the profile's count of the embedded set."""
        return validation_samples(self.samples, self.data, profile_samples)

    def resolved_precision(self, profile_default: str) -> str:
        return self.precision or profile_default

    def run_dir(self, profile_name: str, precision: str) -> Path:
        if self.out is not None:
            return self.out
        stem = Path(self.model).stem if self.model.endswith((".onnx", ".pt", ".pt2")) else self.model
        stem = stem.replace(":", "_").replace("/", "_").replace(".", "_")
        suffix = "" if self.sparsity == "dense" else "-sparse24"
        return DEFAULT_RUNS_DIR / f"{stem}-{profile_name}-{precision}{suffix}"


def validation_samples(samples: int | None, data: Path | None, profile_samples: int) -> int | None:
    """``samples`` when given; else ``None`` (every input) for the user's own ``data``; else ``profile_samples``
    of the embedded set. The user's data is never cut silently."""
    if samples is not None:
        return samples
    return None if data is not None else profile_samples
