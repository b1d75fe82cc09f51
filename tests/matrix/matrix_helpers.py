"""Helpers for the matrix tests."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


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
