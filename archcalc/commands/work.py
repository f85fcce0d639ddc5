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
    "--rounding", type=click.Choice(["exact", "floor", "ceil"]), default=None,
    help="exact: a fractional size does not fit; floor: PyTorch; ceil: Caffe.  "
         "[default: exact]")
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
         groups: int, bias: bool, rounding: str | None, fmt: str, strict: bool) -> None:
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
                         rounding=rounding or "exact")
    _finish_layer(work, fmt, strict)


@click.command()
@_input_option
@click.option("--kernel", required=True, metavar="F", help="Window size: 2, or 2x3 (H×W).")
@click.option("--stride", default=None, metavar="S", help="Stride [default: the kernel size].")
@click.option("--padding", default="0", show_default=True, metavar="P")
@click.option("--type", "mode", type=click.Choice(["max", "avg"]), default="max",
              show_default=True)
@click.option("--dilation", default=None, metavar="D",
              help="Spacing of the window's taps (max pooling only) [default: 1].")
@click.option("--ceil", is_flag=True,
              help="Ceil mode: ceil rounding of the output size (Caffe), i.e. --rounding ceil.")
@_rounding_option
@_format_option
@_strict_option
@handle_errors
def pool(input_text: str, kernel: str, stride: str | None, padding: str, mode: str,
         dilation: str | None, ceil: bool, rounding: str | None, fmt: str,
         strict: bool) -> None:
    """One pooling layer worked out: output size, volume, cost, receptive field.

    \b
    archcalc pool --input 6x6 --kernel 2 --stride 2
    archcalc pool --input 55x55x96 --kernel 3 --stride 2
    """
    from .. import calculator as calc

    layer = calc.pool_layer(
        mode=mode, kernel=calc.parse_size(kernel, option="--kernel"),
        stride=calc.parse_size(stride, option="--stride") if stride is not None else None,
        padding=calc.parse_padding(padding, option="--padding"),
        dilation=calc.parse_size(dilation, option="--dilation") if dilation is not None
        else None, ceil=ceil)
    rounding = calc.layer_rounding(layer, rounding, ceil_word="--ceil",
                                   rounding_word="--rounding")
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


@click.command()
@click.argument("file", metavar="FILE")
@_format_option
@set_option
@handle_errors
def check(file: str, fmt: str, overrides: tuple[str, ...]) -> None:
    """Check a spec's expect: block, or grade a homework answers file.

    FILE is a spec (it has layers:; a bundled name works too) or an answers file (it has
    answers: and/or questions:; see examples/homework/). Prints ✓/✗ per claim or answer
    with the correct value and its arithmetic; exits 1 when anything is wrong.
    """
    import json

    from .. import homework
    from ..spec import display_name, resolve_path
    from ..yaml_source import parse_yaml, read_text

    path = resolve_path(file)
    label = display_name(path)
    text = read_text(path)
    data = parse_yaml(text, label)
    if homework.is_answers(data):
        if overrides:
            raise click.UsageError("--set applies to specs; an answers file says `set:` itself")
        sheet = homework.grade_data(data, file=label, base=path.parent)
        if fmt == "json":
            click.echo(json.dumps(sheet.as_dict(), indent=2, ensure_ascii=False))
        else:
            click.echo(homework.render_text(sheet), nl=False)
        ok = sheet.passed
    else:
        from ..analysis import analyze
        from ..errors import ArchcalcError, Location
        from ..expectations import check_expectations
        from ..spec import spec_from_data

        if not (isinstance(data, dict) and "layers" in data):
            from ..messages import did_you_mean

            keys = list(data) if isinstance(data, dict) else []
            meant = ((k, did_you_mean(k, ("layers", "answers", "questions"))) for k in keys)
            typo, word = next(((k, w) for k, w in meant if w is not None), (None, None))
            fix = ("give a spec with an expect: block, or an answers file "
                   "(see examples/homework/)")
            where = Location(label, 1, 1)
            if typo is not None:
                where = Location.at(label, data.key_marks[typo])
                fix = f"did you mean '{word}:' instead of '{typo}:'?"
            raise ArchcalcError(
                "neither a spec (no layers:) nor an answers file (no answers: or questions:)",
                where=where, fix=fix)
        analysis = analyze(spec_from_data(data, file=label,
                                          overrides=parse_overrides(overrides)))
        results = check_expectations(analysis, source_text=text)
        if fmt == "json":
            click.echo(json.dumps({"file": analysis.spec.file, "name": analysis.name,
                                   "passed": sum(r.ok for r in results),
                                   "total": len(results),
                                   "claims": [r.as_dict() for r in results]},
                                  indent=2, ensure_ascii=False))
        else:
            click.echo(homework.render_claims(analysis, results, file=file),
                       nl=False)
        ok = all(r.ok for r in results)
    if not ok:
        sys.exit(1)


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="A B [C…]")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64", "float16", "bfloat16", "int8"]),
              default="float32", show_default=True, help="For memory sizes.")
@handle_errors
def compare(specs: tuple[str, ...], fmt: str, dtype: str) -> None:
    """Networks side by side: params, MACs, FLOPs, memory, output shape, receptive field,
    with each one's ratio to the first.

    \b
    archcalc compare inception_naive inception_bottleneck
    """
    from .. import compare as comparing
    from ..analysis import analyze
    from ..spec import load_spec

    if len(specs) < 2:
        raise click.UsageError("give at least two specs to compare")
    analyses = [analyze(load_spec(spec), dtype=dtype) for spec in specs]
    result = comparing.compare(analyses)
    if fmt == "json":
        import json

        click.echo(json.dumps(comparing.to_dict(result), indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(comparing.to_markdown(result), nl=False)
    else:
        console().print(comparing.to_table(result))


COMMANDS = [conv, pool, explain, check, compare]
