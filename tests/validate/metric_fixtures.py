"""User metrics for the tests: ones that misbehave, and one that declares no names."""

from __future__ import annotations

from typing import Any


def broken(reference: Any, candidate: Any, **_: Any) -> dict[str, float]:
    return {"ratio": 1 / 0}


def not_a_number(reference: Any, candidate: Any, **_: Any) -> dict[str, Any]:
    return {"quality": "good"}


def builtin_name(reference: Any, candidate: Any, **_: Any) -> dict[str, float]:
    return {"cosine_similarity": 1.0}


def undeclared(reference: Any, candidate: Any, labels: Any = None, metadata: Any = None) -> dict[str, float]:
    """Returns how many samples it saw and whether labels came along (no ``metric_names``: gates checked after it ran)."""
    first = next(iter(reference.values()))
    return {"seen": float(len(first)), "had_labels": float(labels is not None)}
