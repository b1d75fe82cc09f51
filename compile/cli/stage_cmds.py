"""One command per stage: run the profile's passes up to that stage (reusing the cache), then stop."""

from __future__ import annotations

from typing import Any

import click

from compile.cli.options import run_options
from compile.cli.run_cmd import execute


def _stage_command(name: str, stage: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @run_options
    def command(**options: Any) -> None:
        execute(options, until=stage)

    return command


export_command = _stage_command("export", "export", "Export MODEL to ONNX and check it against PyTorch.")
simplify_command = _stage_command("simplify", "simplify", "Export and simplify MODEL's ONNX graph.")
build_command = _stage_command("build", "build", "Run MODEL's passes up to the profile's build stage (build-ort or build-trt).")
validate_command = _stage_command("validate", "validate", "Build MODEL, then check accuracy parity against the FP32 reference.")
benchmark_command = _stage_command("benchmark", "benchmark", "Build MODEL, then measure latency and throughput.")
