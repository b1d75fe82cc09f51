"""``compile compare``: several runs side by side, and latency against accuracy in one plot.

Each run directory's ``report.json`` gives accuracy, latency and the gate verdict; FLOPs are counted
from the run's final ONNX artifact. With ``remeasure``, the runs' artifacts are timed again in one
process in alternating blocks (see :mod:`compile.bench.interleave`), which is the fair way to
compare them on a shared machine; the stored figures may come from different, noisier moments.

Accuracy is compared like with like. Each run's accuracy has a *basis*: the inputs it was validated on
(their SHA-256 as fed, ``accuracy.data_sha256``; older reports: the data description), how many, and, for
agreement with a reference (no labels), the reference (``accuracy.reference_sha256``). Runs on different
bases are flagged, grouped (A, B, ...) and ranked on accuracy only within their group, each group with its
own plot; ``compile compare --data DIR`` re-validates every run on DIR so they share one basis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compile.analyze.api import AnalyzeRequest, analyze
from compile.artifacts import RuntimeArtifact, find_sidecar
from compile.backends import make_runner
from compile.bench.interleave import measure_interleaved
from compile.bench.machine import machine_info
from compile.data.generated import generate_inputs
from compile.errors import CompileError, UserInputError
from compile.fsutil import ensure_writable_dir, write_json_atomic, write_text_atomic
from compile.models.spec import InputSpec
from compile.report.html import render_compare_html
from compile.report.svg import Point
from compile.validate.baseline import load_report


@dataclass
class Variant:
    name: str
    run_dir: Path
    report: dict[str, Any]
    flops: int | None = None
    remeasured: dict[str, float] = field(default_factory=dict)
    #: The accuracy basis group (A, B, ...), set by :func:`group_bases`.
    group: str = ""
    #: Rank of the accuracy within the group (1: the most accurate).
    rank: int | None = None
    #: ``--data``: what the accuracy was re-validated on.
    revalidated: str | None = None

    @property
    def metrics(self) -> dict[str, float]:
        return self.report.get("metrics") or {}

    def accuracy(self) -> tuple[str, float | None]:
        """(what, value in %): labeled candidate top-1 when measured, else top-1 agreement."""
        m = self.metrics
        if "candidate_top1" in m:
            return "top-1 accuracy %", 100.0 * m["candidate_top1"]
        if "top1_agreement" in m:
            return "top-1 agreement %", 100.0 * m["top1_agreement"]
        return "cosine similarity", m.get("cosine_similarity")

    def basis(self) -> tuple[str, ...]:
        """What the accuracy figure is comparable on: the inputs (hash, else description), their count and, for
        agreement with a reference (no labels), the reference."""
        accuracy = self.report.get("accuracy") or {}
        data = accuracy.get("data_sha256") or f"{accuracy.get('data_source')}: {accuracy.get('data')}"
        key: tuple[str, ...] = (str(data), str(accuracy.get("samples")))
        if "candidate_top1" not in self.metrics:
            key += (str(accuracy.get("reference_sha256") or accuracy.get("reference")),)
        return key

    def basis_text(self) -> str:
        accuracy = self.report.get("accuracy") or {}
        digest = accuracy.get("data_sha256")
        text = f"{accuracy.get('data', 'unknown data')}" + (f" (inputs sha256 {digest[:12]})" if digest else " (no input hash recorded)")
        if len(self.basis()) > 2:
            text += f", agreement with {accuracy.get('reference', 'an unknown reference')}"
        else:
            text += ", labeled accuracy"
        return text

    def latency_ms(self) -> float | None:
        if "p50_ms" in self.remeasured:
            return self.remeasured["p50_ms"]
        return self.metrics.get("p50_ms")


def load_variants(run_dirs: list[Path]) -> list[Variant]:
    if not run_dirs:
        raise UserInputError("give at least one run directory to compare")
    variants = []
    names: dict[str, int] = {}
    for run_dir in run_dirs:
        report = load_report(run_dir, "run report")
        base = run_dir.name if run_dir.is_dir() else run_dir.parent.name
        names[base] = names.get(base, 0) + 1
        name = base if names[base] == 1 else f"{base}#{names[base]}"
        variants.append(Variant(name, run_dir if run_dir.is_dir() else run_dir.parent, report))
    return variants


def final_artifact(variant: Variant) -> Path | None:
    final = (variant.report.get("artifacts") or {}).get("final")
    if not final:
        return None
    path = Path(final) if Path(final).is_absolute() else variant.run_dir / final
    return path if path.is_file() else None


def count_flops(variant: Variant) -> int | None:
    """FLOPs at batch 1 of the variant's final ONNX artifact (None for engines or unreadable files)."""

    path = final_artifact(variant)
    if path is None or path.suffix != ".onnx":
        return None
    try:
        return analyze(AnalyzeRequest(model=path, batch=1)).total_flops
    except CompileError:
        return None


def remeasure_variants(variants: list[Variant], rounds: int, iterations: int, log: Callable[[str], None]) -> None:
    """Time every variant's artifact again at batch 1, alternating blocks in one process."""
    import contextlib
    import functools

    with contextlib.ExitStack() as stack:
        steps: dict[str, Callable[[], Any]] = {}
        for variant in variants:
            path = final_artifact(variant)
            if path is None:
                log(f"  {variant.name}: no final artifact, not re-measured")
                continue
            found = find_sidecar(path)
            for warning in found.warnings:
                log(f"  {variant.name}: warning: {warning}")
            artifact = RuntimeArtifact(path=path, backend=variant.report.get("backend", "onnxruntime"), sidecar=found.path)
            runner = stack.enter_context(make_runner(artifact, (variant.report.get("latency") or {}).get("threads")))
            specs = tuple(InputSpec.from_dict(d) for d in variant.report.get("inputs", []))
            feed = generate_inputs(specs, 1, seed=3)
            steps[variant.name] = functools.partial(runner.infer, feed)
        log(f"re-measuring {len(steps)} variants at batch 1: {rounds} rounds of {iterations} calls each, alternating")
        stats = measure_interleaved(steps, batch=1, warmup=5, iterations=iterations, rounds=rounds)
    for variant in variants:
        if variant.name in stats:
            s = stats[variant.name]
            variant.remeasured = {"p50_ms": s.p50_ms, "min_ms": s.min_ms, "p99_ms": s.p99_ms, "spread_pct": s.spread_pct}


def group_bases(variants: list[Variant]) -> list[str]:
    """Give every variant its basis group (A, B, ... in order of appearance) and its accuracy rank within the group;
    the lines that say what each group was validated on and how the groups differ (none: one basis)."""
    groups: dict[tuple[str, ...], str] = {}
    for variant in variants:
        variant.group = groups.setdefault(variant.basis(), chr(ord("A") + len(groups)) if len(groups) < 26 else f"G{len(groups)}")
        members = [v for v in variants if v.basis() == variant.basis()]
        values = sorted({acc for v in members if (acc := v.accuracy()[1]) is not None and math.isfinite(acc)}, reverse=True)
        _, acc = variant.accuracy()
        variant.rank = values.index(acc) + 1 if acc is not None and acc in values else None
    if len(groups) < 2:
        return []
    firsts = {group: next(v for v in variants if v.group == group) for group in groups.values()}
    differ = [what for what, index in (("inputs", 0), ("sample counts", 1)) if len({basis[index] for basis in groups}) > 1]
    if len({basis[2] for basis in groups if len(basis) > 2}) > 1 or len({len(basis) for basis in groups}) > 1:
        differ.append("references (or labeled accuracy beside agreement)")
    lines = [f"**Warning: these runs were validated on different {', '.join(differ) or 'bases'}: accuracy is comparable, and "
             "ranked, only within a group; `compile compare --data DIR` re-validates them all on DIR.**", ""]
    lines += [f"- {group}: {first.basis_text()}" for group, first in firsts.items()]
    return lines


HEADERS = ["variant", "precision", "sparsity", "validated on", "accuracy", "rank", "top-1 drop (pts)", "cosine", "GFLOPs",
           "p50 ms", "min ms", "p99 ms", "spread %", "throughput/s", "passed"]


def table_rows(variants: list[Variant]) -> list[list[Any]]:
    rows = []
    for v in variants:
        m = v.metrics
        what, acc = v.accuracy()
        source = v.remeasured or {**(v.report.get("latency") or {}), **m}
        rows.append([v.name, v.report.get("precision", "-"), v.report.get("sparsity", "-"), v.group or "-",
                     f"{acc:.2f} ({what})" if acc is not None else "-", f"{v.rank} in {v.group}" if v.rank else "-",
                     _num(m.get("top1_drop")), _num(m.get("cosine_similarity"), 6),
                     _num(v.flops / 1e9 if v.flops is not None else None), _num(v.latency_ms()), _num(source.get("min_ms")),
                     _num(source.get("p99_ms")), _num(source.get("spread_pct"), 3),
                     _num(1000.0 / v.remeasured["p50_ms"] if v.remeasured.get("p50_ms") else m.get("throughput_ips")),
                     "yes" if v.report.get("passed") else "**no**"])
    return rows


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def render_markdown(variants: list[Variant], remeasured: bool) -> str:
    basis = group_bases(variants)
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table_rows(variants)]
    if basis:
        lines += ["", *basis]
    elif variants and variants[0].revalidated:
        lines += ["", f"Accuracy re-validated on {variants[0].revalidated}: one basis for every run ({variants[0].basis_text()})."]
    if remeasured:
        info = machine_info()
        libs = ", ".join(f"{k} {v}" for k, v in (info.get("libraries") or {}).items())
        note = (f"latency re-measured now in alternating blocks (batch 1, one process, spinning off) on {info['cpu']} "
                f"({info['usable_cpus']} usable CPUs; {libs})")
    else:
        note = "latency as stored in each report (batch 1, each on the machine its report records); --remeasure times them again side by side"
    lines += ["", f"Accuracy: labeled top-1 when the run had labels, else top-1 agreement with the FP32 reference; {note}."]
    passing = [v for v in variants if v.report.get("passed") and v.latency_ms() is not None]
    if passing:
        best = min(passing, key=lambda v: v.latency_ms() or math.inf)
        lines.append(f"Fastest variant that passes its gates: **{best.name}** ({_num(best.latency_ms())} ms p50).")
    else:
        lines.append("No variant passes its gates.")
    return "\n".join(lines) + "\n"


def points(variants: list[Variant]) -> tuple[list[Point], str]:
    label = variants[0].accuracy()[0] if variants else "accuracy"
    pts = []
    for v in variants:
        _, acc = v.accuracy()
        lat = v.latency_ms()
        if acc is not None and lat is not None:
            pts.append(Point(v.name, float(lat), float(acc), bool(v.report.get("passed"))))
    return pts, label


def render_html(variants: list[Variant], remeasured: bool) -> str:
    """The table, and one latency-vs-accuracy plot per basis group (accuracy on different bases is not one axis)."""
    basis = group_bases(variants)
    groups = list(dict.fromkeys(v.group for v in variants))
    plots = []
    for group in groups:
        members = [v for v in variants if v.group == group]
        pts, label = points(members)
        plots.append((f"Latency against accuracy, group {group}" if len(groups) > 1 else "Latency against accuracy", pts, label))
    notes = [line.replace("**", "").removeprefix("- ") for line in basis if line]
    return render_compare_html("compile compare", HEADERS, [[str(c).replace("**", "") for c in row] for row in table_rows(variants)],
                               plots, notes)


def compare_runs(run_dirs: list[Path], out: Path | None = None, remeasure: bool = False, rounds: int = 5,
                 iterations: int = 20, log: Callable[[str], None] = lambda line: None,
                 revalidated: dict[Path, dict[str, Any]] | None = None, data: str | None = None) -> str:
    """The comparison of ``run_dirs`` as Markdown; with ``out``, also ``compare.md``, ``compare.html`` (table and
    latency-vs-accuracy plot per basis group) and ``compare.json`` there. ``remeasure`` times every variant again in
    alternating blocks (``rounds`` of ``iterations`` calls) in this process. ``revalidated``: per run directory, a
    report of its final artifact validated again on common ``data``, whose accuracy replaces the stored one."""
    variants = load_variants(run_dirs)
    for run_dir, variant in zip(run_dirs, variants, strict=True):
        if revalidated is not None and run_dir in revalidated:
            fresh = revalidated[run_dir]
            variant.report = {**variant.report, "accuracy": fresh.get("accuracy"),
                              "metrics": {**variant.metrics, **(fresh.get("metrics") or {})}}
            variant.revalidated = data
    for variant in variants:
        variant.flops = count_flops(variant)
    if remeasure:
        remeasure_variants(variants, rounds, iterations, log)
    markdown = render_markdown(variants, remeasure)
    if out is not None:
        ensure_writable_dir(out)
        write_text_atomic(out / "compare.md", markdown)
        write_text_atomic(out / "compare.html", render_html(variants, remeasure))
        write_json_atomic(out / "compare.json", [
            {"name": v.name, "run_dir": str(v.run_dir), "precision": v.report.get("precision"), "passed": v.report.get("passed"),
             "accuracy": v.accuracy()[1], "accuracy_metric": v.accuracy()[0], "flops": v.flops, "p50_ms": v.latency_ms(),
             "remeasured": v.remeasured or None, "basis_group": v.group, "accuracy_rank": v.rank,
             "validated_on": v.basis_text(), "revalidated_on": v.revalidated, "metrics": v.metrics} for v in variants])
        log(f"wrote {out / 'compare.html'}")
    return markdown
