"""ONNX export: the analysed network as an ONNX graph carrying the executor's weights.

Each layer kind maps itself to ONNX operators (``Layer.to_onnx``); this module builds the
graph around those mappings: the input (batch 1, N, or symbolic), one initializer per layer
tensor under the executor's name ``<layer>.<tensor>``, the constants a few mappings need
(pad amounts, axes, averaging matrices, ...), and the model's metadata.

Every initializer is accounted for: its elements are archcalc parameters or buffers, plus an
``extra`` that is named — a connection table's zeros, or a constant the mapping adds — so

    Σ numel(initializers) = params + buffers + Σ extra.

onnx is an optional dependency (``pip install 'archcalc[onnx]'``), imported only here and only
when an export runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import ArchcalcError, Location

if TYPE_CHECKING:
    import numpy as np

    from .analysis import Analysis, LayerStats
    from .executor import MemoryLimit

#: Softmax over one axis and axes given as inputs (Unsqueeze, ReduceSum) need opset 13.
MIN_OPSET = 13
#: onnxruntime has run opset 18 since 1.14; an average pool whose ceil size drops a window
#: needs 22 (ONNX's size rule agrees with PyTorch's only from there), and says so.
DEFAULT_OPSET = 18
INPUT_NAME = "input"
#: a protobuf message (the whole .onnx file without external data) is limited to 2 GiB
PROTOBUF_LIMIT = 2**31 - 1
INSTALL_HINT = "pip install 'archcalc[onnx]'"


class ExportError(ArchcalcError):
    """The network cannot be exported faithfully (or onnx is not installed)."""


def require_onnx():
    """The onnx module, or an ExportError that says how to install it."""
    try:
        import onnx
    except ImportError:
        raise ExportError(
            "ONNX export needs the optional package onnx, which is not installed",
            fix=INSTALL_HINT,
        ) from None
    return onnx


def max_opset() -> int:
    return require_onnx().defs.onnx_opset_version()


@dataclass(frozen=True)
class Initializer:
    """One ONNX initializer and what its elements are.

    ``counted`` elements are archcalc parameters or buffers (``role``); ``extra`` are not,
    and ``why`` names them.
    """

    name: str
    role: Literal["weight", "bias", "buffer", "constant"]
    numel: int
    counted: int
    why: str = ""

    @property
    def extra(self) -> int:
        return self.numel - self.counted


@dataclass(frozen=True)
class OnnxExport:
    """The exported model and the ledger of its initializers."""

    model: Any  # onnx.ModelProto
    initializers: tuple[Initializer, ...]
    opset: int

    @property
    def params(self) -> int:
        return sum(i.counted for i in self.initializers if i.role in ("weight", "bias"))

    @property
    def buffers(self) -> int:
        return sum(i.counted for i in self.initializers if i.role == "buffer")

    @property
    def extra(self) -> int:
        return sum(i.extra for i in self.initializers)

    def extras_by_reason(self) -> dict[str, int]:
        """Elements that are neither parameters nor buffers, summed per reason."""
        totals: Counter[str] = Counter()
        for init in self.initializers:
            if init.extra:
                totals[init.why] += init.extra
        return dict(totals)

    def summary(self) -> str:
        """A few lines for the terminal: nodes, operators, initializers and their accounting."""
        graph = self.model.graph
        ops = Counter(node.op_type for node in graph.node)
        op_text = ", ".join(f"{op} {n}" for op, n in sorted(ops.items(), key=lambda t: -t[1]))
        numel = sum(i.numel for i in self.initializers)
        lines = [
            f"{len(graph.node)} nodes, opset {self.opset}: {op_text}",
            f"input '{INPUT_NAME}' {_dims_text(graph.input[0])} (N×C×H×W); outputs "
            + ", ".join(f"'{o.name}' {_dims_text(o)}" for o in graph.output),
            f"{len(self.initializers)} initializers, {numel:,} values = "
            f"{self.params:,} params + {self.buffers:,} buffers + {self.extra:,} added",
        ]
        extras = sorted(self.extras_by_reason().items(), key=lambda t: (-t[1], t[0]))
        if extras:
            lines.append("added: " + ", ".join(f"{n:,} {why}" for why, n in extras))
        return "\n".join(lines)


def _dims_text(value_info: Any) -> str:
    dims = value_info.type.tensor_type.shape.dim
    return "×".join(d.dim_param or str(d.dim_value) for d in dims)


class LayerBuilder:
    """What a layer's ``to_onnx`` uses: adds nodes, its own weights and named constants.

    Nodes and constants get unique names ``<layer>/<op>``; the tensor a layer returns is
    renamed to the layer's name, and the node producing it takes the layer's name too.
    """

    def __init__(self, graph: _GraphBuilder, stats: LayerStats) -> None:
        self._graph = graph
        self.stats = stats
        self.name = stats.name
        self.nodes: list[Any] = []

    # --- what the layer may ask -------------------------------------------------------------

    @property
    def opset(self) -> int:
        return self._graph.opset

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Input shapes of this layer, batch excluded, as analysed."""
        return self.stats.input_shapes

    # --- building ---------------------------------------------------------------------------

    def node(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        """Add one operator; returns the name of its (single) output tensor.

        An empty string in ``inputs`` marks an omitted optional input.
        """
        from onnx import helper

        name = self._graph.unique(f"{self.name}/{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attributes))
        return name

    def weight(self, tensor: str, *, mask: np.ndarray | None = None,
               shape: tuple[int, ...] | None = None) -> str:
        """The layer's tensor ``<layer>.<tensor>`` as an initializer (as the executor stores it).

        ``mask`` zeroes the entries a connection table leaves out (they are then counted as
        the table's zeros, not as parameters); ``shape`` reshapes it (same elements) so it
        broadcasts, e.g. (C,) -> (C, 1, 1).
        """
        import numpy as np

        spec = next((t for t in self.stats.tensors if t.name == tensor), None)
        key = f"{self.name}.{tensor}"
        if spec is None or key not in self._graph.weights:
            raise ExportError(f"no values for tensor '{key}'",
                              where=Location(layer=self.name, kind=self.stats.kind),
                              fix="pass the weights file the executor uses (--weights)")
        value = np.asarray(self._graph.weights[key], dtype=np.float32)
        if value.shape != tuple(spec.shape):
            raise ExportError(
                f"tensor '{key}' has shape {value.shape}, the analysis says {tuple(spec.shape)}",
                where=Location(layer=self.name, kind=self.stats.kind),
                fix="use weights saved for this spec (same input size and --set values)",
            )
        why = ""
        if mask is not None:
            value = value * mask.astype(np.float32)
            why = "zeros of connection tables (unconnected input maps)"
        if shape is not None:
            value = value.reshape(shape)
        if value.size != spec.size and mask is None:
            raise AssertionError(f"{key}: {value.size} values but {spec.size} counted")
        name = self._graph.unique(key)
        return self._graph.add_initializer(name, value, Initializer(
            name, spec.role, value.size, spec.size, why))

    def constant(self, purpose: str, value: Any, dtype: str = "float32") -> str:
        """A constant the mapping needs (not a parameter), named after its purpose."""
        import numpy as np

        array = np.asarray(value, dtype=dtype)
        name = self._graph.unique(f"{self.name}/{purpose.replace(' ', '_')}")
        return self._graph.add_initializer(name, array, Initializer(
            name, "constant", array.size, 0, purpose))

    def fail(self, what: str, *, formula: str | None = None, fix: str | None = None):
        """Raise the error for a layer that has no faithful mapping."""
        raise ExportError(what, where=Location(layer=self.name, kind=self.stats.kind),
                          formula=formula, fix=fix)

    def require_opset(self, version: int, what: str) -> None:
        if self.opset < version:
            self.fail(f"{what} needs ONNX opset {version} or later, exporting opset {self.opset}",
                      fix=f"--opset {max(version, DEFAULT_OPSET)}")


class _GraphBuilder:
    def __init__(self, weights: dict[str, np.ndarray], opset: int) -> None:
        self.weights = weights
        self.opset = opset
        self.nodes: list[Any] = []
        self.arrays: list[tuple[str, np.ndarray, str]] = []  # name, values, doc string
        self.ledger: list[Initializer] = []
        self.names: set[str] = {INPUT_NAME}

    def unique(self, base: str) -> str:
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def add_initializer(self, name: str, value: np.ndarray, entry: Initializer) -> str:
        doc = entry.role if not entry.extra else f"{entry.role}; {entry.why}"
        self.arrays.append((name, value, doc))
        self.ledger.append(entry)
        return name

    def fill_initializers(self, graph: Any) -> None:
        """Write the arrays straight into the model's graph: one copy of each, where
        make_graph and make_model would copy every tensor twice more."""
        import numpy as np
        from onnx import helper

        for name, value, doc in self.arrays:
            tensor = graph.initializer.add()
            tensor.name, tensor.doc_string = name, doc
            tensor.data_type = helper.np_dtype_to_tensor_dtype(value.dtype)
            tensor.dims.extend(value.shape)
            tensor.raw_data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")
                                                   ).tobytes()


def export_onnx(analysis: Analysis, weights: dict[str, np.ndarray], *,
                opset: int = DEFAULT_OPSET, batch: int | str = 1) -> OnnxExport:
    """The network as an ONNX model with these weights (``<layer>.<tensor>`` -> array).

    ``batch`` is the input's first dimension: a number, or a name for a symbolic size.
    Each layer's output tensor and its main node carry the layer's name.
    """
    onnx = require_onnx()
    from onnx import TensorProto, helper

    top = max_opset()
    if not MIN_OPSET <= opset <= top:
        raise ExportError(f"opset {opset} is outside what this exporter writes "
                          f"({MIN_OPSET}..{top} with onnx {onnx.__version__})",
                          fix=f"--opset {DEFAULT_OPSET}")
    graph = _GraphBuilder(weights, opset)
    tensor_of = {INPUT_NAME: INPUT_NAME}
    for stats in analysis.layers:
        graph.names.add(stats.name)
    for stats in analysis.layers:
        builder = LayerBuilder(graph, stats)
        inputs = [tensor_of[name] for name in stats.inputs]
        try:
            out = stats.layer.to_onnx(builder, inputs, stats.inferred)
        except ArchcalcError as exc:
            raise exc.located(stats.node.where) from None
        tensor_of[stats.name] = _name_after_layer(builder, out, inputs)
        graph.nodes.extend(builder.nodes)

    spec = analysis.spec
    model_input = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                                [batch, *analysis.input_shape])
    outputs = [helper.make_tensor_value_info(tensor_of[name], TensorProto.FLOAT,
                                             [batch, *analysis.layer(name).output_shape])
               for name in analysis.outputs]
    onnx_graph = helper.make_graph(graph.nodes, spec.name, [model_input], outputs,
                                   doc_string=spec.description or "")
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(onnx_graph, opset_imports=opset_ids, producer_name="archcalc",
                              producer_version=_version(),
                              ir_version=helper.find_min_ir_version_for(opset_ids))
    model.doc_string = "; ".join(p for p in (spec.description, spec.source) if p)
    graph.fill_initializers(model.graph)
    ledger = tuple(graph.ledger)
    export = OnnxExport(model, ledger, opset)
    helper.set_model_props(model, {
        "archcalc.spec": spec.name,
        "archcalc.params": str(analysis.totals.params),
        "archcalc.buffers": str(analysis.totals.buffers),
        "archcalc.added_values": str(export.extra),
    })
    return export


def _name_after_layer(builder: LayerBuilder, out: str, inputs: list[str]) -> str:
    """Rename the tensor a layer returned (and the node making it) to the layer's name."""
    producer = next((n for n in builder.nodes if out in n.output), None)
    if producer is None:  # the layer passed an input through: make that explicit
        out = builder.node("Identity", [out])
        producer = builder.nodes[-1]
    for node in builder.nodes:
        node.input[:] = [builder.name if i == out else i for i in node.input]
    producer.output[:] = [builder.name if o == out else o for o in producer.output]
    producer.name = builder.name
    return builder.name


def _version() -> str:
    from . import __version__

    return __version__


def serialize(export: OnnxExport) -> bytes:
    """The model as the bytes of one .onnx file; refuses models over protobuf's 2 GiB."""
    size = 4 * sum(i.numel for i in export.initializers)  # float32 values dominate the file
    if size > PROTOBUF_LIMIT:
        raise ExportError(
            f"the weights alone are {size / 2**30:.2f} GiB, over the 2 GiB limit of one "
            "ONNX file",
            formula=f"4 bytes · {size // 4:,} values = {size:,} bytes > {PROTOBUF_LIMIT:,}",
            fix="export a smaller variant (e.g. a smaller input or fewer classes via --set)",
        )
    return export.model.SerializeToString()


def check(model: Any) -> None:
    """onnx's own validation, shape inference included (``full_check``); ``model`` is a
    ModelProto or its serialized bytes. A failure is a bug in archcalc."""
    require_onnx().checker.check_model(model, full_check=True)


@dataclass(frozen=True)
class Agreement:
    """One network output computed by onnxruntime and by the NumPy executor."""

    output: str
    max_abs_diff: float
    ok: bool  # |theirs − ours| ≤ atol + rtol·|ours| everywhere


def compare_with_executor(data: bytes, analysis: Analysis, weights: dict[str, np.ndarray], *,
                          seed: int = 0, batch: int = 1, tolerance: float = 1e-4,
                          max_memory: int | MemoryLimit | None = None) -> list[Agreement]:
    """Run the serialized model in onnxruntime and the network in the NumPy executor on the
    input `archcalc run --seed` uses (standard normal), and compare every network output.
    ``max_memory`` is the executor's memory limit (``executor.run``)."""
    import numpy as np

    try:
        import onnxruntime
    except ImportError:
        raise ExportError("comparing with onnxruntime needs the optional package "
                          "onnxruntime, which is not installed", fix=INSTALL_HINT) from None
    from .executor import run

    x = np.random.default_rng(seed).standard_normal((batch, *analysis.input_shape),
                                                    dtype=np.float32)
    ours = run(analysis, x, weights, keep="outputs", max_memory=max_memory)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = list(analysis.outputs)
    theirs = dict(zip(names, session.run(names, {INPUT_NAME: x})))
    result = []
    for name in names:
        diff = np.abs(theirs[name].astype(np.float64) - ours[name])
        ok = bool(np.all(diff <= tolerance + tolerance * np.abs(ours[name])))
        result.append(Agreement(name, float(diff.max(initial=0.0)), ok))
    return result


def save(export: OnnxExport, path: str | Path, *, force: bool = False) -> Path:
    """Check the model and write it (atomically, never over a file without ``force``)."""
    from .outputs import check_writable, write_atomic

    check_writable(path, force=force)
    data = serialize(export)
    check(data)
    return write_atomic(path, data, force=force)


# --- small helpers the layer mappings share -----------------------------------------------


def onnx_pads(padding: tuple[int, int, int, int]) -> list[int]:
    """archcalc's (top, bottom, left, right) -> ONNX's [top, left, bottom, right]
    (all begins, then all ends)."""
    top, bottom, left, right = padding
    return [top, left, bottom, right]


def floor_size(n: int, kernel_eff: int, stride: int, pad_total: int) -> int:
    """⌊(n + P − F_eff)/S⌋ + 1: the output size ONNX computes without ceil_mode."""
    return (n + pad_total - kernel_eff) // stride + 1


def ceil_size(n: int, kernel_eff: int, stride: int, pad_begin: int, pad_end: int, *,
              drop_late_window: bool) -> int:
    """⌈(n + P − F_eff)/S⌉ + 1: ONNX's ceil_mode size; with ``drop_late_window`` (opset ≥ 22)
    less one when the last window would start past the input and its leading padding."""
    out = -(-(n + pad_begin + pad_end - kernel_eff) // stride) + 1
    if drop_late_window and (out - 1) * stride >= n + pad_begin:
        out -= 1
    return out
