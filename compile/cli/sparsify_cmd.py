"""``compile sparsify``: prune MODEL to 2:4, recover by distillation and verify, stopping before the build."""

from __future__ import annotations

from typing import Any

import click

from compile import api
from compile.cli.options import run_options
from compile.cli.run_cmd import execute


@click.command("sparsify")
@run_options
def sparsify_command(**options: Any) -> None:
    """Prune MODEL to 2:4 (the profile's rules), recover it by distillation from the dense model, and verify the
    graph up to the build (after INT8 Q/DQ when --precision int8). Implies --sparsity 2:4."""
    if options["sparsity"] == "dense":
        options["sparsity"] = "2:4"
    profile = api.load_profile(options["profile"] or api.default_profile_name())
    execute(options, until=api.sparsity_stage(profile), profile=profile)


for _param in sparsify_command.params:
    if _param.name == "sparsity":
        _param.default = "2:4"
