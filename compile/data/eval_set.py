"""The inputs a run validates (or calibrates) on: real images when the model takes images, else generated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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

    @property
    def size(self) -> int:
        return len(next(iter(self.feeds.values())))

    def batches(self, batch_size: int) -> list[dict[str, np.ndarray]]:
        return [{name: array[i:i + batch_size] for name, array in self.feeds.items()} for i in range(0, self.size, batch_size)]


def data_identity(info: ModelInfo, data: Path | None, samples: int | None, seed: int) -> str:
    """What the eval set depends on, for cache keys, without reading any image."""
    if info.is_image_model:
        folder = data or EMBEDDED_IMAGES
        return f"images:{hash_tree(folder) if folder.is_dir() else folder}:{samples}"
    return f"generated:{seed}:{samples}:{[s.to_dict() for s in info.inputs]}"


def build_eval_set(info: ModelInfo, data: Path | None, samples: int | None, seed: int = 0) -> EvalSet:
    """The first ``samples`` inputs of ``data`` (every one when ``None``), else of the embedded sample or
    generated. The description says how many of how many were used (``64 of 500 images from DIR``)."""
    if not info.is_image_model:
        if data is not None:
            raise UserInputError(f"--data gives images, but {info.name} takes {', '.join(f'{s.name} ({s.dtype})' for s in info.inputs)}")
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

