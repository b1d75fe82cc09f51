"""Image folders: a flat folder (optionally with ``labels.csv`` of ``file,label``) or one subfolder per class.

Images are read lazily and preprocessed one at a time, so memory stays bounded whatever the folder's
size. Files that are not readable images are skipped and counted, never fatal on their own; a folder
with no readable image at all is an error.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compile.errors import UserInputError
from compile.models.spec import Preprocessing

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm")
LABELS_FILE = "labels.csv"
MIN_IMAGE_SIDE = 8


@dataclass
class ImageFolder:
    root: Path
    entries: list[tuple[Path, int | None]]
    skipped: list[str] = field(default_factory=list)

    @property
    def labeled(self) -> bool:
        return bool(self.entries) and all(label is not None for _, label in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def take(self, count: int | None, offset: int = 0) -> ImageFolder:
        end = None if count is None else offset + count
        return ImageFolder(self.root, self.entries[offset:end], list(self.skipped))


def scan_image_folder(root: Path) -> ImageFolder:
    """List a folder's images and labels (sorted, so runs are repeatable)."""
    if not root.exists():
        raise UserInputError(f"data folder not found: {root}")
    if not root.is_dir():
        raise UserInputError(f"data path is not a folder: {root}")
    labels_csv = root / LABELS_FILE
    if labels_csv.is_file():
        return _from_labels_csv(root, labels_csv)
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subfolders:
        entries: list[tuple[Path, int | None]] = []
        numeric = all(p.name.isdigit() for p in subfolders)
        for index, folder in enumerate(subfolders):
            label = int(folder.name) if numeric else index
            entries += [(path, label) for path in sorted(folder.iterdir()) if _looks_like_image(path)]
    else:
        entries = [(path, None) for path in sorted(root.iterdir()) if _looks_like_image(path)]
    if not entries:
        raise UserInputError(f"data folder {root} holds no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
    return ImageFolder(root, entries)


def _looks_like_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _from_labels_csv(root: Path, labels_csv: Path) -> ImageFolder:
    entries: list[tuple[Path, int | None]] = []
    with labels_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"file", "label"} <= set(reader.fieldnames):
            raise UserInputError(f"{labels_csv} must have a header 'file,label'")
        for line, row in enumerate(reader, start=2):
            path = root / row["file"]
            if not path.is_file():
                raise UserInputError(f"{labels_csv}:{line} names {row['file']}, which does not exist")
            try:
                label = int(row["label"])
            except (TypeError, ValueError) as err:
                raise UserInputError(f"{labels_csv}:{line}: label '{row['label']}' is not an integer") from err
            if label < 0:
                raise UserInputError(f"{labels_csv}:{line}: label {label} is negative")
            entries.append((path, label))
    if not entries:
        raise UserInputError(f"{labels_csv} lists no images")
    return ImageFolder(root, entries)


def preprocess_image(path: Path, pre: Preprocessing) -> np.ndarray:
    """One image -> float32 CHW array, as torchvision's Resize/CenterCrop/ToTensor/Normalize would."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if min(image.size) < MIN_IMAGE_SIDE:
            raise ValueError(f"image is {image.size[0]}x{image.size[1]}, smaller than {MIN_IMAGE_SIDE} pixels")
        rgb = image.convert("RGB")
    width, height = rgb.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = pre.resize, int(pre.resize * long / short)
    size = (new_short, new_long) if width <= height else (new_long, new_short)
    resample = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                "nearest": Image.Resampling.NEAREST}[pre.interpolation]
    rgb = rgb.resize(size, resample)
    left = int(round((size[0] - pre.crop) / 2.0))
    top = int(round((size[1] - pre.crop) / 2.0))
    rgb = rgb.crop((left, top, left + pre.crop, top + pre.crop))
    pixels: np.ndarray = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    if pre.channel_order == "BGR":
        pixels = pixels[..., ::-1]
    normalized: np.ndarray = (pixels - np.asarray(pre.mean, dtype=np.float32)) / np.asarray(pre.std, dtype=np.float32)
    return np.ascontiguousarray(normalized.transpose(2, 0, 1), dtype=np.float32)


def iter_batches(folder: ImageFolder, pre: Preprocessing, batch_size: int) -> Iterator[tuple[np.ndarray, list[int | None]]]:
    """Stream preprocessed batches; unreadable files are skipped and appended to ``folder.skipped``."""
    images: list[np.ndarray] = []
    labels: list[int | None] = []
    for path, label in folder.entries:
        try:
            images.append(preprocess_image(path, pre))
        except (OSError, ValueError, SyntaxError) as err:
            folder.skipped.append(f"{path.name}: {err}")
            continue
        labels.append(label)
        if len(images) == batch_size:
            yield np.stack(images), labels
            images, labels = [], []
    if images:
        yield np.stack(images), labels


def load_images(folder: ImageFolder, pre: Preprocessing, limit: int | None = None) -> tuple[np.ndarray, list[int | None]]:
    """Read up to ``limit`` readable images into one array (validation sets are small)."""
    arrays: list[np.ndarray] = []
    labels: list[int | None] = []
    for batch, batch_labels in iter_batches(folder, pre, batch_size=16):
        arrays.append(batch)
        labels += batch_labels
        if limit is not None and len(labels) >= limit:
            break
    if not arrays:
        raise UserInputError(f"data folder {folder.root} has no readable image ({len(folder.skipped)} skipped: {folder.skipped[0]})")
    stacked = np.concatenate(arrays)
    return (stacked[:limit], labels[:limit]) if limit is not None else (stacked, labels)
