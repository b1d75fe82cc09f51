"""Options shared by ``compile run`` and the per-stage commands, and their translation to RunSettings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from compile import api

F = Callable[..., Any]


def _set_offline(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # An environment switch, so worker processes (matrix, subprocess builds) see it too.
    if value:
        api.set_offline()


def run_options(func: F) -> F:
    decorators = [
        click.argument("model"),
        click.option("--profile", "-p", default=None, help="Profile name from profiles/ or a profile file (default: local GPU's, else cpu)."),
        click.option("--precision", type=click.Choice(api.PRECISIONS), default=None,
                     help="Default: the profile's. mixed: INT8 with the fewest layers in float that pass the gates; "
                          "best: compile every candidate and keep the fastest that passes."),
        click.option("--sparsity", type=click.Choice(["dense", "2:4"]), default="dense", show_default=True),
        click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Run directory (default: runs/MODEL-PROFILE-PRECISION)."),
        click.option("--data", type=click.Path(path_type=Path), default=None, help="Validation data: an image folder (labels.csv or class subfolders), an .npz (one array per input), a folder of .npz files, or a loader package.module:function."),
        click.option("--samples", type=click.IntRange(min=1), default=None,
                     help="Inputs to validate on (default: all of --data; without --data, the profile's count of the embedded sample)."),
        click.option("--weights", type=click.Path(path_type=Path), default=None, help="State dict loaded with weights_only=True."),
        click.option("--offline", is_flag=True, expose_value=False, callback=_set_offline,
                     help="Never download pretrained torchvision weights (same as COMPILE_OFFLINE=1)."),
        click.option("--calib", type=click.Path(path_type=Path), default=None, help="Calibration data (INT8): an image folder, an .npz (one array per input), a folder of .npz files, or a loader package.module:function."),
        click.option("--calib-size", type=click.IntRange(min=1), default=None),
        click.option("--calib-method", type=click.Choice(["minmax", "entropy", "percentile", "mse"]), default=None),
        click.option("--calib-percentile", type=click.FloatRange(50, 100), default=None),
        click.option("--recover-steps", type=click.IntRange(min=0), default=None, help="2:4 recovery fine-tuning steps."),
        click.option("--bench-budget", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                     help="Benchmark adaptively: each batch size until its median is known to the profile's target (+-2%), within SECONDS in all."),
        click.option("--gate", "gates", multiple=True, metavar="NAME=VALUE", help="Override a gate, e.g. --gate min_top1_agreement=0.99."),
        *JUDGING_OPTIONS,
        click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Write JUnit XML here: one test case per gate."),
        click.option("--summary", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Write a Markdown summary here (pull-request comment, $GITHUB_STEP_SUMMARY)."),
        click.option("--force", is_flag=True, help="Redo every stage, ignoring the cache."),
        click.option("--quiet", "-q", is_flag=True, help="No progress output."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


#: ``--metric``, ``--output-kind`` and ``--strict``: how validation judges the outputs (run and validate).
JUDGING_OPTIONS = [
    click.option("--metric", "metrics", multiple=True, metavar="MODULE:FUNCTION",
                 help="A user metric: package.module:function (or a compile.metrics entry point) returning named "
                      "figures that gates can use (--gate min_map50=0.5)."),
    click.option("--output-kind", "output_kinds", multiple=True, metavar="NAME=KIND",
                 help="What an output holds (logits, embedding, probabilities, scores, boxes, regression, mask, "
                      "generic); OUTPUT.VIEW=KIND[..., START:STOP] judges columns of it on their own."),
    click.option("--strict", is_flag=True, help="An INCONCLUSIVE gate (its interval does not clear the threshold) fails (exit 1)."),
]


def judging_options(func: F) -> F:
    for decorator in reversed(JUDGING_OPTIONS):
        func = decorator(func)
    return func


def settings_from_options(options: dict[str, Any]) -> api.RunSettings:
    return api.RunSettings(
        model=options["model"],
        profile=options["profile"] or api.default_profile_name(),
        precision=options["precision"],
        sparsity=options["sparsity"],
        out=options["out"],
        data=options["data"],
        samples=options.get("samples"),
        weights=options["weights"],
        calib=options["calib"],
        calib_size=options["calib_size"],
        calib_method=options["calib_method"],
        calib_percentile=options["calib_percentile"],
        recover_steps=options["recover_steps"],
        gates=api.parse_gates(options["gates"], options.get("metrics", ())),
        strict=options.get("strict", False),
        metrics=tuple(options.get("metrics", ())),
        output_kinds=api.parse_output_kinds(options.get("output_kinds", ())),
        bench_budget=options.get("bench_budget"),
        baseline=options.get("baseline"),
        max_accuracy_regression=options.get("max_accuracy_regression"),
        max_latency_regression_pct=options.get("max_latency_regression_pct"),
        force=options["force"],
        progress=not options["quiet"],
    )
