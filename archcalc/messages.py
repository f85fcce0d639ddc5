"""Turning validation failures into one clear SpecError: did-you-mean and pydantic errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import ValidationError

from .errors import Location, SpecError
from .yaml_source import SourceDict

#: what a field's type means, in words, keyed by the type's repr
_TYPE_WORDS = {
    "Size": "a positive integer or [height, width]",
    "Padding": "an integer ≥ 0, [h, w], [top, bottom, left, right], 'same' or 'valid'",
}


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest known name to ``word``, or None when nothing is close.

    difflib finds the candidates; among its best three the fewest edits wins, a swap of two
    neighbouring letters counting as one ('vgg61' -> 'vgg16', not 'vgg19')."""
    matches = difflib.get_close_matches(str(word), list(choices), n=3, cutoff=0.6)
    if not matches:
        return None
    return min(matches, key=lambda match: _edits(str(word), match))  # ties: difflib's order


def _edits(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1,
                         rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def suggestion(word: str, choices: Iterable[str], what: str) -> str:
    choices = sorted(set(choices))
    close = did_you_mean(word, choices)
    if close:
        return f"did you mean '{close}'?"
    shown = ", ".join(choices[:12]) + (", …" if len(choices) > 12 else "")
    return f"use one of the known {what}: {shown}" if choices else f"no {what} are defined"


def _field_words(model: type, field: str) -> str | None:
    info = getattr(model, "model_fields", {}).get(field)
    if info is None:
        return None
    text = str(info.annotation)
    for key, words in _TYPE_WORDS.items():
        if key.lower() in field.lower() or key in text:
            return words
    if field in ("kernel_size", "stride", "dilation", "output_size"):
        return _TYPE_WORDS["Size"]
    if field == "padding":
        return _TYPE_WORDS["Padding"]
    return None


def validation_error(
    exc: ValidationError,
    model: type,
    data: SourceDict,
    where: Location,
    *,
    what_kind: str = "fields",
) -> SpecError:
    """The first problem pydantic found, located at its key, as a SpecError."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = first["loc"]
    field = str(loc[0]) if loc else None
    mark = data.key_marks.get(field) if field and isinstance(data, SourceDict) else None
    mark = mark or getattr(data, "mark", None)
    here = Location(where.file, mark.line if mark else where.line,
                    mark.column if mark else where.column, where.layer, where.kind, field)
    known = [f for f in getattr(model, "model_fields", {}) if f != "type"]
    more = {str(e["loc"][0]) for e in errors if e["loc"]} - {field}
    extra = f" (and {len(more)} more field problem{'s' if len(more) > 1 else ''})" if more else ""
    kind = first["type"]
    if kind == "extra_forbidden":
        return SpecError(f"unknown field '{field}'{extra}", where=here,
                         fix=suggestion(field, known, what_kind))
    if kind == "missing":
        return SpecError(f"missing required field '{field}'{extra}", where=here,
                         fix=f"add `{field}: …`")
    if not loc:  # a whole-model rule
        message = first["msg"].removeprefix("Value error, ")
        return SpecError(message + extra, where=here, fix=None)
    value = data.get(field) if isinstance(data, dict) else None
    words = _field_words(model, field)
    if words is None:
        words = first["msg"][0].lower() + first["msg"][1:]
        what = f"invalid value {value!r}: {words}"
    else:
        what = f"invalid value {value!r}: expected {words}"
    return SpecError(what + extra, where=here, fix=f"give '{field}' {words_or(words)}")


def words_or(words: str) -> str:
    return words.removeprefix("input should be ").removeprefix("expected ")
