"""``compile passes``, ``compile profiles`` and ``compile schema``: what is available, without importing torch."""

from __future__ import annotations

import json

import click

from compile import api


@click.command("passes")
def passes_command() -> None:
    """List registered passes: name, what they consume and produce, and where they come from."""
    listings = api.list_passes()
    width = max(len(p.name) for p in listings) + 1
    for p in listings:
        if p.error is not None:
            click.echo(f"{p.name:{width}s} cannot be loaded: {p.error}")
        else:
            click.echo(f"{p.name:{width}s} {'+'.join(p.consumes):18s} -> {p.produces or '(measures)':10s} {p.origin}: {p.description}")


@click.group("profiles", invoke_without_command=True)
@click.pass_context
def profiles_group(ctx: click.Context) -> None:
    """List hardware profiles (``compile profiles show NAME`` prints one fully resolved)."""
    if ctx.invoked_subcommand is None:
        profiles = api.list_profiles()
        name_width = max((len(p.name) for p in profiles), default=0) + 1
        hw_width = max((len(p.hardware.name) for p in profiles), default=0) + 1
        for profile in profiles:
            click.echo(f"{profile.name:{name_width}s} {profile.backend:12s} {profile.hardware.name:{hw_width}s} {profile.description}")


@profiles_group.command("show")
@click.argument("name")
def show_profile(name: str) -> None:
    """Print profile NAME (or a profile file) with every default filled in, as JSON."""
    click.echo(json.dumps(api.load_profile(name).model_dump(mode="json"), indent=2))


@profiles_group.command("check")
@click.argument("path")
def check_profile(path: str) -> None:
    """Validate a profile file; exit 2 with the problem if it is invalid."""
    profile = api.load_profile(path)
    click.echo(f"ok: {profile.name} ({len(profile.passes)} passes)")


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema every report.json follows (docs/report.schema.json is this output)."""
    click.echo(json.dumps(api.report_schema(), indent=2))
