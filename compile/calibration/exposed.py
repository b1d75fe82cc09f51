"""Float runs of an ONNX model with chosen inner tensors exposed as graph outputs.

What the statistics passes read (GPTQ's input moments, bias correction's input means, SmoothQuant's channel
ranges, the range search's histograms): one session of the float model, optimisation off, per calibration
batch. ``quiet_ort`` keeps ONNX Runtime's own printing out of the CLI's output.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from compile.errors import PassError, error_cause

Feed = dict[str, np.ndarray]


@contextlib.contextmanager
def quiet_ort() -> Iterator[None]:
    """ONNX Runtime's calibrators print progress, log warnings and let NumPy warn (histograms of huge
    ranges); keep the CLI's output clean."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def exposed_tensors(model: Any, tensors: Iterable[str], what: str) -> Iterator[Callable[[Feed], Feed]]:
    """A function ``feed -> {name: array}`` running ``model`` (an ``onnx.ModelProto`` the caller loaded for
    this: ``tensors`` are added to its graph outputs) on the CPU; its result holds every graph output and the
    feed's own arrays (graph inputs).

    Optimisation is off: fused or renamed nodes would hide the tensors asked for. Raises ``PassError``
    naming ``what`` when ONNX Runtime cannot load the exposed graph."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    present = {o.name for o in model.graph.output} | {i.name for i in model.graph.input}
    for tensor in sorted(set(tensors) - present):
        model.graph.output.append(helper.make_empty_tensor_value_info(tensor))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="compile-exposed-") as scratch, quiet_ort():
        path = Path(scratch) / "exposed.onnx"
        onnx.save(model, str(path))
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - ORT raises anything on graphs it cannot load
            raise PassError(f"{what}: cannot run the float model with its tensors exposed: {error_cause(err, 300)}") from err
        names = [o.name for o in session.get_outputs()]

        def run(feed: Feed) -> Feed:
            values = dict(zip(names, session.run(None, feed), strict=True))
            values.update(feed)
            return values

        yield run


def first_inputs(batches: Iterable[Feed], limit: int) -> Iterator[tuple[Feed, int]]:
    """``batches`` cut to their first ``limit`` inputs in all: each batch (the last one truncated) with its
    number of inputs (axis 0)."""
    used = 0
    for feed in batches:
        if used >= limit:
            return
        count = min(len(next(iter(feed.values()))), limit - used)
        yield {name: value[:count] for name, value in feed.items()}, count
        used += count
