"""``compile compare RUN_DIR...``: variants side by side, so the user picks the fastest that keeps accuracy."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write compare.md, compare.html (table and latency-vs-accuracy plot) and compare.json here.")
@click.option("--remeasure", is_flag=True, help="Time every variant again in alternating blocks in one process (fair on a shared machine).")
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True, help="Alternating rounds for --remeasure.")
@click.option("--iterations", type=click.IntRange(min=1), default=20, show_default=True, help="Calls per block for --remeasure.")
def compare_command(run_dirs: tuple[Path, ...], out: Path | None, remeasure: bool, rounds: int, iterations: int) -> None:
    """Compare runs (e.g. fp32, fp16, int8, sparse): accuracy, FLOPs, latency and gate verdicts."""
    from compile.fsutil import ensure_writable_dir, write_json_atomic, write_text_atomic
    from compile.report import compare

    variants = compare.load_variants(list(run_dirs))
    for variant in variants:
        variant.flops = compare.count_flops(variant)
    if remeasure:
        compare.remeasure(variants, rounds, iterations, lambda line: click.echo(line, err=True))
    markdown = compare.render_markdown(variants, remeasure)
    click.echo(markdown, nl=False)
    if out is not None:
        ensure_writable_dir(out)
        write_text_atomic(out / "compare.md", markdown)
        write_text_atomic(out / "compare.html", compare.render_html(variants, remeasure))
        write_json_atomic(out / "compare.json", [
            {"name": v.name, "run_dir": str(v.run_dir), "precision": v.report.get("precision"), "passed": v.report.get("passed"),
             "accuracy": v.accuracy()[1], "accuracy_metric": v.accuracy()[0], "flops": v.flops, "p50_ms": v.latency_ms(),
             "remeasured": v.remeasured or None, "metrics": v.metrics} for v in variants])
        click.echo(f"wrote {out / 'compare.html'}", err=True)
