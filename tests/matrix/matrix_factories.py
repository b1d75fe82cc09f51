"""Model factories that misbehave, for the matrix's failure handling (imported by worker processes)."""

from __future__ import annotations

import os
from typing import Any


def raises() -> Any:
    raise RuntimeError("factory bug")


def dies() -> Any:
    os._exit(3)  # a worker that dies without a Python exception (as a crash in native code would)
