"""The Python API the CLI is a shell over: compile a model, or run it up to one stage.

    from compile.api import compile_model
    result = compile_model("resnet50", profile="cpu", precision="int8")
    print(result.passed, result.report["latency"]["p50_ms"])
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from compile.pipeline import Pipeline, RunResult
from compile.settings import RunSettings


def compile_model(model: str, *, profile: str = "cpu", until: str | None = None,
                  log: Callable[[str], None] = lambda line: None, **options: Any) -> RunResult:
    """Run ``profile``'s passes over ``model`` (up to stage ``until`` if given) and write the report.

    ``options`` are :class:`~compile.settings.RunSettings` fields (``precision``, ``sparsity``, ``out``,
    ``data``, ``calib``, ``gates``, ``force``, ...); paths may be given as strings.
    """
    for key in ("out", "data", "weights", "calib", "cache_dir"):
        if isinstance(options.get(key), str):
            options[key] = Path(options[key])
    settings = RunSettings(model=model, profile=profile, **options)
    return Pipeline(settings, log=log, until=until).run()


def export(model: str, **options: Any) -> RunResult:
    return compile_model(model, until="export", **options)


def build(model: str, **options: Any) -> RunResult:
    return compile_model(model, until="build", **options)


__all__ = ["RunResult", "RunSettings", "build", "compile_model", "export"]
