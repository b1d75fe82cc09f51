"""The inputs a run validates on: the user's arrays (``.npz``, a folder of them, a loader), real images
when the model takes images, else generated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compile.data.arrays import ArrayData, array_data, labels_list
from compile.data.generated import generate_inputs
from compile.data.images import ImageFolder, load_images, scan_image_folder
from compile.errors import UserInputError
from compile.hashing import hash_tree
from compile.models.spec import ModelInfo

EMBEDDED_IMAGES = Path(__file__).resolve().parent.parent / "assets" / "imagenet-sample"


#: Generated inputs when nothing says how many (generated data has no natural size).
DEFAULT_GENERATED = 64


@dataclass
class EvalSet:
    feeds: dict[str, np.ndarray]
    labels: list[int] | None
    description: str
    source: str
    skipped: list[str] = field(default_factory=list)
    #: Inputs the data offered (``size`` of them are used); ``None``: as many as were made (generated).
    available: int | None = None
    #: Arrays given beside the inputs, one entry per sample (``labels`` of any shape, user metadata).
    metadata: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(next(iter(self.feeds.values())))

    def batches(self, batch_size: int) -> list[dict[str, np.ndarray]]:
        return [{name: array[i:i + batch_size] for name, array in self.feeds.items()} for i in range(0, self.size, batch_size)]


def data_identity(info: ModelInfo, data: Path | None, samples: int | None, seed: int) -> str:
    """What the eval set depends on, for cache keys, without reading any image (array data is hashed)."""
    if (arrays := array_data(data, info.inputs)) is not None:
        return f"arrays:{arrays.identity(samples)}"
    if info.is_image_model:
        folder = data or EMBEDDED_IMAGES
        return f"images:{hash_tree(folder) if folder.is_dir() else folder}:{samples}"
    return f"generated:{seed}:{samples}:{[s.to_dict() for s in info.inputs]}"


def build_eval_set(info: ModelInfo, data: Path | None, samples: int | None, seed: int = 0) -> EvalSet:
    """The first ``samples`` inputs of ``data`` (every one when ``None``), else of the embedded sample or
    generated. The description says how many of how many were used (``64 of 500 images from DIR``).

    Raises :class:`UserInputError` for data that does not fit the model's inputs (one line)."""
    if (arrays := array_data(data, info.inputs)) is not None:
        return _array_eval_set(arrays, samples)
    if not info.is_image_model:
        if data is not None:
            raise UserInputError(not_images_message("--data", data, info))
        count = samples if samples is not None else DEFAULT_GENERATED
        feeds = generate_inputs(info.inputs, count, seed=seed)
        return EvalSet(feeds, None, f"{count} generated inputs (seed {seed}, value ranges from the input specs)", "generated")
    assert info.preprocessing is not None
    everything = scan_image_folder(data or EMBEDDED_IMAGES)
    folder: ImageFolder = everything.take(samples)
    images, labels = load_images(folder, info.preprocessing, limit=samples)
    name = info.inputs[0].name
    where = str(data) if data else "the embedded ImageNet sample"
    labeled = all(label is not None for label in labels)
    description = f"{len(labels)} of {len(everything)} images from {where}" + (" with labels" if labeled else " (no labels)")
    if folder.skipped:
        description += f", {len(folder.skipped)} unreadable skipped"
    return EvalSet({name: images}, [int(x) for x in labels if x is not None] if labeled else None, description,
                   "images", skipped=list(folder.skipped), available=len(everything))



def not_images_message(role: str, data: Path, info: ModelInfo) -> str:
    """The error for an image folder (or an unknown path) given to a model that takes no images."""
    takes = ", ".join(f"{s.name} ({s.dtype})" for s in info.inputs)
    return (f"{role} {data} is read as an image folder, but {info.name} takes {takes}: give an .npz file with one "
            "array per input, a folder of .npz files, or a loader package.module:function")


def _array_eval_set(arrays: ArrayData, samples: int | None) -> EvalSet:
    chunk = arrays.load(samples)
    available = arrays.available()
    labels = labels_list(chunk.extras)
    shown = f"{len(chunk)} of {available}" if available is not None else f"{len(chunk)}"
    description = f"{shown} samples from {arrays.describe()}" + (" with labels" if labels is not None else " (no labels)")
    return EvalSet(chunk.feeds, labels, description, arrays.kind, available=available if available is not None else len(chunk),
                   metadata=chunk.extras)
