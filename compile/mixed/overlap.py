"""Is the search judged on the data the ranges were calibrated on? Say so when it is.

Validation data (``--data``) and calibration data (``--calib``) each default to the embedded ImageNet
sample. A search that validates on its own calibration images measures an optimistic error, so the
overlap (same folder, or files with the same content) is reported as a warning.
"""

from __future__ import annotations

from pathlib import Path

from compile.models.spec import ModelInfo


def describe_folder(folder: Path | None) -> str:
    return str(folder) if folder is not None else "the embedded ImageNet sample"


def data_overlap(info: ModelInfo, data: Path | None, samples: int | None, calib: Path | None, calib_size: int) -> str | None:
    """A warning when the validation inputs overlap the calibration inputs, else ``None``."""
    from compile.data.arrays import array_kind

    if array_kind(data) is not None or array_kind(calib) is not None:
        from compile.data.overlap import array_overlap

        return array_overlap(info, data, samples, calib, calib_size)
    if not info.is_image_model:
        return ("validation and calibration data overlap: both are generated inputs from the same seed (the model "
                "does not take images), so the search is measured on inputs like those it was calibrated on")
    from compile.data.eval_set import EMBEDDED_IMAGES
    from compile.data.images import scan_image_folder
    from compile.hashing import hash_file

    val_root, calib_root = data or EMBEDDED_IMAGES, calib or EMBEDDED_IMAGES
    if val_root.resolve() == calib_root.resolve():
        return (f"validation and calibration data overlap: both are {describe_folder(data)}; the search's accuracy "
                "is measured on images the ranges were calibrated on (give --data and --calib from separate sets)")
    val_files = scan_image_folder(val_root).take(samples).entries
    calib_files = scan_image_folder(calib_root).take(calib_size).entries
    calib_hashes = {hash_file(path.resolve()) for path, _ in calib_files}
    shared = sum(1 for path, _ in val_files if hash_file(path.resolve()) in calib_hashes)
    if shared:
        return (f"validation and calibration data overlap: {shared} of {len(val_files)} validation images "
                f"({describe_folder(data)}) are also calibration images ({describe_folder(calib)})")
    return None
