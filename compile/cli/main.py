"""Entry point: a lazily loading command group and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from compile import __version__
from compile.errors import CompileError

#: command name -> "module:attribute"; modules are imported only when the command runs or shows help.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("compile.cli.run_cmd:run_command", "Compile a model for a profile: every pass, then the report."),
    "export": ("compile.cli.stage_cmds:export_command", "Export a PyTorch model to ONNX (checked against PyTorch)."),
    "simplify": ("compile.cli.stage_cmds:simplify_command", "Export and simplify the ONNX graph."),
    "quantize": ("compile.cli.quantize_cmd:quantize_command", "Calibrate and insert INT8 Q/DQ (or cast to FP16), stopping before the build."),
    "sparsify": ("compile.cli.sparsify_cmd:sparsify_command", "Prune to 2:4, recover by distillation, verify (up to the build)."),
    "build": ("compile.cli.stage_cmds:build_command", "Run the passes up to the profile's build stage."),
    "validate": ("compile.cli.validate_cmd:validate_command", "Check accuracy parity of a candidate against a reference (or a stored run)."),
    "benchmark": ("compile.cli.stage_cmds:benchmark_command", "Build, then measure latency and throughput."),
    "analyze": ("compile.cli.analyze_cmd:analyze_command", "Per-layer MACs, FLOPs, params, bytes, activation zeros and measured time."),
    "compare": ("compile.cli.compare_cmd:compare_command", "Put several runs side by side: accuracy, FLOPs, latency, gates, one plot."),
    "package": ("compile.cli.package_cmd:package_command", "Bundle a run for deployment: Triton model repository or tarball."),
    "matrix": ("compile.cli.matrix_cmd:matrix_command", "Compile several models for several profiles (local pool or Ray); one report."),
    "passes": ("compile.cli.info_cmds:passes_command", "List the registered passes."),
    "profiles": ("compile.cli.info_cmds:profiles_group", "List hardware profiles, or show one fully resolved."),
    "schema": ("compile.cli.info_cmds:schema_command", "Print the JSON Schema of report.json."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, _, attr = COMMANDS[cmd_name][0].partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table above: listing commands imports none of them.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, help_text) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="compile")
def cli() -> None:
    """Compile a PyTorch or ONNX model into a validated, benchmarked artifact for one hardware target.

    Exit codes: 0 success, 1 a gate failed, 2 bad usage or bad input.
    """


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="compile", standalone_mode=False)
    except CompileError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        click.echo(f"error: {err.strerror or err}{where}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("error: interrupted; finished stages are kept and the next run resumes from them", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("error: interrupted; finished stages are kept and the next run resumes from them", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
