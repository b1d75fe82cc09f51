"""The gate-driven search: it stops as soon as the gates pass and keeps only the layers needed."""

from __future__ import annotations

import pytest

from compile.mixed.search import Evaluation, search_float_layers
from compile.passes.mixed_precision import priority_order

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


def test_priority_prefers_error_per_ms_saved() -> None:
    scores = [("big-slow", 0.30), ("big-cheap", 0.20), ("small", 0.01), ("mid", 0.05), ("harmless", -0.02)]
    # INT8 saves 3 ms on big-slow, 0.1 ms on big-cheap: keeping big-cheap in float costs little.
    savings = {"big-slow": 3.0, "big-cheap": 0.1, "small": 1.0, "mid": 0.5, "harmless": 1.0}
    order = [name for name, _ in priority_order(scores, savings)]
    # Savings under the median (0.75 ms) count as the median: big-cheap 0.27, big-slow 0.1, mid 0.067, small 0.01.
    assert order == ["big-cheap", "big-slow", "mid", "small"]  # harmless layers are never candidates
    assert [name for name, _ in priority_order(scores)] == ["big-slow", "big-cheap", "mid", "small"]


def test_priority_floor_for_layers_int8_does_not_speed_up() -> None:
    scores = [("a", 0.5), ("b", 0.3), ("free", 0.001)]
    order = priority_order(scores, {"a": 1.0, "b": 0.2, "free": -0.2})
    # 'free' and 'b' are charged the median saving (0.6 ms): noise in small timings does not reorder them.
    assert [name for name, _ in order] == ["a", "b", "free"]
