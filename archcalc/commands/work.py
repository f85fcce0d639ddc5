"""Showing the work: `archcalc conv`, `pool`, `explain`, `check` and `compare`.

`conv` and `pool` answer a single-layer question and exit 0 even when the layer does not
fit (the answer is "does not fit", with what would); `--strict` makes that exit 1.
`check` exits 1 when any claim or answer is wrong.
"""

from __future__ import annotations

import sys

import click

from ..cli import console, handle_errors, parse_overrides, set_option, spec_argument

_format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]),
                              default="text", show_default=True)
_rounding_option = click.option(
    "--rounding", type=click.Choice(["exact", "floor", "ceil"]), default="exact",
    show_default=True,
    help="exact: a fractional size does not fit; floor: PyTorch; ceil: Caffe.")
_strict_option = click.option("--strict", is_flag=True,
                              help="Exit 1 when the layer does not fit.")


def _input_option(func):
    return click.option(
        "--input", "input_text", required=True, metavar="HxWxC",
        help="Input size, H×W×C as the notes write it: 227x227x3; 7 means 7×7×1.")(func)


def _finish_layer(work, fmt: str, strict: bool) -> None:
    from .. import calculator

    if fmt == "json":
        import json

        click.echo(json.dumps(calculator.to_dict(work), indent=2, ensure_ascii=False))
    else:
        click.echo(calculator.render_text(work), nl=False)
    if strict and not work.fits:
        sys.exit(1)


@click.command()
@_input_option
@click.option("--kernel", required=True, metavar="F", help="Kernel size: 3, or 3x5 (H×W).")
@click.option("--stride", default="1", show_default=True, metavar="S", help="Stride: 2 or 2x1.")
@click.option("--padding", default="0", show_default=True, metavar="P",
              help="0, 1x2 (H×W), 1,1,0,2 (top,bottom,left,right), same or valid.")
@click.option("--filters", default=1, show_default=True, type=click.IntRange(min=1),
              help="Number of filters K (output channels).")
@click.option("--dilation", default="1", show_default=True, metavar="D")
@click.option("--groups", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--bias/--no-bias", default=True, show_default=True)
@_rounding_option
@_format_option
@_strict_option
@handle_errors
def conv(input_text: str, kernel: str, stride: str, padding: str, filters: int, dilation: str,
         groups: int, bias: bool, rounding: str, fmt: str, strict: bool) -> None:
    """One convolution worked out: output size, volume, params, MACs, receptive field.

    \b
    archcalc conv --input 227x227x3 --kernel 11 --stride 4 --filters 96
    archcalc conv --input 7 --kernel 3 --stride 3        # does not fit: what would
    """
    from .. import calculator as calc

    layer = calc.conv_layer(
        filters=filters, kernel=calc.parse_size(kernel, option="--kernel"),
        stride=calc.parse_size(stride, option="--stride"),
        padding=calc.parse_padding(padding, option="--padding"),
        dilation=calc.parse_size(dilation, option="--dilation"), groups=groups, bias=bias)
    work = calc.work_out(layer, calc.parse_input(input_text, option="--input"),
                         rounding=rounding)
    _finish_layer(work, fmt, strict)


@click.command()
@_input_option
@click.option("--kernel", required=True, metavar="F", help="Window size: 2, or 2x3 (H×W).")
@click.option("--stride", default=None, metavar="S", help="Stride [default: the kernel size].")
@click.option("--padding", default="0", show_default=True, metavar="P")
@click.option("--type", "mode", type=click.Choice(["max", "avg"]), default="max",
              show_default=True)
@click.option("--ceil", is_flag=True, help="Ceil rounding of the output size (Caffe).")
@_rounding_option
@_format_option
@_strict_option
@handle_errors
def pool(input_text: str, kernel: str, stride: str | None, padding: str, mode: str, ceil: bool,
         rounding: str, fmt: str, strict: bool) -> None:
    """One pooling layer worked out: output size, volume, cost, receptive field.

    \b
    archcalc pool --input 6x6 --kernel 2 --stride 2
    archcalc pool --input 55x55x96 --kernel 3 --stride 2
    """
    from .. import calculator as calc

    layer = calc.pool_layer(
        mode=mode, kernel=calc.parse_size(kernel, option="--kernel"),
        stride=calc.parse_size(stride, option="--stride") if stride is not None else None,
        padding=calc.parse_padding(padding, option="--padding"), ceil=ceil)
    work = calc.work_out(layer, calc.parse_input(input_text, option="--input"),
                         rounding=rounding)
    _finish_layer(work, fmt, strict)


@click.command()
@spec_argument
@click.argument("layer", required=False)
@_format_option
@set_option
@handle_errors
def explain(spec: str, layer: str | None, fmt: str, overrides: tuple[str, ...]) -> None:
    """Worked arithmetic per layer: output size, params, MACs, receptive field.

    LAYER is a layer's full name (conv3.1.conv), a block instance (inception_3a) or a
    repeated group (conv3); without it, every layer.
    """
    from .. import explain as explaining
    from ..analysis import analyze
    from ..spec import load_spec

    analysis = analyze(load_spec(spec, overrides=parse_overrides(overrides)))
    if fmt == "json":
        import json

        click.echo(json.dumps(explaining.to_dict(analysis, layer), indent=2,
                              ensure_ascii=False))
    else:
        click.echo(explaining.render_text(analysis, layer), nl=False)


COMMANDS = [conv, pool, explain]

_ = console  # used by the table commands below
