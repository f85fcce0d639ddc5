"""`archcalc export`: the spec as an ONNX model carrying the executor's weights."""

from __future__ import annotations

import click

from ..cli import console, force_option, handle_errors, parse_overrides, set_option, spec_argument


@click.command(name="export")
@spec_argument
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              metavar="FILE.onnx", help="Where to write the model.")
@click.option("--weights", "weights_file", type=click.Path(dir_okay=False), metavar="FILE.npz",
              help="Weights keyed <layer>.<tensor>, as `archcalc run --save-weights` writes "
                   "(default: the executor's initialisation from --seed).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the initial weights, as in `archcalc run`.")
@click.option("--opset", type=int, default=None, metavar="N",
              help="ONNX opset version [default: 18].")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Fixed batch size of the model's input [default: 1].")
@click.option("--dynamic-batch", is_flag=True,
              help="Make the batch dimension symbolic ('N') instead of --batch.")
@click.option("--verify", is_flag=True,
              help="Before writing, run the model in onnxruntime and the NumPy executor on the "
                   "input `archcalc run --seed S` uses; refuse if an output differs by more "
                   "than atol = rtol = 1e-4.")
@force_option
@set_option
@handle_errors
def export(spec: str, output: str, weights_file: str | None, seed: int, opset: int | None,
           batch: int | None, dynamic_batch: bool, verify: bool, force: bool,
           overrides: tuple[str, ...]) -> None:
    """Write SPEC as an ONNX model with the same weights `archcalc run` uses.

    Layer names become node and tensor names, weights are initializers named
    <layer>.<tensor>. The model is validated with onnx.checker (full check) before it is
    written. Needs the optional onnx package: pip install 'archcalc[onnx]'.
    """
    from ..analysis import analyze
    from ..executor import MemoryLimit
    from ..onnx_export import (
        DEFAULT_OPSET,
        ExportError,
        check,
        compare_with_executor,
        export_onnx,
        require_onnx,
        serialize,
    )
    from ..outputs import check_writable, write_atomic
    from ..spec import load_spec
    from ..weights import init_weights, load_weights

    if batch is not None and dynamic_batch:
        raise click.UsageError("give either --batch N or --dynamic-batch, not both")
    batch = batch or 1
    require_onnx()
    check_writable(output, force=force)
    analysis = analyze(load_spec(spec, overrides=parse_overrides(overrides)))
    limit = MemoryLimit.of(None)  # read once: the weights allocated below lower it
    if weights_file:
        weights = load_weights(weights_file, analysis)
        how = f"weights from {weights_file}"
    else:
        weights = init_weights(analysis, seed=seed, dtype="float32", max_memory=limit)
        how = f"weights initialised from seed {seed}"
    result = export_onnx(analysis, weights, opset=DEFAULT_OPSET if opset is None else opset,
                         batch="N" if dynamic_batch else batch)
    data = serialize(result)
    check(data)
    lines = []
    if verify:
        agreements = compare_with_executor(data, analysis, weights, seed=seed,
                                           batch=1 if dynamic_batch else batch,
                                           max_memory=limit)
        text = "; ".join(f"'{a.output}' max |Δ| = {a.max_abs_diff:.3g}" for a in agreements)
        if not all(a.ok for a in agreements):
            raise ExportError(f"onnxruntime and the NumPy executor disagree: {text}",
                              fix="this is a bug in archcalc; please report it with the spec")
        lines.append(f"verified: onnxruntime equals the NumPy executor within atol = rtol = "
                     f"1e-4 on the seed-{seed} input ({text})")
    path = write_atomic(output, data, force=force)
    out = console()
    out.print(f"wrote {path} ({len(data):,} bytes): {analysis.name}, {how}", markup=False)
    out.print(result.summary(), markup=False)
    for line in lines:
        out.print(line, markup=False)


COMMANDS = [export]
