"""`archcalc run`: execute a spec with NumPy, checked layer by layer against the analysis."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..cli import (
    console,
    force_option,
    handle_errors,
    parse_overrides,
    set_option,
    spec_argument,
)

#: a layer output is summarised by these statistics over the whole batch
STATS = ("mean", "std", "min", "max")


def _memory_size(ctx, param, value):
    if value is None:
        return None
    from ..errors import ArchcalcError
    from ..executor import parse_bytes

    try:
        return parse_bytes(value)
    except ArchcalcError as exc:
        raise click.BadParameter(exc.message) from None


@click.command(name="run")
@spec_argument
@click.option("--input", "input_file", type=click.Path(dir_okay=False), metavar="FILE.npy",
              help="Input array, C×H×W or N×C×H×W (default: standard normal from --seed).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the random input and of the initial weights.")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Batch size of the random input [default: 1].")
@click.option("--weights", "weights_file", type=click.Path(dir_okay=False), metavar="FILE.npz",
              help="Weights keyed <layer>.<tensor>, e.g. conv1.weight (default: He/Glorot "
                   "initialisation from --seed).")
@click.option("--save-weights", "save_weights_file", type=click.Path(dir_okay=False),
              metavar="FILE.npz", help="Write the weights used to this .npz.")
@click.option("--save", "save_file", type=click.Path(dir_okay=False), metavar="FILE.npz",
              help="Write the kept activations (see --keep) to this .npz.")
@click.option("--keep", default=None, metavar="NAMES|all|outputs",
              help="Comma-separated layer names to keep and save [default with --save: all].")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True)
@click.option("--top-k", "top_k", type=click.IntRange(min=0), default=5, show_default=True,
              help="Show the k largest entries of each vector output (0: none).")
@click.option("--max-memory", callback=_memory_size, metavar="SIZE",
              help="Refuse runs estimated above SIZE (e.g. 4GiB, 512MiB, 2GB) "
                   "[default: min(8 GiB, half the available memory)].")
@click.option("--chw", is_flag=True, help="Show shapes as C×H×W instead of H×W×C.")
@force_option
@set_option
@handle_errors
def run_command(spec: str, input_file: str | None, seed: int, batch: int | None,
                weights_file: str | None, save_weights_file: str | None, save_file: str | None,
                keep: str | None, dtype: str, top_k: int, max_memory: int | None, chw: bool,
                force: bool, overrides: tuple[str, ...]) -> None:
    """Run SPEC with NumPy: per-layer shapes, time and statistics, checked against the
    analysis (shapes and parameter counts); top-k of vector outputs."""
    import numpy as np

    from ..analysis import analyze
    from ..errors import Location
    from ..executor import (
        MemoryLimit,
        as_batch,
        check_memory,
        estimate_memory,
        format_bytes,
        kept_names,
        run_checked,
    )
    from ..outputs import check_writable
    from ..spec import load_spec
    from ..weights import init_weights, load_weights, save_arrays, save_weights

    analysis = analyze(load_spec(spec, overrides=parse_overrides(overrides)), dtype=dtype)
    for path in (save_weights_file, save_file):
        if path:
            check_writable(path, force=force)
    if keep is None:
        keep_arg: Any = "all" if save_file else "outputs"
    elif keep.strip() in ("all", "outputs"):
        keep_arg = keep.strip()
    else:
        keep_arg = [name.strip() for name in keep.split(",") if name.strip()]
    saved = kept_names(analysis, keep_arg)
    kept = list(dict.fromkeys([*saved, *analysis.outputs]))

    array = _open_input(input_file, analysis, batch) if input_file else None
    n = array.shape[0] if array is not None else (batch or 1)
    estimate = estimate_memory(analysis, batch=n, dtype=dtype, keep=kept)
    limit = MemoryLimit.of(max_memory)  # read once: the weights allocated below lower it
    check_memory(estimate, limit)
    if array is not None:  # read in full only now that the run fits
        x = as_batch(analysis, np.array(array, dtype=dtype), where=Location(input_file))
    else:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, *analysis.input_shape), dtype=np.dtype(dtype))

    start = time.perf_counter()
    if weights_file:
        weights = load_weights(weights_file, analysis)
        weights_how = f"from {weights_file}"
    else:
        weights = init_weights(analysis, seed=seed, dtype=dtype, max_memory=limit)
        weights_how = f"initialised from seed {seed}"
    weights_seconds = time.perf_counter() - start

    records: list[dict[str, Any]] = []
    with _progress_bar(len(analysis.layers)) as advance:
        def progress(event) -> None:
            records.append(_record(event))
            advance(event.row.name)

        start = time.perf_counter()
        activations = run_checked(analysis, x, weights, kept=kept, estimate=estimate,
                                  progress=progress)
        total_seconds = time.perf_counter() - start

    out = console()
    out.print(_table(analysis, records, n, dtype, chw))
    if top_k:
        for name in analysis.outputs:
            if activations[name].ndim == 2:
                smallest = analysis.by_name[name].layer.smallest_wins
                out.print(_top_k(name, activations[name], top_k, smallest=smallest),
                          markup=False)
    layer_seconds = sum(r["seconds"] for r in records)
    out.print(f"total: {layer_seconds * 1000:,.1f} ms in layers, {total_seconds * 1000:,.1f} ms "
              f"with checks and statistics ({layer_seconds * 1000 / n:,.1f} ms per example); "
              f"weights {weights_how} in {weights_seconds * 1000:,.0f} ms", markup=False)
    out.print(f"memory estimate: {estimate.breakdown()}", markup=False)
    checked = ("the layer's output shape and parameter count agree" if len(records) == 1 else
               f"all {len(records)} layers' output shapes and parameter counts agree")
    out.print(f"checked: {checked} with the analysis", markup=False)
    nonfinite = [r["name"] for r in records if not r["finite"]]
    if nonfinite:
        out.print(f"[yellow]warning:[/] NaN or infinite values first appear in "
                  f"'{nonfinite[0]}'")
    if save_weights_file:
        save_weights(save_weights_file, weights, force=force)
        out.print(f"wrote {len(weights)} weight tensors to {save_weights_file}", markup=False)
    if save_file:
        save_arrays(save_file, {name: activations[name] for name in saved}, force=force)
        size = format_bytes(sum(activations[k].nbytes for k in saved))
        out.print(f"wrote {len(saved)} activations ({size}) "
                  f"to {save_file}", markup=False)


def _open_input(path: str, analysis, batch: int | None):
    """The --input .npy, memory-mapped, with its shape as (N, C, H, W): the file's own
    checks (exists, one array of real numbers, agrees with --batch), before it is read."""
    import numpy as np

    from ..errors import ExecError, Location
    from ..executor import batch_shape

    where = Location(path)
    if not Path(path).is_file():
        raise ExecError("no such input file", where=where, fix="give a .npy file (numpy.save)")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ExecError(f"cannot read it as a .npy array: {exc}", where=where,
                        fix="save the input with numpy.save(path, array)") from None
    if not isinstance(array, np.ndarray):
        raise ExecError("is an .npz archive, not a single .npy array", where=where,
                        fix="save the input with numpy.save(path, array)")
    if array.dtype.kind not in "fiu":
        raise ExecError(f"input dtype {array.dtype} is not a real number type", where=where,
                        fix="save float32 or float64 values")
    array = array.reshape(batch_shape(analysis, array.shape, where))
    if batch is not None and batch != array.shape[0]:
        raise ExecError(f"--batch {batch} disagrees with the input's batch of {array.shape[0]}",
                        where=where, fix="leave out --batch when giving --input")
    return array


def _record(event) -> dict[str, Any]:
    import numpy as np

    y = event.output
    finite, stats = True, {}
    if y.size:
        with np.errstate(invalid="ignore", over="ignore"):  # ±∞ is reported, not warned about
            stats = {"mean": float(y.mean(dtype=np.float64)),
                     "std": float(y.std(dtype=np.float64)),
                     "min": float(y.min()), "max": float(y.max())}
        # min and max are NaN if any entry is, and ±∞ if any entry is: no other pass needed
        finite = math.isfinite(stats["min"]) and math.isfinite(stats["max"])
    return {"name": event.row.name, "kind": event.row.kind, "shape": tuple(y.shape[1:]),
            "seconds": event.seconds, "macs": event.row.macs, "finite": finite, **stats}


class _progress_bar:
    """A rich progress bar on stderr while layers run, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.progress = None

    def __enter__(self):
        if not sys.stderr.isatty():
            return lambda name: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description:<28}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total} layers"),
                                 TimeElapsedColumn(), console=console(stderr=True),
                                 transient=True)
        self.progress.__enter__()
        task = self.progress.add_task("running", total=self.total)

        def advance(name: str) -> None:
            self.progress.update(task, advance=1, description=name[:28])

        return advance

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


def _table(analysis, records: list[dict[str, Any]], batch: int, dtype: str, chw: bool):
    from rich.markup import escape
    from rich.table import Table

    from ..layers import shape_text

    order = "C×H×W" if chw else "H×W×C"
    table = Table(title=f"{analysis.name}: NumPy forward pass, batch {batch}, {dtype}",
                  caption=f"shapes {order}, batch excluded; statistics over the whole batch",
                  header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("layer")
    table.add_column("kind")
    table.add_column("output")
    table.add_column("ms", justify="right")
    table.add_column("GMAC/s", justify="right")
    for stat in STATS:
        table.add_column(stat, justify="right")
    input_shape = tuple(analysis.input_shape)
    table.add_row("", "input", "", shape_text(input_shape, chw=chw), "", "", *[""] * len(STATS))
    for index, r in enumerate(records, start=1):
        rate = (f"{r['macs'] * batch / r['seconds'] / 1e9:.1f}"
                if r["macs"] and r["seconds"] > 0 else "")
        stats = [_number(r[s]) if s in r else "" for s in STATS]
        table.add_row(str(index), escape(r["name"]), r["kind"], shape_text(r["shape"], chw=chw),
                      f"{r['seconds'] * 1000:.2f}", rate, *stats)
    return table


def _number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return f"{value:.4g}"


def _top_k(name: str, y, k: int, *, smallest: bool = False) -> str:
    """The k largest entries of each example's vector (k smallest for penalty outputs)."""
    import numpy as np

    k = min(k, y.shape[1])
    order = "smallest" if smallest else "largest"
    lines = [f"top-{k} of '{name}' ({order}, index: value):"]
    shown = min(y.shape[0], 4)
    for i in range(shown):
        row = y[i]
        best = np.argsort(row if smallest else -row, kind="stable")[:k]
        entries = ", ".join(f"{int(j)}: {row[j]:.4g}" for j in best)
        prefix = f"  example {i}: " if y.shape[0] > 1 else "  "
        lines.append(prefix + entries)
    if y.shape[0] > shown:
        lines.append(f"  … {y.shape[0] - shown} more examples")
    return "\n".join(lines)


COMMANDS = [run_command]
