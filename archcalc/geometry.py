"""Exact spatial arithmetic: output sizes, padding, receptive fields, and their worked text.

Output size along one axis (W input, F kernel, P padding, S stride, D dilation):

    W' = (W − F_eff + P_begin + P_end)/S + 1,   F_eff = D·(F − 1) + 1

computed as a Fraction. Under ``exact`` rounding a non-integer W' is an error; ``floor`` is
PyTorch's rule and ``ceil`` Caffe's (with PyTorch's proviso that the last window must start
inside the input or its leading padding).
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from .errors import FitError

Rounding = Literal["exact", "floor", "ceil"]
Pair = tuple[int, int]
Padding4 = tuple[int, int, int, int]  # top, bottom, left, right

AXES = ("height", "width")


def fmt_int(n: int | Fraction) -> str:
    """12345678 -> '12,345,678'; a non-integer Fraction is shown with two decimals."""
    if isinstance(n, Fraction) and n.denominator != 1:
        return f"{float(n):,.2f}"
    return f"{int(n):,}"


def fmt_count(n: int | Fraction) -> str:
    """A count or its tolerance in a verdict: '34,944'; not whole, 6 significant digits
    ('0.005', '1,234.57')."""
    n = Fraction(n)
    return fmt_int(n) if n.denominator == 1 else f"{float(n):,.6g}"


def fmt_num(n: int | Fraction) -> str:
    """A number as written inside a formula, negatives with a true minus sign (−2)."""
    text = _plain_num(n)
    return "−" + text[1:] if text.startswith("-") else text


def _plain_num(n: int | Fraction) -> str:
    """A number as written inside a formula: no thousands separators; a non-integer Fraction
    to 4 significant digits, or as many more as it takes to show it is not whole
    (1122.5, not 1122; 1.00000003, not 1)."""
    if isinstance(n, Fraction):
        if n.denominator == 1:
            return str(n.numerator)
        try:
            text = f"{float(n):.4g}"
        except OverflowError:
            text = ""
        if "." in text and "e" not in text:
            return text
        whole_digits = len(str(abs(n.numerator) // n.denominator))
        for precision in range(5, whole_digits + 40):
            with decimal.localcontext() as ctx:
                ctx.prec = precision
                text = f"{decimal.Decimal(n.numerator) / decimal.Decimal(n.denominator):f}"
            if "." in text and text.rstrip("0")[-1] != ".":
                return text.rstrip("0")
        return f"{n.numerator}/{n.denominator}"
    return str(n)


def to_pair(value: int | tuple[int, ...] | list[int]) -> Pair:
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def effective_kernel(kernel: int, dilation: int) -> int:
    """F_eff = D·(F − 1) + 1."""
    return dilation * (kernel - 1) + 1


@dataclass(frozen=True)
class AxisSize:
    """One axis of a windowed layer's output, with the arithmetic that produced it."""

    value: int
    text: str


def window_output(
    n: int,
    kernel: int,
    stride: int,
    pad_begin: int,
    pad_end: int,
    *,
    dilation: int = 1,
    rounding: Rounding = "exact",
    axis: str = "width",
) -> AxisSize:
    """W' = (W − F_eff + P_begin + P_end)/S + 1, rounded as asked; raises FitError otherwise."""
    k_eff = effective_kernel(kernel, dilation)
    padded = n + pad_begin + pad_end
    k_text = fmt_num(kernel) if dilation == 1 else f"({dilation}·({kernel} − 1) + 1)"
    pad_text = f"2·{pad_begin}" if pad_begin == pad_end else f"{pad_begin} + {pad_end}"
    exact = Fraction(padded - k_eff, stride) + 1
    text = f"({n} − {k_text} + {pad_text})/{stride} + 1 = {fmt_num(exact)}"
    if padded < k_eff:
        need = -(-(k_eff - n) // 2)  # ⌈(F_eff − W)/2⌉ in integers: exact for any size
        if dilation == 1:
            fix = f"padding ≥ {need} or kernel_size ≤ {padded}"
        else:  # D·(F − 1) + 1 ≤ padded  <=>  D ≤ (padded − 1)/(F − 1), F ≤ (padded − 1)/D + 1
            most = (padded - 1) // (kernel - 1)
            fix = (f"padding ≥ {need}" + (f", dilation ≤ {most}" if most else "")
                   + f" or kernel_size ≤ {(padded - 1) // dilation + 1}")
        raise FitError(
            f"kernel does not fit the {axis}: effective kernel {k_eff} > padded input {padded}",
            formula=text,
            fix=fix,
        )
    if exact.denominator == 1:
        return AxisSize(int(exact), text)
    if rounding == "exact":
        raise FitError(
            f"output {axis} is not a whole number",
            formula=text,
            fix=_fit_hint(n, kernel, stride, pad_begin, pad_end, dilation, axis),
        )
    if rounding == "floor":
        value = math.floor(exact)
        return AxisSize(value, f"⌊{text[: text.rindex(' = ')]}⌋ = {value} (floor)")
    value = math.ceil(exact)
    note = "ceil"
    if (value - 1) * stride >= n + pad_begin:
        value -= 1  # the last window would start in the trailing padding: dropped, as PyTorch
        note = "ceil, last window dropped as it would start past the input"
    return AxisSize(value, f"⌈{text[: text.rindex(' = ')]}⌉ = {value} ({note})")


def _fit_hint(n: int, kernel: int, stride: int, pb: int, pe: int, dilation: int,
              axis: str = "width") -> str:
    """Nearest padding, strides and input sizes that make the size formula a whole number.

    With span = W + P − F_eff and r = span mod S (r > 0 here): S − r more padding, any stride
    dividing span, or an input W − r or W + S − r — worked out directly, however large S is.
    """
    span = n + pb + pe - effective_kernel(kernel, dilation)
    short = stride - span % stride
    total = pb + pe + short
    hints = [f"total padding {total}" + (f" (padding {total // 2})" if total % 2 == 0 else "")]
    fits = []
    for s in range(1, min(max(stride, 2) + 3, 10_000)):
        if span % s == 0:
            fits.append(s)
            if len(fits) == 3:
                break
    if fits:
        hints.append("stride " + " or ".join(str(s) for s in fits))
    down, up = n - span % stride, n + short
    hints.append(f"an input {axis} of {down} or {up}" if down >= 1
                 else f"an input {axis} of {up}")
    hints.append("or rounding: floor (PyTorch) / ceil (Caffe)")
    return ", ".join(hints)


def resolve_padding(
    padding: int | str | tuple[int, ...] | list[int],
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    in_hw: Pair,
) -> Padding4:
    """Padding as (top, bottom, left, right).

    ``same``: TensorFlow's rule, out = ⌈W/S⌉ and total padding max((out − 1)·S + F_eff − W, 0),
    the odd pixel going to the bottom/right. ``valid`` is no padding.
    """
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        pads = []
        for n, k, s, d in zip(in_hw, kernel, stride, dilation):
            out = -(-n // s)
            total = max((out - 1) * s + effective_kernel(k, d) - n, 0)
            pads.extend([total // 2, total - total // 2])
        return (pads[0], pads[1], pads[2], pads[3])
    if isinstance(padding, int):
        return (padding, padding, padding, padding)
    values = tuple(int(v) for v in padding)
    if len(values) == 2:
        return (values[0], values[0], values[1], values[1])
    return (values[0], values[1], values[2], values[3])


# --- receptive fields -----------------------------------------------------------------------


@dataclass(frozen=True)
class AxisRF:
    """Receptive field along one axis, in input pixels (Araujo, Norris & Sim, Distill 2019).

    ``size`` r, effective ``stride`` j (distance in input pixels between neighbouring outputs)
    and ``start``, the centre of the first output's field (negative when it lies in padding).
    """

    size: Fraction
    stride: Fraction
    start: Fraction
    aligned: bool = True

    def window(self, kernel_eff: int, stride: int, pad_begin: int) -> AxisRF:
        """r' = r + (F_eff − 1)·j,  j' = j·S,  start' = start + ((F_eff − 1)/2 − P_begin)·j."""
        return AxisRF(
            size=self.size + (kernel_eff - 1) * self.stride,
            stride=self.stride * stride,
            start=self.start + (Fraction(kernel_eff - 1, 2) - pad_begin) * self.stride,
            aligned=self.aligned,
        )

    def upsample(self, kernel_eff: int, stride: int, pad: int) -> AxisRF:
        """Transposed conv: j' = j/S; each output sees ⌈F_eff/S⌉ inputs."""
        inputs_seen = -(-kernel_eff // stride)
        return AxisRF(
            size=self.size + (inputs_seen - 1) * self.stride,
            stride=self.stride / stride,
            start=self.start + Fraction(pad - Fraction(kernel_eff - 1, 2), stride) * self.stride,
            aligned=self.aligned,
        )


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field per axis; ``None`` for tensors with no spatial layout to speak of."""

    height: AxisRF
    width: AxisRF

    @staticmethod
    def of_input() -> ReceptiveField:
        unit = AxisRF(Fraction(1), Fraction(1), Fraction(0))
        return ReceptiveField(unit, unit)

    def window(self, kernel_eff: Pair, stride: Pair, pad_begin: Pair) -> ReceptiveField:
        return ReceptiveField(
            self.height.window(kernel_eff[0], stride[0], pad_begin[0]),
            self.width.window(kernel_eff[1], stride[1], pad_begin[1]),
        )

    def upsample(self, kernel_eff: Pair, stride: Pair, pad: Pair) -> ReceptiveField:
        return ReceptiveField(
            self.height.upsample(kernel_eff[0], stride[0], pad[0]),
            self.width.upsample(kernel_eff[1], stride[1], pad[1]),
        )

    def as_dict(self) -> dict:
        def axis(a: AxisRF) -> dict:
            return {"size": jsonable(a.size), "stride": jsonable(a.stride),
                    "start": jsonable(a.start), "aligned": a.aligned}

        return {"height": axis(self.height), "width": axis(self.width)}

    def short(self) -> str:
        """'11', or '3×5' when the axes differ; '*' marks paths that are not aligned."""
        text = _axes_text(self.height.size, self.width.size)
        return text if self.height.aligned and self.width.aligned else text + "*"

    def size_text(self) -> str:
        """'11×11' (height × width, in input pixels)."""
        return f"{fmt_num(self.height.size)}×{fmt_num(self.width.size)}"

    def stride_text(self) -> str:
        """'4', '2×1' (height × width) or '6.333' (a fractional stride, after a merge or an
        upsampling), in input pixels."""
        return _axes_text(self.height.stride, self.width.stride)


def _axes_text(h: Fraction, w: Fraction) -> str:
    return fmt_num(h) if h == w else f"{fmt_num(h)}×{fmt_num(w)}"


def jsonable(value: Any) -> Any:
    """JSON-ready: a Fraction as an int when whole, else a float; tuples and lists as lists
    of such; anything else as it is."""
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


def merge_axis(fields: list[AxisRF]) -> AxisRF:
    """Distill's rule at a merge: the union of the paths' fields.

    The output field spans from the leftmost to the rightmost edge over all paths; the paths
    are *aligned* only if their strides and centres agree (otherwise the centre is not
    well defined and the result is marked unaligned).
    """
    lefts = [f.start - (f.size - 1) / 2 for f in fields]
    rights = [f.start + (f.size - 1) / 2 for f in fields]
    left, right = min(lefts), max(rights)
    aligned = all(f.aligned for f in fields) and len({(f.stride, f.start) for f in fields}) == 1
    return AxisRF(
        size=right - left + 1,
        stride=max(f.stride for f in fields),
        start=(left + right) / 2,
        aligned=aligned,
    )


def merge_fields(fields: list[ReceptiveField]) -> ReceptiveField:
    return ReceptiveField(
        merge_axis([f.height for f in fields]), merge_axis([f.width for f in fields])
    )
