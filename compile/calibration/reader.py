"""ONNX Runtime's ``CalibrationDataReader`` over a stream of feeds (onnxruntime is imported lazily)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np


def make_reader(feeds: Iterable[dict[str, np.ndarray]]) -> Any:
    """A reader that hands ONNX Runtime's calibrators one feed dict per ``get_next`` call, lazily."""
    from onnxruntime.quantization import CalibrationDataReader

    class StreamingReader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, stream: Iterator[dict[str, np.ndarray]]) -> None:
            self._stream = stream

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._stream, None)

    return StreamingReader(iter(feeds))
