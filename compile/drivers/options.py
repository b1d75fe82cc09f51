"""Option resolution, in one place: what each built-in pass runs with, from the profile and the command line.

A pass reads nothing of the profile or of the flags while it runs: whatever it depends on is one of its
options, so the stage's cache key covers it. For each pass, the profile's sections give the defaults, the
keys of its ``[[passes]]`` entry override them, and a command-line flag naming an option overrides both
(``--calib-size`` beats ``[calibration] size`` and the entry's ``size``). A plugin pass takes its entry's
keys as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compile.profiles import Profile
from compile.settings import RunSettings

#: (profile, settings) -> (defaults the entry overrides, flags that override the entry; None: not given).
Resolver = Callable[[Profile, RunSettings], tuple[dict[str, Any], dict[str, Any]]]


def _sparsity_rules(profile: Profile) -> dict[str, Any]:
    section = profile.sparsity
    return {"min_channels": section.min_channels, "exclude": list(section.exclude), "min_kernel": section.min_kernel,
            "skip_first_conv": section.skip_first_conv}


def _input_shapes(profile: Profile) -> dict[str, Any]:
    # The profile's per-input shapes give the sizes of dynamic axes, recorded in the graph.
    return {"input_shapes": {name: shape.model_dump() for name, shape in profile.shapes.inputs.items()}}


def _sparsify(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    section = profile.sparsity
    defaults = {**_sparsity_rules(profile), "recover_steps": section.recover_steps,
                "recover_batch_size": section.recover_batch_size, "recover_lr": section.recover_lr,
                "target_mac_share": section.target_mac_share,
                "recover_images": settings.calib_size or profile.calibration.size,
                "eval_samples": profile.validation.samples}
    return defaults, {"recover_steps": settings.recover_steps}


def _export(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    return _input_shapes(profile), {}


def _sparsity_rules_pass(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    return _sparsity_rules(profile), {}


def _sparsify_onnx(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    # ONNX Runtime runs 2:4 weights with dense kernels: the report says sparsity buys no speed there.
    return {**_sparsity_rules(profile), "sparse_kernels": profile.backend != "onnxruntime"}, {}


def _calibration_flags(settings: RunSettings) -> dict[str, Any]:
    return {"method": settings.calib_method, "percentile": settings.calib_percentile, "size": settings.calib_size}


def _quantize_int8(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    calib = profile.calibration
    defaults = {"convention": profile.precision.int8_convention, "method": calib.method, "percentile": calib.percentile,
                "size": calib.size, "batch_size": calib.batch_size, "weight_rounding": calib.weight_rounding,
                "rounding_samples": calib.rounding_samples, "bias_correction": calib.bias_correction,
                # ONNX Runtime's CPU kernels re-quantize float layers unless guarded (compile/mixed/keep_float.py).
                "guard_float_layers": profile.backend == "onnxruntime"}
    return defaults, _calibration_flags(settings)


def _mixed_precision(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    int8_defaults, int8_flags = _quantize_int8(profile, settings)
    # The calibration flags are defaults here: the search's own entry keys win over them.
    defaults = {**int8_defaults, **{k: v for k, v in int8_flags.items() if v is not None},
                "samples": settings.validation_samples(profile.validation.samples), "seed": profile.validation.seed,
                "gates": {**profile.gates, **settings.gates}, **_judged_like_validate(profile, settings)}
    if profile.backend == "onnxruntime":
        defaults["optimization"] = profile.build.graph_optimization_level
    return defaults, {}


def _cast_fp16(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"size": profile.calibration.size, "batch_size": profile.calibration.batch_size}, {"size": settings.calib_size}


def _build_ort(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"optimization": profile.build.graph_optimization_level}, {}


def _build_trt(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    # What the engine is for: the profile's name and the sections that decide the build (TrtTarget).
    target = {"name": profile.name, **profile.model_dump(mode="json", include={"hardware", "build", "shapes"})}
    return {"target": target}, {}


def _build_openvino(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"profile": profile.name}, {}


def _judged_like_validate(profile: Profile, settings: RunSettings) -> dict[str, Any]:
    """What validate judges outputs by, which the mixed-precision search must judge them by too: the output
    kinds (profile's ``[outputs]``, ``--output-kind``) and the user metrics (``--metric``)."""
    return {"output_kinds": dict(profile.outputs), "output_kind_flags": dict(settings.output_kinds),
            "metrics": list(settings.metrics)}


def _validate(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"samples": settings.validation_samples(profile.validation.samples), "seed": profile.validation.seed,
            **_judged_like_validate(profile, settings)}, {}


def _benchmark(profile: Profile, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    b = profile.benchmark
    defaults = {"batch_sizes": profile.shapes.batch_sizes, "mode": b.mode, "warmup": b.warmup, "iterations": b.iterations,
                "repeats": b.repeats, "duration_s": b.duration_s, "budget_s": b.budget_s,
                "target_interval_pct": b.target_interval_pct, "min_runs": b.min_runs, "threads": b.threads}
    # --bench-budget: adaptive timing within that many seconds.
    budget = settings.bench_budget
    return defaults, {"mode": "adaptive" if budget is not None else None, "budget_s": budget}


#: The built-in passes that take options from the profile or the command line.
RESOLVERS: dict[str, Resolver] = {
    "sparsify": _sparsify,
    "export": _export,
    "simplify": _export,
    "sparsify-onnx": _sparsify_onnx,
    "quantize-int8": _quantize_int8,
    "mixed-precision": _mixed_precision,
    "cast-fp16": _cast_fp16,
    "verify-sparsity": _sparsity_rules_pass,
    "build-ort": _build_ort,
    "build-trt": _build_trt,
    "build-openvino": _build_openvino,
    "validate": _validate,
    "benchmark": _benchmark,
}


def resolve_options(name: str, entry_options: dict[str, Any], profile: Profile, settings: RunSettings) -> dict[str, Any]:
    """The options pass ``name`` runs with: profile defaults < its entry's keys < command-line flags."""
    resolver = RESOLVERS.get(name)
    if resolver is None:
        return dict(entry_options)
    defaults, flags = resolver(profile, settings)
    return {**defaults, **entry_options, **{key: value for key, value in flags.items() if value is not None}}
