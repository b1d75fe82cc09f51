"""Where calibration inputs come from, and what identifies them for the calibration cache.

``--calib`` may give arrays for any model (an ``.npz`` file, a folder of them, or a loader
``package.module:function``; :mod:`compile.data.arrays`), checked against the model's inputs and
streamed a batch at a time. Otherwise image models read a folder (``--calib``, else the embedded
ImageNet sample) through the model's own preprocessing, one batch at a time, so memory does not grow
with the number of images; models that do not take images calibrate on generated inputs from their
input specs (seeded, repeatable).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compile.data.arrays import ArrayData, array_data
from compile.data.eval_set import EMBEDDED_IMAGES, not_images_message
from compile.data.generated import generate_inputs
from compile.data.images import ImageFolder, iter_batches, scan_image_folder
from compile.errors import UserInputError
from compile.hashing import hash_file, hash_json
from compile.models.spec import ModelInfo

#: How many skipped file names a record keeps (the count is always complete).
SKIPPED_LISTED = 10


@dataclass
class CalibrationStats:
    """What one pass over the calibration data used and skipped."""

    used: int = 0
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"images_used": self.used, "skipped": len(self.skipped), "skipped_files": self.skipped[:SKIPPED_LISTED]}


@dataclass(frozen=True)
class CalibrationSource:
    """The calibration inputs of one model: ``size`` samples, streamed ``batch_size`` at a time."""

    info: ModelInfo
    folder: Path | None = None
    size: int = 64
    batch_size: int = 8
    seed: int = 0

    @property
    def arrays(self) -> ArrayData | None:
        """The ``--calib`` arrays, when it names array data."""
        return array_data(self.folder, self.info.inputs, "--calib")

    @property
    def uses_images(self) -> bool:
        return self.info.is_image_model and self.arrays is None

    @property
    def root(self) -> Path:
        return self.folder or EMBEDDED_IMAGES

    def describe(self) -> str:
        if (arrays := self.arrays) is not None:
            return f"up to {self.size} samples from {arrays.describe()}"
        if not self.uses_images:
            return f"{self.size} generated inputs (seed {self.seed})"
        where = str(self.folder) if self.folder else "the embedded ImageNet sample"
        return f"up to {self.size} images from {where}"

    def _images(self) -> ImageFolder:
        if self.folder is None and not EMBEDDED_IMAGES.is_dir():
            raise UserInputError(f"the embedded calibration images are missing ({EMBEDDED_IMAGES}); give --calib DIR")
        try:
            return scan_image_folder(self.root).take(self.size)
        except UserInputError as err:
            raise UserInputError(f"calibration data: {err}") from err

    def identity(self) -> dict[str, Any]:
        """What the calibration ranges depend on: file contents (not paths), count, preprocessing."""
        if (arrays := self.arrays) is not None:
            return {"arrays": arrays.identity(self.size), "size": self.size}
        if not self.uses_images:
            if self.folder is not None:
                raise UserInputError(not_images_message("--calib", self.folder, self.info))
            return {"generated": self.seed, "size": self.size, "batch": self.batch_size,
                    "inputs": [spec.to_dict() for spec in self.info.inputs]}
        folder = self._images()
        assert self.info.preprocessing is not None  # image models have preprocessing
        files = hash_json([hash_file(path) for path, _ in folder.entries])
        return {"images": files, "count": len(folder), "preprocessing": self.info.preprocessing.to_dict(),
                "input": self.info.inputs[0].name}

    def batches(self, stats: CalibrationStats) -> Iterator[dict[str, np.ndarray]]:
        """Stream feeds batch by batch; ``stats`` counts what was used and skipped.

        Raises :class:`UserInputError` when not one input could be read, or when array data does not fit
        the model's inputs."""
        if (arrays := self.arrays) is not None:
            for chunk in arrays.batches(self.batch_size, self.size):
                stats.used += len(chunk)
                yield chunk.feeds
            if stats.used == 0:
                raise UserInputError(f"--calib {arrays.describe()} holds no samples")
            return
        if not self.uses_images:
            for start in range(0, self.size, self.batch_size):
                count = min(self.batch_size, self.size - start)
                stats.used += count
                yield generate_inputs(self.info.inputs, count, seed=self.seed + start)
            return
        folder = self._images()
        assert self.info.preprocessing is not None
        name = self.info.inputs[0].name
        for images, _ in iter_batches(folder, self.info.preprocessing, self.batch_size):
            stats.used += len(images)
            stats.skipped[:] = folder.skipped
            yield {name: images}
        stats.skipped[:] = folder.skipped
        if stats.used == 0:
            first = f": {folder.skipped[0]}" if folder.skipped else ""
            raise UserInputError(f"calibration folder {self.root} has no readable image ({len(folder.skipped)} skipped{first})")

