"""Split data in two disjoint parts (calibration/recovery vs evaluation).

``--calib`` and ``--data`` naming the same data both use it as given (the mixed-precision search warns
of the overlap); these split it first. An image folder's halves are symlinks with their own
``labels.csv``, so nothing is copied and each half is a valid ``--calib``/``--data`` folder; an ``.npz``
file's halves are two ``.npz`` files holding every array's first samples and the rest.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from compile.data.arrays import load_npz
from compile.errors import UserInputError


def split_labeled_folder(data: Path, into: Path, first: int, names: tuple[str, str] = ("calib", "eval")) -> tuple[Path, Path]:
    """``into/names[0]``: the first ``first`` rows of ``data/labels.csv``; ``into/names[1]``: the rest."""
    labels = data / "labels.csv"
    if not labels.is_file():
        raise UserInputError(f"{data} has no labels.csv to split")
    with labels.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not 0 < first < len(rows):
        raise UserInputError(f"cannot take the first {first} of {len(rows)} images of {data}")
    head, tail = into / names[0], into / names[1]
    for folder, part in ((head, rows[:first]), (tail, rows[first:])):
        folder.mkdir(parents=True, exist_ok=True)
        for row in part:
            link = folder / row["file"]
            if not link.is_symlink() and not link.exists():
                link.symlink_to((data / row["file"]).resolve())
        with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "label"])
            writer.writerows([row["file"], row["label"]] for row in part)
    return head, tail


def split_npz(data: Path, into: Path, first: int, names: tuple[str, str] = ("calib", "eval")) -> tuple[Path, Path]:
    """``into/<names[0]>.npz``: samples ``[0, first)`` of every array of ``data``; ``into/<names[1]>.npz``: the rest."""
    arrays = load_npz(data)
    counts = {array.shape[0] if array.ndim else 0 for array in arrays.values()}
    if len(counts) != 1:
        raise UserInputError(f"{data}: its arrays hold different sample counts ({sorted(counts)}): cannot split them")
    total = counts.pop()
    if not 0 < first < total:
        raise UserInputError(f"cannot take the first {first} of {total} samples of {data}")
    into.mkdir(parents=True, exist_ok=True)
    head, tail = into / f"{names[0]}.npz", into / f"{names[1]}.npz"
    np.savez(head, **{name: array[:first] for name, array in arrays.items()})  # type: ignore[arg-type]
    np.savez(tail, **{name: array[first:] for name, array in arrays.items()})  # type: ignore[arg-type]
    return head, tail


def split_data(data: Path, into: Path, first: int, names: tuple[str, str] = ("calib", "eval")) -> tuple[Path, Path]:
    """:func:`split_npz` for an ``.npz`` file, else :func:`split_labeled_folder`."""
    if data.suffix.lower() == ".npz":
        return split_npz(data, into, first, names)
    return split_labeled_folder(data, into, first, names)
