"""Numbers and shapes as people write them: '34,944', '34.9k', '7260k', '15.47G', '55x55x96'.

A rounded form carries the tolerance its written precision implies: '34.9k' means
34,900 ± 50, so 34,944 matches it; '138M' means 138,000,000 ± 500,000.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from .errors import ArchcalcError

_SUFFIX = {"": 1, "k": 10**3, "K": 10**3, "m": 10**6, "M": 10**6, "g": 10**9, "G": 10**9,
           "b": 10**9, "B": 10**9, "t": 10**12, "T": 10**12}
_COUNT = re.compile(r"^\s*([-+]?[0-9][0-9,_ ]*(?:\.[0-9]+)?|[-+]?\.[0-9]+)\s*([kKmMgGbBtT]?)\s*$")
_SHAPE_SPLIT = re.compile(r"\s*[x×*,]\s*")
_EXPONENT = re.compile(r"[eE]\s*[-+]?\s*([0-9]+)")
#: digits and powers of ten a written count may have (as yaml_source.MAX_INT_DIGITS): far
#: beyond any network, small enough that '1e99999999999' is refused instead of built
MAX_DIGITS = 100


class QuantityError(ArchcalcError):
    """A written number or shape cannot be read."""


@dataclass(frozen=True)
class Count:
    """A written count: its value and the half-width of the interval its precision implies."""

    value: Fraction
    tolerance: Fraction
    text: str

    def matches(self, actual: int | float | Fraction) -> bool:
        return abs(Fraction(actual) - self.value) <= self.tolerance

    def __str__(self) -> str:
        return self.text


def parse_count(text: str | int | float) -> Count:
    """'34,944' exact; '34.9k' ± 0.05k; '7260k' ± 0.5k; '15.47G' ± 0.005G; '1e6' exact."""
    if isinstance(text, bool):
        raise QuantityError(f"expected a number, got {text!r}", fix="write e.g. 34944 or 34.9k")
    if isinstance(text, int):
        return Count(Fraction(text), Fraction(0), f"{text:,}")
    if isinstance(text, float):
        if not math.isfinite(text):
            shown = ".nan" if math.isnan(text) else ".inf" if text > 0 else "-.inf"
            raise QuantityError(f"expected a number, got {shown}",
                                fix="write a finite count, e.g. 34944 or 34.9k")
        return Count(Fraction(str(text)), Fraction(0), repr(text))
    raw = str(text).strip()
    exponent = _EXPONENT.search(raw)
    if sum(ch.isdigit() for ch in raw) > MAX_DIGITS or (
            exponent and int(exponent.group(1)) > MAX_DIGITS):
        shown = repr(raw[:40]) + ("…" if len(raw) > 40 else "")
        raise QuantityError(f"{shown} is out of range: a count has at most {MAX_DIGITS} digits "
                            f"and a power of ten from e-{MAX_DIGITS} to e{MAX_DIGITS}",
                            fix="check the value")
    match = _COUNT.match(raw)
    if not match:
        try:
            return Count(Fraction(raw), Fraction(0), raw)  # 1e6, 7/3
        except (ValueError, ZeroDivisionError):
            raise QuantityError(f"cannot read {raw!r} as a number",
                                fix="write e.g. 34944, 34,944, 34.9k, 7260k, 15.47G or 138M"
                                ) from None
    digits, suffix = match.group(1), match.group(2)
    clean = digits.replace(",", "").replace("_", "").replace(" ", "")
    scale = _SUFFIX[suffix]
    value = Fraction(clean) * scale
    decimals = len(clean.split(".")[1]) if "." in clean else 0
    rounded = bool(suffix) or decimals > 0
    tolerance = Fraction(scale, 2 * 10**decimals) if rounded else Fraction(0)
    return Count(value, tolerance, raw)


def parse_shape(text: str | int | list | tuple, *, order: str = "hwc") -> tuple[int, ...]:
    """'55x55x96' (H×W×C, the notes' order) -> (96, 55, 55); '4096' or [4096] -> (4096,).

    A list is taken as already in archcalc's own order, [C, H, W].
    """
    if isinstance(text, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in text):
            raise QuantityError(f"cannot read {list(text)!r} as a shape",
                                fix="write [C, H, W] with whole numbers, e.g. [96, 55, 55], or "
                                    "H×W×C text, e.g. 55x55x96")
        return tuple(text)
    if isinstance(text, int) and not isinstance(text, bool):
        return (text,)
    raw = str(text).strip().strip("[]()")
    parts = [p for p in _SHAPE_SPLIT.split(raw) if p]
    try:
        dims = tuple(int(p) for p in parts)  # commas split, like x and ×
    except ValueError:
        raise QuantityError(f"cannot read {text!r} as a shape",
                            fix="write it as H×W×C, e.g. 55x55x96, or a single length, e.g. 4096"
                            ) from None
    if len(dims) == 3 and order == "hwc":
        h, w, c = dims
        return (c, h, w)
    if len(dims) not in (1, 3):
        raise QuantityError(f"a shape has 1 or 3 sizes, {text!r} has {len(dims)}",
                            fix="write H×W×C, e.g. 55x55x96")
    return dims
