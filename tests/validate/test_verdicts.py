"""PASS / FAIL / INCONCLUSIVE from hand-built intervals, the samples that would settle a gate, strict mode, and the
three states (and skipped) in JUnit, report.md, the CI summary and the exit code."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from compile.validate.bootstrap import BOOTSTRAP, ZERO_EVENT, samples_needed, zero_event_bound
from compile.validate.gates import evaluate_gates
from tests.helpers import invoke, make_report, make_tiny_classifier


def interval(value: float, low: float, high: float, samples: int = 100, method: str = BOOTSTRAP) -> dict[str, object]:
    return {"value": value, "low": low, "high": high, "confidence": 0.95, "resamples": 1000, "samples": samples, "method": method}


def test_three_verdicts_from_the_interval() -> None:
    metrics = {"top1_agreement": 0.98, "top5_agreement": 0.999, "top1_drop": 0.5, "cosine_similarity": 0.995}
    intervals = {"top1_agreement": interval(0.98, 0.95, 0.99), "top5_agreement": interval(0.999, 0.99, 1.0),
                 "top1_drop": interval(0.5, -0.5, 1.5)}
    gates = {g.name: g for g in evaluate_gates({"min_top1_agreement": 0.97, "min_top5_agreement": 0.98, "max_top1_drop": 1.0,
                                                "min_cosine_similarity": 0.99}, metrics, intervals)}
    # The point passes, the lower bound 0.95 does not clear 0.97: more samples would settle it.
    top1 = gates["min_top1_agreement"]
    assert top1.verdict == "inconclusive" and top1.passed and not top1.skipped
    assert top1.detail["samples_needed"] == 900  # 100 * ((0.98 - 0.95) / (0.98 - 0.97))^2
    assert "INCONCLUSIVE, the 95% interval reaches 0.95; about 900 samples would settle it (100 now)" in top1.message()
    assert gates["min_top5_agreement"].verdict == "pass" and gates["min_top5_agreement"].detail["judged_on"] == "interval"
    drop = gates["max_top1_drop"]
    assert drop.verdict == "inconclusive" and drop.detail["samples_needed"] == 400  # 100 * ((1.5 - 0.5) / (1.0 - 0.5))^2
    # No interval for the cosine: judged on the point, and the result says so.
    assert gates["min_cosine_similarity"].verdict == "pass"
    assert gates["min_cosine_similarity"].detail == {"judged_on": "point (no interval for this metric)"}
    failed = evaluate_gates({"min_top1_agreement": 0.99}, metrics, intervals)[0]
    assert failed.verdict == "fail" and not failed.passed  # the point misses, whatever the interval


def test_zero_event_intervals_need_the_exact_count() -> None:
    """64 samples that all agree: the agreement's lower bound is 1 - (0.025)^(1/64) = 0.944, short of 0.97;
    ln(0.025) / ln(0.97) = 121.1, so 122 samples that all agree would settle it."""
    bound = zero_event_bound(64)
    assert 1 - bound == pytest.approx(0.9440, abs=1e-4)
    assert samples_needed(1.0, 1 - bound, 0.97, 64, 0.95, ZERO_EVENT) == 122
    assert samples_needed(0.0, 100 * bound, 1.5, 64, 0.95, ZERO_EVENT) == math.ceil(math.log(0.025) / math.log(1 - 0.015))
    assert samples_needed(0.97, 0.95, 0.97, 64, 0.95, BOOTSTRAP) is None  # the point at the threshold: no count settles it
    gate = evaluate_gates({"min_top1_agreement": 0.97}, {"top1_agreement": 1.0},
                          {"top1_agreement": interval(1.0, 1 - bound, 1.0, 64, ZERO_EVENT)})[0]
    assert gate.verdict == "inconclusive" and gate.detail["samples_needed"] == 122
    assert gate.detail["samples_needed"] == samples_needed(1.0, 1 - zero_event_bound(122), 0.97, 122, 0.95, ZERO_EVENT)
    assert 1 - zero_event_bound(122) >= 0.97 > 1 - zero_event_bound(121)


def test_strict_makes_an_inconclusive_gate_fail() -> None:
    metrics, intervals = {"top1_agreement": 0.98}, {"top1_agreement": interval(0.98, 0.95, 0.99)}
    gate = evaluate_gates({"min_top1_agreement": 0.97}, metrics, intervals, strict=True)[0]
    assert gate.verdict == "inconclusive" and not gate.passed and "strict" in gate.reason


def test_a_gate_over_several_outputs_takes_the_worst_verdict() -> None:
    metrics = {"top1_agreement": 0.99, "top1_agreement.a": 0.99, "top1_agreement.b": 0.985}
    intervals = {"top1_agreement.a": interval(0.99, 0.985, 1.0), "top1_agreement.b": interval(0.985, 0.96, 1.0)}
    gate = evaluate_gates({"min_top1_agreement": 0.98}, metrics, intervals)[0]
    assert gate.verdict == "inconclusive" and gate.detail["output"] == "b" and gate.value == 0.985
    gate = evaluate_gates({"min_top1_agreement": 0.986}, metrics, intervals)[0]
    assert gate.verdict == "fail" and gate.detail["output"] == "b"


@pytest.mark.parametrize("strict", [False, True])
def test_junit_markdown_and_summary_carry_the_three_states_and_skipped(strict: bool) -> None:
    from compile.report.junit import junit_xml
    from compile.report.markdown import render_markdown
    from compile.report.summary import render_summary

    metrics = {"top1_agreement": 0.98, "cosine_similarity": 0.95, "top5_agreement": 1.0}
    intervals = {"top1_agreement": interval(0.98, 0.95, 0.99), "top5_agreement": interval(1.0, 0.99, 1.0)}
    gates = evaluate_gates({"min_top1_agreement": 0.97, "min_cosine_similarity": 0.99, "min_top5_agreement": 0.98,
                            "max_top1_drop": 1.0}, metrics, intervals, strict=strict)
    suite = ET.fromstring(junit_xml(gates, "suite")).find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    verdicts = {name: case.find("properties/property[@name='verdict']").get("value") for name, case in cases.items()}  # type: ignore[union-attr]
    assert verdicts == {"min_top1_agreement": "inconclusive", "min_cosine_similarity": "fail", "min_top5_agreement": "pass",
                        "max_top1_drop": "skipped"}
    assert cases["max_top1_drop"].find("skipped") is not None
    assert cases["min_cosine_similarity"].find("failure").get("type") == "GateFailed"  # type: ignore[union-attr]
    inconclusive = cases["min_top1_agreement"]
    if strict:
        assert inconclusive.find("failure").get("type") == "GateInconclusive"  # type: ignore[union-attr]
        assert suite.get("failures") == "2"
    else:
        assert inconclusive.find("failure") is None
        assert inconclusive.find("system-out").text.startswith("INCONCLUSIVE: top1_agreement = 0.98")  # type: ignore[union-attr]
        assert suite.get("failures") == "1"
    report = make_report(gates=[g.to_dict() for g in gates], passed=False)
    markdown = render_markdown(report)
    assert "| `min_top1_agreement` | 0.98 | 0.97 | **INCONCLUSIVE**: interval reaches 0.95; about 900 samples" in markdown
    assert "| `min_cosine_similarity` | 0.95 | 0.99 | **FAIL** |" in markdown
    assert "| `min_top5_agreement` | 1 | 0.98 | pass |" in markdown
    assert "| `max_top1_drop` | - | 1 | skipped: 'top1_drop' was not measured |" in markdown
    summary = render_summary(report)
    assert "Inconclusive gates" in summary and "- `min_top1_agreement`: top1_agreement = 0.98" in summary
    assert ("strict: they fail" in summary) == strict
    assert "Failed gates:\n\n- `min_cosine_similarity`" in summary


def test_exit_code_is_0_with_a_loud_line_and_1_when_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """8 generated inputs that all agree cannot certify 97% agreement (the exact bound allows 63%): INCONCLUSIVE."""
    model = make_tiny_classifier(tmp_path / "m.onnx")
    base = ["validate", "--reference", str(model), "--candidate", str(model), "--samples", "8", "--profile", "cpu", "--quiet",
            "--gate", "max_top1_drop=100"]
    code, out, err = invoke([*base, "--out", str(tmp_path / "v"), "--junit", str(tmp_path / "g.xml")], capsys)
    assert code == 0, err
    assert out.startswith("PASSED (1 gate INCONCLUSIVE, passed on the point value only: min_top1_agreement;")
    assert "min_top1_agreement: INCONCLUSIVE (top1_agreement = 1, needs >= 0.97" in err  # printed although --quiet
    report = json.loads((tmp_path / "v" / "report.json").read_text())
    gate = next(g for g in report["gates"] if g["name"] == "min_top1_agreement")
    assert gate["verdict"] == "inconclusive" and gate["passed"] and gate["detail"]["samples_needed"] == 122
    assert report["passed"] is True

    code, out, _ = invoke([*base, "--strict"], capsys)
    assert code == 1 and out.startswith("FAILED")

    text = (Path(__file__).resolve().parents[2] / "profiles" / "cpu.toml").read_text().replace("[gates]\n", "[gates]\nstrict = true\n", 1)
    strict_profile = tmp_path / "strict.toml"
    strict_profile.write_text(text)
    code, out, _ = invoke([*base[:-5], "--profile", str(strict_profile), "--quiet", "--gate", "max_top1_drop=100"], capsys)
    assert code == 1 and out.startswith("FAILED")
