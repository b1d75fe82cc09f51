"""Report writers read back: JUnit XML, the Markdown summary, the self-contained HTML, and compare."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from compile.bench.interleave import block_order, measure_interleaved
from compile.report.html import render_html
from compile.report.junit import junit_xml, write_junit
from compile.report.summary import render_summary, write_summary
from compile.report.svg import Point, nice_ticks, scatter_svg
from tests.helpers import make_report

GATES = [
    {"name": "min_top1_agreement", "metric": "top1_agreement", "threshold": 0.97, "value": 0.95, "passed": False, "skipped": False, "reason": ""},
    {"name": "max_p99_ms", "metric": "p99_ms", "threshold": 8.0, "value": 6.5, "passed": True, "skipped": False, "reason": ""},
    {"name": "max_top1_drop", "metric": "top1_drop", "threshold": 1.0, "value": None, "passed": True, "skipped": True,
     "reason": "'top1_drop' was not measured"},
]


def _report(passed: bool = False, **extra: Any) -> dict[str, Any]:
    report = {
        "model": "resnet18", "profile": "cpu", "precision": "int8", "backend": "onnxruntime", "sparsity": "dense",
        "passed": passed, "gates": GATES if not passed else GATES[1:], "artifacts": {"final": "model.ort.onnx"},
        "accuracy": {"samples": 64, "data": "64 images", "top1_agreement": 0.95, "top1_drop": 1.5625, "reference_top1": 0.75,
                     "candidate_top1": 0.734375, "cosine_similarity": 0.998, "max_abs_error": 0.3, "non_finite": 0.0,
                     "confidence": {"level": 0.95, "resamples": 1000,
                                    "top1_agreement": {"value": 0.95, "low": 0.89, "high": 1.0, "confidence": 0.95, "resamples": 1000},
                                    "top1_drop": {"value": 1.5625, "low": 0.0, "high": 4.6875, "confidence": 0.95, "resamples": 1000}}},
        "latency": {"batch": 1, "p50_ms": 5.0, "p99_ms": 6.5, "min_ms": 4.2, "spread_pct": 3.0, "throughput_ips": 200.0,
                    "per_batch": [{"batch": 1, "min_ms": 4.2, "p50_ms": 5.0, "p90_ms": 6.0, "p99_ms": 6.5, "mean_ms": 5.1,
                                   "throughput_ips": 200.0, "spread_pct": 3.0},
                                  {"batch": 8, "min_ms": 30.0, "p50_ms": 33.0, "p90_ms": 35.0, "p99_ms": 40.0, "mean_ms": 33.5,
                                   "throughput_ips": 242.4, "spread_pct": 5.0}]},
        "machine": {"cpu": "Test CPU", "usable_cpus": 2, "logical_cpus": 4, "libraries": {"onnxruntime": "1.0"}},
        "metrics": {"top1_agreement": 0.95, "candidate_top1": 0.734375, "top1_drop": 1.5625, "cosine_similarity": 0.998,
                    "p50_ms": 5.0, "p99_ms": 6.5, "min_ms": 4.2, "spread_pct": 3.0, "throughput_ips": 200.0},
        "warnings": ["<script>alert(1)</script>"],
    }
    report.update(extra)
    return report


def test_junit_one_case_per_gate_with_value_and_threshold(tmp_path: Path) -> None:
    write_junit(tmp_path / "out" / "gates.xml", make_report(**_report()))
    root = ET.parse(tmp_path / "out" / "gates.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    assert suite.get("name") == "resnet18-cpu-int8"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["min_top1_agreement"].find("failure")
    assert failure is not None and failure.get("message") == "top1_agreement = 0.95, needs >= 0.97 (min_top1_agreement)"
    assert cases["max_top1_drop"].find("skipped") is not None
    assert cases["max_p99_ms"].find("failure") is None
    assert ET.fromstring(junit_xml([], "empty")).find("testsuite").get("tests") == "0"  # type: ignore[union-attr]


def test_markdown_summary_names_failures_and_intervals() -> None:
    text = render_summary(make_report(**_report()))
    assert text.startswith("### compile: FAILED: resnet18 on cpu (int8)")
    assert "- `min_top1_agreement`: top1_agreement = 0.95, needs >= 0.97" in text
    assert "| top-1 drop (points) | 1.562 (95% CI 0 to 4.688) |" in text
    assert "| top-1 agreement | 0.95 (95% CI 0.89 to 1) |" in text
    assert "Measured on Test CPU (2 usable CPUs); onnxruntime 1.0." in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 3  # every gate, skipped ones included, in the collapsible table


def test_summary_shows_skipped_gates_outside_the_details() -> None:
    """A gate whose metric the run did not measure is neither passed nor hidden: it is listed with its reason."""
    text = render_summary(make_report(**_report(passed=True)))
    head = text.split("<details>")[0]
    assert "Skipped gates (not checked: this run did not measure their metric):" in head
    assert "- `max_top1_drop`: 'top1_drop' was not measured" in head
    assert "Skipped gates" not in render_summary(make_report(**_report(passed=True, gates=GATES[1:2])))


def test_summary_appends_to_a_step_summary_file(tmp_path: Path) -> None:
    step = tmp_path / "step_summary_abc"
    step.write_text("earlier step\n")
    write_summary(step, make_report(**_report(passed=True)))
    text = step.read_text()
    assert text.startswith("earlier step\n") and "PASSED" in text
    fresh = tmp_path / "summary.md"
    write_summary(fresh, make_report(**_report(passed=True)))
    write_summary(fresh, make_report(**_report(passed=True)))
    assert fresh.read_text().count("### compile:") == 1


def test_html_is_self_contained_and_escaped() -> None:
    html = render_html(make_report(**_report()))
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "Latency per batch size" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "src=" not in html and "<link" not in html
    ET.fromstring(html[html.index("<svg"):html.index("</svg>") + 6])  # the plot is well-formed XML
    assert "0.89 to 1" in html  # interval column


def test_scatter_marks_passing_and_failing_variants() -> None:
    svg = scatter_svg([Point("fp32", 10.0, 75.0, True), Point("int8", 4.0, 70.0, False)], "ms", "top-1", "t")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}circle")) == 2  # one marker + the legend
    assert [t.text for t in root.iter(f"{ns}title") if t.text and ":" in t.text] == ["fp32: pass", "int8: FAIL"]
    assert nice_ticks(0.0, 9.3) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_interleaved_blocks_alternate_order() -> None:
    assert block_order(["a", "b", "c"], 0) == ["a", "b", "c"] and block_order(["a", "b", "c"], 1) == ["c", "b", "a"]
    calls: list[str] = []
    now = [0.0]

    def clock() -> float:
        return now[0]

    def step(name: str, ms: float) -> Any:
        def run() -> None:
            calls.append(name)
            now[0] += ms / 1000.0
        return run

    stats = measure_interleaved({"fast": step("fast", 1.0), "slow": step("slow", 3.0)}, batch=1, warmup=1, iterations=2,
                                rounds=3, clock=clock)
    assert calls == ["fast", "slow"] + ["fast"] * 2 + ["slow"] * 4 + ["fast"] * 4 + ["slow"] * 2
    assert stats["fast"].p50_ms == pytest.approx(1.0) and stats["slow"].min_ms == pytest.approx(3.0)
    assert stats["fast"].repeats == 3 and stats["fast"].spread_pct == pytest.approx(0.0)


def _run_dir(root: Path, name: str, precision: str, passed: bool, top1: float, p50: float) -> Path:
    run = root / name
    run.mkdir()
    report = _report(passed=passed, precision=precision)
    report["metrics"] = {"candidate_top1": top1, "top1_drop": 100 * (0.75 - top1), "p50_ms": p50, "cosine_similarity": 0.99}
    report["artifacts"] = {}
    (run / "report.json").write_text(json.dumps(report))
    return run


def test_compare_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    runs = [_run_dir(tmp_path, "m-fp32", "fp32", True, 0.75, 10.0), _run_dir(tmp_path, "m-fp16", "fp16", True, 0.75, 7.0),
            _run_dir(tmp_path, "m-int8", "int8", False, 0.70, 4.0)]
    main(["compare", *map(str, runs), "--out", str(tmp_path / "cmp")])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| m-")]
    assert [row.split(" | ")[0] for row in rows] == ["| m-fp32", "| m-fp16", "| m-int8"]
    assert "75.00 (top-1 accuracy %)" in rows[0] and rows[2].endswith("| **no** |")
    assert "Fastest variant that passes its gates: **m-fp16** (7 ms p50)." in out
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert "m-int8: FAIL" in html and "m-fp16: pass" in html
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [v["p50_ms"] for v in data] == [10.0, 7.0, 4.0]


def test_compare_missing_run_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from compile.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(tmp_path / "nope")])
    assert exit_.value.code == 2 and f"error: run report not found: {tmp_path / 'nope'}" in capsys.readouterr().err
