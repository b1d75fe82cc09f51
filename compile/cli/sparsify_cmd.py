"""``compile sparsify``: prune MODEL to 2:4, recover by distillation and verify, stopping before the build."""

from __future__ import annotations

from typing import Any

import click

from compile.cli.options import run_options
from compile.cli.run_cmd import execute

#: The last sparsity stage a profile may have, in the order they are tried.
TARGET_STAGES = ("verify-sparsity", "sparsify-onnx", "sparsify")


@click.command("sparsify")
@run_options
def sparsify_command(**options: Any) -> None:
    """Prune MODEL to 2:4 (the profile's rules), recover it by distillation from the dense model, and verify the
    graph up to the build (after INT8 Q/DQ when --precision int8). Implies --sparsity 2:4."""
    from compile.backends.detect import default_profile_name
    from compile.profiles import load_profile

    if options["sparsity"] == "dense":
        options["sparsity"] = "2:4"
    profile = options["profile"] or default_profile_name()
    names = load_profile(profile).pass_names()
    # A profile without sparsity passes gets the pipeline's own message (after its check that the
    # profile allows 2:4 at all).
    until = next((stage for stage in TARGET_STAGES if stage in names), TARGET_STAGES[0])
    execute(options, until=until)


for _param in sparsify_command.params:
    if _param.name == "sparsity":
        _param.default = "2:4"
