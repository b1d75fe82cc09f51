"""Measured per-op time from ONNX Runtime's profiler, joined by node name with the cost table.

The session is opened as the artifact's runner would open it (its sidecar's load optimisation, so a
built ``model.ort.onnx`` runs exactly the nodes the table lists), with ``enable_profiling`` on; the
trace's ``Node`` events named ``<node>_kernel_time`` give each node's kernel duration.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from compile.backends.ort.runner import session_options
from compile.errors import OnnxModelError, error_cause

KERNEL_SUFFIX = "_kernel_time"


def parse_trace(events: list[dict[str, Any]], runs: int) -> dict[str, float]:
    """Node name -> mean kernel milliseconds per run, from a Chrome-trace event list."""
    totals: dict[str, float] = {}
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith(KERNEL_SUFFIX):
            continue
        node = str(event["name"])[: -len(KERNEL_SUFFIX)]
        totals[node] = totals.get(node, 0.0) + float(event.get("dur", 0)) / 1000.0
    return {node: total / max(runs, 1) for node, total in totals.items()}


def profile_nodes(model_path: Path, feeds: dict[str, Any], iterations: int = 20, warmup: int = 3,
                  optimization: str = "disable", threads: int | None = None) -> dict[str, float]:
    """Run ``iterations`` profiled inferences (after ``warmup`` unprofiled ones are not possible in one
    session, so warm-up runs are profiled too and subtracted by running them first and discarding)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="compile-profile-") as scratch:
        options = session_options(threads, optimization)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(scratch) / "ort")
        try:
            session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001

            raise OnnxModelError(f"ONNX Runtime cannot profile {model_path.name}: {error_cause(err)}") from err
        for _ in range(warmup + iterations):
            session.run(None, feeds)
        trace = Path(session.end_profiling())
        events = json.loads(trace.read_text())
    # Drop the warm-up runs: keep each node's last ``iterations`` events.
    by_node: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event.get("cat") == "Node" and str(event.get("name", "")).endswith(KERNEL_SUFFIX):
            by_node.setdefault(event["name"], []).append(event)
    kept = [e for node_events in by_node.values() for e in node_events[-iterations:]]
    return parse_trace(kept, iterations)
