"""``compile quantize``: run MODEL's passes up to its precision stage and stop (INT8 unless told otherwise)."""

from __future__ import annotations

from typing import Any

import click

from compile import api
from compile.cli.options import run_options
from compile.cli.run_cmd import execute
from compile.errors import UserInputError


@click.command("quantize")
@run_options
def quantize_command(**options: Any) -> None:
    """Quantize MODEL: export, simplify, calibrate (--calib DIR, --calib-size N, --calib-method M) and insert
    INT8 Q/DQ in the profile's convention, stopping before the build. --precision fp16 casts to FP16 instead."""
    precision = options["precision"] or "int8"
    if precision not in api.STAGE_FOR_PRECISION:
        raise UserInputError(f"compile quantize makes an INT8 or FP16 model, not {precision}; use compile build for {precision}")
    options["precision"] = precision
    execute(options, until=api.STAGE_FOR_PRECISION[precision])


for _param in quantize_command.params:
    if _param.name == "precision":
        _param.default = "int8"
