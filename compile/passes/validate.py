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
from compile.models.spec import ModelInfo
from compile.passes.base import Pass, PassContext, PassOptions, PassResult
from compile.validate.compare import compare_outputs, non_finite_warning
from compile.validate.kinds import class_view, declared_kinds, resolve_views
from compile.validate.reference import (
    inputs_digest,
    reference_cache,
    reference_identity,
    reference_outputs,
    run_batched,
)
from compile.validate.user_metrics import load_user_metrics

__all__ = ["ValidatePass", "ValidateOptions", "class_count", "compare_outputs", "fitting_labels", "output_kinds"]


class ValidateOptions(PassOptions):
    #: Inputs validated on; ``None``: every input of the data (see ``RunSettings.validation_samples``).
    samples: int | None = Field(default=64, ge=1)
    seed: int = 0
    batch_size: int = 16
    #: Two-sided level of the bootstrap intervals reported for agreement and accuracy drop.
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    #: Bootstrap resamples (seeded with ``seed``).
    bootstrap_resamples: int = Field(default=1000, ge=10)
    #: Output kinds from the profile's ``[outputs]`` (over the model's own declaration; compile/validate/kinds.py).
    output_kinds: dict[str, str] = Field(default_factory=dict)
    #: Output kinds from ``--output-kind`` (over the profile's).
    output_kind_flags: dict[str, str] = Field(default_factory=dict)
    #: User metrics, ``package.module:function`` or a ``compile.metrics`` entry point (compile/validate/user_metrics.py).
    metrics: list[str] = Field(default_factory=list)


def output_kinds(info: ModelInfo, profile: dict[str, str], flags: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The output kinds declared for a run and where each came from: the model's, the profile's, ``--output-kind``."""
    return declared_kinds(info.output_kinds, profile, flags)


class ValidatePass(Pass):
    name = "validate"
    description = "Compare the artifact's outputs with the FP32 reference (figures per output kind, labeled accuracy, user metrics)."
    consumes = (RUNTIME, REFERENCE_KIND)
    Options = ValidateOptions
    options: ValidateOptions
    version = "3"

    @classmethod
    def metric_names(cls) -> tuple[str, ...]:
        """What :func:`compare_outputs` measures, read from the comparison itself on tiny labeled outputs of every
        kind (so the list cannot drift from the code): per-output figures as ``<metric>.*``."""
        rng = np.random.default_rng(0)
        shapes = {"logits": (4, 3), "embedding": (4, 5), "boxes": (4, 4), "mask": (4, 2, 3, 3), "other": (4, 2, 2, 2)}
        reference = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
        kinds = {"embedding": "embedding", "boxes": "boxes", "mask": "mask", "other": "generic"}
        _, metrics = compare_outputs(reference, reference, [0, 1, 2, 0], resamples=10, kinds=kinds)
        return tuple(sorted({f"{key.partition('.')[0]}.*" if "." in key else key for key in metrics}))

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        info = ctx.model_info()
        return {"data": data_identity(info, ctx.settings.data, self.options.samples, self.options.seed),
                "output_kinds": dict(info.output_kinds),
                "metrics": [metric.code_identity() for metric in load_user_metrics(self.options.metrics)]}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        candidate = self.input(inputs, RUNTIME, RuntimeArtifact)
        info = ctx.model_info()
        user_metrics = load_user_metrics(self.options.metrics)
        data = build_eval_set(info, ctx.settings.data, self.options.samples, self.options.seed)
        ctx.log(f"  validating on {data.description}")
        reference, ref_desc = reference_outputs(inputs[REFERENCE_KIND], data, ctx.settings.weights, reference_cache(ctx.run_dir))
        kinds, sources = output_kinds(info, self.options.output_kinds, self.options.output_kind_flags)
        warnings: list[str] = []
        data.labels, label_warning = fitting_labels(data.labels, reference, ctx.settings.data, kinds)
        if label_warning:
            warnings.append(label_warning)
        with make_runner(candidate) as runner:
            outputs = run_batched(runner, data)
        report, metrics = compare_outputs(reference, outputs, data.labels, self.options.confidence,
                                          self.options.bootstrap_resamples, self.options.seed, kinds=kinds,
                                          kind_sources=sources, user_metrics=user_metrics, metadata=data.metadata)
        report.update({"reference": ref_desc, "data": data.description, "data_source": data.source,
                       "samples": data.size, "samples_available": data.available or data.size,
                       "skipped_inputs": len(data.skipped),
                       # What compare needs to tell runs validated alike from the rest (compile/report/compare.py).
                       "data_sha256": inputs_digest(data.feeds),
                       "reference_sha256": reference_identity(inputs[REFERENCE_KIND], ctx.settings.weights)})
        if (mismatch := non_finite_warning(metrics)) is not None:
            warnings.append(mismatch)
        return PassResult(None, record={"samples": data.size}, report={"accuracy": report}, metrics=metrics, warnings=warnings)


def class_count(outputs: dict[str, np.ndarray], kinds: dict[str, str] | None = None) -> int | None:
    """The classes labels are scored against: the width of the first 2-D logits/probabilities view, or ``None``."""
    views = resolve_views({name: tuple(array.shape) for name, array in outputs.items()}, kinds)
    view = class_view(views, outputs)
    return int(view.select(outputs[view.output]).shape[1]) if view is not None else None


def fitting_labels(labels: list[int] | None, reference: dict[str, np.ndarray], user_data: Path | None,
                   kinds: dict[str, str] | None = None) -> tuple[list[int] | None, str | None]:
    """The labels if they fit the model's classes; the embedded sample's ImageNet labels on a model with
    fewer classes (or none) are dropped with a warning; the user's own labels that do not fit are a UserInputError."""
    if labels is None:
        return labels, None
    classes = class_count(reference, kinds)
    if classes is None:
        # No classifier output: the user's labels serve user metrics; the embedded ImageNet labels serve nothing.
        return (labels if user_data is not None else None), None
    if max(labels) < classes:
        return labels, None
    if user_data is not None:
        raise UserInputError(f"labels in {user_data} go up to {max(labels)}, but the model has {classes} classes")
    return None, f"the embedded ImageNet labels do not fit a {classes}-class model: labeled accuracy not measured"
