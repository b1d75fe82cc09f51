"""The calibration cache: tensor ranges saved under a key of model hash, data identity and method.

The pipeline's stage cache already skips a pass whose inputs did not change; this cache matters when
something else changes (the INT8 convention, which ops are quantized, the run directory) while the
model, the calibration data and the method stay the same. Entries live in a user cache folder
(``$COMPILE_CACHE_DIR/calibration``, else ``$XDG_CACHE_HOME/compile/calibration``, else
``~/.cache/compile/calibration``), so runs in different directories share them. Each entry is ONNX
Runtime's own range file (``<key>.json``) plus what the calibration used (``<key>.meta.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compile.fsutil import write_json_atomic
from compile.hashing import versioned_key

CACHE_ENV = "COMPILE_CACHE_DIR"
SUBDIR = "calibration"
#: Bump when the way ranges are computed changes.
FORMAT_VERSION = 1


def default_cache_dir(subdir: str = SUBDIR) -> Path:
    base = os.environ.get(CACHE_ENV)
    if base:
        return Path(base) / subdir
    xdg = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    return Path(xdg) / "compile" / subdir


def user_cache_folder(subdir: str, fallback: Path) -> Path:
    """``default_cache_dir(subdir)``, created; ``fallback`` when that is not writable."""
    folder = default_cache_dir(subdir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(str(folder))
    except OSError:
        return fallback
    return folder


def cache_key(model_hash: str, data_identity: dict[str, Any], method: str, method_options: dict[str, Any]) -> str:
    """Everything the ranges depend on: the model, the data, the method and its options, and the code that
    computed them (this tool's version, ``FORMAT_VERSION``, ONNX Runtime's calibrator's minor version)."""
    import onnxruntime

    return versioned_key(FORMAT_VERSION, model=model_hash, data=data_identity, method=method, options=method_options,
                         onnxruntime=".".join(onnxruntime.__version__.split(".")[:2]))


@dataclass(frozen=True)
class CacheEntry:
    folder: Path
    key: str

    @property
    def ranges_path(self) -> Path:
        return self.folder / f"{self.key}.json"

    @property
    def meta_path(self) -> Path:
        return self.folder / f"{self.key}.meta.json"

    def exists(self) -> bool:
        return self.ranges_path.is_file() and self.meta_path.is_file()

    def read_meta(self) -> dict[str, Any] | None:
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return meta if isinstance(meta, dict) else None

    def write(self, tensors_data: Any, meta: dict[str, Any]) -> None:
        """Save ranges then metadata (the metadata, written last, marks the entry complete)."""
        from onnxruntime.quantization.calibrate import save_tensors_data

        self.folder.mkdir(parents=True, exist_ok=True)
        save_tensors_data(tensors_data, self.ranges_path)
        write_json_atomic(self.meta_path, meta)

    def load(self) -> Any:
        from onnxruntime.quantization.calibrate import load_tensors_data

        return load_tensors_data(self.ranges_path)


def cache_entry(key: str, fallback: Path) -> CacheEntry:
    """The entry for ``key`` in the user cache folder, or in ``fallback`` when that is not writable."""
    return CacheEntry(user_cache_folder(SUBDIR, fallback), key)
