"""One convolution or pooling layer worked out on one input, the way the lecture notes do it.

Everything is computed by the layer classes themselves (``infer``, ``tensors``, ``cost``,
``receptive_field``) and the size formula of :mod:`archcalc.geometry`:

    W' = (W − F_eff + 2P)/S + 1          params = (F_h·F_w·C/g + 1)·K
    MACs = H'·W'·K·(F_h·F_w·C/g)          r = 1 + (F_eff − 1)·1,  j = S

A size that is not a whole number (or a kernel larger than the padded input) does not fit;
the work then lists the nearest paddings and strides that do, found by asking the same layer
class again with the changed field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from .errors import ArchcalcError, FitError, Location, ShapeError
from .geometry import (
    AXES,
    ReceptiveField,
    Rounding,
    fmt_int,
    fmt_num,
    resolve_padding,
    to_pair,
    window_output,
)
from .layers import REGISTRY, Context, Cost, Inferred, Layer, Shape, TensorSpec, shape_text
from .layers.base import numel
from .messages import validation_error
from .quantities import _SHAPE_SPLIT

POOL_KINDS = {"max": "max_pool2d", "avg": "avg_pool2d"}


# --- reading the numbers people type ---------------------------------------------------------


def parse_input(text: str | int | list | tuple, *, option: str = "input") -> Shape:
    """'227x227x3' -> (3, 227, 227) (H×W×C, as the notes write it); '7' -> (1, 7, 7);
    '7x5' -> (1, 7, 5): without a channel count the input has one channel."""
    dims = parse_ints(text, option, "an input size such as 227x227x3, 7x7 or 7")
    if any(d <= 0 for d in dims):
        raise ArchcalcError(f"input sizes must be positive, got {text!r}",
                            where=Location(field=option), fix="write e.g. 227x227x3")
    if len(dims) == 1:
        return (1, dims[0], dims[0])
    if len(dims) == 2:
        return (1, dims[0], dims[1])
    if len(dims) == 3:
        h, w, c = dims
        return (c, h, w)
    raise ArchcalcError(f"an input has 1, 2 or 3 sizes, {text!r} has {len(dims)}",
                        where=Location(field=option), fix="write H×W×C, e.g. 227x227x3")


def parse_size(text: str | int | list | tuple, *, option: str) -> int | tuple[int, int]:
    """'3' -> 3; '3x5' -> (3, 5) (height × width)."""
    dims = parse_ints(text, option, "a size such as 3 or 3x5")
    if len(dims) == 1:
        return dims[0]
    if len(dims) == 2:
        return (dims[0], dims[1])
    raise ArchcalcError(f"a size has 1 or 2 numbers (height × width), {text!r} has {len(dims)}",
                        where=Location(field=option), fix="write e.g. 3 or 3x5")


def parse_padding(text: str | int | list | tuple, *, option: str = "padding") -> Any:
    """'1', '1x2' (height × width), '1,1,0,2' (top, bottom, left, right), 'same', 'valid'."""
    if isinstance(text, str) and text.strip().lower() in ("same", "valid"):
        return text.strip().lower()
    dims = parse_ints(text, option, "a padding such as 0, 1x2, 1,1,0,2, same or valid")
    if len(dims) in (1, 2, 4):
        return dims[0] if len(dims) == 1 else tuple(dims)
    raise ArchcalcError(f"a padding has 1, 2 or 4 numbers, {text!r} has {len(dims)}",
                        where=Location(field=option),
                        fix="write P, HxW or top,bottom,left,right, or same / valid")


def parse_ints(text: Any, option: str, wanted: str) -> tuple[int, ...]:
    """Whole numbers separated by x, ×, * or commas: '227x227x3' -> (227, 227, 3)."""
    if isinstance(text, bool):
        raise ArchcalcError(f"expected {wanted}, got {text!r}", where=Location(field=option))
    if isinstance(text, int):
        return (text,)
    if isinstance(text, (list, tuple)):
        parts = [str(v) for v in text]
    else:
        parts = _SHAPE_SPLIT.split(str(text).strip().strip("[]()"))
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise ArchcalcError(f"cannot read {text!r}", where=Location(field=option),
                            fix=f"write {wanted}") from None
    if not dims:
        raise ArchcalcError(f"cannot read {text!r}", where=Location(field=option),
                            fix=f"write {wanted}")
    return dims


# --- building the layer -----------------------------------------------------------------------


#: the calculator's words for the layer fields, used in its error messages
FIELD_WORDS = {"out_channels": "filters", "kernel_size": "kernel", "ceil_mode": "ceil"}


def make_layer(kind: str, fields: dict[str, Any], *, where: Location | None = None) -> Layer:
    """A validated layer of ``kind`` (e.g. 'conv2d', 'max_pool2d') with PyTorch field names;
    errors name the field as the calculator's options and question keys do ('kernel')."""
    cls = REGISTRY[kind]
    data = {"type": kind, **{k: v for k, v in fields.items() if v is not None}}
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        error = validation_error(exc, cls, data, where or Location(kind=kind),
                                 what_kind=f"fields of {kind}")
        name = error.where.field
        if name not in FIELD_WORDS:
            raise error from None
        word = FIELD_WORDS[name]
        raise ArchcalcError(error.what, where=replace(error.where, field=word),
                            formula=error.formula,
                            fix=(error.fix or "").replace(f"'{name}'", f"'{word}'")
                            .replace(f"`{name}:", f"`{word}:") or None
                            ) from None


def conv_layer(*, filters: int = 1, kernel: Any, stride: Any = 1, padding: Any = 0,
               dilation: Any = 1, groups: int = 1, bias: bool = True,
               where: Location | None = None) -> Layer:
    return make_layer("conv2d", {"out_channels": filters, "kernel_size": kernel,
                                 "stride": stride, "padding": padding, "dilation": dilation,
                                 "groups": groups, "bias": bias}, where=where)


def pool_layer(*, mode: Literal["max", "avg"] = "max", kernel: Any, stride: Any = None,
               padding: Any = 0, dilation: Any = None, ceil: Any = False,
               where: Location | None = None) -> Layer:
    """Stride defaults to the kernel size, as in PyTorch; ``ceil`` is read as the layer's
    ceil_mode (so 'no' is false); ``dilation`` only where the kind has one (max pooling)."""
    kind = POOL_KINDS[mode]
    if dilation is not None and "dilation" not in REGISTRY[kind].model_fields:
        raise ArchcalcError(f"{mode} pooling has no dilation",
                            where=replace(where or Location(), kind=kind, field="dilation"),
                            fix="drop the dilation (only max pooling dilates its window)")
    return make_layer(kind, {"kernel_size": kernel, "stride": stride, "padding": padding,
                             "dilation": dilation, "ceil_mode": ceil or None}, where=where)


def layer_rounding(layer: Layer, rounding: Rounding | None, *, ceil_word: str = "ceil",
                   rounding_word: str = "rounding", where: Location | None = None) -> Rounding:
    """The rounding to work ``layer`` out with: ceil for a ceil-mode pool (another rounding
    asked for as well is a contradiction), else ``rounding`` (exact when not given)."""
    if getattr(layer, "ceil_mode", False):
        if rounding not in (None, "ceil"):
            raise ArchcalcError(
                f"{ceil_word} (ceil mode) and {rounding_word} {rounding} contradict each other",
                where=where or Location(field=rounding_word),
                fix=f"give one of them: {ceil_word} means {rounding_word} ceil")
        return "ceil"
    return rounding or "exact"


# --- the work ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alternative:
    """A nearby choice of one hyperparameter that makes the layer fit."""

    change: str  # 'padding' | 'stride' | 'rounding'
    value: Any
    output_shape: Shape
    work: tuple[str, ...]

    @property
    def value_text(self) -> str:
        if isinstance(self.value, tuple):
            return "×".join(str(v) for v in self.value)
        return str(self.value)


@dataclass(frozen=True)
class LayerWork:
    """A single layer on one input: its output, params, cost and receptive field, or why it
    does not fit and what would."""

    layer: Layer
    input_shape: Shape
    rounding: Rounding
    inferred: Inferred | None = None
    tensors: tuple[TensorSpec, ...] = ()
    cost: Cost | None = None
    receptive_field: ReceptiveField | None = None
    problem: FitError | None = None
    alternatives: tuple[Alternative, ...] = field(default_factory=tuple)

    @property
    def fits(self) -> bool:
        return self.inferred is not None

    @property
    def output_shape(self) -> Shape | None:
        return self.inferred.shape if self.inferred else None

    @property
    def params(self) -> int:
        return sum(t.size for t in self.tensors if t.role in ("weight", "bias"))

    @property
    def weights(self) -> int:
        return sum(t.size for t in self.tensors if t.role == "weight")

    @property
    def bias(self) -> int:
        return sum(t.size for t in self.tensors if t.role == "bias")

    @property
    def macs(self) -> int:
        return self.cost.macs if self.cost else 0


def work_out(layer: Layer, input_shape: Shape, *, rounding: Rounding = "exact") -> LayerWork:
    """Ask the layer class for everything about ``layer`` on ``input_shape`` (C, H, W)."""
    ctx = Context(rounding=rounding)
    try:
        inferred = layer.infer([input_shape], ctx)
    except FitError as exc:  # any other ShapeError (groups vs channels, ...) is raised
        return LayerWork(layer, input_shape, rounding, problem=exc,
                         alternatives=tuple(alternatives(layer, input_shape, rounding)))
    out = inferred.shape
    return LayerWork(
        layer, input_shape, rounding, inferred,
        tensors=tuple(layer.tensors([input_shape], out)),
        cost=layer.cost([input_shape], out),
        receptive_field=layer.receptive_field([ReceptiveField.of_input()], [input_shape],
                                              inferred),
    )


def _try(layer: Layer, input_shape: Shape, rounding: Rounding,
         **update: Any) -> Inferred | None:
    candidate = layer.model_copy(update=update)
    try:
        return candidate.infer([input_shape], Context(rounding=rounding))
    except ShapeError:
        return None


def alternatives(layer: Layer, input_shape: Shape, rounding: Rounding = "exact"
                 ) -> list[Alternative]:
    """The nearest paddings (below and above the current one) and strides that make the size
    formula give whole numbers, then what floor and ceil rounding would give."""
    found: list[Alternative] = []
    window = getattr(layer, "window", None)
    if window is None:
        return found  # not a sliding window: nothing to vary
    _, h, w = input_shape
    padding = layer.padding
    if isinstance(padding, (int, tuple)) and not (isinstance(padding, tuple)
                                                  and len(padding) == 4):
        current = to_pair(padding)
        options = [_axis_paddings(n, window.kernel_eff[i], window.stride[i], current[i])
                   for i, n in enumerate((h, w))]
        for value in _combine(options, current):
            inferred = _try(layer, input_shape, rounding, padding=value)
            if inferred:
                found.append(Alternative("padding", value, inferred.shape, inferred.work))
    pads = resolve_padding(padding, window.kernel, window.stride, window.dilation, (h, w))
    options = [_axis_strides(n + pads[2 * i] + pads[2 * i + 1], window.kernel_eff[i],
                             window.stride[i]) for i, n in enumerate((h, w))]
    for value in _combine(options, window.stride):
        inferred = _try(layer, input_shape, rounding, stride=value)
        if inferred:
            found.append(Alternative("stride", value, inferred.shape, inferred.work))
    if rounding == "exact":
        for mode in ("floor", "ceil"):
            inferred = _try(layer, input_shape, mode)
            if inferred:
                found.append(Alternative("rounding", mode, inferred.shape, inferred.work))
    return found


def _fits(n: int, kernel_eff: int, stride: int, pad: int) -> bool:
    try:
        window_output(n, kernel_eff, stride, pad, pad)
    except FitError:
        return False
    return True


_SCAN = 10_000  # strides tried on each side of the current one: hints stay instant


def _axis_paddings(n: int, kernel_eff: int, stride: int, current: int) -> list[int]:
    """The symmetric paddings nearest to ``current`` (one below, one above) for which this
    axis fits; [current] when it already does.

    p fits when W + 2p ≥ F_eff and S divides W + 2p − F_eff, i.e. 2p ≡ F_eff − W (mod S):
    none when gcd(2, S) does not divide F_eff − W, else every m-th p (m = S/gcd(2, S)) from
    the least solution — found directly, however large S or the padding is.
    """
    if _fits(n, kernel_eff, stride, current):
        return [current]
    g = math.gcd(2, stride)
    if (kernel_eff - n) % g:
        return []
    m = stride // g
    residue = ((kernel_eff - n) // g) * pow(2 // g, -1, m) % m if m > 1 else 0
    least = max(0, -(-(kernel_eff - n) // 2))  # W + 2p ≥ F_eff
    above = max(current + 1, least)
    above += (residue - above) % m
    below = current - 1
    below -= (below - residue) % m
    return ([below] if below >= least else []) + [above]


def _axis_strides(padded: int, kernel_eff: int, current: int) -> list[int]:
    """The strides nearest to ``current`` (one below, one above) that divide the room the
    window has to move, padded − F_eff (tried up to _SCAN away from it, so an absurd stride
    gets an answer at once)."""
    room = padded - kernel_eff
    if room < 0:
        return []  # no stride helps a kernel larger than the padded input
    if room % current == 0:
        return [current]
    start = min(current - 1, room)  # no stride above the room divides it
    below = next((s for s in range(start, max(start - _SCAN, 0), -1) if room % s == 0), None)
    # a stride far beyond the window skips input pixels: offer only up to max(2·S, F_eff)
    end = min(room, max(2 * current, kernel_eff), current + _SCAN)
    above = next((s for s in range(current + 1, end + 1) if room % s == 0), None)
    return [s for s in (below, above) if s is not None]


def _combine(options: list[list[int]], current: tuple[int, int]) -> list[Any]:
    """Per-axis choices as field values: an int where both axes agree, else (h, w)."""
    hs, ws = options
    if not hs or not ws:
        return []
    if hs == ws:
        return [v for v in hs if (v, v) != current]
    values = []
    for i in range(max(len(hs), len(ws))):
        pair = (hs[min(i, len(hs) - 1)], ws[min(i, len(ws) - 1)])
        if pair != current and pair not in values:
            values.append(pair)
    return values


# --- presenting the work ----------------------------------------------------------------------


def params_formula(tensors: tuple[TensorSpec, ...] | list[TensorSpec]) -> str:
    """The notes' form (F·F·C + 1)·K where the layer has one weight and one bias per output,
    else the tensors' own formulas summed; always ending in '= total'."""
    total = sum(t.size for t in tensors if t.role in ("weight", "bias"))
    weights = [t for t in tensors if t.role == "weight"]
    biases = [t for t in tensors if t.role == "bias"]
    if not weights and not biases:
        return "0 (no weights)"
    if (len(weights) == 1 and len(biases) == 1 and len(weights[0].shape) >= 2
            and weights[0].size == numel(weights[0].shape)
            and biases[0].shape == (weights[0].shape[0],)):
        out, *fan = weights[0].shape
        if len(fan) == 3:  # (C/g, F_h, F_w) -> the notes' order F_h·F_w·C
            fan = [fan[1], fan[2], fan[0]]
        fan_text = "·".join(str(d) for d in fan)
        if numel(tuple(fan)) * out + out == total:
            return f"({fan_text} + 1)·{out} = {fmt_int(total)}"
    parts = [t.formula.split(" = ")[0] for t in tensors if t.role in ("weight", "bias")]
    if len(parts) == 1:
        return f"{parts[0]} = {fmt_int(total)}" if parts[0] != fmt_int(total) else parts[0]
    return " + ".join(parts) + f" = {fmt_int(total)}"


def tensors_breakdown(tensors) -> str:
    """'weights 11·11·3·96 = 34,848, bias 96'."""
    parts = []
    for t in tensors:
        if t.role == "buffer":
            continue
        plain = t.formula.replace(",", "")
        text = t.formula if "=" in t.formula or plain == str(t.size) else (
            f"{t.formula} = {fmt_int(t.size)}")
        parts.append(f"{'weights' if t.role == 'weight' else t.name} {text}")
    return ", ".join(parts)


def flops_text(cost: Cost) -> str:
    if cost.flops_formula and "=" not in cost.flops_formula:
        return f"{cost.flops_formula} = {fmt_int(cost.flops)}"
    return cost.flops_formula or fmt_int(cost.flops)


def rf_formula(before: ReceptiveField, after: ReceptiveField, *, window: bool = True) -> str:
    """r' = r + (F_eff − 1)·j and j' = j·S per axis, with the numbers; one line when the axes
    agree. F_eff and S are read off the two fields (the layer computed them); a layer that is
    not a window (ReLU, batch norm) leaves the field unchanged and says so."""
    lines = []
    for axis in AXES:
        a, b = getattr(before, axis), getattr(after, axis)
        lines.append(_rf_axis(a.size, a.stride, b.size, b.stride, window))
    if lines[0] == lines[1]:
        return lines[0]
    return f"height: {lines[0]}; width: {lines[1]}"


def _rf_axis(r, j, r2, j2, window: bool) -> str:
    if r == r2 and j == j2 and not window:
        return f"r = {fmt_num(r)}, j = {fmt_num(j)} (unchanged: pointwise)"
    span = (r2 - r) / j + 1  # F_eff
    if j2 >= j:
        step = f"j' = j·S = {fmt_num(j)}·{fmt_num(j2 / j)} = {fmt_num(j2)}"
    else:
        step = f"j' = j/S = {fmt_num(j)}/{fmt_num(j / j2)} = {fmt_num(j2)}"
    return (f"r' = r + (F_eff − 1)·j = {fmt_num(r)} + ({fmt_num(span)} − 1)·{fmt_num(j)} "
            f"= {fmt_num(r2)}; {step}")


def _describe(layer: Layer, input_shape: Shape) -> str:
    return f"{layer.label()} ({layer.type}) on {shape_text(input_shape)}"


def render_text(work: LayerWork) -> str:
    """The worked answer as plain text (✓ fits / ✗ does not fit)."""
    lines = [_describe(work.layer, work.input_shape)]
    if not work.fits:
        problem = work.problem
        lines.append(f"  ✗ does not fit: {problem.what}")
        if problem.formula:
            lines.append(f"      {problem.formula}")
        if work.alternatives:
            lines.append("  nearest choices that fit:")
            for alt in work.alternatives:
                label = (f"{alt.value} rounding" if alt.change == "rounding"
                         else f"{alt.change} {alt.value_text}")
                lines.append(f"    {label:<16} → {shape_text(alt.output_shape)}   "
                             + "; ".join(alt.work))
        if problem.fix and not any(a.change != "rounding" for a in work.alternatives):
            lines.append(f"  Fix: {problem.fix}")
        return "\n".join(line for line in lines if line) + "\n"
    inferred, cost = work.inferred, work.cost
    lines.append("  output size     " + "\n                  ".join(inferred.work))
    lines.append(f"  output volume   {shape_text(inferred.shape)}"
                 f"   ({fmt_int(numel(inferred.shape))} values)")
    lines.append(f"  params          {params_formula(work.tensors)}")
    if work.tensors:
        lines.append(f"                  {tensors_breakdown(work.tensors)}")
    lines.append(f"  MACs            {macs_text(cost)}")
    if cost.flops:
        lines.append(f"  FLOPs           {flops_text(cost)}")
    if cost.comparisons:
        lines.append(f"  comparisons     {comparisons_text(work.layer, inferred.shape, cost)}")
    rf = work.receptive_field
    lines.append(f"  receptive field {rf.size_text()} px, stride {rf.stride_text()}")
    lines.append(f"                  {rf_formula(ReceptiveField.of_input(), rf)}")
    return "\n".join(lines) + "\n"


def macs_text(cost: Cost) -> str:
    return cost.macs_formula if cost.macs or cost.macs_formula else "0"


def comparisons_text(layer: Layer, out: Shape, cost: Cost) -> str:
    """H'·W'·C·(F_h·F_w − 1) for a max pool, checked against the layer's own count."""
    window = getattr(layer, "window", None)
    if window is not None and len(out) == 3:
        c, h, w = out
        kh, kw = window.kernel
        if h * w * c * (kh * kw - 1) == cost.comparisons:
            return f"{h}·{w}·{c}·({kh}·{kw} − 1) = {fmt_int(cost.comparisons)}"
    return fmt_int(cost.comparisons)


def to_dict(work: LayerWork) -> dict[str, Any]:
    """The work as JSON-ready data (shapes as [C, H, W])."""
    data: dict[str, Any] = {
        "type": work.layer.type,
        "fields": work.layer.model_dump(exclude={"type", "name", "inputs"},
                                         exclude_none=True),
        "input": list(work.input_shape),
        "rounding": work.rounding,
        "fits": work.fits,
    }
    if not work.fits:
        data["problem"] = {"what": work.problem.what, "formula": work.problem.formula}
        data["alternatives"] = [
            {"change": a.change, "value": list(a.value) if isinstance(a.value, tuple)
             else a.value, "output_shape": list(a.output_shape), "work": list(a.work)}
            for a in work.alternatives
        ]
        return data
    cost = work.cost
    data.update({
        "output_shape": list(work.output_shape),
        "params": work.params, "weights": work.weights, "bias": work.bias,
        "macs": cost.macs, "flops": cost.flops, "comparisons": cost.comparisons,
        "receptive_field": work.receptive_field.as_dict(),
        "work": {
            "output_size": list(work.inferred.work),
            "params": params_formula(work.tensors),
            "macs": macs_text(cost),
            "receptive_field": rf_formula(ReceptiveField.of_input(), work.receptive_field),
        },
    })
    return data
