"""Analysis -> rich table, JSON, CSV or Markdown. The library returns text or renderables;
only the CLI prints."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from .analysis import Analysis, fold
from .geometry import fmt_int
from .layers import shape_text

CONVENTION = (
    "MACs: multiply–accumulates of conv/linear layers (conv H'·W'·C'·F_h·F_w·C/g, linear "
    "in·out); bias adds are not MACs. FLOPs = 2·MACs + bias adds + pooling, normalisation and "
    "merge arithmetic; comparisons (max, ReLU) and transcendentals (exp, tanh, pow) are counted "
    "apart. Params = weights + biases (γ, β for batch norm); running statistics are buffers. "
    "Batch size 1, inference mode."
)

FORMATS = ("table", "json", "csv", "markdown")


def human(n: int) -> str:
    """15470264320 -> '15.47 G'; 999,999 -> '1.00 M' (rounded to 2 decimals, then the unit
    chosen, so never '1000.00 k'); below 1,000 as it is."""
    return _scaled(n, 1000, ("k", "M", "G", "T"), "")


def human_bytes(n: int) -> str:
    """3_200_000 -> '3.05 MiB'; 2**20 − 1 -> '1.00 MiB' (not '1024.00 KiB'); below 1 KiB in
    bytes."""
    return _scaled(n, 1024, ("KiB", "MiB", "GiB"), " B")


def format_bytes(n: int) -> str:
    """Three significant digits, for memory limits and estimates: 1536 -> '1.5 KiB',
    3·2³⁰ -> '3 GiB', 2**20 − 1 -> '1 MiB' (rounded, then the unit chosen)."""
    return _scaled(n, 1024, ("KiB", "MiB", "GiB", "TiB", "PiB"), " B", _three_digits)


def _two_decimals(value: float) -> str:
    return f"{value:.2f}"


def _three_digits(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _scaled(n: int, base: int, suffixes: tuple[str, ...], plain: str,
            number=_two_decimals) -> str:
    """n in the smallest unit base**i (i ≥ 1) whose rounded value stays below ``base``."""
    if abs(n) < base:
        return f"{n}{plain}"
    i = 1
    while i < len(suffixes) and abs(float(number(n / base**i))) >= base:
        i += 1
    return f"{number(n / base**i)} {suffixes[i - 1]}"


def to_dict(analysis: Analysis) -> dict[str, Any]:
    """The stable JSON interface (documented in the README)."""
    t = analysis.totals
    layers = []
    for row in analysis.layers:
        layers.append({
            "name": row.name,
            "type": row.kind,
            "inputs": list(row.inputs),
            "block": list(row.node.block_path),
            "input_shapes": [list(s) for s in row.input_shapes],
            "output_shape": list(row.output_shape),
            "params": row.params,
            "weights": row.weights,
            "bias": row.bias,
            "trainable_params": row.trainable_params,
            "buffers": row.buffers,
            "macs": row.macs,
            "flops": row.flops,
            "comparisons": row.cost.comparisons,
            "transcendentals": row.cost.transcendentals,
            "activations": row.activations,
            "activation_bytes": row.activations * t.dtype_bytes,
            "receptive_field": row.receptive_field.as_dict(),
            "tensors": {ts.name: {"shape": list(ts.shape), "role": ts.role,
                                  "trainable": ts.trainable, "count": ts.size}
                        for ts in row.tensors},
        })
    return {
        "name": analysis.name,
        "input": list(analysis.input_shape),
        "outputs": list(analysis.outputs),
        "layers": layers,
        "totals": {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "non_trainable_params": t.non_trainable_params,
            "buffers": t.buffers,
            "macs": t.macs,
            "flops": t.flops,
            "comparisons": t.comparisons,
            "transcendentals": t.transcendentals,
            "activations": t.activations,
            "activation_bytes": t.activation_bytes,
            "param_bytes": t.param_bytes,
            "dtype": t.dtype,
            "layers": len(analysis.layers),
            "output_shape": list(analysis.output.output_shape),
            "receptive_field": analysis.output.receptive_field.as_dict(),
        },
        "convention": CONVENTION,
    }


def to_json(analysis: Analysis) -> str:
    return json.dumps(to_dict(analysis), indent=2)


def _plain_rows(analysis: Analysis, depth: int | None, chw: bool) -> tuple[list[str], list[list]]:
    header = ["index", "name", "type", "output_shape", "params", "weights", "bias", "macs",
              "flops", "receptive_field"]
    rows = []
    for i, row in enumerate(fold(analysis, depth)):
        rows.append([i, row.name, row.kind, shape_text(row.output_shape, chw=chw), row.params,
                     row.weights, row.bias, row.macs, row.flops, row.receptive_field.short()])
    return header, rows


def to_csv(analysis: Analysis, *, depth: int | None = None, chw: bool = False) -> str:
    header, rows = _plain_rows(analysis, depth, chw)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def to_markdown(analysis: Analysis, *, depth: int | None = None, chw: bool = False) -> str:
    order = "C×H×W" if chw else "H×W×C"
    header = ["#", "name", "type", f"output ({order})", "params", "MACs", "RF"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(fold(analysis, depth)):
        cells = [str(i), f"`{row.name}`", row.kind, shape_text(row.output_shape, chw=chw),
                 fmt_int(row.params), fmt_int(row.macs), row.receptive_field.short()]
        lines.append("| " + " | ".join(cells) + " |")
    t = analysis.totals
    lines += ["", f"**{analysis.name}**: {fmt_int(t.params)} params, {fmt_int(t.macs)} MACs "
                  f"({human(t.macs)}), {fmt_int(t.flops)} FLOPs.", "", f"_{CONVENTION}_"]
    return "\n".join(lines) + "\n"


def to_table(analysis: Analysis, *, depth: int | None = None, chw: bool = False,
             wide: bool = False):
    """A rich renderable: the per-layer table with totals and the counting convention."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    order = "C×H×W" if chw else "H×W×C"
    table = Table(title=f"{analysis.name}  (input {shape_text(analysis.input_shape, chw=chw)})",
                  title_justify="left", show_lines=False, header_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column("name")
    table.add_column("type", style="cyan")
    table.add_column(f"output {order}", justify="right")
    table.add_column("params", justify="right")
    if wide:
        table.add_column("weights", justify="right")
        table.add_column("bias", justify="right")
    table.add_column("MACs", justify="right")
    if wide:
        table.add_column("FLOPs", justify="right")
    table.add_column("RF", justify="right")
    table.add_column("% MACs", justify="right")
    t = analysis.totals
    for i, row in enumerate(fold(analysis, depth)):
        share = f"{100 * row.macs / t.macs:.1f}" if t.macs and row.macs else ""
        kind = f"{row.kind} ({len(row.members)} layers)" if row.folded else row.kind
        cells = [str(i), row.name, kind, shape_text(row.output_shape, chw=chw),
                 fmt_int(row.params) if row.params else "–"]
        if wide:
            cells += [fmt_int(row.weights), fmt_int(row.bias)]
        cells.append(fmt_int(row.macs) if row.macs else "–")
        if wide:
            cells.append(fmt_int(row.flops))
        cells += [row.receptive_field.short(), share]
        table.add_row(*cells)
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_column(style="dim")
    summary.add_row("params", fmt_int(t.params), human(t.params))
    summary.add_row("  trainable", fmt_int(t.trainable_params), "")
    if t.non_trainable_params:
        summary.add_row("  non-trainable", fmt_int(t.non_trainable_params), "")
    if t.buffers:
        summary.add_row("buffers", fmt_int(t.buffers), "running statistics")
    summary.add_row("MACs", fmt_int(t.macs), human(t.macs))
    summary.add_row("FLOPs", fmt_int(t.flops), human(t.flops))
    summary.add_row("activations", fmt_int(t.activations),
                    f"{human_bytes(t.activation_bytes)} as {t.dtype}")
    summary.add_row("parameter memory", fmt_int(t.params + t.buffers),
                    f"{human_bytes(t.param_bytes)} as {t.dtype}")
    out = analysis.output
    summary.add_row("output", shape_text(out.output_shape, chw=chw),
                    f"receptive field {rf_text_of(out)}")
    note = Text(CONVENTION, style="dim")
    return Group(table, summary, Text(""), note)


def rf_text_of(row) -> str:
    rf = row.receptive_field
    return f"{rf.short()} px, stride {rf.stride_text()}"


def render(analysis: Analysis, fmt: str, **options: Any):
    """Dispatch on the output format; returns a string or a rich renderable."""
    if fmt == "json":
        return to_json(analysis)
    if fmt == "csv":
        return to_csv(analysis, depth=options.get("depth"), chw=options.get("chw", False))
    if fmt == "markdown":
        return to_markdown(analysis, depth=options.get("depth"), chw=options.get("chw", False))
    return to_table(analysis, **options)
