"""Networks side by side: their totals, and each one's ratio to the first.

    ratio = value / value of the first network        (shown as '16.1× less', '2.50× more')

The 1×1 bottleneck of the notes: inception_naive vs inception_bottleneck is
7,260,000 vs 450,120 MACs, 16.1× less.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .analysis import Analysis
from .geometry import AXES, ReceptiveField, fmt_int, jsonable
from .layers import shape_text
from .report import human, human_bytes


@dataclass(frozen=True)
class Quantity:
    key: str
    label: str
    value: Callable[[Analysis], Any]
    kind: str  # 'count' | 'bytes' | 'shape' | 'rf'


QUANTITIES = (
    Quantity("params", "params", lambda a: a.totals.params, "count"),
    Quantity("trainable_params", "trainable params", lambda a: a.totals.trainable_params,
             "count"),
    Quantity("macs", "MACs", lambda a: a.totals.macs, "count"),
    Quantity("flops", "FLOPs", lambda a: a.totals.flops, "count"),
    Quantity("activations", "activations", lambda a: a.totals.activations, "count"),
    Quantity("activation_bytes", "activation memory", lambda a: a.totals.activation_bytes,
             "bytes"),
    Quantity("param_bytes", "parameter memory", lambda a: a.totals.param_bytes, "bytes"),
    Quantity("layers", "layers", lambda a: len(a.layers), "count"),
    Quantity("output_shape", "output shape", lambda a: a.output.output_shape, "shape"),
    Quantity("receptive_field", "receptive field", lambda a: a.output.receptive_field, "rf"),
)


@dataclass(frozen=True)
class Row:
    quantity: Quantity
    values: tuple[Any, ...]

    @property
    def ratios(self) -> tuple[float | None, ...]:
        """value / first value, for numbers; None where undefined: for shapes, and for
        receptive fields unless both are square (then the ratio of their sides)."""
        kind = self.quantity.kind
        if kind == "shape":
            return tuple(None for _ in self.values)
        if kind == "rf":
            sides = [rf.height.size if rf.height.size == rf.width.size else None
                     for rf in self.values]
            return tuple(None if sides[0] is None or side is None else float(side / sides[0])
                         for side in sides)
        first = self.values[0]
        return tuple(None if not first else float(Fraction(v) / Fraction(first))
                     for v in self.values)

    def text(self, i: int) -> str:
        value, kind = self.values[i], self.quantity.kind
        if kind == "shape":
            return shape_text(value)
        if kind == "bytes":
            return human_bytes(value)
        if kind == "rf":
            return value.size_text()
        return fmt_int(value)

    def ratio_text(self, i: int) -> str:
        return ratio_words(self.ratios[i]) if i else ""


def ratio_words(ratio: float | None) -> str:
    """1/16.13 -> '16.1× less'; 2.5 -> '2.50× more'; 1 -> 'same'."""
    if ratio is None:
        return ""
    if ratio == 1:
        return "same"
    if ratio == 0:
        return "none"
    if ratio > 1:
        return f"{ratio:#.3g}× more"
    return f"{1 / ratio:#.3g}× less"


@dataclass(frozen=True)
class Comparison:
    names: tuple[str, ...]
    analyses: tuple[Analysis, ...]
    rows: tuple[Row, ...]


def compare(analyses: list[Analysis]) -> Comparison:
    """Totals of every network, in the order given; ratios are relative to the first."""
    labels = [a.name for a in analyses]
    if len(set(labels)) < len(labels):  # two specs with one name: tell them apart
        labels = [f"{label} ({i + 1})" for i, label in enumerate(labels)]
    rows = tuple(Row(q, tuple(q.value(a) for a in analyses)) for q in QUANTITIES)
    return Comparison(tuple(labels), tuple(analyses), rows)


def to_dict(comparison: Comparison) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, ReceptiveField):  # the size of each axis
            return {axis: jsonable(getattr(value, axis).size) for axis in AXES}
        return jsonable(value)

    return {
        "networks": list(comparison.names),
        "files": [a.spec.file for a in comparison.analyses],
        "relative_to": comparison.names[0],
        "quantities": {
            row.quantity.key: {"values": [plain(v) for v in row.values],
                               "ratios": list(row.ratios)}
            for row in comparison.rows
        },
    }


def to_table(comparison: Comparison):
    """A rich table: one column per network, ratios to the first in brackets."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"compared with {comparison.names[0]}", title_justify="left",
                  header_style="bold")
    table.add_column("")
    for name in comparison.names:
        table.add_column(name, justify="right")
    for row in comparison.rows:
        cells = [row.quantity.label]
        for i in range(len(comparison.names)):
            text = row.text(i)
            if row.quantity.kind == "count" and row.values[i] >= 10_000:
                text += f" ({human(row.values[i])})"
            ratio = row.ratio_text(i)
            cells.append(text + (f"  {ratio}" if ratio else ""))
        table.add_row(*cells)
    note = Text("Ratios are each network's value over the first's. Memory at "
                f"{comparison.analyses[0].totals.dtype}, batch 1; activations include the "
                "input.", style="dim")
    return Group(table, note)


def to_markdown(comparison: Comparison) -> str:
    lines = ["| | " + " | ".join(comparison.names) + " |",
             "|---|" + "---:|" * len(comparison.names)]
    for row in comparison.rows:
        cells = [row.text(i) + (f" ({row.ratio_text(i)})" if row.ratio_text(i) else "")
                 for i in range(len(comparison.names))]
        lines.append(f"| {row.quantity.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
