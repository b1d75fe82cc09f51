"""validate: the built artifact against the FP32 reference on the same inputs, with the figures gates use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from compile.artifacts import REFERENCE_KIND, RUNTIME, Artifact, RuntimeArtifact
from compile.backends import make_runner
from compile.data.eval_set import build_eval_set, data_identity
from compile.errors import UserInputError
from compile.passes.base import Pass, PassContext, PassOptions, PassResult
from compile.validate.compare import compare_outputs, non_finite_warning
from compile.validate.reference import reference_cache, reference_outputs, run_batched

__all__ = ["ValidatePass", "ValidateOptions", "class_count", "compare_outputs", "fitting_labels"]


class ValidateOptions(PassOptions):
    #: Inputs validated on; ``None``: every input of the data (see ``RunSettings.validation_samples``).
    samples: int | None = Field(default=64, ge=1)
    seed: int = 0
    batch_size: int = 16
    #: Two-sided level of the bootstrap intervals reported for agreement and accuracy drop.
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    #: Bootstrap resamples (seeded with ``seed``).
    bootstrap_resamples: int = Field(default=1000, ge=10)


class ValidatePass(Pass):
    name = "validate"
    description = "Compare the artifact's outputs with the FP32 reference (agreement, errors, labeled accuracy)."
    consumes = (RUNTIME, REFERENCE_KIND)
    Options = ValidateOptions
    options: ValidateOptions
    version = "2"

    @classmethod
    def metric_names(cls) -> tuple[str, ...]:
        """What :func:`compare_outputs` measures, read from the comparison itself on a tiny labeled
        two-output classifier (so the list cannot drift from the code): per-output figures as ``<metric>.*``."""
        rng = np.random.default_rng(0)
        reference = {name: rng.normal(size=(4, 3)).astype(np.float32) for name in ("a", "b")}
        _, metrics = compare_outputs(reference, reference, [0, 1, 2, 0], resamples=10)
        return tuple(sorted({f"{key.partition('.')[0]}.*" if "." in key else key for key in metrics}))

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        info = ctx.model_info()
        return {"data": data_identity(info, ctx.settings.data, self.options.samples, self.options.seed)}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        candidate = self.input(inputs, RUNTIME, RuntimeArtifact)
        info = ctx.model_info()
        data = build_eval_set(info, ctx.settings.data, self.options.samples, self.options.seed)
        ctx.log(f"  validating on {data.description}")
        reference, ref_desc = reference_outputs(inputs[REFERENCE_KIND], data, ctx.settings.weights, reference_cache(ctx.run_dir))
        warnings: list[str] = []
        data.labels, label_warning = fitting_labels(data.labels, reference, ctx.settings.data)
        if label_warning:
            warnings.append(label_warning)
        with make_runner(candidate) as runner:
            outputs = run_batched(runner, data)
        report, metrics = compare_outputs(reference, outputs, data.labels, self.options.confidence,
                                          self.options.bootstrap_resamples, self.options.seed)
        report.update({"reference": ref_desc, "data": data.description, "data_source": data.source,
                       "samples": data.size, "samples_available": data.available or data.size,
                       "skipped_inputs": len(data.skipped)})
        if (mismatch := non_finite_warning(metrics)) is not None:
            warnings.append(mismatch)
        return PassResult(None, record={"samples": data.size}, report={"accuracy": report}, metrics=metrics, warnings=warnings)


def class_count(outputs: dict[str, np.ndarray]) -> int | None:
    first = next(iter(outputs.values()))
    return int(first.shape[1]) if first.ndim == 2 else None


def fitting_labels(labels: list[int] | None, reference: dict[str, np.ndarray],
                   user_data: Path | None) -> tuple[list[int] | None, str | None]:
    """The labels if they fit the model's classes; the embedded sample's ImageNet labels on a model with
    fewer classes are dropped with a warning; the user's own labels that do not fit are a UserInputError."""
    if labels is None or (classes := class_count(reference)) is None or max(labels) < classes:
        return labels, None
    if user_data is not None:
        raise UserInputError(f"labels in {user_data} go up to {max(labels)}, but the model has {classes} classes")
    return None, f"the embedded ImageNet labels do not fit a {classes}-class model: labeled accuracy not measured"
