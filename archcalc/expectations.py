"""Check a spec's ``expect:`` block against its analysis: one ClaimResult per asserted value.

    expect:
      source: Simonyan & Zisserman 2015          # default source of the claims below
      totals:
        params: {value: 138357544, source: torchvision docs}
        macs: 15.47G                             # ± 0.005 G: the precision written
        output_shape: [1000]
      layers:
        fc6.fc: {weights: 102,760,448, bias: 4096}
        pool5: {output_shape: 7x7x512, receptive_field: 212}
        inception_3a: {weights: 163328}          # a block instance: summed over its layers

Counts are read with ``parse_count`` ('138,357,544', '138M' ± 0.5 M); an explicit
``tolerance`` is relative (|actual − expected| ≤ tolerance·expected). Shapes are H×W×C text
('7x7x512'), a [C, H, W] list or a single length. Receptive fields and their strides are a
number (both axes) or [height, width]. A block instance name means the whole block: params,
weights, bias, MACs and FLOPs are summed over its layers, shapes and receptive fields are
those of its output layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArchcalcError, Location, SpecError
from .geometry import fmt_count, fmt_int, jsonable
from .layers import shape_text
from .messages import suggestion
from .quantities import Count, parse_count, parse_shape
from .spec import BUNDLED_DIR, LAYER_CLAIMS, TOTAL_CLAIMS, Claim

if TYPE_CHECKING:
    from .analysis import Analysis, LayerStats

SUMMED = ("params", "weights", "bias", "macs", "flops")  # over a block's layers


@dataclass(frozen=True)
class ClaimResult:
    """One asserted value and what the analysis found."""

    subject: str  # 'totals' or a layer (or block instance) name
    quantity: str  # 'params', 'output_shape', 'receptive_field', ...
    expected: Any  # as written in the spec
    actual: Any  # int, shape tuple (C, H, W) or receptive-field value
    ok: bool
    source: str | None
    detail: str = ""  # why it failed, or the tolerance it passed within

    @property
    def expected_text(self) -> str:
        if isinstance(self.expected, int) and not isinstance(self.expected, bool):
            return fmt_int(self.expected)
        if isinstance(self.expected, (list, tuple)):
            return "[" + ", ".join(str(v) for v in self.expected) + "]"
        return str(self.expected)

    @property
    def actual_text(self) -> str:
        return _display(self.quantity, self.expected, self.actual)

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "quantity": self.quantity,
                "expected": self.expected, "actual": jsonable(self.actual), "ok": self.ok,
                "source": self.source, "detail": self.detail}


@dataclass(frozen=True)
class _Subject:
    """What a claim's subject names: one layer, or the layers of a block instance."""

    name: str
    members: tuple[LayerStats, ...]
    output: LayerStats

    def count(self, quantity: str) -> int:
        return sum(getattr(m, quantity) for m in self.members)


def check_expectations(analysis: Analysis, *, source_text: str | None = None
                       ) -> list[ClaimResult]:
    """Every claim of ``analysis.spec.expect``, checked; [] when the spec asserts nothing.

    Raises SpecError (with file:line when the spec file can be re-read, or ``source_text`` is
    given) for an unknown quantity, an unknown layer or an unreadable value.
    """
    expect = analysis.spec.expect
    if expect is None:
        return []
    marks = _ExpectMarks(analysis.spec.file, source_text)
    subjects = _subjects(analysis)
    planned: list[tuple[str, str, Claim, _Subject | None]] = []
    for quantity, claim in expect.totals.items():
        if quantity not in TOTAL_CLAIMS:
            raise SpecError(f"unknown quantity '{quantity}' under expect.totals",
                            where=marks.at("totals", quantity),
                            fix=suggestion(quantity, TOTAL_CLAIMS, "totals"))
        planned.append(("totals", quantity, claim, None))
    for name, claims in expect.layers.items():
        subject = subjects.get(name)
        if subject is None:
            raise SpecError(f"expect.layers names '{name}', which is not a layer or block "
                            "of this network", where=marks.at("layers", name),
                            fix=suggestion(name, subjects, "layer names")
                            + " (a layer switched off by `if:` does not exist)")
        for quantity, claim in claims.items():
            if quantity not in LAYER_CLAIMS:
                raise SpecError(f"unknown quantity '{quantity}' for layer '{name}'",
                                where=marks.at("layers", name, quantity),
                                fix=suggestion(quantity, LAYER_CLAIMS, "per-layer quantities"))
            planned.append((name, quantity, claim, subject))
    results = []
    for subject_name, quantity, claim, subject in planned:
        try:
            actual = (_total(analysis, quantity) if subject is None
                      else _of_subject(subject, quantity))
            results.append(_compare(subject_name, quantity, claim, actual,
                                    claim.source or expect.source))
        except ArchcalcError as exc:  # only now is the spec's text read for the position
            where = (marks.at("totals", quantity) if subject is None
                     else marks.at("layers", subject_name, quantity))
            raise SpecError(exc.what, where=where, formula=exc.formula, fix=exc.fix) from None
    return results


def all_passed(results: list[ClaimResult]) -> bool:
    return all(r.ok for r in results)


# --- what the analysis says -----------------------------------------------------------------


def _subjects(analysis: Analysis) -> dict[str, _Subject]:
    """Layers by name, plus block instances (and repeated groups: 'layer3' for 'layer3.1'…)."""
    subjects = {row.name: _Subject(row.name, (row,), row) for row in analysis.layers}
    groups: dict[str, list[LayerStats]] = {}
    for row in analysis.layers:
        path = row.node.block_path
        names = list(path)
        for instance in path:
            match = re.fullmatch(r"(.+)\.(\d+)", instance)
            if match and match.group(1) not in path:
                names.append(match.group(1))
        for name in dict.fromkeys(names):
            groups.setdefault(name, []).append(row)
    consumers: dict[str, set[str]] = {}
    for row in analysis.layers:
        for source in row.inputs:
            consumers.setdefault(source, set()).add(row.name)
    for name, members in groups.items():
        if name in subjects:
            continue
        inside = {m.name for m in members}
        exits = [m for m in members if m.name in analysis.outputs
                 or consumers.get(m.name, set()) - inside or not consumers.get(m.name)]
        subjects[name] = _Subject(name, tuple(members), exits[-1] if exits else members[-1])
    return subjects


def _total(analysis: Analysis, quantity: str) -> Any:
    if quantity == "layers":
        return len(analysis.layers)
    if quantity == "output_shape":
        return analysis.output.output_shape
    if quantity == "receptive_field":
        return _rf(analysis.output, "size")
    return getattr(analysis.totals, quantity)


def _of_subject(subject: _Subject, quantity: str) -> Any:
    if quantity in SUMMED:
        return subject.count(quantity)
    if quantity == "output_shape":
        return subject.output.output_shape
    if quantity == "receptive_field":
        return _rf(subject.output, "size")
    if quantity == "rf_stride":
        return _rf(subject.output, "stride")
    raise AssertionError(f"unhandled quantity {quantity}")  # pragma: no cover


def _rf(row: LayerStats, part: str) -> tuple[Fraction, Fraction]:
    rf = row.receptive_field
    return (getattr(rf.height, part), getattr(rf.width, part))


# --- comparing ----------------------------------------------------------------------------------


def _compare(subject: str, quantity: str, claim: Claim, actual: Any,
             source: str | None) -> ClaimResult:
    written = claim.value
    if quantity == "output_shape":
        if claim.tolerance is not None:
            raise SpecError("a tolerance applies to counts, not to shapes",
                            fix="drop `tolerance:` from this claim")
        expected = parse_shape(written)
        ok = tuple(expected) == tuple(actual)
        detail = "" if ok else f"expected {_shape(expected)}, found {_shape(actual)}"
        return ClaimResult(subject, quantity, written, tuple(actual), ok, source, detail)
    if quantity in ("receptive_field", "rf_stride"):
        return _compare_rf(subject, quantity, claim, actual, source)
    count = parse_count(written)
    ok, detail = _within(count, claim.tolerance, actual)
    return ClaimResult(subject, quantity, written, actual, ok, source, detail)


def _compare_rf(subject: str, quantity: str, claim: Claim, actual: tuple[Fraction, Fraction],
                source: str | None) -> ClaimResult:
    written = claim.value
    if isinstance(written, (list, tuple)):
        if len(written) != 2:
            raise SpecError(f"a {quantity} is one number or [height, width], got {written!r}",
                            fix="write e.g. 212 or [212, 212]")
        counts = [parse_count(v) for v in written]
    else:
        counts = [parse_count(written)] * 2
    checks = [_within(c, claim.tolerance, a) for c, a in zip(counts, actual)]
    ok = all(c[0] for c in checks)
    if checks[0] == checks[1]:
        detail = checks[0][1]
    else:
        detail = "; ".join(f"{axis}: {d or 'matches'}"
                           for axis, (_, d) in zip(("height", "width"), checks))
    value = actual[0] if actual[0] == actual[1] else actual
    return ClaimResult(subject, quantity, written, value, ok, source, detail)


def _within(count: Count, tolerance: float | None, actual: int | Fraction) -> tuple[bool, str]:
    """Does ``actual`` match the written count? And the detail to show."""
    actual = Fraction(actual)
    if tolerance is not None:
        allowed = abs(count.value) * Fraction(str(tolerance))
        why = f"±{tolerance:g} relative"
    else:
        allowed = count.tolerance
        why = f"±{fmt_count(allowed)} from the precision written" if allowed else ""
    diff = actual - count.value
    if abs(diff) <= allowed:
        return True, (f"within {why}" if allowed else "")
    return False, f"off by {'+' if diff > 0 else '−'}{fmt_count(abs(diff))}" + (
        _share(diff, count.value) + (f" (allowed {why})" if allowed else ""))


def _share(diff: Fraction, written: Fraction) -> str:
    """The difference as a percentage of the written value (none for 0; beyond ±10⁶ said in
    words, where float() of the ratio could overflow)."""
    if not written:
        return ""
    ratio = diff / written
    if abs(ratio) >= 10**6:
        return ", over a million times the value written"
    return f", {float(ratio):+.3%}".replace("-", "−")


# --- text --------------------------------------------------------------------------------------


def _shape(shape: tuple[int, ...]) -> str:
    return shape_text(tuple(shape))


def _display(quantity: str, written: Any, actual: Any) -> str:
    if quantity == "output_shape":
        if isinstance(written, (list, tuple)):
            return "[" + ", ".join(str(d) for d in actual) + "]"
        return _shape(actual)
    if isinstance(actual, tuple):
        return "[" + ", ".join(fmt_count(v) for v in actual) + "]"
    return fmt_count(actual)


# --- where a claim is written -------------------------------------------------------------------


class _ExpectMarks:
    """Line and column of keys under ``expect:``, read again from the spec's text."""

    def __init__(self, file: str, text: str | None) -> None:
        self.file = file
        self._text = text
        self._expect: Any = None
        self._loaded = False

    def _load(self) -> Any:
        if not self._loaded:
            self._loaded = True
            from .yaml_source import parse_yaml

            text = self._text if self._text is not None else _read(self.file)
            if text is not None:
                try:
                    data = parse_yaml(text, self.file)
                    self._expect = data.get("expect") if isinstance(data, dict) else None
                except ArchcalcError:  # pragma: no cover - the spec loaded before
                    self._expect = None
        return self._expect

    def at(self, *keys: str) -> Location:
        """The location of the deepest of ``keys`` found (expect → totals → params …)."""
        node, found = self._load(), None
        for key in keys:
            marks = getattr(node, "key_marks", None)
            if not isinstance(node, dict) or marks is None or key not in node:
                break
            found = marks[key]
            node = node[key]
        field = "expect." + ".".join(keys)
        return Location.at(self.file, found, field=field)


def _read(file: str) -> str | None:
    """The text of a spec file as NetworkSpec.file names it ('specs/x.yaml' for bundled)."""
    path = Path(file)
    candidates = [path]
    if file.startswith("specs/"):
        candidates.insert(0, BUNDLED_DIR / path.name)
    for candidate in candidates:
        try:
            return candidate.read_text(encoding="utf-8")
        except OSError:
            continue
    return None


# --- reports ------------------------------------------------------------------------------------


def claims_table(checked: list[tuple[str, list[ClaimResult]]], *, failed_only: bool = False):
    """A rich table of claims, one row each: ✓/✗, spec, subject, quantity, expected, actual,
    source (a failure's detail under its actual value)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="expectations", title_justify="left")
    table.add_column("ok", no_wrap=True, justify="center")
    for header, kwargs in (("spec", {"no_wrap": True}), ("layer", {"no_wrap": True}),
                           ("quantity", {"no_wrap": True}),
                           ("expected", {"justify": "right", "no_wrap": True}),
                           ("actual", {"justify": "right"}),
                           ("source", {"overflow": "fold", "ratio": 1})):
        table.add_column(header, **kwargs)
    for spec_name, results in checked:
        for r in results:
            if failed_only and r.ok:
                continue
            mark = Text("✓", style="green") if r.ok else Text("✗", style="bold red")
            actual = Text(r.actual_text)
            if not r.ok and r.detail:
                actual.append(f"\n{r.detail}", style="red")
            table.add_row(mark, spec_name, r.subject, r.quantity, r.expected_text, actual,
                          r.source or "")
    return table


def claims_summary(checked: list[tuple[str, list[ClaimResult]]], *, errors: int = 0):
    """The closing line: how many claims in how many specs hold."""
    from rich.text import Text

    passed = sum(r.ok for _, results in checked for r in results)
    failed = sum(not r.ok for _, results in checked for r in results)
    text = Text(f"{passed + failed} claims in {len(checked)} specs: ")
    text.append(f"{passed} ✓", style="green")
    text.append(", ")
    text.append(f"{failed} ✗", style="bold red" if failed else "")
    if errors:
        text.append(f", {errors} spec{'s' if errors > 1 else ''} could not be analysed",
                    style="bold red")
    return text
