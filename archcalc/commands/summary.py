"""`archcalc summary` and `archcalc list`."""

from __future__ import annotations

import click

from ..cli import console, handle_errors, parse_overrides, set_option, spec_argument


@click.command()
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
    from ..analysis import analyze
    from ..report import render
    from ..spec import load_spec

    analysis = analyze(load_spec(spec, overrides=parse_overrides(overrides)), dtype=dtype)
    options = {"depth": depth, "chw": chw}
    if fmt == "table":
        options["wide"] = wide
    out = render(analysis, fmt, **options)
    if isinstance(out, str):
        click.echo(out, nl=not out.endswith("\n"))
    else:
        console().print(out)


@click.command(name="list")
def list_specs() -> None:
    """List the bundled specs."""
    from ..spec import bundled_names

    for name in bundled_names():
        click.echo(name)



COMMANDS = [summary, list_specs]
