"""The spec language: a network as validated pydantic models, loaded from YAML with locations.

    name: vgg16
    input: [3, 224, 224]          # C, H, W — or {channels: 3, height: 224, width: 224}
    rounding: exact               # exact | floor (PyTorch) | ceil (Caffe)
    params: {aux: false}          # network parameters, `$aux` below; --set aux=true
    blocks: {…}                   # reusable parametrised groups of layers
    layers: [{type: conv2d, …}, {block: …, repeat: 3}, …]
    outputs: [fc8]                # extra outputs (aux classifiers); default: the last layer
    expect: {totals: {…}, layers: {…}}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ArchcalcError, Location, SpecError
from .layers import Layer
from .messages import describe, suggestion, validation_error, yaml_text
from .yaml_source import SourceDict, SourceList, mark_of, parse_yaml, read_text

BUNDLED_DIR = (Path(__file__).resolve().parent / "specs").resolve()

TOTAL_CLAIMS = ("params", "trainable_params", "non_trainable_params", "buffers", "macs",
                "flops", "output_shape", "layers", "receptive_field")
LAYER_CLAIMS = ("output_shape", "params", "weights", "bias", "macs", "flops",
                "receptive_field", "rf_stride")


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputShape(Frozen):
    """The network input, batch excluded: [C, H, W] or {channels, height, width}."""

    channels: int = Field(gt=0, strict=True)
    height: int = Field(gt=0, strict=True)
    width: int = Field(gt=0, strict=True)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


class Claim(Frozen):
    """One value a spec author asserts, with where it comes from."""

    value: Any
    source: str | None = None
    #: relative, for rounded published figures
    tolerance: float | None = Field(None, ge=0, allow_inf_nan=False)


class Expectations(Frozen):
    source: str | None = None  # the default source of every claim below
    totals: dict[str, Claim] = {}
    layers: dict[str, dict[str, Claim]] = {}

    @field_validator("totals", mode="before")
    @classmethod
    def _wrap_totals(cls, value: Any) -> Any:
        return {k: _claim(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("layers", mode="before")
    @classmethod
    def _wrap_layers(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {name: {k: _claim(v) for k, v in claims.items()} if isinstance(claims, dict)
                else claims for name, claims in value.items()}


def _claim(value: Any) -> Any:
    """`params: 138M` is short for `params: {value: 138M}`; a mapping is the long form."""
    return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True)
class LayerNode:
    """One concrete layer after block expansion."""

    name: str  # full dotted name, e.g. 'inception_3a.branch2.conv'
    layer: Layer
    inputs: tuple[str, ...]  # full names; 'input' is the network input
    block_path: tuple[str, ...]  # enclosing block instances, outermost first
    block_kinds: tuple[str, ...]  # the block definitions they instantiate
    where: Location

    @property
    def kind(self) -> str:
        return self.layer.type


class NetworkSpec(Frozen):
    """A whole network: its declaration and its layers after block expansion."""

    name: str
    description: str = ""
    source: str | None = None
    input: InputShape
    rounding: Literal["exact", "floor", "ceil"] = "exact"
    params: dict[str, Any] = {}
    blocks: dict[str, Any] = {}
    layers: list[Any]
    outputs: list[str] | None = None
    expect: Expectations | None = None

    file: str = "<spec>"
    nodes: tuple[Any, ...] = ()  # LayerNode, filled by load_spec
    output_names: tuple[str, ...] = ()

    @field_validator("input", mode="before")
    @classmethod
    def _input_as_list(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) == 3:
            return {"channels": value[0], "height": value[1], "width": value[2]}
        if isinstance(value, list):
            raise ValueError(f"give [C, H, W] (3 numbers), not {len(value)}")
        return value

    @field_validator("layers")
    @classmethod
    def _some_layers(cls, value: list) -> list:
        if not value:
            raise ValueError("a network needs at least one layer")
        return value


SPEC_FIELDS = [f for f in NetworkSpec.model_fields if f not in ("file", "nodes", "output_names")]


def bundled_names() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml"))


def resolve_path(spec: str | Path) -> Path:
    """A path as given, or the bundled spec of that name ('vgg16' -> specs/vgg16.yaml)."""
    path = Path(spec)
    if _exists(path):
        return path
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    bundled = BUNDLED_DIR / f"{stem}.yaml"
    if path.parent == Path(".") and _exists(bundled):
        return bundled
    if path.parent == Path(".") and not path.suffix:
        raise SpecError(
            f"no file '{spec}' and no bundled spec of that name",
            where=Location(str(spec)),
            fix=suggestion(stem, bundled_names(), "bundled specs"),
        )
    return path  # read_text reports the missing file


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name the file system refuses (too long): read_text says why
        return False


def load_spec(spec: str | Path, *, overrides: dict[str, Any] | None = None) -> NetworkSpec:
    """Read, validate and expand a spec file (or bundled name) into a NetworkSpec."""
    path = resolve_path(spec)
    return parse_spec(read_text(path), file=display_name(path), overrides=overrides)


def display_name(path: Path) -> str:
    """How messages name a spec file: bundled ones as specs/NAME.yaml, others as given."""
    try:
        if path.resolve().is_relative_to(BUNDLED_DIR):
            return f"specs/{path.name}"
    except OSError:  # pragma: no cover - unresolvable paths keep their text
        pass
    return str(path)


def parse_spec(text: str, *, file: str = "<spec>",
               overrides: dict[str, Any] | None = None) -> NetworkSpec:
    """Validate and expand YAML text into a NetworkSpec."""
    return spec_from_data(parse_yaml(text, file), file=file, overrides=overrides)


def spec_from_data(data: Any, *, file: str = "<spec>",
                   overrides: dict[str, Any] | None = None) -> NetworkSpec:
    """Validate and expand YAML already read by parse_yaml (e.g. a spec inlined in a homework
    answers file: locations then point into that file)."""
    from .blocks import expand

    start = mark_of(data)
    here = Location(file, start.line if start else 1, start.column if start else 1)
    if not isinstance(data, SourceDict):
        found = ("an empty file" if data is None else "a list" if isinstance(data, list)
                 else f"the single value {yaml_text(data)}")
        raise SpecError(f"a spec must be a mapping with name, input and layers; found {found}",
                        where=here,
                        fix="put the items under `layers:`, and add `name:` and `input: [C, H, W]`"
                        if isinstance(data, list) else "write `name:`, `input: [C, H, W]` and "
                        "`layers:`, as in the bundled specs (`archcalc list`)")
    for key in data:
        if key not in SPEC_FIELDS:
            raise SpecError(f"unknown top-level key '{key}'",
                            where=Location.at(file, data.key_marks[key]),
                            fix=suggestion(key, SPEC_FIELDS, "top-level keys"))
    if "layers" in data and not isinstance(data["layers"], SourceList):
        raise SpecError("'layers' must be a list of layers",
                        where=Location.at(file, data.key_marks["layers"]),
                        fix="write each layer as a `- type: …` item")
    try:
        spec = NetworkSpec.model_validate({**data, "file": file})
    except ValidationError as exc:
        raise _top_level_error(exc, data, file) from None
    params = dict(spec.params)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise SpecError(f"--set {key}: the spec has no parameter '{key}'",
                            where=Location(file),
                            fix=suggestion(key, params, "parameters") if params
                            else "this spec declares no params:")
        params[key] = value
    nodes, outputs = expand(data, params, file)
    return spec.model_copy(update={"nodes": tuple(nodes), "output_names": tuple(outputs),
                                   "params": params})


def _top_level_error(exc: ValidationError, data: SourceDict, file: str) -> SpecError:
    first = exc.errors(include_url=False)[0]
    loc = first["loc"]
    key = str(loc[0]) if loc else None
    node: Any = data
    parent: Any = None
    mark = data.mark
    for part in loc:
        parent = node
        if isinstance(node, dict) and part in node:
            mark = node.key_marks.get(part, mark) if isinstance(node, SourceDict) else mark
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            mark = node.item_marks[part] if isinstance(node, SourceList) else mark
            node = node[part]
        else:
            break
    axes = ("channels", "height", "width")
    items = data.get("input")
    if key == "input" and len(loc) == 2 and loc[1] in axes and isinstance(items, SourceList):
        index = axes.index(str(loc[1]))  # an item of [C, H, W]
        mark, node = items.item_marks[index], items[index]
    where = Location.at(file, mark, field=".".join(str(p) for p in loc) or None)
    if key == "input" and first["type"] not in ("extra_forbidden", "missing"):
        fix = "write input: [channels, height, width], e.g. [3, 224, 224]"
        if first["type"] in ("greater_than", "int_type", "int_parsing", "int_from_float"):
            return SpecError(f"input sizes must be positive integers, got {loc[-1]} "
                             f"{yaml_text(node)}", where=where, fix=fix)
        if isinstance(node, list):
            noun = "number" if all(isinstance(v, (int, float)) for v in node) else "value"
            return SpecError(f"input must be [channels, height, width], got {len(node)} "
                             f"{noun}{'s' if len(node) != 1 else ''}: {yaml_text(node)}",
                             where=where, fix=fix)
        if first["type"] == "model_type":
            got = f"the text {node!r}" if isinstance(node, str) else yaml_text(node)
            return SpecError("input must be [channels, height, width] or "
                             f"{{channels, height, width}}, got {got}", where=where,
                             fix=_input_fix(node) or fix)
    if first["type"] == "missing":
        return SpecError(f"missing required key '{loc[-1]}'", where=where,
                         fix=f"add `{loc[-1]}: …`" + (" (e.g. [3, 224, 224])"
                                                       if loc[-1] == "input" else ""))
    if first["type"] == "extra_forbidden":
        parent = {"input": ["channels", "height", "width"],
                  "expect": ["source", "totals", "layers"]}.get(str(loc[0]), [])
        fix = suggestion(str(loc[-1]), parent, "keys")
        if str(loc[-1]).isdigit():  # {value: 105,415,200} splits at the commas
            fix = ("inside { } a comma separates entries: write the number without thousands "
                   "commas (105415200) or quote it ('105,415,200')")
        return SpecError(f"unknown key '{loc[-1]}'", where=where, fix=fix)
    if loc and isinstance(loc[-1], int):  # an item of a list: name the list
        field, node = str(loc[-2]) if len(loc) > 1 else "spec", parent
    else:
        field = str(loc[-1]) if loc else "spec"
    what, fix = describe(first, field, node)
    if field in ("blocks", "params") and first["type"] == "dict_type":
        fix = "write it as `name: …` entries, one per line below it"
    return SpecError(what, where=where, fix=fix)


def _input_fix(text: Any) -> str | None:
    """'224x224x3' (H×W×C, as the notes write shapes) -> 'write input: [3, 224, 224]'."""
    from .quantities import parse_shape

    try:
        shape = parse_shape(text) if isinstance(text, str) else ()
    except ArchcalcError:
        return None
    return f"write input: [{shape[0]}, {shape[1]}, {shape[2]}]" if len(shape) == 3 else None


def layer_error(exc: ValidationError, cls: type[Layer], data: SourceDict,
                where: Location) -> SpecError:
    return validation_error(exc, cls, data, where, what_kind=f"fields of {cls.kind()}")


def mark_location(file: str, value: Any, **extra: Any) -> Location:
    return Location.at(file, mark_of(value), **extra)
