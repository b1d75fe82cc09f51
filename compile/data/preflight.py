"""Cheap checks of ``--data``/``--calib`` before any stage runs (the model's inputs are not known yet)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from compile.data.arrays import array_kind, npz_count
from compile.data.images import scan_image_folder
from compile.errors import UserInputError


def check_data_path(ref: Path, role: str = "--data") -> None:
    """Raise :class:`UserInputError` when ``ref`` cannot be data: a missing or unreadable ``.npz``, an
    empty folder, a loader whose module is not importable, a folder with no image. Shapes are checked
    where the data is read, against the model's inputs."""
    kind = array_kind(ref)
    if kind == "npz":
        if not ref.is_file():
            raise UserInputError(f"{role}: data file not found: {ref}")
        npz_count(ref)
    elif kind == "npz-folder":
        for path in sorted(p for p in ref.iterdir() if p.suffix.lower() == ".npz" and not p.name.startswith(".")):
            npz_count(path)
    elif kind == "loader":
        module = str(ref).partition(":")[0]
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise UserInputError(f"{role}: data loader '{ref}' not found: no module {module} "
                                 "(expected package.module:function, or an existing path)")
    else:
        scan_image_folder(ref)
