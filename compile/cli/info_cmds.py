"""``compile passes``, ``compile profiles`` and ``compile schema``: what is available, without importing torch."""

from __future__ import annotations

import json

import click


@click.command("passes")
def passes_command() -> None:
    """List registered passes: name, what they consume and produce, and where they come from."""
    from compile.passes.registry import BUILTIN_PASSES, all_pass_targets, get_pass_class

    targets = all_pass_targets()
    width = max(len(name) for name in targets) + 1
    for name, target in targets.items():
        origin = "built-in" if name in BUILTIN_PASSES else f"plugin ({target})"
        try:
            cls = get_pass_class(name)
            click.echo(f"{name:{width}s} {'+'.join(cls.consumes):18s} -> {cls.produces or '(measures)':10s} {origin}: {cls.description}")
        except Exception as err:  # noqa: BLE001 - a broken plugin is reported, not fatal to the listing
            click.echo(f"{name:{width}s} cannot be loaded: {err}")


@click.group("profiles", invoke_without_command=True)
@click.pass_context
def profiles_group(ctx: click.Context) -> None:
    """List hardware profiles (``compile profiles show NAME`` prints one fully resolved)."""
    if ctx.invoked_subcommand is None:
        from compile.passes.registry import check_profile
        from compile.profiles import available_profiles, load_profile

        profiles = [check_profile(load_profile(name)) for name in available_profiles()]
        name_width = max((len(p.name) for p in profiles), default=0) + 1
        hw_width = max((len(p.hardware.name) for p in profiles), default=0) + 1
        for profile in profiles:
            click.echo(f"{profile.name:{name_width}s} {profile.backend:12s} {profile.hardware.name:{hw_width}s} {profile.description}")


@profiles_group.command("show")
@click.argument("name")
def show_profile(name: str) -> None:
    """Print profile NAME (or a profile file) with every default filled in, as JSON."""
    from compile.passes.registry import check_profile
    from compile.profiles import load_profile

    profile = check_profile(load_profile(name))
    click.echo(json.dumps(profile.model_dump(mode="json"), indent=2))


@profiles_group.command("check")
@click.argument("path")
def check_profile(path: str) -> None:
    """Validate a profile file; exit 2 with the problem if it is invalid."""
    from compile.passes.registry import check_profile
    from compile.profiles import load_profile

    profile = check_profile(load_profile(path))
    click.echo(f"ok: {profile.name} ({len(profile.passes)} passes)")


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema every report.json follows (docs/report.schema.json is this output)."""
    from compile.report.schema import report_json_schema

    click.echo(json.dumps(report_json_schema(), indent=2))
