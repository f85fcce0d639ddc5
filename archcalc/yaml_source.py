"""Read YAML safely into plain Python values that remember where they came from.

Only YAML's core scalars are built (YAML 1.2 rules, so ``on``/``no`` stay strings and
``1e-5`` is a float); tags that construct objects are refused; duplicate keys, anchor
bombs and deeply nested documents are rejected within fixed budgets.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import Location, SpecError

#: the tag the loader gives a plain scalar written without one; _Builder reads it by YAML
#: 1.2's core schema (PyYAML's own resolvers follow YAML 1.1: `on` would be true)
_PLAIN = "tag:archcalc,2024:plain"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when built with it
    """Composes node trees whose untagged plain scalars carry _PLAIN, so a tag written in the
    text (``!!bool yes``) survives as written; quoted untagged scalars get !!str."""

    yaml_implicit_resolvers: dict = {}


_Loader.add_implicit_resolver(_PLAIN, re.compile(""), None)  # every plain scalar
_LOADER = _Loader

MAX_FILE_BYTES = 2 * 1024 * 1024  # a flat 10,000-layer spec is ~0.7 MB; parsing 2 MB takes ~5 s
MAX_DEPTH = 64
MAX_NODES = 2_000_000
#: integers longer than this are refused: products of a few of them stay printable (Python
#: will not turn an int of more than 4,300 digits into text) and no network needs more
MAX_INT_DIGITS = 100

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$")
#: YAML 1.2 core: [-+]?(.inf|.Inf|.INF), .nan|.NaN|.NAN
_SPECIAL_FLOATS = {
    **{sign + word: -math.inf if sign == "-" else math.inf
       for sign in ("", "+", "-") for word in (".inf", ".Inf", ".INF")},
    **{word: math.nan for word in (".nan", ".NaN", ".NAN")},
}
#: what YAML 1.1/1.2 allow in a stream (PyYAML's Reader.NON_PRINTABLE, inverted)
_NON_PRINTABLE = re.compile(
    "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_STANDARD_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge",
    "tag:yaml.org,2002:timestamp",  # kept as the text written
    _PLAIN,
}


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column in a source file."""

    line: int
    column: int


class SourceDict(dict):
    """A mapping read from YAML, with where it starts and where each key is."""

    mark: Mark | None = None
    key_marks: dict[str, Mark]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.key_marks = {}


class SourceList(list):
    """A sequence read from YAML; ``item_marks[i]`` is where item ``i`` starts."""

    mark: Mark | None = None
    item_marks: list[Mark]

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.item_marks = []


def mark_of(value: object) -> Mark | None:
    return getattr(value, "mark", None)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed YAML node tree into SourceDict/SourceList/scalars within budgets."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, node: yaml.Node, what: str, fix: str) -> SpecError:
        return SpecError(what, where=Location.at(self.file, _mark(node)), fix=fix)

    def check_expansion(self, root: yaml.Node) -> None:
        """Refuse alias bombs before building anything: count the values each node expands
        to (aliases share their anchor's node, so this is linear in the text), then report
        the innermost value over the budget; refuse a value that contains itself."""
        sizes: dict[int, int] = {}
        open_nodes: set[int] = set()

        def children(node: yaml.Node) -> list[yaml.Node]:
            if isinstance(node, yaml.MappingNode):
                return [value for _, value in node.value]
            return list(node.value) if isinstance(node, yaml.SequenceNode) else []

        def size(node: yaml.Node, depth: int) -> int:
            key = id(node)
            if key in sizes:
                return sizes[key]
            if key in open_nodes:
                raise self.error(node, "this value contains itself through an alias",
                                 "an alias may only repeat a value defined before it, "
                                 "not one it is part of")
            if depth > MAX_DEPTH:  # aliases of aliases nest deeper than the text shows
                raise self.error(node, f"the document is nested deeper than {MAX_DEPTH} levels",
                                 "flatten the structure")
            open_nodes.add(key)
            sizes[key] = 1 + sum(size(child, depth + 1) for child in children(node))
            open_nodes.discard(key)
            return sizes[key]

        if size(root, 0) <= MAX_NODES:
            return
        node = root
        while True:
            bigger = next((c for c in children(node) if sizes[id(c)] > MAX_NODES), None)
            if bigger is None:
                break
            node = bigger
        raise self.error(
            node,
            f"this value expands to {sizes[id(node)]:,} values through anchors and aliases, "
            f"more than the {MAX_NODES:,} allowed",
            "write the spec without nested aliases; use blocks with repeat: instead",
        )

    def build(self, node: yaml.Node, depth: int = 0) -> object:
        """The value of ``node``: check_expansion has bounded how many values that is."""
        if depth > MAX_DEPTH:
            raise self.error(node, f"the document is nested deeper than {MAX_DEPTH} levels",
                             "flatten the structure")
        if node.tag not in _STANDARD_TAGS:
            shown = node.tag.replace("tag:yaml.org,2002:", "!!", 1)  # as the user wrote it
            raise self.error(node, f"YAML tag '{shown}' is not allowed",
                             "remove the tag; specs hold only plain values")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            out = SourceList()
            out.mark = _mark(node)
            for item in node.value:
                out.item_marks.append(_mark(item))
                out.append(self.build(item, depth + 1))
            return out
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, depth: int) -> SourceDict:
        out = SourceDict()
        out.mark = _mark(node)
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                    key_node.tag == _PLAIN and key_node.value == "<<"):
                raise self.error(key_node, "YAML merge keys ('<<') are not supported",
                                 "write the keys out, or use a block with parameters")
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(key_node, "a mapping key must be a plain name",
                                 "use a plain word as the key")
            key = str(key_node.value)
            if key in out:
                raise self._duplicate(node, key_node, out.key_marks[key])
            out.key_marks[key] = _mark(key_node)
            out[key] = self.build(value_node, depth + 1)
        return out

    def _duplicate(self, node: yaml.MappingNode, key_node: yaml.Node, first: Mark) -> SpecError:
        """Duplicate key error, naming the layer when the mapping is one (name: and type:)."""
        plain = {str(k.value): v.value for k, v in node.value
                 if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)}
        name, kind = plain.get("name"), plain.get("type")
        mark = _mark(key_node)
        layer = name if name and not name.startswith("$") else None
        return SpecError(
            f"duplicate key '{key_node.value}' (first given at line {first.line})",
            where=Location.at(self.file, mark, layer=layer, kind=kind if layer else None),
            fix="keep one of them; YAML would silently keep only the last",
        )

    def _scalar(self, node: yaml.ScalarNode) -> object:
        if node.tag == _PLAIN:
            return self._plain(node)
        return self._tagged(node)

    def _tagged(self, node: yaml.ScalarNode) -> object:
        """Quoted text (tagged !!str by the loader), or a scalar with an explicit core tag
        (``!!int "32"``, ``!!str 16``): the tag decides, the value read by the same rules as
        plain scalars, so ``!!bool yes`` and ``!!int 0x1F`` are errors as ``yes`` and ``0x1F``
        are text; a value the tag cannot hold is an error."""
        kind = node.tag.removeprefix("tag:yaml.org,2002:")
        if kind in ("str", "timestamp"):
            return node.value
        value = self._plain(node)
        if kind == "float" and type(value) is int:
            value = float(value)
        wanted = {"int": int, "float": float, "bool": bool, "null": type(None)}.get(kind)
        if wanted is not None and type(value) is wanted:
            return value
        example = {"int": "!!int 32", "float": "!!float 0.5", "bool": "!!bool true",
                   "null": "!!null ~", "map": "!!map {k: v}", "seq": "!!seq [1, 2]"}.get(kind)
        raise self.error(node, f"'{node.value}' is not a valid !!{kind} value",
                         f"write the value the tag names (e.g. {example}), or drop the tag"
                         if example else "drop the tag")

    def _plain(self, node: yaml.ScalarNode) -> object:
        """A plain (unquoted) scalar by YAML 1.2's core schema: null, bool, int, float or text."""
        text = node.value
        if text in ("", "~", "null", "Null", "NULL"):
            return None
        if text in ("true", "True", "TRUE"):
            return True
        if text in ("false", "False", "FALSE"):
            return False
        if _INT.match(text):
            digits = sum(ch.isdigit() for ch in text)
            if digits > MAX_INT_DIGITS:
                raise self.error(node, f"a number of {digits:,} digits is too long; archcalc "
                                       f"reads numbers of up to {MAX_INT_DIGITS} digits",
                                 "check the value")
            return int(text.replace("_", ""))
        if _FLOAT.match(text) and any(ch in text for ch in ".eE"):
            return float(text.replace("_", ""))
        if text in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[text]
        return text


def _check_depth(text: str, file: str) -> None:
    """Reject deep nesting from the token stream, before the recursive composer sees it
    (libyaml's composer would exhaust the C stack on a document nested 10⁵ levels deep)."""
    depth = 0
    opening = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
               yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
    closing = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    for token in yaml.scan(text, Loader=_LOADER):
        if isinstance(token, opening):
            depth += 1
            if depth > MAX_DEPTH:
                mark = token.start_mark
                raise SpecError(
                    f"the document is nested deeper than {MAX_DEPTH} levels",
                    where=Location(file, mark.line + 1, mark.column + 1),
                    fix="flatten the structure",
                )
        elif isinstance(token, closing):
            depth -= 1


def parse_yaml(text: str, file: str) -> object:
    """Parse YAML text into SourceDict/SourceList/scalars, raising SpecError with a location."""
    try:
        _check_depth(text, file)
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, anywhere
        raise _reader_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML syntax error: {exc}", where=Location(file),
                        fix="check the file is YAML") from None
    except RecursionError:
        raise SpecError(f"the document is nested deeper than {MAX_DEPTH} levels",
                        where=Location(file), fix="flatten the structure") from None
    if node is None:
        return None
    builder = _Builder(file)
    builder.check_expansion(node)
    return builder.build(node)


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> SpecError:
    """PyYAML's and libyaml's parse errors in words a spec author knows, with the position
    of the bracket or quote that was left open where that is the cause."""
    mark = exc.problem_mark or exc.context_mark
    opened = exc.context_mark
    context, problem = exc.context or "", exc.problem or exc.context or "invalid YAML"
    where = _location(file, mark)
    lines = text.split("\n")
    line = lines[mark.line] if mark and mark.line < len(lines) else ""
    column = mark.column if mark else 0
    fix = "check indentation, brackets and quotes near that position"
    if "\t" in line[: column + 1] or "tab" in problem:
        what, fix = ("a tab character is used for indentation",
                     "indent with spaces; YAML does not allow tabs")
    elif opened and "flow sequence" in context and "',' or ']'" in problem:
        what = f"expected ',' or ']' in the [ … ] list opened at {_at(opened)}"
        fix = "close the list with ']' (and separate its items with commas)"
    elif opened and "flow mapping" in context and "',' or '}'" in problem:
        what = f"expected ',' or '}}' in the {{ … }} mapping opened at {_at(opened)}"
        fix = "close the mapping with '}' (and separate its entries with commas)"
    elif opened and "quoted scalar" in context and "end of stream" in problem:
        where = _location(file, opened)
        what, fix = ("this quoted text is never closed (the file ends first)",
                     "add the closing quote")
    elif "undefined alias" in problem:
        name = re.match(r"\*?([^\s,\[\]{}]*)", line[column:]).group(1)
        what = f"alias '*{name}' refers to no anchor"
        fix = f"define the anchor (`&{name}`) on an earlier value, or write the value out"
    elif "another document" in problem:
        what = "a second YAML document starts here; a spec file holds one"
        fix = "remove the '---' line and what follows, or move it to its own file"
    else:
        what = problem
        if context and opened and opened is not mark:
            what += f" ({context} at {_at(opened)})"
        if "mapping values are not allowed" in problem:
            what = "a ': ' here starts a mapping where none is allowed"
            fix = ("quote a value that contains ': ' (name: 'a: b'), or indent this line under "
                   "the key it belongs to")
        elif opened and ("block mapping" in context or "block collection" in context):
            what = (f"this line is indented differently from the lines above it (in the "
                    f"{'mapping' if 'mapping' in context else 'list'} at {_at(opened)})")
            fix = ("line this '-' up with the other items of its list"
                   if line.lstrip().startswith("-")
                   else "indent this key like the other keys of its mapping")
    return SpecError(f"YAML syntax error: {what}", where=where, fix=fix)


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> SpecError:
    found = _NON_PRINTABLE.search(text)  # libyaml counts bytes, not characters: find it again
    if found:
        position, code = found.start(), ord(found.group())
    else:
        position = exc.position if isinstance(exc.position, int) else 0
        code = exc.character if isinstance(exc.character, int) else ord("?")
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    kind = "control character" if code < 0x20 or 0x7F <= code <= 0x9F else "character"
    return SpecError(f"{kind} U+{code:04X} is not allowed in YAML",
                     where=Location(file, line, column),
                     fix="delete it (most editors do not show it)")


def _location(file: str, mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)


def _at(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def read_text(path: Path) -> str:
    """Read a spec file as UTF-8 within the size budget, with a clear error for every failure.

    At most MAX_FILE_BYTES + 1 bytes are ever read, so a device or pipe that never ends
    (``/dev/zero``) is refused like a file that is too big.
    """
    file = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed below, after the size checks)
    except (FileNotFoundError, ValueError):  # ValueError: a NUL character in the path
        raise SpecError("file not found", where=Location(file),
                        fix="check the path, or give a bundled name such as 'vgg16'") from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", where=Location(file),
                        fix="name a .yaml file inside it") from None
    except PermissionError as exc:
        raise SpecError(f"cannot read file: {exc.strerror}", where=Location(file),
                        fix="check the file's permissions") from None
    except OSError as exc:
        raise SpecError(f"cannot read file: {exc.strerror}", where=Location(file),
                        fix="check the path") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(f"file is {size:,} bytes; specs are limited to {MAX_FILE_BYTES:,}",
                            where=Location(file),
                            fix="use blocks with repeat: to shorten the spec")
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise SpecError(f"cannot read file: {exc.strerror}", where=Location(file),
                            fix="check the file's permissions") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"file is larger than {MAX_FILE_BYTES:,} bytes; specs are limited to "
                        f"{MAX_FILE_BYTES:,}", where=Location(file),
                        fix="use blocks with repeat: to shorten the spec")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
            where=Location(file, line, column),
            fix="save the file as UTF-8",
        ) from None
