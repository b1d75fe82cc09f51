"""Deploy bundles of a finished run: a Triton Inference Server model repository, or a plain tarball.

``package_run(run_dir, "triton" | "tar", out)`` is the Python API behind ``compile package``.
"""

from __future__ import annotations

from pathlib import Path

from compile.errors import UserInputError

FORMATS = ("triton", "tar")


def package_run(run_dir: Path, fmt: str, out: Path | None = None, name: str | None = None) -> Path:
    """Bundle the run in ``run_dir``; returns the model folder (triton) or the archive (tar)."""
    from compile.package.bundle import read_run

    if fmt not in FORMATS:
        raise UserInputError(f"unknown package format '{fmt}' (known: {', '.join(FORMATS)})")
    run = read_run(run_dir, name)
    target = out if out is not None else run_dir / "package"
    if fmt == "triton":
        from compile.package.triton import write_triton_repository

        return write_triton_repository(run, target)
    from compile.package.tarball import write_tarball

    return write_tarball(run, target)
