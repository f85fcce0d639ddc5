"""Analysis → diagram: which boxes, clusters and arrows to draw, then that picture as Graphviz.

Two steps, each one job:

* :func:`build_diagram` decides *what* to draw, as plain data (:class:`Diagram`): one node per
  layer (or per block instance folded by ``depth``), the input and output nodes, one edge per
  tensor with its shape (H×W×C, or C×H×W with ``chw``), block instances as nested clusters, and
  a run of identical, chained, consecutive block instances (ResNet-152's layer3.2 … layer3.36,
  the 35 bottlenecks after the downsampling one) drawn once, marked ×N.
* :func:`to_digraph` writes that as a :class:`graphviz.Digraph` with HTML-like labels whose text
  is escaped, so no layer name can break or inject into the DOT.

:func:`render` turns the DOT into SVG/PNG/PDF bytes through :mod:`archcalc.dot_render` (the system
``dot`` when present, else the pip-installed ``graphviz-pure``). The Digraph returned here renders
through the same path, so ``digraph.pipe(format="svg")`` and Jupyter's display work without a
system Graphviz.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .analysis import Analysis, LayerStats, fold
from .layers import shape_text

if TYPE_CHECKING:
    import graphviz

__all__ = ["Diagram", "DiagramCluster", "DiagramEdge", "DiagramNode", "FAMILY_COLOURS",
           "build_diagram", "render", "to_digraph", "to_dot", "to_svg"]

INPUT = "input"
RANKDIRS = ("TB", "LR", "BT", "RL")

#: fill colour per layer family (Layer.family), in legend order; "block" is a folded block
FAMILY_COLOURS = {
    "conv": "#c6dbef",
    "pool": "#fdd0a2",
    "dense": "#c7e9c0",
    "activation": "#ececf4",
    "norm": "#fff2ae",
    "merge": "#fbb4c4",
    "reshape": "#d9d9d9",
    "regularization": "#f4f4f4",
    "other": "#ffffff",
    "block": "#cbc9e2",
}
FONT = "Helvetica"
INK = "#333333"
DIM = "#555555"

Role = Literal["input", "output", "layer", "block"]


# ------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class DiagramNode:
    """One box. ``key`` is the full layer name, the block instance name, ``input``, or
    ``output`` for the network output (``output:<layer>`` when there are several)."""

    key: str
    role: Role
    title: str  # first line: the name relative to its cluster, or 'conv4.2 … conv4.36'
    detail: str  # hyperparameters ('conv 3×3/1, 64') or 'bottleneck block · 10 layers'
    numbers: tuple[str, ...]  # '1.79 k params · 86.7 M MACs' lines; () when there is nothing
    family: str  # colour key, see FAMILY_COLOURS
    cluster: str | None  # the innermost enclosing cluster's key; None at top level
    repeat: int = 1  # N > 1: stands for N identical consecutive block instances


@dataclass(frozen=True)
class DiagramEdge:
    """A tensor flowing from ``tail`` to ``head`` (node keys), labelled with its shape."""

    tail: str
    head: str
    shape: str


@dataclass(frozen=True)
class DiagramCluster:
    """A block instance drawn as a box around its layers."""

    key: str  # the instance name, e.g. 'inception_3a' or 'conv4.2'
    title: str  # 'conv4.2 … conv4.36 · bottleneck ×35'
    parent: str | None
    repeat: int = 1


@dataclass(frozen=True)
class Diagram:
    name: str
    title: tuple[str, ...]  # lines above the picture
    nodes: tuple[DiagramNode, ...]
    edges: tuple[DiagramEdge, ...]
    clusters: tuple[DiagramCluster, ...]
    legend: tuple[str, ...]  # the families drawn, in FAMILY_COLOURS order

    def node(self, key: str) -> DiagramNode:
        return next(n for n in self.nodes if n.key == key)


# ------------------------------------------------------------------------ building the data


@dataclass(eq=False)
class _Item:
    """A row to draw: one layer, or one block instance folded into a single node."""

    key: str
    layers: list[LayerStats]
    kind: str  # the layer kind, or the block definition when folded
    block: bool
    parent: str | None  # the innermost enclosing cluster's key
    repeat: int = 1
    last: str = ""  # the last instance of a collapsed run
    hidden: bool = False


@dataclass(eq=False)
class _Group:
    """A block instance shown as a cluster (None key: the whole network)."""

    key: str | None
    kind: str
    parent: _Group | None
    children: list[_Item | _Group] = field(default_factory=list)
    layers: list[LayerStats] = field(default_factory=list)
    repeat: int = 1
    last: str = ""
    hidden: bool = False

    @property
    def block(self) -> bool:
        return True


def build_diagram(analysis: Analysis, *, depth: int | None = None, chw: bool = False,
                  collapse_repeats: bool = True) -> Diagram:
    """What to draw for ``analysis``: nodes, shape-labelled edges, clusters and legend.

    ``depth``: block instances nested deeper than this fold into one node each (None: draw every
    layer; 0: fold every top-level block). ``collapse_repeats``: draw a run of identical
    consecutive instances of a block once, with ×N.
    """
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be ≥ 0 or None, got {depth}")
    root, items, item_of = _tree(analysis, depth)
    hidden_to: dict[str, str] = {}
    run_of: dict[str, dict[int, int]] = {}
    if collapse_repeats:
        _collapse(root, _Runs(analysis, _consumers(analysis), hidden_to, run_of))

    nodes: list[DiagramNode] = [_input_node(analysis, chw)]
    for item in items:
        if not item.hidden:
            nodes.append(_item_node(item))
    edges: dict[tuple[str, str, str], None] = {}
    for row in analysis.layers:
        for source in row.inputs:
            pair = _shown_pair(source, row.name, hidden_to, run_of)
            if pair is None:
                continue
            tail = INPUT if pair[0] == INPUT else item_of[pair[0]].key
            head = item_of[pair[1]].key
            if tail != head:
                edges[(tail, head, _source_shape(analysis, source, chw))] = None
    taken = {n.key for n in nodes}
    for i, name in enumerate(analysis.outputs):
        key = "output" if len(analysis.outputs) == 1 else f"output:{name}"
        while key in taken:
            key += "'"
        taken.add(key)
        shown = _follow(name, hidden_to)
        shape = shape_text(analysis.layer(name).output_shape, chw=chw)
        title = "output" if len(analysis.outputs) == 1 else f"output {i + 1}"
        nodes.append(DiagramNode(key, "output", title, shape, (), "other", None))
        edges[(item_of[shown].key, key, shape)] = None

    clusters = tuple(_clusters(root))
    families = {n.family for n in nodes if n.role in ("layer", "block")}
    t = analysis.totals
    title = (analysis.name,
             f"{_short(t.params)} params · {_short(t.macs)} MACs · "
             f"input {shape_text(analysis.input_shape, chw=chw)}",
             f"edges: tensor shapes {'C×H×W' if chw else 'H×W×C'}, batch excluded")
    return Diagram(
        name=analysis.name, title=title, nodes=tuple(nodes),
        edges=tuple(DiagramEdge(*e) for e in edges), clusters=clusters,
        legend=tuple(f for f in FAMILY_COLOURS if f in families),
    )


def _tree(analysis: Analysis, depth: int | None
          ) -> tuple[_Group, list[_Item], dict[str, _Item]]:
    """Items (via analysis.fold) placed in nested groups by their enclosing block instances."""
    root = _Group(None, "", None)
    groups: dict[str, _Group] = {}
    items: list[_Item] = []
    by_key: dict[str, _Item] = {}
    item_of: dict[str, _Item] = {}
    for row in fold(analysis, depth):
        first = row.members[0].node
        # a folded row sits inside the instances above ``depth``; a layer inside all of its own
        enclosing = list(zip(first.block_path, first.block_kinds))[:depth if row.folded else None]
        parent_key = enclosing[-1][0] if enclosing else None
        item = by_key.get(row.name) if row.folded else None
        if item is None:  # a block instance whose layers fold() met in two places is one node
            item = _Item(row.name, [], row.kind, row.folded, parent_key)
            by_key[row.name] = item
            items.append(item)
            parent = root
            for key, kind in enclosing:
                if key not in groups:
                    groups[key] = _Group(key, kind, parent)
                    parent.children.append(groups[key])
                parent = groups[key]
            parent.children.append(item)
        item.layers.extend(row.members)
        for layer in row.members:
            item_of[layer.name] = item
        group = groups.get(parent_key)
        while group is not None:
            group.layers.extend(row.members)
            group = group.parent
    return root, items, item_of


@dataclass
class _Runs:
    """What collapsing repeats records: which hidden layer is drawn as which shown one, and
    which instance of which run each layer belongs to."""

    analysis: Analysis
    consumers: dict[str, set[str]]
    hidden_to: dict[str, str]  # layer of a hidden instance -> its twin in the shown one
    run_of: dict[str, dict[int, int]]  # layer -> {run id: instance index within the run}
    count: int = 0


def _collapse(group: _Group, runs: _Runs) -> None:
    """Hide all but the first of each run of identical, chained, consecutive instances; then
    look for runs inside the instances still shown."""
    children = group.children
    i = 0
    while i < len(children):
        first = children[i]
        j = i + 1
        if first.block:
            signature = _signature(first)
            while (j < len(children) and children[j].block
                   and type(children[j]) is type(first) and children[j].kind == first.kind
                   and _chained(children[j - 1], children[j], runs)
                   and _signature(children[j]) == signature):
                j += 1
        if j - i > 1:
            run = children[i:j]
            runs.count += 1
            for index, unit in enumerate(run):
                for layer in unit.layers:
                    runs.run_of.setdefault(layer.name, {})[runs.count] = index
                if index:
                    _hide(unit)
                    for layer in unit.layers:
                        runs.hidden_to[layer.name] = first.key + layer.name[len(unit.key):]
            first.repeat, first.last = len(run), run[-1].key
        i = j
    for child in children:
        if isinstance(child, _Group) and not child.hidden:
            _collapse(child, runs)


def _hide(unit: _Item | _Group) -> None:
    unit.hidden = True
    for child in getattr(unit, "children", ()):
        _hide(child)


def _consumers(analysis: Analysis) -> dict[str, set[str]]:
    consumers: dict[str, set[str]] = {}
    for row in analysis.layers:
        for source in row.inputs:
            consumers.setdefault(source, set()).add(row.name)
    return consumers


def _signature(unit: _Item | _Group) -> tuple:
    """Everything that makes two block instances draw the same: each layer's name inside the
    instance, hyperparameters, shapes, counts and wiring (outside inputs as one placeholder)."""
    names = {layer.name for layer in unit.layers}
    prefix = unit.key + "."

    def rel(name: str) -> str:
        if name == unit.key:
            return ""
        return name[len(prefix):] if name.startswith(prefix) else name

    return tuple(
        (rel(layer.name), layer.kind,
         tuple(sorted(layer.layer.model_dump(exclude={"name", "inputs"}).items(), key=str)),
         layer.input_shapes, layer.output_shape, layer.params, layer.macs,
         tuple(rel(s) if s in names else "<outside>" for s in layer.inputs),
         tuple(rel(p) for p in layer.node.block_path), layer.node.block_kinds)
        for layer in unit.layers)


def _chained(before: _Item | _Group, after: _Item | _Group, runs: _Runs) -> bool:
    """``after`` reads only from ``before``, and only ``after`` reads from ``before``: then the
    two can be drawn as one without hiding an arrow."""
    inside_before = {layer.name for layer in before.layers}
    inside_after = {layer.name for layer in after.layers}
    for layer in after.layers:
        if any(s not in inside_after and s not in inside_before for s in layer.inputs):
            return False
    outputs = set(runs.analysis.outputs)
    for name in inside_before:
        if name in outputs:
            return False
        if any(c not in inside_before and c not in inside_after
               for c in runs.consumers.get(name, ())):
            return False
    return True


def _follow(name: str, hidden_to: dict[str, str]) -> str:
    while name in hidden_to:
        name = hidden_to[name]
    return name


def _shown_pair(tail: str, head: str, hidden_to: dict[str, str],
                run_of: dict[str, dict[int, int]]) -> tuple[str, str] | None:
    """The shown layers an edge maps to; None when it joins two instances of one run (drawn
    once, the run needs no arrow into itself)."""
    while True:
        tail_runs, head_runs = run_of.get(tail, {}), run_of.get(head, {})
        if any(run in head_runs and head_runs[run] != index for run, index in tail_runs.items()):
            return None
        moved = hidden_to.get(tail, tail), hidden_to.get(head, head)
        if moved == (tail, head):
            return tail, head
        tail, head = moved


def _source_shape(analysis: Analysis, source: str, chw: bool) -> str:
    shape = analysis.input_shape if source == INPUT else analysis.layer(source).output_shape
    return shape_text(shape, chw=chw)


def _input_node(analysis: Analysis, chw: bool) -> DiagramNode:
    return DiagramNode(INPUT, "input", "input", shape_text(analysis.input_shape, chw=chw), (),
                       "other", None)


def _relative(name: str, parent: str | None) -> str:
    return name[len(parent) + 1:] if parent and name.startswith(parent + ".") else name


def _item_node(item: _Item) -> DiagramNode:
    # summed over the item's layers: an item may gather more than one folded row
    params = sum(layer.params for layer in item.layers)
    macs = sum(layer.macs for layer in item.layers)
    parent = item.parent
    title = _relative(item.key, parent)
    if item.repeat > 1:
        title = f"{title} … {_relative(item.last, parent)}"
    if item.block:
        count = len(item.layers)
        detail = f"{item.kind} block · {count} layer{'s' if count != 1 else ''}"
        family = "block"
    else:
        layer = item.layers[0]
        detail, family = layer.layer.label(), layer.layer.family
    numbers = _numbers(params, macs)
    if item.repeat > 1 and numbers:
        numbers = (f"each: {numbers}",
                   f"all {item.repeat}: {_numbers(params * item.repeat, macs * item.repeat)}")
    else:
        numbers = (numbers,) if numbers else ()
    return DiagramNode(item.key, "block" if item.block else "layer", title, detail, numbers,
                       family if family in FAMILY_COLOURS else "other", parent, item.repeat)


def _clusters(group: _Group):
    for child in group.children:
        if isinstance(child, _Group) and not child.hidden:
            parent = group.key
            title = _relative(child.key, parent)
            if child.repeat > 1:
                title = f"{title} … {_relative(child.last, parent)}"
            title += f" · {child.kind}"
            yield DiagramCluster(child.key, title, parent, child.repeat)
            yield from _clusters(child)


def _numbers(params: int, macs: int) -> str:
    parts = []
    if params:
        parts.append(f"{_short(params)} params")
    if macs:
        parts.append(f"{_short(macs)} MACs")
    return " · ".join(parts)


def _short(n: int) -> str:
    """A count in three significant digits: 1792 -> '1.79 k', 10035200 -> '10.0 M',
    102760448 -> '103 M'; below 1000 exact."""
    if abs(n) < 1000:
        return str(n)
    for scale, suffix in ((10**3, "k"), (10**6, "M"), (10**9, "G"), (10**12, "T")):
        text = f"{n / scale:#.3g}".rstrip(".")  # '#' keeps the zeros of 10.0
        if "e" not in text and abs(float(text)) < 1000:
            return f"{text} {suffix}"
    return f"{n / 10**12:.0f} T"


# ------------------------------------------------------------------------------ Graphviz


def to_digraph(analysis: Analysis, *, depth: int | None = None, rankdir: str = "TB",
               chw: bool = False, collapse_repeats: bool = True) -> graphviz.Digraph:
    """The diagram of ``analysis`` as a graphviz.Digraph (see :func:`build_diagram`).

    Its ``pipe()`` and Jupyter display render through archcalc.dot_render, so they work with
    the pip-installed renderer alone; ``.source`` is the DOT text.
    """
    diagram = build_diagram(analysis, depth=depth, chw=chw, collapse_repeats=collapse_repeats)
    return diagram_to_digraph(diagram, rankdir=rankdir)


def to_dot(analysis: Analysis, **options) -> str:
    """DOT text; needs no renderer."""
    return to_digraph(analysis, **options).source


def render(analysis: Analysis, fmt: str, **options) -> tuple[bytes, str]:
    """The diagram as ``fmt`` bytes (dot, svg, png, pdf, …) and the name of the renderer used.

    Raises RenderError naming what to install when no renderer here makes ``fmt``.
    """
    from .dot_render import render_dot

    return render_dot(to_dot(analysis, **options), fmt)


def to_svg(analysis: Analysis, **options) -> str:
    """SVG text of the diagram (what Jupyter shows for an Analysis)."""
    data, _ = render(analysis, "svg", **options)
    return data.decode("utf-8")


def diagram_to_digraph(diagram: Diagram, *, rankdir: str = "TB") -> graphviz.Digraph:
    """Write a Diagram as Graphviz; every piece of text goes through :func:`_text`."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    import graphviz

    ids = _dot_ids(diagram)
    dot = _digraph_class()(
        name=_safe_graph_name(diagram.name),
        graph_attr={"rankdir": rankdir, "fontname": FONT, "labelloc": "t", "nodesep": "0.3",
                    "ranksep": "0.35", "newrank": "true", "label": _graph_label(diagram)},
        node_attr={"fontname": FONT, "fontsize": "11", "color": INK, "penwidth": "0.8"},
        edge_attr={"fontname": FONT, "fontsize": "9", "color": DIM, "fontcolor": DIM,
                   "arrowsize": "0.6"},
    )
    by_cluster: dict[str | None, list[DiagramNode]] = {}
    for node in diagram.nodes:
        by_cluster.setdefault(node.cluster, []).append(node)
    children: dict[str | None, list[DiagramCluster]] = {}
    for cluster in diagram.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    cluster_ids = {c.key: f"cluster_{i}" for i, c in enumerate(diagram.clusters)}

    def fill(graph: graphviz.Digraph, key: str | None) -> None:
        for node in by_cluster.get(key, ()):
            graph.node(ids[node.key], **_node_attrs(node))
        for cluster in children.get(key, ()):
            sub = _digraph_class()(name=cluster_ids[cluster.key], graph_attr={
                "label": _cluster_label(cluster), "labeljust": "l", "style": "rounded,dashed"
                if cluster.repeat == 1 else "rounded,bold", "color": "#8888aa",
                "fontsize": "10", "fontcolor": "#444466", "margin": "10"})
            fill(sub, cluster.key)
            graph.subgraph(sub)

    fill(dot, None)
    for edge in diagram.edges:
        dot.edge(ids[edge.tail], ids[edge.head], label=graphviz.nohtml(" " + edge.shape + " "))
    if diagram.legend:
        dot.node("#legend", label=_legend_label(diagram), shape="plain")
    return dot


_SAFE_ID = re.compile(r"[A-Za-z0-9_.+\-]+")


def _dot_ids(diagram: Diagram) -> dict[str, str]:
    """Node keys as DOT ids: a plain name is its own id (the SVG <title>); any other name gets
    '#n<i>' — '#' never occurs in a plain name, so ids cannot collide — and only ever appears
    escaped inside an HTML label. Node keys are unique (build_diagram), so plain ids are too."""
    ids = {}
    for i, node in enumerate(diagram.nodes):
        if _SAFE_ID.fullmatch(node.key):
            ids[node.key] = node.key
        else:
            ids[node.key] = f"#n{i}"
    return ids


def _safe_graph_name(name: str) -> str:
    return name if _SAFE_ID.fullmatch(name) else "network"


def _text(value: str) -> str:
    """Text for inside an HTML-like label: markup characters as entities, control characters
    visible as \\xNN (an XML parser would reject them)."""
    shown = "".join(f"\\x{ord(ch):02x}" if unicodedata.category(ch) == "Cc" else ch
                    for ch in value)
    return html.escape(shown, quote=True)


def _node_attrs(node: DiagramNode) -> dict[str, str]:
    if node.role in ("input", "output"):
        label = f"<<b>{_text(node.title)}</b><br/>{_text(node.detail)}>"
        return {"label": label, "shape": "oval", "style": "filled", "fillcolor": "#ffffff",
                "margin": "0.05,0.02"}
    rows = [f"<b>{_text(node.title)}</b>"
            + (f'  <font color="#7a1f5c"><b>×{node.repeat}</b></font>' if node.repeat > 1 else "")]
    if node.detail.casefold() != node.title.casefold():  # 'concat' named concat: say it once
        rows.append(_text(node.detail))
    rows += [f'<font point-size="9" color="{DIM}">{_text(line)}</font>' for line in node.numbers]
    label = "<" + "<br/>".join(rows) + ">"
    attrs = {"label": label, "shape": "box", "style": "rounded,filled",
             "fillcolor": FAMILY_COLOURS[node.family], "margin": "0.12,0.05"}
    if node.role == "block":
        attrs["peripheries"] = "2" if node.repeat > 1 else "1"
        attrs["penwidth"] = "1.2"
    return attrs


def _cluster_label(cluster: DiagramCluster) -> str:
    badge = f' <font color="#7a1f5c"><b>×{cluster.repeat}</b></font>' if cluster.repeat > 1 else ""
    return f"<<b>{_text(cluster.title)}</b>{badge}>"


def _graph_label(diagram: Diagram) -> str:
    first, *rest = diagram.title
    lines = [f'<font point-size="16"><b>{_text(first)}</b></font>']
    lines += [f'<font point-size="10" color="{DIM}">{_text(line)}</font>' for line in rest]
    return "<" + "<br/>".join(lines) + ">"


def _legend_label(diagram: Diagram) -> str:
    rows = ['<tr><td colspan="2" align="left"><b>layer family</b></td></tr>']
    for family in diagram.legend:
        rows.append(f'<tr><td bgcolor="{FAMILY_COLOURS[family]}" width="14" height="10"> </td>'
                    f'<td align="left">{_text(family)}</td></tr>')
    return ('<<table border="0" cellborder="0" cellspacing="2" cellpadding="2">'
            + "".join(rows) + '</table>>')


@functools.cache
def _digraph_class() -> type[graphviz.Digraph]:
    """graphviz.Digraph whose pipe() — and so Jupyter's display — renders through
    archcalc.dot_render, which needs no system Graphviz."""
    import graphviz

    class ArchcalcDigraph(graphviz.Digraph):
        def pipe(self, format=None, renderer=None, formatter=None, neato_no_op=None,
                 quiet=False, *, engine=None, encoding=None):
            if renderer or formatter or neato_no_op or (engine or self.engine) != "dot":
                return super().pipe(format, renderer, formatter, neato_no_op, quiet,
                                    engine=engine, encoding=encoding)
            from .dot_render import render_dot

            data, _ = render_dot(self.source, format or self.format)
            return data.decode(encoding) if encoding else data

    ArchcalcDigraph.__module__ = __name__
    return ArchcalcDigraph
