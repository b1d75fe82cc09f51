"""Content hashes for cache keys and the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_file(path: Path) -> str:
    """SHA-256 of a file, plus its ONNX external-data files if it has a ``.data`` sibling."""
    digest = hashlib.sha256()
    for part in (path, path.with_name(path.name + ".data")):
        if part.exists():
            with part.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
    return digest.hexdigest()


def hash_json(value: Any) -> str:
    """Hash of a JSON-serialisable value with sorted keys (stable across runs)."""
    return hash_bytes(json.dumps(value, sort_keys=True, default=str).encode())


def hash_tree(folder: Path, suffixes: tuple[str, ...] | None = None) -> str:
    """Hash of the names and contents of the files below a folder (a data set's identity)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if suffixes is not None and path.suffix.lower() not in suffixes and path.name != "labels.csv":
            continue
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(hash_file(path).encode())
    return digest.hexdigest()
