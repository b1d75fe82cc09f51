"""Atomic writes: a file either appears whole under its final name or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compile.errors import OutputError


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file owner-only; an artifact gets the usual permissions (0666 less the umask).
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(final: Path, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(final: Path, value: Any) -> None:
    write_text_atomic(final, json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def cache_arrays(final: Path, arrays: dict[str, Any]) -> None:
    """Write ``arrays`` as an ``.npz`` cache entry, atomically; a cache that cannot be written is only slower."""
    import numpy as np

    try:
        with atomic_path(final) as tmp, tmp.open("wb") as stream:
            np.savez(stream, **arrays)
    except OSError:
        pass


def read_cached_arrays(path: Path) -> dict[str, Any] | None:
    """The arrays of an ``.npz`` cache entry; ``None`` when it is missing or unreadable (a damaged entry is removed)."""
    import numpy as np

    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None


def ensure_writable_dir(folder: Path) -> None:
    """Create ``folder`` and check we can write into it, with one clear error if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe", delete=True)
        probe.close()
    except OSError as err:
        raise OutputError(f"output folder {folder} is not writable: {err.strerror or err}") from err
