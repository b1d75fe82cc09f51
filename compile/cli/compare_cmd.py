"""``compile compare RUN_DIR...``: variants side by side, so the user picks the fastest that keeps accuracy."""

from __future__ import annotations

from pathlib import Path

import click

from compile import api


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write compare.md, compare.html (table and latency-vs-accuracy plot) and compare.json here.")
@click.option("--remeasure", is_flag=True, help="Time every variant again in alternating blocks in one process (fair on a shared machine).")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True, help="Alternating rounds for --remeasure.")
@click.option("--iterations", type=click.IntRange(min=1), default=20, show_default=True, help="Calls per block for --remeasure.")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Re-validate every run's final artifact on this data (as for `compile run --data`), so accuracy is compared on one basis.")
@click.option("--samples", type=click.IntRange(min=1), default=None, help="With --data: validate on this many of its inputs (default: all).")
def compare_command(run_dirs: tuple[Path, ...], out: Path | None, remeasure: bool, rounds: int, iterations: int,
                    data: Path | None, samples: int | None) -> None:
    """Compare runs (e.g. fp32, fp16, int8, sparse): accuracy, FLOPs, latency and gate verdicts.

    Runs validated on different inputs, sample counts or references are flagged, and their accuracy is ranked
    only among runs validated alike (or give --data to validate them all again on the same inputs)."""
    markdown = api.compare_runs(list(run_dirs), out, remeasure, rounds, iterations, log=lambda line: click.echo(line, err=True),
                                data=data, samples=samples)
    click.echo(markdown, nl=False)
