"""The gate-driven search: it stops as soon as the gates pass and keeps only the layers needed."""

from __future__ import annotations

import pytest

from compile.mixed.search import Evaluation, search_float_layers

RANKED = [f"layer{i}" for i in range(40)]


def needs(required: set[str], calls: list[list[str]]):  # noqa: ANN201 - a test double
    def evaluate(layers: list[str]) -> Evaluation:
        calls.append(list(layers))
        passed = required <= set(layers)
        return Evaluation(layers, passed, {"top1_agreement": 1.0 if passed else 0.9},
                          [] if passed else ["min_top1_agreement"])
    return evaluate


def test_all_int8_passing_stops_at_once() -> None:
    calls: list[list[str]] = []
    result = search_float_layers(RANKED, needs(set(), calls))
    assert result.passed and result.float_layers == []
    assert calls == [[]]


@pytest.mark.parametrize("needed", [1, 3, 5, 8, 13, 40])
def test_keeps_exactly_the_needed_prefix(needed: int) -> None:
    calls: list[list[str]] = []
    result = search_float_layers(RANKED, needs(set(RANKED[:needed]), calls))
    assert result.passed
    assert result.float_layers == RANKED[:needed]
    assert result.chosen is not None and result.chosen.float_layers == RANKED[:needed]
    # Doubling never goes past twice what is needed, and the whole search is logarithmic.
    assert max(len(c) for c in calls) <= min(2 * needed, len(RANKED))
    assert len(calls) <= 2 + 2 * max(needed - 1, 1).bit_length()
    assert len({len(c) for c in calls}) == len(calls)  # no candidate is measured twice


def test_stops_as_soon_as_the_gate_passes() -> None:
    calls: list[list[str]] = []
    search_float_layers(RANKED, needs({"layer0", "layer1"}, calls))
    assert [len(c) for c in calls] == [0, 1, 2]


def test_unreachable_gate_reports_failure() -> None:
    calls: list[list[str]] = []
    result = search_float_layers(RANKED[:5], needs({"not-ranked"}, calls))
    assert not result.passed
    assert result.float_layers == RANKED[:5]
    assert [len(c) for c in calls] == [0, 1, 2, 4, 5]


def test_empty_ranking_fails_cleanly() -> None:
    result = search_float_layers([], needs({"x"}, []))
    assert not result.passed and result.float_layers == [] and len(result.evaluations) == 1


def test_report_records_each_step() -> None:
    result = search_float_layers(RANKED, needs(set(RANKED[:3]), []))
    record = result.to_dict()
    assert record["evaluations"] == len(record["steps"]) == 5  # 0, 1, 2, 4, then 3
    assert [s["float_layers"] for s in record["steps"]] == [0, 1, 2, 4, 3]
    assert [s["passed"] for s in record["steps"]] == [False, False, False, True, True]


def passes_at(counts: set[int], calls: list[int]):  # noqa: ANN201 - a test double
    """A gate that passes at these prefix lengths only: under 2 flips in 400, pass/fail is not monotone."""
    def evaluate(layers: list[str]) -> Evaluation:
        calls.append(len(layers))
        passed = len(layers) in counts
        return Evaluation(layers, passed, {}, [] if passed else ["min_top1_agreement"])
    return evaluate


def test_scan_finds_an_early_pass_that_bisection_skips() -> None:
    lucky = {3} | set(range(20, 41))
    calls: list[int] = []
    scanned = search_float_layers(RANKED, passes_at(lucky, calls), scan=16)
    assert scanned.passed and len(scanned.float_layers) == 3 and calls == [0, 1, 2, 3]
    calls.clear()
    bisected = search_float_layers(RANKED, passes_at(lucky, calls))
    assert bisected.passed and len(bisected.float_layers) == 20  # 1, 2, 4, 8, 16 fail; 32 passes; bisect to 20
    assert 3 not in calls


def test_scan_then_doubling_beyond_its_counts() -> None:
    calls: list[int] = []
    result = search_float_layers(RANKED, passes_at(set(range(21, 41)), calls), scan=4)
    assert result.passed and len(result.float_layers) == 21
    assert calls[:6] == [0, 1, 2, 3, 4, 8] and calls[6:8] == [16, 32]
    assert len(calls) == len(set(calls))


def test_scan_over_the_whole_ranking_fails_cleanly() -> None:
    calls: list[int] = []
    result = search_float_layers(RANKED[:5], passes_at(set(), calls), scan=16)
    assert not result.passed and result.float_layers == RANKED[:5] and calls == [0, 1, 2, 3, 4, 5]
