"""Per-layer worked arithmetic, read off the Analysis: how each output size, parameter count,
MAC count and receptive field comes out, with the actual numbers.

    output   W' = (W − F_eff + 2P)/S + 1           (the layer's own work lines)
    params   (F_h·F_w·C/g + 1)·K, or the tensors' formulas summed
    MACs     H'·W'·K·(F_h·F_w·C/g)                  (the layer's cost formula)
    RF       r' = r + (F_eff − 1)·j,  j' = j·S      (Araujo et al., Distill 2019)

Nothing is recomputed here: every number comes from the LayerStats rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .analysis import Analysis, LayerStats
from .calculator import (
    flops_text,
    macs_text,
    params_formula,
    rf_formula,
    tensors_breakdown,
)
from .errors import ArchcalcError, Location
from .geometry import ReceptiveField, fmt_int
from .layers import Shape, shape_text
from .messages import suggestion


@dataclass(frozen=True)
class Selection:
    """One layer, or a block instance (or a repeated group) taken as a whole: its output is
    its last member's, its counts are its members' sums."""

    name: str
    members: tuple[LayerStats, ...]

    @property
    def is_layer(self) -> bool:
        return len(self.members) == 1 and self.members[0].name == self.name

    @property
    def last(self) -> LayerStats:
        return self.members[-1]

    @property
    def output_shape(self) -> Shape:
        return self.last.output_shape

    @property
    def receptive_field(self) -> ReceptiveField:
        return self.last.receptive_field

    def total(self, quantity: str) -> int:
        return sum(getattr(m, quantity) for m in self.members)


def block_names(analysis: Analysis) -> list[str]:
    """Every block instance and repeated group, e.g. 'conv1', 'conv1.1', 'inception_3a'."""
    names: dict[str, None] = {}
    for row in analysis.layers:
        parts = row.name.split(".")
        for i in range(1, len(parts)):
            names[".".join(parts[:i])] = None
        for path in row.node.block_path:
            names[path] = None
    return [n for n in names if n not in analysis.by_name]


def select(analysis: Analysis, name: str, *, where: Location | None = None) -> Selection:
    """The layer called ``name``, or every layer inside the block instance ``name``."""
    if name in analysis.by_name:
        return Selection(name, (analysis.by_name[name],))
    prefix = name + "."
    members = tuple(row for row in analysis.layers if row.name.startswith(prefix))
    if members:
        return Selection(name, members)
    known = [row.name for row in analysis.layers] + block_names(analysis)
    raise ArchcalcError(f"no layer or block named '{name}' in {analysis.name}",
                        where=where, fix=suggestion(name, known, "layers and blocks"))


def input_field(analysis: Analysis, name: str) -> ReceptiveField:
    if name in analysis.by_name:
        return analysis.by_name[name].receptive_field
    return ReceptiveField.of_input()


@dataclass(frozen=True)
class Explanation:
    """The worked arithmetic of one layer."""

    stats: LayerStats
    shape_work: tuple[str, ...]
    params_work: str
    params_detail: str
    macs_work: str
    flops_work: str
    rf_work: str

    def as_dict(self) -> dict[str, Any]:
        s = self.stats
        return {
            "name": s.name, "type": s.kind, "label": s.layer.label(),
            "inputs": list(s.inputs), "input_shapes": [list(x) for x in s.input_shapes],
            "output_shape": list(s.output_shape),
            "params": s.params, "macs": s.macs, "flops": s.flops,
            "receptive_field": s.receptive_field.as_dict(),
            "work": {"output_shape": list(self.shape_work), "params": self.params_work,
                     "macs": self.macs_work, "flops": self.flops_work,
                     "receptive_field": self.rf_work},
        }


def shape_work(stats: LayerStats) -> tuple[str, ...]:
    """The size arithmetic, ending in the output shape."""
    out = shape_text(stats.output_shape)
    if stats.inferred.work:
        return (*stats.inferred.work, f"→ {out}")
    return (f"same as the input → {out}",)


def rf_work(analysis: Analysis, stats: LayerStats) -> str:
    """r' = r + (F_eff − 1)·j with the numbers; at a merge, the union of the input fields."""
    after = stats.receptive_field
    if len(stats.inputs) > 1:
        parts = ", ".join(f"'{n}' {input_field(analysis, n).size_text()}"
                          for n in stats.inputs)
        text = (f"union of the inputs' fields ({parts}) = {after.size_text()}, "
                f"stride {after.stride_text()}")
        if not (after.height.aligned and after.width.aligned):
            text += " (paths not aligned: centres or strides differ)"
        return text
    windowed = getattr(stats.layer, "window", None) is not None
    return rf_formula(input_field(analysis, stats.inputs[0]), after, window=windowed)


def explain_layer(analysis: Analysis, stats: LayerStats) -> Explanation:
    return Explanation(
        stats=stats,
        shape_work=shape_work(stats),
        params_work=params_formula(stats.tensors),
        params_detail=tensors_breakdown(stats.tensors),
        macs_work=macs_text(stats.cost),
        flops_work=flops_text(stats.cost),
        rf_work=rf_work(analysis, stats),
    )


def explain(analysis: Analysis, name: str | None = None) -> list[Explanation]:
    """Every layer, or the layers of ``name`` (a layer, block instance or repeated group)."""
    rows = analysis.layers if name is None else select(analysis, name).members
    return [explain_layer(analysis, row) for row in rows]


def render_text(analysis: Analysis, name: str | None = None) -> str:
    """The explanation as plain text, with the totals of what was explained."""
    items = explain(analysis, name)
    lines = [f"{analysis.name}: input {shape_text(analysis.input_shape)} "
             "(shapes H×W×C; MACs exclude bias adds)", ""]
    for item in items:
        s = item.stats
        ins = ", ".join(f"{shape_text(shape)} ({n})" for n, shape in zip(s.inputs,
                                                                         s.input_shapes))
        lines.append(f"{s.name}  [{s.kind}: {s.layer.label()}]  input {ins}")
        lines.append("  output  " + "\n          ".join(item.shape_work))
        params = f"  params  {item.params_work}"
        if item.params_detail and item.params_work.startswith("("):
            params += f"   [{item.params_detail}]"
        lines.append(params)
        lines.append(f"  MACs    {item.macs_work}")
        if s.flops and s.flops != 2 * s.macs:
            lines.append(f"  FLOPs   {item.flops_work}")
        rf = s.receptive_field
        lines.append(f"  RF      {rf.size_text()}, stride {rf.stride_text()}: "
                     f"{item.rf_work}")
        lines.append("")
    rows = [i.stats for i in items]
    if name is None:
        t = analysis.totals
        lines.append(f"total: params {fmt_int(t.params)}, MACs {fmt_int(t.macs)}, "
                     f"FLOPs {fmt_int(t.flops)} over {len(rows)} layers; output "
                     f"{shape_text(analysis.output.output_shape)}, receptive field "
                     f"{analysis.output.receptive_field.size_text()}")
    elif len(rows) > 1:
        lines.append(f"{name} ({len(rows)} layers): params "
                     f"{sum_text([r.params for r in rows])}; MACs "
                     f"{sum_text([r.macs for r in rows])}; output "
                     f"{shape_text(rows[-1].output_shape)}, receptive field "
                     f"{rows[-1].receptive_field.size_text()}")
    return "\n".join(lines).rstrip() + "\n"


def sum_text(values: list[int]) -> str:
    """'34,944 + 614,656 = 649,600' over the non-zero terms."""
    terms = [v for v in values if v]
    if len(terms) <= 1:
        return fmt_int(sum(terms))
    return " + ".join(fmt_int(v) for v in terms) + f" = {fmt_int(sum(terms))}"


def to_dict(analysis: Analysis, name: str | None = None) -> dict[str, Any]:
    items = explain(analysis, name)
    return {"name": analysis.name, "input": list(analysis.input_shape),
            "selection": name, "layers": [item.as_dict() for item in items]}
