"""Pass lookup: the one explicit list of built-in passes, plus the ``compile.passes`` entry points; what
they measure; and a profile checked against them.

Built-ins are named by import path so that listing and validating names imports nothing heavy. A
third-party pass that fails to import is reported when a profile uses it, never swallowed.
"""

from __future__ import annotations

import difflib
import importlib
from functools import lru_cache
from importlib.metadata import entry_points

from compile.errors import CompileError, PassError, ProfileError
from compile.passes.base import Pass
from compile.profiles import Profile
from compile.validate.baseline import REGRESSION_METRICS
from compile.validate.gates import MetricCatalogue
from compile.validate.user_metrics import declared_names, load_user_metrics

ENTRY_POINT_GROUP = "compile.passes"

#: The built-in passes, in pipeline order.
BUILTIN_PASSES: dict[str, str] = {
    "sparsify": "compile.passes.sparsify:SparsifyPass",
    "export": "compile.passes.export:ExportPass",
    "simplify": "compile.passes.simplify:SimplifyPass",
    "sparsify-onnx": "compile.passes.sparsify_onnx:SparsifyOnnxPass",
    "quantize-int8": "compile.passes.quantize_int8:QuantizeInt8Pass",
    "mixed-precision": "compile.passes.mixed_precision:MixedPrecisionPass",
    "cast-fp16": "compile.passes.cast_fp16:CastFp16Pass",
    "verify-sparsity": "compile.passes.verify_sparsity:VerifySparsityPass",
    "build-ort": "compile.passes.build_ort:BuildOrtPass",
    "build-trt": "compile.passes.build_trt:BuildTrtPass",
    "build-openvino": "compile.passes.build_openvino:BuildOpenVinoPass",
    "validate": "compile.passes.validate:ValidatePass",
    "benchmark": "compile.passes.benchmark:BenchmarkPass",
}


@lru_cache(maxsize=1)
def _plugin_entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_pass_names() -> set[str]:
    return set(BUILTIN_PASSES) | set(_plugin_entry_points())


def all_pass_targets() -> dict[str, str]:
    """name -> "module:Class" for built-ins and plugins (built-ins win on a name clash)."""
    return {**_plugin_entry_points(), **BUILTIN_PASSES}


def get_pass_class(name: str) -> type[Pass]:
    targets = all_pass_targets()
    if name not in targets:
        raise ProfileError(f"unknown pass '{name}'; known passes: {', '.join(sorted(targets))}")
    module_name, _, attr = targets[name].partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, attr)
    except ImportError as err:
        raise PassError(f"pass '{name}' could not be loaded from {targets[name]}: {err}") from err
    except AttributeError as err:
        raise PassError(f"pass '{name}': {module_name} has no attribute {attr}") from err
    if not (isinstance(cls, type) and issubclass(cls, Pass)):
        raise PassError(f"pass '{name}' ({targets[name]}) is not a compile.passes.base.Pass subclass")
    return cls


@lru_cache(maxsize=1)
def known_metrics() -> MetricCatalogue:
    """Every metric a gate can name, from the code that measures them: each registered pass's
    ``metric_names()`` (validate's come from running the comparison code itself) and the baseline
    regression figures."""
    names: set[str] = set(REGRESSION_METRICS)
    per_output: set[str] = set()
    for pass_name in all_pass_targets():
        try:
            declared = get_pass_class(pass_name).metric_names()
        except CompileError:
            continue  # a plugin that cannot load: reported when a profile uses it
        for name in declared:
            base, dot, _ = name.partition(".")
            (per_output if dot else names).add(base)
    return MetricCatalogue(tuple(sorted(names)), tuple(sorted(per_output)))


def run_metrics(user_metrics: tuple[str, ...] | list[str] = ()) -> MetricCatalogue:
    """What a run's gates may name: :func:`known_metrics` and what its user metrics (``--metric``) declare; open to
    any bare name when one of them declares nothing (its gates are checked once it has run)."""
    if not user_metrics:
        return known_metrics()
    return known_metrics().with_user_metrics(*declared_names(load_user_metrics(list(user_metrics))))


def check_profile(profile: Profile, catalogue: MetricCatalogue | None = None) -> Profile:
    """``profile``, once its passes are known to be registered and its gates to name metrics some pass
    measures (or ``catalogue``: a run's, with its user metrics); else a ProfileError naming the file and the field."""
    known = known_pass_names()
    for entry in profile.passes:
        if entry.name not in known:
            close = difflib.get_close_matches(entry.name, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ProfileError(f"invalid profile {profile.source}: passes: unknown pass '{entry.name}'{hint}")
    catalogue = catalogue or known_metrics()
    for name in profile.gates:
        if (problem := catalogue.problem(name)) is not None:
            raise ProfileError(f"invalid profile {profile.source}: gates.{name}: {problem}")
    return profile
