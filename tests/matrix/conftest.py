"""Fixtures for the matrix tests: a second CPU profile and a small ONNX model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO


def write_cpu_variant(folder: Path, name: str = "cpu-b") -> Path:
    """profiles/cpu.toml under another name, with other batch sizes and a shorter benchmark."""
    text = (REPO / "profiles" / "cpu.toml").read_text()
    text = re.sub(r'^name = "cpu"', f'name = "{name}"', text, count=1, flags=re.M)
    text = re.sub(r"^batch_sizes = .*$", "batch_sizes = [1, 4]", text, count=1, flags=re.M)
    text = re.sub(r"^iterations = .*$", "iterations = 10", text, count=1, flags=re.M)
    text = re.sub(r"^warmup = .*$", "warmup = 2", text, count=1, flags=re.M)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture
def cpu_b(tmp_path: Path) -> Path:
    return write_cpu_variant(tmp_path)
