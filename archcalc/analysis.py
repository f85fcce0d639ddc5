"""analyze(spec) -> Analysis: one LayerStats row per layer and the network totals.

Everything downstream (report, diagram, check, executor) reads this; nothing re-derives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ArchcalcError, ShapeError
from .geometry import ReceptiveField
from .layers import Context, Cost, Inferred, Layer, Shape, TensorSpec, shape_text
from .layers.base import numel
from .spec import LayerNode, NetworkSpec, load_spec

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


@dataclass(frozen=True)
class LayerStats:
    """Everything archcalc knows about one layer."""

    index: int
    node: LayerNode
    input_shapes: tuple[Shape, ...]
    inferred: Inferred
    tensors: tuple[TensorSpec, ...]
    cost: Cost
    receptive_field: ReceptiveField

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def kind(self) -> str:
        return self.node.kind

    @property
    def layer(self) -> Layer:
        return self.node.layer

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.node.inputs

    @property
    def output_shape(self) -> Shape:
        return self.inferred.shape

    @property
    def macs(self) -> int:
        return self.cost.macs

    @property
    def flops(self) -> int:
        return self.cost.flops

    def _count(self, *, roles: tuple[str, ...] = ("weight", "bias"),
               trainable: bool | None = None) -> int:
        return sum(t.size for t in self.tensors if t.role in roles
                   and (trainable is None or t.trainable == trainable))

    @property
    def params(self) -> int:
        return self._count()

    @property
    def weights(self) -> int:
        return self._count(roles=("weight",))

    @property
    def bias(self) -> int:
        return self._count(roles=("bias",))

    @property
    def trainable_params(self) -> int:
        return self._count(trainable=True)

    @property
    def buffers(self) -> int:
        return self._count(roles=("buffer",))

    @property
    def activations(self) -> int:
        return numel(self.output_shape)


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    buffers: int
    macs: int
    flops: int
    comparisons: int
    transcendentals: int
    activations: int  # elements of every layer output plus the input, batch 1
    dtype: str
    dtype_bytes: int

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def activation_bytes(self) -> int:
        return self.activations * self.dtype_bytes

    @property
    def param_bytes(self) -> int:
        return (self.params + self.buffers) * self.dtype_bytes


@dataclass(frozen=True)
class Analysis:
    spec: NetworkSpec
    layers: tuple[LayerStats, ...]
    totals: Totals
    outputs: tuple[str, ...]
    by_name: dict[str, LayerStats] = field(repr=False, default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def input_shape(self) -> Shape:
        return self.spec.input.shape

    @property
    def output(self) -> LayerStats:
        return self.by_name[self.outputs[-1]]

    def layer(self, name: str) -> LayerStats:
        return self.by_name[name]

    def _repr_svg_(self) -> str:
        """Jupyter shows an analysed network as its diagram (archcalc.diagram)."""
        from .diagram import to_svg

        return to_svg(self)


def analyze(spec: NetworkSpec | str | Path, *, dtype: str = "float32") -> Analysis:
    """Shapes, parameters, costs and receptive fields of every layer, in dependency order."""
    from .graph import build_graph, topological_nodes

    if not isinstance(spec, NetworkSpec):
        spec = load_spec(spec)
    graph = build_graph(spec)
    shapes: dict[str, Shape] = {"input": spec.input.shape}
    fields: dict[str, ReceptiveField] = {"input": ReceptiveField.of_input()}
    rows: list[LayerStats] = []
    for index, node in enumerate(topological_nodes(graph)):
        try:
            row = _analyze_layer(index, node, shapes, fields, spec)
        except ShapeError as exc:  # say what the layer received, as the notes write shapes
            ins = [shapes[name] for name in node.inputs]
            context = f"input {shape_text(ins[0])}" if len(ins) == 1 else None
            raise exc.located(replace(node.where, context=context)) from None
        except ArchcalcError as exc:
            raise exc.located(node.where) from None
        shapes[node.name] = row.output_shape
        fields[node.name] = row.receptive_field
        rows.append(row)
    by_name = {row.name: row for row in rows}
    totals = Totals(
        params=sum(r.params for r in rows),
        trainable_params=sum(r.trainable_params for r in rows),
        buffers=sum(r.buffers for r in rows),
        macs=sum(r.cost.macs for r in rows),
        flops=sum(r.cost.flops for r in rows),
        comparisons=sum(r.cost.comparisons for r in rows),
        transcendentals=sum(r.cost.transcendentals for r in rows),
        activations=numel(spec.input.shape) + sum(r.activations for r in rows),
        dtype=dtype,
        dtype_bytes=DTYPE_BYTES[dtype],
    )
    return Analysis(spec, tuple(rows), totals, spec.output_names, by_name)


def _analyze_layer(index: int, node: LayerNode, shapes: dict[str, Shape],
                   fields: dict[str, ReceptiveField], spec: NetworkSpec) -> LayerStats:
    layer = node.layer
    ins = [shapes[name] for name in node.inputs]
    n = len(ins)
    if n < layer.min_inputs or (layer.max_inputs is not None and n > layer.max_inputs):
        wanted = (f"at least {layer.min_inputs}" if layer.max_inputs is None
                  else str(layer.min_inputs))
        raise ShapeError(f"takes {wanted} input{'s' if wanted != '1' else ''}, got {n}: "
                         + ", ".join(f"'{i}' {shape_text(s)}" for i, s in zip(node.inputs, ins)),
                         fix="list the right layers under inputs:")
    ctx = Context(rounding=spec.rounding, input_names=node.inputs)
    inferred = layer.infer(ins, ctx)
    out = inferred.shape
    if any(d <= 0 for d in out):
        raise ShapeError(f"output shape {shape_text(out)} has a non-positive size",
                         fix="check kernel, stride and padding")
    return LayerStats(
        index=index,
        node=node,
        input_shapes=tuple(ins),
        inferred=inferred,
        tensors=tuple(layer.tensors(ins, out)),
        cost=layer.cost(ins, out),
        receptive_field=layer.receptive_field([fields[name] for name in node.inputs], ins,
                                              inferred),
    )


@dataclass(frozen=True)
class FoldedRow:
    """A row of a report at a chosen depth: one layer, or a whole block instance folded.
    Counts sum over its members; shape and receptive field are its last member's."""

    name: str
    kind: str
    members: tuple[LayerStats, ...]

    @property
    def folded(self) -> bool:
        return len(self.members) > 1 or self.members[0].name != self.name

    @property
    def output_shape(self) -> Shape:
        return self.members[-1].output_shape

    @property
    def receptive_field(self) -> ReceptiveField:
        return self.members[-1].receptive_field

    @property
    def params(self) -> int:
        return sum(m.params for m in self.members)

    @property
    def weights(self) -> int:
        return sum(m.weights for m in self.members)

    @property
    def bias(self) -> int:
        return sum(m.bias for m in self.members)

    @property
    def macs(self) -> int:
        return sum(m.macs for m in self.members)

    @property
    def flops(self) -> int:
        return sum(m.flops for m in self.members)


def fold(analysis: Analysis, depth: int | None) -> list[FoldedRow]:
    """Rows at block depth ``depth`` (None: every layer). A block instance deeper than that
    becomes one row, summing its members; its output is its last member's."""
    groups: list[tuple[str, str, list[LayerStats]]] = []
    for row in analysis.layers:
        path = row.node.block_path
        if depth is not None and len(path) > depth:
            key, kind = path[depth], row.node.block_kinds[depth]
            if groups and groups[-1][0] == key:
                groups[-1][2].append(row)
                continue
            groups.append((key, kind, [row]))
        else:
            groups.append((row.name, row.kind, [row]))
    return [FoldedRow(name, kind, tuple(members)) for name, kind, members in groups]
