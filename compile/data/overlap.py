"""Do the validation arrays overlap the calibration arrays? (The image-folder check is in ``compile.mixed.overlap``.)"""

from __future__ import annotations

from pathlib import Path

from compile.data.arrays import array_data
from compile.models.spec import ModelInfo


def array_overlap(info: ModelInfo, data: Path | None, samples: int | None, calib: Path | None, calib_size: int) -> str | None:
    """A warning when ``--data`` and ``--calib`` name the same array data or share samples (same inputs,
    by content), else ``None``. Data of different kinds (arrays against images or generated inputs)
    cannot share samples."""
    val, cal = array_data(data, info.inputs, "--data"), array_data(calib, info.inputs, "--calib")
    if val is None or cal is None:
        return None
    if str(val.ref) == str(cal.ref) or (val.ref.exists() and cal.ref.exists() and val.ref.resolve() == cal.ref.resolve()):
        return (f"validation and calibration data overlap: both are {val.describe()}; the search's accuracy is "
                "measured on samples the ranges were calibrated on (split it first: compile.data.split.split_data)")
    calibrated = set(cal.sample_hashes(calib_size))
    validated = val.sample_hashes(samples)
    shared = sum(1 for digest in validated if digest in calibrated)
    if shared:
        return (f"validation and calibration data overlap: {shared} of {len(validated)} validation samples "
                f"({val.describe()}) are also calibration samples ({cal.describe()})")
    return None
