"""Block expansion: turn the spec's layer list (with parametrised, repeated, nested blocks) into
concrete, uniquely named layers whose inputs name other layers.

    blocks:
      conv_relu:
        params: {out: ~, k: 3}          # ~ marks a required parameter
        layers:
          - {type: conv2d, name: conv, out_channels: $out, kernel_size: $k, padding: 1}
          - {type: relu, name: relu}
    layers:
      - {block: conv_relu, name: stage1, repeat: 2, args: {out: 64}}   # stage1.1, stage1.2

Inside a block, ``input`` names the block's input; a layer without ``inputs`` takes the
previous layer's output; ``if: $flag`` drops a layer (references to it pass through to its
input); ``first: {…}`` overrides arguments for the first repetition only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from pydantic import ValidationError

from .errors import GraphError, Location, SpecError
from .layers import REGISTRY, Layer
from .messages import suggestion, yaml_text
from .spec import LayerNode, layer_error, mark_location
from .yaml_source import MAX_DEPTH, Mark, SourceDict, SourceList, mark_of

INPUT = "input"
#: layers and block uses one spec may expand to: far beyond any real network (ResNet-152 has
#: ~500 layers), small enough that a repeat: typo fails in a second instead of running for hours
MAX_EXPANDED = 100_000
BLOCK_KEYS = ("block", "name", "inputs", "args", "repeat", "first", "if")


@dataclass
class Scope:
    """Names visible inside one block instance (or the top level)."""

    prefix: str  # '' at top level, 'inception_3a.' inside that instance
    input_ref: str  # full name of what 'input' means here
    args: dict[str, Any]
    path: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    local: dict[str, str] = field(default_factory=dict)  # local name -> full target name
    counters: dict[str, int] = field(default_factory=dict)
    first_marks: dict[str, Any] = field(default_factory=dict)


class Target(NamedTuple):
    """What a name stands for: itself (a concrete layer), another full name, or a reference
    still to be read in ``scope`` — written at ``where``, where a bad one is reported."""

    ref: Any
    scope: Scope | None = None
    where: Location | None = None


class Pending(NamedTuple):
    """A layer whose inputs are resolved once every name is known: ``refs`` as written in
    ``scope`` when ``written``, else the one full name of the previous output."""

    name: str
    layer: Layer
    refs: list[str]
    written: bool
    scope: Scope
    where: Location


@dataclass
class Expansion:
    file: str
    blocks: dict[str, Any]
    #: full name -> what it stands for, for layer outputs (itself) and aliases
    targets: dict[str, Target] = field(default_factory=dict)
    #: active layers in order, with their inputs still as written (or the previous output)
    pending: list[Pending] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # layers and blocks switched off by `if:`
    expanded: int = 0  # layers and block uses so far, against MAX_EXPANDED


def _spend(state: Expansion, where: Location) -> None:
    state.expanded += 1
    if state.expanded > MAX_EXPANDED:
        raise SpecError(f"the spec expands to more than {MAX_EXPANDED:,} layers and block uses",
                        where=where, fix="check the repeat counts")


def expand(data: SourceDict, params: dict[str, Any], file: str) -> tuple[list[LayerNode],
                                                                          list[str]]:
    """All concrete layers in order, and the names of the network outputs."""
    blocks = data.get("blocks") or {}
    state = Expansion(file, blocks)
    top = Scope(prefix="", input_ref=INPUT, args=params)
    last = _expand_list(state, data["layers"], top, INPUT, stack=())
    nodes = _resolve(state)
    outputs_raw = data.get("outputs") or []
    outputs = []
    for i, ref in enumerate(outputs_raw):
        where = Location.at(file, _item_mark(outputs_raw, i), field="outputs")
        ref = _subst(ref, top, where, file)
        if not isinstance(ref, str):
            _lookup(state, ref, top, where)  # reports the bad reference
        name = _name_in_scope(state, ref, top, where)
        if name not in state.dropped:  # an output switched off by `if:` is left out
            outputs.append(_follow(state, name, where))
    final = _follow(state, last, Location(file))  # the main output: always the last one
    return nodes, [*dict.fromkeys(o for o in outputs if o != final), final]


def _key_mark(mapping: Any, key: str) -> Mark | None:
    """Where ``key`` is written in a YAML mapping (None if unknown)."""
    return mapping.key_marks.get(key) if isinstance(mapping, SourceDict) else None


def _item_mark(items: Any, i: int) -> Mark | None:
    """Where item ``i`` of a YAML list starts (None if unknown)."""
    if isinstance(items, SourceList) and i < len(items.item_marks):
        return items.item_marks[i]
    return None


def _expand_list(state: Expansion, entries: Any, scope: Scope, previous: str,
                 stack: tuple[str, ...]) -> str:
    """Expand entries in order; return the full name of the last output."""
    for i, entry in enumerate(entries):
        where = Location.at(state.file, _item_mark(entries, i))
        if not isinstance(entry, SourceDict):
            known = isinstance(entry, str) and entry in REGISTRY
            raise SpecError(f"a layer must be a mapping with 'type' (or 'block'), got "
                            f"{yaml_text(entry)}", where=where,
                            fix=f"write `- type: {entry}`" if known
                            else "write it as `- type: conv2d` with its fields")
        where = _entry_where(state, where, entry, scope)
        entry = _subst(entry, scope, where, state.file)
        if "block" in entry:
            previous = _expand_block_call(state, entry, scope, previous, stack, where)
        else:
            previous = _expand_layer(state, entry, scope, previous, where)
    return previous


def _entry_where(state: Expansion, where: Location, entry: SourceDict, scope: Scope) -> Location:
    """The entry's location with its layer (or block use) name and kind, when written plainly
    (not as a $parameter) and known."""
    name, kind, block = entry.get("name"), entry.get("type"), entry.get("block")
    if not (isinstance(name, str) and name and not name.startswith("$")):
        return where
    if isinstance(block, str) and block in state.blocks:
        label = f"block {block}"
    else:
        label = kind if isinstance(kind, str) and kind in REGISTRY else None
    return Location(where.file, where.line, where.column, scope.prefix + name, label)


def _subst(value: Any, scope: Scope, where: Location, file: str) -> Any:
    """Replace every '$name' value by the argument of that name, keeping source marks."""
    if isinstance(value, str) and value.startswith("$"):
        key = value[1:]
        if key not in scope.args:
            raise SpecError(
                f"unknown parameter '{value}'" + (f" in block '{scope.kinds[-1]}'"
                                                  if scope.kinds else ""),
                where=where,
                fix=suggestion(key, scope.args, "parameters") if scope.args
                else "declare it under params:",
            )
        return scope.args[key]
    if isinstance(value, SourceDict):
        out = SourceDict()
        out.mark, out.key_marks = value.mark, value.key_marks
        for k, v in value.items():
            mark = mark_of(v) or value.key_marks.get(k)  # a scalar: where its key is
            here = Location.at(file, mark, layer=where.layer, kind=where.kind, field=k) if mark \
                else where
            out[k] = _subst(v, scope, here, file)
        return out
    if isinstance(value, SourceList):
        out_list = SourceList()
        out_list.mark, out_list.item_marks = value.mark, value.item_marks
        out_list.extend(_subst(v, scope, where, file) for v in value)
        return out_list
    return value


def _truthy_if(entry: SourceDict, where: Location) -> bool:
    condition = entry.get("if", True)
    if not isinstance(condition, bool):
        raise SpecError(f"'if' must be true or false (or a $parameter that is), "
                        f"got {condition!r}", where=_key(where, entry, "if"),
                        fix="write `if: $flag` with a boolean parameter")
    return condition


def _key(where: Location, entry: SourceDict, key: str) -> Location:
    mark = _key_mark(entry, key)
    if not mark:
        return replace(where, field=key)
    return replace(where, line=mark.line, column=mark.column, field=key)


def _claim_name(scope: Scope, name: str, entry: SourceDict, where: Location) -> str:
    if not isinstance(name, str) or not name or name.strip() != name:
        raise SpecError(f"invalid layer name {yaml_text(name)}", where=_key(where, entry, "name"),
                        fix=f"quote it: `name: '{yaml_text(name)}'`"
                        if isinstance(name, (int, float)) else
                        "use a non-empty name without surrounding spaces")
    if name == INPUT:
        raise SpecError("'input' is reserved for the network's (or block's) input",
                        where=_key(where, entry, "name"), fix="choose another name")
    if name in scope.local:
        first = scope.first_marks.get(name)
        at = f" (first used at line {first})" if first else ""
        raise SpecError(f"duplicate layer name '{name}'{at}", where=_key(where, entry, "name"),
                        fix="give every layer a unique name")
    scope.first_marks[name] = where.line
    return scope.prefix + name


def _auto_name(scope: Scope, kind: str) -> str:
    scope.counters[kind] = scope.counters.get(kind, 0) + 1
    name = f"{kind}_{scope.counters[kind]}"
    while name in scope.local:  # a user took the name already
        scope.counters[kind] += 1
        name = f"{kind}_{scope.counters[kind]}"
    return name


def _expand_layer(state: Expansion, entry: SourceDict, scope: Scope, previous: str,
                  where: Location) -> str:
    _spend(state, where)
    kind = entry.get("type")
    if kind is None:
        raise SpecError("missing 'type'", where=where, fix=_type_guess(entry))
    if not isinstance(kind, str):
        raise SpecError(f"'type' must be the name of a layer type, got {yaml_text(kind)}",
                        where=_key(where, entry, "type"), fix=_name_fix("type", kind))
    if kind not in REGISTRY:
        raise SpecError(f"unknown layer type '{kind}'", where=_key(where, entry, "type"),
                        fix=suggestion(str(kind), REGISTRY, "layer types"))
    name = entry.get("name")  # '', 0 or false are refused below; null means none
    local_name = _auto_name(scope, kind) if name is None else name
    shown = local_name if isinstance(local_name, str) else yaml_text(local_name)
    where = Location(where.file, where.line, where.column, scope.prefix + shown if shown else None,
                     kind)
    active = _truthy_if(entry, where)
    fields = SourceDict({k: v for k, v in entry.items() if k != "if"})
    fields.mark, fields.key_marks = entry.mark, entry.key_marks
    cls = REGISTRY[kind]
    try:
        layer = cls.model_validate(fields)
    except ValidationError as exc:
        raise layer_error(exc, cls, fields, where) from None
    full = _claim_name(scope, local_name, entry, where)
    refs = list(layer.inputs) if layer.inputs is not None else [previous]
    if layer.inputs is not None and not layer.inputs:
        raise SpecError("'inputs' is empty", where=_key(where, entry, "inputs"),
                        fix="name at least one layer, or drop 'inputs' to use the previous one")
    scope.local[local_name] = full
    if not active:  # a dropped layer: references to it pass through to its first input
        state.dropped.add(full)
        state.targets[full] = (Target(refs[0], scope, where)
                               if layer.inputs is not None else Target(previous))
        return full
    state.targets[full] = Target(full)
    state.pending.append(Pending(full, layer, refs, layer.inputs is not None, scope, where))
    return full


def _name_fix(key: str, value: Any) -> str:
    """`type: [relu]` -> 'write `type: relu`'."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return f"write `{key}: {value[0]}`"
    return f"write `{key}:` followed by one name"


def _type_guess(entry: SourceDict) -> str:
    """'add `type: conv2d`' when the fields given fit few kinds, else the list of kinds."""
    given = set(entry) - {"name", "inputs", "if"}
    kinds = sorted(k for k, cls in REGISTRY.items() if given <= set(cls.model_fields))
    if given and 1 <= len(kinds) <= 3:
        return ("add " + " or ".join(f"`type: {k}`" for k in kinds)
                + f" (the kind{'s' if len(kinds) > 1 else ''} with these fields)")
    return "add `type: …`, " + suggestion("", REGISTRY, "layer types")


def _expand_block_call(state: Expansion, entry: SourceDict, scope: Scope, previous: str,
                       stack: tuple[str, ...], where: Location) -> str:
    for key in entry:
        if key not in BLOCK_KEYS:
            raise SpecError(f"unknown key '{key}' in a block use", where=_key(where, entry, key),
                            fix=suggestion(key, BLOCK_KEYS, "block-use keys"))
    kind = entry["block"]
    if not isinstance(kind, str):
        raise SpecError(f"'block' must be the name of a block, got {yaml_text(kind)}",
                        where=_key(where, entry, "block"), fix=_name_fix("block", kind))
    if kind not in state.blocks:
        raise SpecError(f"unknown block '{kind}'", where=_key(where, entry, "block"),
                        fix=suggestion(str(kind), state.blocks, "blocks"))
    if kind in stack:
        chain = " → ".join((*stack, kind))
        raise GraphError(f"block '{kind}' uses itself: {chain}",
                         where=_key(where, entry, "block"),
                         fix="a block cannot contain itself, directly or through other blocks")
    if len(stack) >= MAX_DEPTH:
        raise SpecError(f"blocks are nested more than {MAX_DEPTH} deep: {stack[0]} → … → "
                        f"{stack[-1]} → {kind}", where=_key(where, entry, "block"),
                        fix="use fewer levels of blocks inside blocks")
    definition = state.blocks[kind]
    if not isinstance(definition, SourceDict) or "layers" not in definition:
        mark = _key_mark(state.blocks, kind)
        raise SpecError(f"block '{kind}' must be a mapping with 'layers'",
                        where=Location.at(state.file, mark),
                        fix="write `layers:` (and optionally `params:`) under the block name")
    for key in definition:
        if key not in ("params", "layers", "description"):
            raise SpecError(f"unknown key '{key}' in block '{kind}'",
                            where=Location.at(state.file, definition.key_marks[key]),
                            fix=suggestion(key, ("params", "layers", "description"), "keys"))
    repeat = entry.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise SpecError(f"'repeat' must be a positive integer, got {repeat!r}",
                        where=_key(where, entry, "repeat"), fix="write e.g. `repeat: 3`")
    if repeat > MAX_EXPANDED:
        raise SpecError(f"'repeat' is {repeat:,}; a spec may expand to at most "
                        f"{MAX_EXPANDED:,} layers and block uses",
                        where=_key(where, entry, "repeat"), fix="check the repeat count")
    name = entry.get("name")
    local_name = _auto_name(scope, kind) if name is None else name
    full = _claim_name(scope, local_name, entry, where)
    active = _truthy_if(entry, where)
    inputs = entry.get("inputs")
    if inputs is not None:
        if not isinstance(inputs, list) or len(inputs) != 1:
            got = len(inputs) if isinstance(inputs, list) else yaml_text(inputs)
            raise SpecError(f"a block takes exactly one input, got {got}",
                            where=_key(where, entry, "inputs"),
                            fix="write `inputs: [name]`, or concat the branches first")
        state.targets[full + "#in"] = Target(inputs[0], scope, replace(where, field="inputs"))
        previous = full + "#in"
    scope.local[local_name] = full
    if not active:
        state.dropped.add(full)
        state.targets[full] = Target(previous)
        return full
    declared = _block_params(definition, kind, state.file)
    if not isinstance(definition["layers"], list):
        raise SpecError(f"block '{kind}': 'layers' must be a list of layers",
                        where=Location.at(state.file, definition.key_marks["layers"]),
                        fix="write each layer as a `- type: …` item")
    current = previous
    for i in range(1, repeat + 1):
        _spend(state, where)
        instance = full if repeat == 1 else f"{full}.{i}"
        args = _block_args(entry, declared, kind, i, where, state.file)
        inner = Scope(prefix=instance + ".", input_ref=current, args=args,
                      path=(*scope.path, instance), kinds=(*scope.kinds, kind))
        current = _expand_list(state, definition["layers"], inner, current, (*stack, kind))
        if repeat > 1:
            scope.local[f"{local_name}.{i}"] = instance
            state.targets[instance] = Target(current)
    state.targets[full] = Target(current)
    return full


def _block_params(definition: SourceDict, kind: str, file: str) -> dict[str, Any]:
    params = definition.get("params") or {}
    if isinstance(params, list) and all(isinstance(name, str) for name in params):
        return {name: None for name in params}
    if not isinstance(params, dict):
        raise SpecError(f"params of block '{kind}' must be a mapping or a list of names",
                        where=mark_location(file, params), fix="write `params: {c: ~, k: 3}`")
    return dict(params)


def _block_args(entry: SourceDict, declared: dict[str, Any], kind: str, repetition: int,
                where: Location, file: str) -> dict[str, Any]:
    args = dict(declared)
    for key in ("args", "first"):
        given = entry.get(key) or {}
        if key == "first" and repetition != 1:
            continue
        if not isinstance(given, dict):
            raise SpecError(f"'{key}' must be a mapping of parameter values",
                            where=_key(where, entry, key), fix=f"write `{key}: {{name: value}}`")
        for name, value in given.items():
            if name not in declared:
                raise SpecError(
                    f"block '{kind}' has no parameter '{name}'",
                    where=Location.at(file, _key_mark(given, name) or where, layer=where.layer,
                                      kind=where.kind, field=f"{key}.{name}"),
                    fix=suggestion(name, declared, "parameters"),
                )
            args[name] = value
    missing = [name for name, value in args.items() if value is None]
    if missing:
        raise SpecError(f"block '{kind}' needs a value for parameter '{missing[0]}'",
                        where=_key(where, entry, "args"),
                        fix=f"add `{missing[0]}: …` under args:")
    return args


# --- resolving references -------------------------------------------------------------------


def _lookup(state: Expansion, ref: Any, scope: Scope, where: Location) -> str:
    """The full name of the concrete layer a reference written in ``scope`` means."""
    if not isinstance(ref, str):
        raise SpecError(f"an input must be a layer name, got {ref!r}", where=where,
                        fix="write the name of an earlier layer")
    return _follow(state, _name_in_scope(state, ref, scope, where), where)


def _name_in_scope(state: Expansion, ref: str, scope: Scope, where: Location) -> str:
    """The full name ``ref`` means in ``scope``, not yet followed through aliases."""
    if ref in scope.local:
        return scope.local[ref]
    if ref == INPUT:
        return scope.input_ref
    if ref in state.targets:
        return ref
    known = [*scope.local, INPUT, *(t for t in state.targets if "#" not in t)]
    field = where.field or "inputs"
    raise GraphError(f"unknown {'layer' if field == 'outputs' else 'input'} '{ref}'",
                     where=replace(where, field=field),
                     fix=suggestion(ref, known, "layer names"))


def _follow(state: Expansion, name: str, where: Location) -> str:
    """Follow aliases (dropped layers, block outputs) to a concrete layer or the input."""
    chain: list[str] = []
    while name != INPUT:
        if name in chain:
            loop = " → ".join([*chain[chain.index(name):], name])
            raise GraphError(f"switched-off layers pass their input on in a loop: {loop}",
                             where=replace(where, field=where.field or "inputs"),
                             fix="make every input name an earlier layer")
        chain.append(name)
        target, scope, written = state.targets.get(name, Target(name))
        if target == name and scope is None:
            return name
        if scope is not None:  # a reference written at `written`: a bad one is reported there
            if not isinstance(target, str):
                return _lookup(state, target, scope, written or where)
            target = _name_in_scope(state, target, scope, written or where)
        name = target
    return INPUT


def _resolve(state: Expansion) -> list[LayerNode]:
    """The layers with their inputs as full names of concrete layers (or the input)."""
    nodes = []
    for name, layer, refs, written, scope, where in state.pending:
        inputs = tuple(_lookup(state, ref, scope, where) if written else
                       _follow(state, ref, where) for ref in refs)
        nodes.append(LayerNode(name, layer, inputs, scope.path, scope.kinds, where))
    return nodes
