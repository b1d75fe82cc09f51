"""``compile package RUN_DIR --format triton|tar|openvino``: a deploy bundle of a finished run."""

from __future__ import annotations

from pathlib import Path

import click

from compile import api


@click.command("package")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(api.PACKAGE_FORMATS), default="triton", show_default=True,
              help="triton: a Triton model repository (model.plan or model.onnx, config.pbtxt, manifest); "
                   "tar: one .tar.gz with the artifact, its sidecar, the report and a manifest; "
                   "openvino: an OpenVINO run's IR (model.xml, model.bin), its sidecar and a manifest.")
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where to write (default: RUN_DIR/package).")
@click.option("--name", default=None, help="Model name in the bundle (default: from the run's model).")
@click.option("--machine-specific", is_flag=True,
              help="ONNX Runtime CPU runs: ship the graph optimised for this CPU's instruction set (recorded in the "
                   "manifest) instead of the portable graph the server optimises at load.")
def package_command(run_dir: Path, fmt: str, out: Path | None, name: str | None, machine_specific: bool) -> None:
    """Bundle the run in RUN_DIR for deployment (a Triton model repository, or a tarball)."""
    written = api.package(run_dir, fmt, out, name, machine_specific=machine_specific,
                          log=lambda line: click.echo(line, err=True))
    click.echo(str(written))
