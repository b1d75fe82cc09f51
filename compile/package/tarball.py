"""A plain tarball of a run: the model file (for an ONNX Runtime CPU run, the portable graph, see
bundle.py), its sidecar, the report and a manifest, under one folder.

Members are sorted with fixed owner and time, so packaging the same run twice gives the same archive.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from compile.artifacts import sidecar_name
from compile.fsutil import atomic_path, ensure_writable_dir
from compile.package.bundle import RunBundle
from compile.package.manifest import MANIFEST_FILE, build_manifest

#: The archive's timestamp for every member (reproducible archives).
FIXED_MTIME = 0


def tarball_name(run: RunBundle) -> str:
    report = run.report
    return f"{run.name}-{report.get('profile', 'profile')}-{report.get('precision', 'fp32')}.tar.gz"


def write_tarball(run: RunBundle, out: Path) -> Path:
    ensure_writable_dir(out)
    files: dict[str, Path | bytes] = {run.shipped.name: run.shipped}
    for location, data in run.external_files:
        files[location] = data
    if run.backend == "tensorrt" and run.sidecar_path is not None:
        files[run.sidecar_path.name] = run.sidecar_path
    elif run.sidecar:
        # The settings for the graph shipped (portable: optimise at load), where compile validate finds them.
        files[sidecar_name(run.shipped.name)] = json.dumps(run.session, indent=2, sort_keys=True).encode() + b"\n"
    for extra in ("report.json", "report.md", "report.html", "trt-build.log"):
        if (run.run_dir / extra).is_file():
            files[extra] = run.run_dir / extra
    manifest = json.dumps(build_manifest(run, "tar", files), indent=2).encode() + b"\n"
    archive = out / tarball_name(run)
    with atomic_path(archive) as tmp:
        with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=FIXED_MTIME) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            entries = sorted([(name, content if isinstance(content, bytes) else content.read_bytes())
                              for name, content in files.items()] + [(MANIFEST_FILE, manifest)])
            for name, content in entries:
                info = tarfile.TarInfo(f"{run.name}/{name}")
                info.size, info.mtime, info.mode = len(content), FIXED_MTIME, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(content))
    return archive
