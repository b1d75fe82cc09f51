"""A content-addressed stage cache shared between run directories (``RunSettings.cache_dir``).

The pipeline's own cache is per run directory. When several runs compile the same model for
different targets (``compile matrix``), their target-independent stages (export, simplify, a
calibration over the same data) have the same key: the pass, its version, its resolved options and
the hashes of its inputs. This cache keeps one copy of such a stage's outputs and record under
``<cache_dir>/<key>/`` so another run directory can take them instead of running the pass again.

Entries are written once and never changed: a new entry is assembled in a temporary folder and
renamed into place, so a reader sees a whole entry or none. When two runs store the same key at the
same time, the first rename wins and the other simply discards its copy. Restored files are
hard-linked into the run directory when the file system allows it (passes always replace files by
rename, never write into them), else copied; their hash is checked against the record before use.
Only stages that produce an artifact are shared; measuring stages always run in each run.

The key (``compile.drivers.pipeline.stage_key``) covers the tool's version and the stage record's format;
entries sit in a folder named after this cache's own layout (``ENTRY_FORMAT``), so a cache filled by
code that laid entries out differently is never read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from compile.hashing import hash_file

RECORD_FILE = "record.json"
#: Bump when an entry's layout (files, record fields, relative paths) changes meaning.
ENTRY_FORMAT = 1
#: Artifact fields that name files (see compile.artifacts).
FILE_FIELDS = ("path", "sidecar")


def _output_files(output: dict[str, Any]) -> list[Path]:
    """The files of an output artifact record: each path field, plus ONNX external data beside it."""
    files = []
    for name in FILE_FIELDS:
        value = output.get(name)
        if value is None:
            continue
        path = Path(value)
        files.append(path)
        data = path.with_name(path.name + ".data")
        if name == "path" and data.is_file():
            files.append(data)
    return files


def _place(src: Path, dest: Path) -> None:
    """Put ``src`` at ``dest`` atomically: hard link where possible, else copy, then rename."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


class SharedStageCache:
    """Stage outputs and records by cache key, shared by every run that points at ``root``."""

    def __init__(self, root: Path) -> None:
        #: ``root`` as given (``RunSettings.cache_dir``); entries of this layout live in one folder below it.
        self.base = Path(root)
        self.root = self.base / f"entries-v{ENTRY_FORMAT}"

    def entry(self, key: str) -> Path:
        return self.root / key

    def store(self, key: str, record: dict[str, Any], run_dir: Path, stage: str = "") -> bool:
        """Keep a finished stage (its record as written in the run directory, paths inside it).

        Returns False when there is nothing to share (no output, or an output outside the run
        directory) or another run stored the key first; errors writing the cache never fail a run."""
        output = record.get("output")
        if not output or not output.get("path") or self.entry(key).is_dir():
            return False
        files = _output_files(output)
        run_root = run_dir.resolve()
        if any(path.resolve().parent != run_root or not path.is_file() for path in files):
            return False
        tmp = self.root / f".tmp-{key[:16]}-{uuid.uuid4().hex}"
        try:
            tmp.mkdir(parents=True)
            for path in files:
                _place(path, tmp / path.name)
            shared = {**record, "stage": stage}
            shared["output"] = {k: (Path(v).name if k in FILE_FIELDS and v is not None else v) for k, v in output.items()}
            (tmp / RECORD_FILE).write_text(json.dumps(shared, indent=2, default=str) + "\n", encoding="utf-8")
            os.rename(tmp, self.entry(key))
            return True
        except OSError:
            return False  # lost the race to another run (the entry exists), or the cache is not writable
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def restore(self, key: str, run_dir: Path, record_path: Path) -> bool:
        """Place the entry's files in ``run_dir`` and write its stage record at ``record_path``.

        The pipeline then loads the record as it loads any cached stage (checking the output hash).
        Returns False on a miss; an entry whose files do not match its record is removed."""
        entry = self.entry(key)
        try:
            shared = json.loads((entry / RECORD_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return False
        output = shared.get("output")
        if shared.get("key") != key or not output or not output.get("path"):
            return False
        local = {k: (str(run_dir / v) if k in FILE_FIELDS and v is not None else v) for k, v in output.items()}
        try:
            if hash_file(entry / output["path"]) != shared.get("output_hash"):
                self.discard(key)
                return False
            for path in _output_files({k: (str(entry / v) if k in FILE_FIELDS and v is not None else v)
                                       for k, v in output.items()}):
                _place(path, run_dir / path.name)
        except OSError:
            return False  # the entry went away while we read it: a miss
        record = {**shared, "output": local}
        tmp = record_path.with_name(f".{record_path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, record_path)
        return True

    def discard(self, key: str) -> None:
        """Remove an entry (rename it away first, so readers never see it half deleted)."""
        trash = self.root / f".trash-{uuid.uuid4().hex}"
        with contextlib.suppress(OSError):
            os.rename(self.entry(key), trash)
        shutil.rmtree(trash, ignore_errors=True)

    def keys(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")) if self.root.is_dir() else []

    def read_record(self, key: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads((self.entry(key) / RECORD_FILE).read_text(encoding="utf-8"))
        return result
