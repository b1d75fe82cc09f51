"""The latency/accuracy Pareto front: the models no other model beats on both at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    label: str
    latency_ms: float
    accuracy: float


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as fast and as accurate as ``b``, and strictly better in one."""
    return (a.latency_ms <= b.latency_ms and a.accuracy >= b.accuracy
            and (a.latency_ms < b.latency_ms or a.accuracy > b.accuracy))


def pareto_front(points: list[Point]) -> list[Point]:
    """The non-dominated points, fastest first (ties in both figures are all kept)."""
    front = [p for p in points if not any(dominates(q, p) for q in points)]
    return sorted(front, key=lambda p: (p.latency_ms, -p.accuracy, p.label))
