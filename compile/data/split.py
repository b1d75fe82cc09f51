"""Split a labeled image folder in two disjoint folders (calibration/recovery vs evaluation).

The halves are symlinks with their own ``labels.csv``, so nothing is copied and each half is a valid
``--calib``/``--data`` folder.
"""

from __future__ import annotations

import csv
from pathlib import Path

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
