"""Fixtures for the matrix tests: a second CPU profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.matrix.matrix_helpers import write_cpu_variant


@pytest.fixture
def cpu_b(tmp_path: Path) -> Path:
    return write_cpu_variant(tmp_path)
