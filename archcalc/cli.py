"""The `archcalc` command line: thin commands that parse, call the library and print.

ArchcalcError -> its message on stderr and exit 1; misuse -> click's usage error, exit 2.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import click

from .errors import ArchcalcError


def _console(stderr: bool = False):
    """A rich console; when output is piped, wide enough that no number is cut."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def handle_errors(command):
    """Print ArchcalcError as one clean message (exit 1); --traceback shows the stack."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return command(*args, **kwargs)
        except ArchcalcError as exc:
            if click.get_current_context().find_root().params.get("traceback"):
                raise
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """--set key=value pairs; values read as YAML scalars (true, 3, 0.5, text)."""
    from .yaml_source import parse_yaml

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{pair}' is not key=value", param_hint="--set")
        overrides[key.strip()] = parse_yaml(value, "--set")
    return overrides


spec_argument = click.argument("spec", metavar="SPEC")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a network parameter declared under params:.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--traceback", is_flag=True, help="Show the Python traceback on errors.")
@click.version_option(package_name="archcalc")
def cli(traceback: bool) -> None:
    """Exact shapes, parameters, MACs and receptive fields of CNNs declared in YAML.

    SPEC is a path to a YAML spec or the name of a bundled one (e.g. vgg16).
    """


@cli.command()
@spec_argument
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]),
              default="table", show_default=True)
@click.option("--chw", is_flag=True, help="Show shapes as C×H×W instead of H×W×C.")
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Fold blocks nested deeper than N into one row each (0: every block).")
@click.option("--wide", is_flag=True, help="Add weights, bias and FLOPs columns.")
@click.option("--dtype", type=click.Choice(["float32", "float64", "float16", "bfloat16", "int8"]),
              default="float32", show_default=True, help="For memory sizes.")
@set_option
@handle_errors
def summary(spec: str, fmt: str, chw: bool, depth: int | None, wide: bool, dtype: str,
            overrides: tuple[str, ...]) -> None:
    """Per-layer table of shapes, params, MACs and receptive fields, with totals."""
    from .analysis import analyze
    from .report import render
    from .spec import load_spec

    analysis = analyze(load_spec(spec, overrides=parse_overrides(overrides)), dtype=dtype)
    options = {"depth": depth, "chw": chw}
    if fmt == "table":
        options["wide"] = wide
    out = render(analysis, fmt, **options)
    if isinstance(out, str):
        click.echo(out, nl=not out.endswith("\n"))
    else:
        _console().print(out)


@cli.command(name="list")
def list_specs() -> None:
    """List the bundled specs."""
    from .spec import bundled_names

    for name in bundled_names():
        click.echo(name)


def main() -> None:
    cli(prog_name="archcalc")
