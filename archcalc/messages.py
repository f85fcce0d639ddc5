"""Turning validation failures into one clear SpecError: did-you-mean and pydantic errors."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from typing import Any, get_args

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .errors import Location, SpecError
from .yaml_source import SourceDict


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


def _field_words(model: type, field: str) -> tuple[str, str] | None:
    """What a size or padding field (by its type in layers/fields.py) may be, and an example
    of it for the fix; None for other fields."""
    from .layers.fields import OptionalSize, Padding, Size, SymmetricPadding

    info = getattr(model, "model_fields", {}).get(field)
    if info is None:
        return None
    args = frozenset(get_args(info.annotation)) - {type(None)}  # `Size | None` is a Size
    ex = _EXAMPLES.get(field, "1")
    pair = f"write e.g. `{field}: {ex}` or `{field}: [{ex}, {ex}]`"
    if args == frozenset(get_args(Size)):
        return "a positive integer or [height, width]", pair
    if args in (frozenset(get_args(OptionalSize)), frozenset(get_args(SymmetricPadding))):
        return "an integer ≥ 0 or [height, width]", pair
    if args == frozenset(get_args(Padding)):
        return ("an integer ≥ 0, [h, w], [top, bottom, left, right], 'same' or 'valid'",
                f"write e.g. `{field}: 1`, `{field}: [1, 1]` or `{field}: same`")
    return None


#: an example value per size-like field, for the fix of a message
_EXAMPLES = {"kernel_size": "3", "stride": "2", "dilation": "2", "output_size": "7"}


_PLAIN = re.compile(r"^[A-Za-z_][\w.\-]*$")


def yaml_text(value: Any, *, nested: bool = False) -> str:
    """A value as it is written in YAML: true, null, .nan, 'text', [1, 2], {a: 1}, [relu]
    (text inside a list or mapping is quoted only where YAML would need it)."""
    if nested and isinstance(value, str) and _PLAIN.match(value) \
            and value.lower() not in ("true", "false", "null", "yes", "no", "on", "off"):
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_text(v, nested=True)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_text(v, nested=True) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def _number(x: Any) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else yaml_text(x)


def _default_note(info: FieldInfo | None) -> str:
    default = getattr(info, "default", PydanticUndefined)
    if default is PydanticUndefined or default is None or isinstance(default, bool):
        return ""
    return f" (the default is {yaml_text(default)})"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: pydantic's other bound errors: the key of the bound in the error context, and its words
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most"),
           "less_than": ("lt", "less than")}


def describe(error: dict, field: str, value: Any, info: FieldInfo | None = None,
             words: tuple[str, str] | None = None) -> tuple[str, str]:
    """What is wrong with ``value`` of ``field`` and how to fix it, in the house style, for
    the first error pydantic reported: ``("invalid value 0: must be …", "write e.g. …")``.
    ``words``: what the field may be and a fix with examples (sizes and paddings)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    got = f"invalid value {yaml_text(value)}"
    if words is not None:
        return f"{got}: must be {words[0]}", words[1]
    if field in ("inputs", "outputs") and kind in ("string_type", "tuple_type", "list_type"):
        return (f"{got}: must be a list of layer names",
                f"write e.g. `{field}: [conv1]`")
    if kind == "greater_than":
        bound = ctx.get("gt")
        if _whole(value) and bound == 0 and getattr(info, "annotation", int) is int:
            example = f", e.g. `{field}: {-value}`" if value < 0 else ""
            return f"{got}: must be greater than 0", f"write a whole number ≥ 1{example}"
        return (f"{got}: must be greater than {_number(bound)}",
                f"give '{field}' a value greater than {_number(bound)}{_default_note(info)}")
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        bound = _number(ctx.get(key))
        return (f"{got}: must be {words} {bound}",
                f"give '{field}' a value {'of ' if words.startswith('at') else ''}{words} "
                f"{bound}{_default_note(info)}")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        if isinstance(value, float) and value.is_integer():
            return f"{got}: must be a whole number", f"write `{field}: {int(value)}`"
        positive = any(getattr(m, "gt", None) == 0 for m in getattr(info, "metadata", ()))
        return f"{got}: must be a whole number", ("write a whole number ≥ 1" if positive
                                                  else "write a whole number")
    if kind in ("float_type", "float_parsing"):
        return f"{got}: must be a number", f"write a number{_default_note(info)}"
    if kind == "finite_number":
        return f"{got}: must be a finite number", f"write a number such as 0.01 for '{field}'"
    if kind in ("bool_type", "bool_parsing"):
        return f"{got}: must be true or false", f"write `{field}: true` or `{field}: false`"
    if kind == "string_type":
        if isinstance(value, (int, float, bool)):
            return f"{got}: must be text", f"quote it: `{field}: '{yaml_text(value)}'`"
        return f"{got}: must be text", f"write `{field}:` as plain text"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        if not choices:  # a fixed number, e.g. Literal[0]
            return f"{got}: must be {expected}", f"write `{field}: {expected}` or leave it out"
        shown = ", ".join(f"'{c}'" for c in choices)
        return f"{got}: must be one of {shown}", suggestion(str(value), choices, "values")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{got}: must be a mapping", f"write `{field}:` as `key: value` entries"
    if kind in ("tuple_type", "list_type", "too_long", "too_short"):
        need = error["msg"][0].lower() + error["msg"][1:]
        return f"{got}: {need.replace('input should', 'must')}", f"write `{field}:` as a list"
    if kind == "value_error":
        message = error["msg"].removeprefix("Value error, ")
        what, _, fix = message.partition(" Fix: ")
        return what.rstrip("."), fix or f"change '{field}'"
    need = error["msg"][0].lower() + error["msg"][1:]
    return f"{got}: {need.replace('input should be', 'must be')}", f"change '{field}'"


def validation_error(
    exc: ValidationError,
    model: type,
    data: SourceDict,
    where: Location,
    *,
    what_kind: str = "fields",
) -> SpecError:
    """The first problem pydantic found, located at its key, as a SpecError.

    A model-level validator may name the field it is about and give a fix by raising
    ``ValueError("<field>: <what>. Fix: <hint>")``; the message is then located at that key.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = first["loc"]
    fields = getattr(model, "model_fields", {})
    field = str(loc[0]) if loc else None
    rule_what, rule_fix = None, None
    if not loc:  # a whole-model rule
        message = first["msg"].removeprefix("Value error, ")
        named, sep, rest = message.partition(": ")
        if sep and named in fields:
            field, message = named, rest
        rule_what, _, rule_fix = message.partition(" Fix: ")
    mark = data.key_marks.get(field) if field and isinstance(data, SourceDict) else None
    mark = mark or getattr(data, "mark", None)
    here = Location(where.file, mark.line if mark else where.line,
                    mark.column if mark else where.column, where.layer, where.kind, field)
    known = [f for f in fields if f != "type"]
    more = {str(e["loc"][0]) for e in errors if e["loc"]} - {field}
    extra = f" (and {len(more)} more field problem{'s' if len(more) > 1 else ''})" if more else ""
    kind = first["type"]
    if kind == "extra_forbidden":
        return SpecError(f"unknown field '{field}'{extra}", where=here,
                         fix=suggestion(field, known, what_kind))
    if kind == "missing":
        return SpecError(f"missing required field '{field}'{extra}", where=here,
                         fix=f"add `{field}: …`")
    if rule_what is not None:
        return SpecError(rule_what.rstrip(".") + extra, where=here, fix=rule_fix or None)
    value = data.get(field) if isinstance(data, dict) else None
    what, fix = describe(first, field, value, fields.get(field), _field_words(model, field))
    return SpecError(what + extra, where=here, fix=fix)
