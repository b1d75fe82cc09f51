"""Splitting a labeled folder into disjoint calibration and evaluation folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from compile.data.images import scan_image_folder
from compile.data.split import split_labeled_folder
from compile.errors import UserInputError


def test_split_is_disjoint_and_keeps_labels(sample_images: Path, tmp_path: Path) -> None:
    head, tail = split_labeled_folder(sample_images, tmp_path, 10)
    first, rest = scan_image_folder(head), scan_image_folder(tail)
    assert len(first) == 10 and len(rest) == 54
    assert not {p.name for p, _ in first.entries} & {p.name for p, _ in rest.entries}
    original = dict((p.name, label) for p, label in scan_image_folder(sample_images).entries)
    assert all(original[p.name] == label for p, label in first.entries + rest.entries)
    again = split_labeled_folder(sample_images, tmp_path, 10)  # idempotent
    assert again == (head, tail)


def test_split_rejects_bad_counts(sample_images: Path, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="cannot take the first 64 of 64"):
        split_labeled_folder(sample_images, tmp_path, 64)
    with pytest.raises(UserInputError, match="no labels.csv"):
        split_labeled_folder(tmp_path, tmp_path / "x", 1)
