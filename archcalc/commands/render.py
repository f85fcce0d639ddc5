"""`archcalc render`: draw a spec as a Graphviz diagram (DOT, SVG, PNG, PDF)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cli import force_option, handle_errors, parse_overrides, set_option, spec_argument

SUFFIX_FORMATS = {".gv": "dot", ".jpeg": "jpg"}  # suffixes whose format has another name


@click.command()
@spec_argument
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Where to write the diagram; '-' for standard output.")
@click.option("--format", "fmt", metavar="FORMAT",
              help="dot, svg, png or pdf (whatever the renderer makes); default: from the "
                   "suffix of FILE (DOT for '-').")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="Fold blocks nested deeper than N into one node each (0: every block).")
@click.option("--rankdir", type=click.Choice(["TB", "LR", "BT", "RL"], case_sensitive=False),
              default="TB", show_default=True, metavar="TB|LR|BT|RL",
              help="Top to bottom or left to right.")
@click.option("--chw", is_flag=True, help="Label edges C×H×W instead of H×W×C.")
@click.option("--expand-repeats", is_flag=True,
              help="Draw every instance of a repeated block (default: a run of identical "
                   "instances is drawn once, marked ×N).")
@force_option
@set_option
@handle_errors
def render(spec: str, output: str, fmt: str | None, depth: int | None, rankdir: str, chw: bool,
           expand_repeats: bool, force: bool, overrides: tuple[str, ...]) -> None:
    """Draw SPEC as a diagram: layers with their hyperparameters, params and MACs, edges
    labelled with tensor shapes, blocks as clusters.

    DOT needs no renderer; SVG and PNG use the system Graphviz `dot` when present, else the
    pip-installed graphviz-pure; PDF needs the system Graphviz.
    """
    from ..analysis import analyze
    from ..diagram import to_dot
    from ..dot_render import check_format, is_binary, render_dot
    from ..outputs import check_writable, write_atomic
    from ..spec import load_spec

    to_stdout = output == "-"
    fmt = check_format(_format(output, fmt, to_stdout))  # says what to install, before any work
    if not to_stdout:
        check_writable(output, force=force)
        named = _format(output, None, False) if Path(output).suffix else fmt
        if named != fmt:
            click.echo(f"note: writing {fmt.upper()} to '{output}', whose suffix says "
                       f"{named.upper()}", err=True)

    analysis = analyze(load_spec(spec, overrides=parse_overrides(overrides)))
    source = to_dot(analysis, depth=depth, rankdir=rankdir.upper(), chw=chw,
                    collapse_repeats=not expand_repeats)
    data, renderer = render_dot(source, fmt)
    if to_stdout:
        if is_binary(data) and sys.stdout.isatty():
            raise click.UsageError(f"{fmt.upper()} is binary; not writing it to a terminal. "
                                   f"Redirect it (> diagram.{fmt}) or give -o diagram.{fmt}.")
        click.echo(data, nl=False)  # bytes go to the binary stream
        click.echo(f"{fmt.upper()} of {analysis.name}; renderer: {renderer}", err=True)
        return
    path = write_atomic(output, data, force=force)
    click.echo(f"wrote {path} ({fmt.upper()}, {_size(len(data))}); renderer: {renderer}")


def _format(output: str, fmt: str | None, to_stdout: bool) -> str:
    """--format if given (dot_render.check_format cleans it up), else the output file's suffix;
    DOT for standard output."""
    if fmt:
        return fmt
    if to_stdout:
        return "dot"
    suffix = Path(output).suffix.lower()
    if not suffix:
        raise click.UsageError(f"cannot tell the format of '{output}' without a suffix. "
                               "Name it e.g. model.svg, or pass --format svg.")
    return SUFFIX_FORMATS.get(suffix, suffix.removeprefix("."))


def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 10_000 else f"{n / 1024:,.0f} KiB"


COMMANDS = [render]
