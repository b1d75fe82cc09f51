"""validate: the built artifact against the FP32 reference on the same inputs, with the figures gates use."""

from __future__ import annotations

from typing import Any

import numpy as np

from compile.artifacts import REFERENCE_KIND, RUNTIME, Artifact, RuntimeArtifact
from compile.errors import UserInputError
from compile.passes.base import Pass, PassContext, PassOptions, PassResult
from compile.profiles import Profile
from compile.settings import RunSettings


class ValidateOptions(PassOptions):
    samples: int = 64
    seed: int = 0
    batch_size: int = 16


class ValidatePass(Pass):
    name = "validate"
    description = "Compare the artifact's outputs with the FP32 reference (agreement, errors, labeled accuracy)."
    consumes = (RUNTIME, REFERENCE_KIND)
    Options = ValidateOptions
    options: ValidateOptions

    @classmethod
    def resolve_options(cls, entry_options: dict[str, Any], profile: Profile, settings: RunSettings) -> dict[str, Any]:
        return {"samples": profile.validation.samples, "seed": profile.validation.seed, **entry_options}

    def cache_inputs(self, ctx: PassContext) -> dict[str, Any]:
        from compile.data.eval_set import data_identity

        info = ctx.model_info()
        return {"data": data_identity(info, ctx.settings.data, self.options.samples, self.options.seed)}

    def run(self, inputs: dict[str, Artifact], ctx: PassContext) -> PassResult:
        from compile.backends import make_runner
        from compile.data.eval_set import build_eval_set
        from compile.validate.reference import reference_outputs, run_batched

        candidate = inputs[RUNTIME]
        assert isinstance(candidate, RuntimeArtifact)
        info = ctx.model_info()
        data = build_eval_set(info, ctx.settings.data, self.options.samples, self.options.seed)
        ctx.log(f"  validating on {data.description}")
        reference, ref_desc = reference_outputs(inputs[REFERENCE_KIND], data, ctx.settings.weights)
        warnings: list[str] = []
        if data.labels is not None and (classes := _class_count(reference)) is not None and max(data.labels) >= classes:
            if ctx.settings.data is not None:
                raise UserInputError(f"labels in {ctx.settings.data} go up to {max(data.labels)}, but the model has {classes} classes")
            warnings.append(f"the embedded ImageNet labels do not fit a {classes}-class model: labeled accuracy not measured")
            data.labels = None
        with make_runner(candidate) as runner:
            outputs = run_batched(runner, data)
        report, metrics = compare_outputs(reference, outputs, data.labels)
        report.update({"reference": ref_desc, "data": data.description, "data_source": data.source,
                       "samples": data.size, "skipped_inputs": len(data.skipped)})
        if metrics.get("non_finite"):
            warnings.append(f"{int(metrics['non_finite'])} NaN/Inf values in the candidate's outputs")
        return PassResult(None, record={"samples": data.size}, report={"accuracy": report}, metrics=metrics, warnings=warnings)


def _class_count(outputs: dict[str, np.ndarray]) -> int | None:
    first = next(iter(outputs.values()))
    return int(first.shape[1]) if first.ndim == 2 else None


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
                    labels: list[int] | None) -> tuple[dict[str, Any], dict[str, float]]:
    """Per-output figures, plus headline metrics taken from the first output (the logits)."""
    from compile.validate.metrics import labeled_topk, output_metrics, top1_agreement, topk_agreement

    if list(reference) != list(candidate):
        missing = sorted(set(reference) ^ set(candidate))
        if len(reference) != len(candidate) or missing:
            raise UserInputError(f"reference and candidate outputs differ: {sorted(reference)} vs {sorted(candidate)}")
    per_output: dict[str, dict[str, float]] = {}
    for name, ref in reference.items():
        cand = candidate[name]
        if ref.shape != cand.shape:
            raise UserInputError(f"output '{name}': reference shape {ref.shape} vs candidate {cand.shape}")
        per_output[name] = output_metrics(ref, cand)
    first = next(iter(reference))
    ref, cand = reference[first], candidate[first]
    metrics = dict(per_output[first])
    metrics["non_finite"] = float(sum(o["non_finite"] for o in per_output.values()))
    if ref.ndim == 2 and ref.shape[1] > 1:
        metrics["top1_agreement"] = top1_agreement(ref, cand)
        metrics["top5_agreement"] = topk_agreement(ref, cand, 5)
        if labels is not None:
            metrics["reference_top1"] = labeled_topk(ref, labels, 1)
            metrics["candidate_top1"] = labeled_topk(cand, labels, 1)
            metrics["reference_top5"] = labeled_topk(ref, labels, 5)
            metrics["candidate_top5"] = labeled_topk(cand, labels, 5)
            metrics["top1_drop"] = 100.0 * (metrics["reference_top1"] - metrics["candidate_top1"])
            metrics["top5_drop"] = 100.0 * (metrics["reference_top5"] - metrics["candidate_top5"])
    report: dict[str, Any] = {key: value for key, value in metrics.items()}
    report["outputs"] = per_output
    return report, metrics
