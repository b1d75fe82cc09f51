"""``compile analyze``: where the FLOPs, the bytes and (with --profile-run) the time go, per layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from compile import api


@click.command("analyze")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON (layers, totals, not_counted).")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size the counts are for.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Measure ReLU/Clip zero shares on this image folder.")
@click.option("--activations", is_flag=True, help="Measure ReLU/Clip zero shares (on --data, else the embedded sample or generated inputs).")
@click.option("--samples", type=click.IntRange(min=1), default=16, show_default=True, help="Inputs for the activation statistics.")
@click.option("--profile-run", is_flag=True, help="Join per-op time from ONNX Runtime's profiler (best on a built model.ort.onnx).")
@click.option("--iterations", type=click.IntRange(min=1), default=20, show_default=True, help="Profiled runs (--profile-run).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads for --profile-run.")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Only the N costliest layers (by time when profiled, else FLOPs).")
@click.option("--all", "show_all", is_flag=True, help="Also list view/shape ops (no cost).")
def analyze_command(model: Path, as_json: bool, batch: int, data: Path | None, activations: bool, samples: int,
                    profile_run: bool, iterations: int, threads: int | None, top: int | None, show_all: bool) -> None:
    """Per-layer MACs, FLOPs, params, bytes moved and arithmetic intensity of MODEL (an ONNX file or a run directory)."""
    request = api.AnalyzeRequest(model=model, batch=batch, data=data, samples=samples, activations=activations,
                             profile_run=profile_run, iterations=iterations, threads=threads)
    result = api.analyze(request, log=lambda line: click.echo(line, err=True))
    if as_json:
        payload: dict[str, Any] = result.to_dict()
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        click.echo(api.render_analysis(result, top=top, skip_views=not show_all), nl=False)
