"""``compile validate``: accuracy parity (and regression against a stored run) as a CI gate.

Two forms:

- ``compile validate --candidate C [--reference R] --data DIR``: compare a built artifact or ONNX
  file with a reference on its own (no pipeline);
- ``compile validate MODEL [--profile ...]``: run MODEL's passes up to ``validate`` (all of them when
  ``--baseline`` is given, so latency is measured too).

Exit codes: 0 every gate passed, 1 a gate failed, 2 bad usage or input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from compile import api
from compile.cli.options import judging_options
from compile.cli.run_cmd import execute, finish
from compile.errors import UserInputError

#: run options the pipeline form needs that this command does not offer.
_PIPELINE_DEFAULTS = {"sparsity": "dense", "weights": None, "calib": None, "calib_size": None, "calib_method": None,
                      "calib_percentile": None, "recover_steps": None}


@click.command("validate")
@click.argument("model", required=False)
@click.option("--candidate", "-c", default=None, help="ONNX file, built artifact (model.ort.onnx, engine), or run directory.")
@click.option("--reference", "-r", default=None, help="PyTorch model (as for `compile run`) or ONNX file; default: the run's FP32 ONNX.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Image folder (labels.csv or class subfolders give labeled accuracy), .npz (one array per input, optional labels), folder of .npz files, or loader package.module:function.")
@click.option("--weights", type=click.Path(path_type=Path), default=None, help="State dict for the reference, loaded with weights_only=True.")
@click.option("--profile", "-p", default=None, help="Profile whose gates (and benchmark settings) apply (default: local GPU's, else cpu).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default=None, help="MODEL form: the variant to build.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Inputs to validate on (default: all of --data; without --data, the profile's count of the embedded sample).")
@click.option("--seed", type=int, default=None, help="Seed for generated inputs and the bootstrap (default: the profile's).")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True,
              help="Level of the bootstrap intervals (gates on <metric>_lcb / _ucb use it).")
@click.option("--gate", "gates", multiple=True, metavar="NAME=VALUE", help="Override a gate, e.g. --gate min_top1_agreement_lcb=0.97.")
@judging_options
@click.option("--baseline", type=click.Path(path_type=Path), default=None, help="A stored report.json (or run directory) to compare with.")
@click.option("--max-accuracy-regression", type=float, default=None, help="Points of accuracy the candidate may lose against --baseline (default 0.5).")
@click.option("--max-latency-regression-pct", type=float, default=None, help="Percent the p50 latency may grow against --baseline (default 10).")
@click.option("--benchmark/--no-benchmark", default=False, help="Also measure the candidate's latency (always on with --baseline).")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Write report.json/.md/.html here (standalone form); the run directory (MODEL form).")
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write JUnit XML here: one test case per gate.")
@click.option("--summary", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Write a Markdown summary here.")
@click.option("--force", is_flag=True, help="MODEL form: redo every stage.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def validate_command(**options: Any) -> None:
    """Check a candidate's accuracy parity against a reference; exit 1 when a gate fails.

    \b
    compile validate --reference resnet18 --candidate runs/resnet18-cpu-int8/model.ort.onnx --data imgs/
    compile validate --candidate runs/resnet18-cpu-int8 --baseline main/report.json --junit gates.xml
    compile validate resnet18 --profile cpu --precision int8
    """
    gates = api.parse_gates(options["gates"], options["metrics"])
    standalone = options["candidate"] is not None or options["reference"] is not None
    if standalone and options["model"]:
        raise UserInputError("give either MODEL (run the pipeline up to validate) or --candidate/--reference, not both")
    if not standalone and not options["model"]:
        raise UserInputError("nothing to validate: give --candidate (and --reference), or MODEL")
    if standalone:
        _standalone(options, gates)
    else:
        # With --baseline every pass runs, so latency is measured too; the run is judged against it.
        execute({**_PIPELINE_DEFAULTS, **options}, until=None if options["baseline"] is not None else "validate")


def _standalone(options: dict[str, Any], gates: dict[str, float]) -> None:
    if options["candidate"] is None:
        raise UserInputError("--reference needs --candidate (the model to check against it)")
    request = api.StandaloneRequest(
        candidate=options["candidate"], reference=options["reference"], data=options["data"], weights=options["weights"],
        samples=options["samples"], seed=options["seed"], confidence=options["confidence"], gates=gates,
        benchmark=options["benchmark"], baseline=options["baseline"], max_accuracy_regression=options["max_accuracy_regression"],
        max_latency_regression_pct=options["max_latency_regression_pct"], out=options["out"], strict=options["strict"],
        metrics=tuple(options["metrics"]), output_kinds=api.parse_output_kinds(options["output_kinds"]))
    log = (lambda line: click.echo(line, err=True)) if not options["quiet"] else (lambda line: None)
    report = api.validate(request, options["profile"], log)
    where = options["out"] / "report.json" if options["out"] else options["candidate"]
    finish(report, where, options, log)
