"""Content hashes for cache keys and the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import compile
from compile.onnx_io import external_data_files

_CHUNK = 1 << 20
#: The key of an ONNX tensor's external-data entry. A file without these bytes names no external data,
#: which spares parsing it; one with them (or a doc string saying it) is parsed without its weights.
_EXTERNAL_MARK = b"location"


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _update(digest: Any, path: Path, mark: bytes | None = None) -> bool:
    """Feed a file to ``digest``; return whether ``mark`` occurs in it (chunk boundaries included)."""
    found, tail = False, b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if mark is not None and not found:
                found = mark in tail + chunk
                tail = chunk[-(len(mark) - 1):]
    return found


def hash_file(path: Path) -> str:
    """SHA-256 of a file; for an ``.onnx`` file, also of every external data file its tensors name
    (``location``, whatever the file is called, in subgraphs and functions too), read in chunks.

    Raises OnnxModelError when an ONNX file names an external data file that is missing."""
    digest = hashlib.sha256()
    is_onnx = path.suffix.lower() == ".onnx"
    if not _update(digest, path, _EXTERNAL_MARK if is_onnx else None):
        return digest.hexdigest()
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - a corrupt file: loading it for use gives the clear error
        return digest.hexdigest()
    for location, part in external_data_files(model, path):
        digest.update(b"\0external:" + location.encode() + b"\0")
        _update(digest, part)
    return digest.hexdigest()


def hash_json(value: Any) -> str:
    """Hash of a JSON-serialisable value with sorted keys (stable across runs)."""
    return hash_bytes(json.dumps(value, sort_keys=True, default=str).encode())


def versioned_key(format_version: int, **parts: Any) -> str:
    """The key of a cache entry: ``parts`` (what its content depends on) and the code that computed it, this
    tool's version and the entry's ``format_version`` (bumped when the content's meaning changes), so an entry
    never outlives the code that filled it."""
    return hash_json({"format": format_version, "compile": compile.__version__, **parts})


def hash_tree(folder: Path, suffixes: tuple[str, ...] | None = None) -> str:
    """Hash of the names and contents of the files below a folder (a data set's identity)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if suffixes is not None and path.suffix.lower() not in suffixes and path.name != "labels.csv":
            continue
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(hash_file(path).encode())
    return digest.hexdigest()
