"""Deploy bundles of a finished run: a Triton Inference Server model repository, a plain tarball, or an
OpenVINO IR folder.

``package_run(run_dir, "triton" | "tar" | "openvino", out)`` is the Python API behind ``compile package``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from compile.errors import UserInputError
from compile.package.bundle import read_run
from compile.package.openvino import write_openvino_bundle
from compile.package.tarball import write_tarball
from compile.package.triton import write_triton_repository

FORMATS = ("triton", "tar", "openvino")


def package_run(run_dir: Path, fmt: str, out: Path | None = None, name: str | None = None,
                machine_specific: bool = False, log: Callable[[str], None] = lambda line: None) -> Path:
    """Bundle the run in ``run_dir``; returns the model folder (triton) or the archive (tar).

    An ONNX Runtime CPU run ships its portable graph (the server optimises it for its own CPU) unless
    ``machine_specific``, which ships the artifact optimised here, marked with this CPU's instruction set."""

    if fmt not in FORMATS:
        raise UserInputError(f"unknown package format '{fmt}' (known: {', '.join(FORMATS)})")
    run = read_run(run_dir, name, machine_specific=machine_specific)
    for warning in run.warnings:
        log(f"warning: {warning}")
    target = out if out is not None else run_dir / "package"
    if fmt == "triton":
        return write_triton_repository(run, target)
    if fmt == "openvino":
        return write_openvino_bundle(run, target)

    return write_tarball(run, target)
