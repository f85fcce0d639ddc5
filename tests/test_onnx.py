"""ONNX export, refereed by two implementations that share no code with archcalc.

1. ONNX's own shape inference (strict mode) gives archcalc's analysed shape for every layer.
2. onnxruntime computes what the NumPy executor computes, layer by layer, on the same input
   and weights (atol = rtol = 1e-4): for every bundled spec and for hypothesis-generated small
   networks covering every layer kind.
3. The initializers add up to archcalc's parameters plus buffers, and everything else the
   export adds is named: connection-table zeros (counted here from the table itself) and the
   constants a mapping needs (pad amounts, axes, scalars, averaging matrices).

Needs the optional extra: pip install 'archcalc[onnx]'. The biggest bundled networks (over
BIG_MACS multiply–accumulates or BIG_PARAMS parameters: VGG, ResNet-101/152) are exported and
shape-checked always, but run through both executors only with ARCHCALC_ONNX_BIG=1.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from archcalc.analysis import analyze
from archcalc.cli import cli
from archcalc.errors import ArchcalcError, ExecError
from archcalc.executor import run
from archcalc.layers import REGISTRY, Context
from archcalc.spec import bundled_names, parse_spec
from archcalc.weights import init_weights, save_weights

try:
    import onnx
    import onnxruntime
except ImportError:  # the tests below that need them are skipped
    onnx = onnxruntime = None

needs_onnx = pytest.mark.skipif(onnx is None or onnxruntime is None,
                                reason="needs the onnx extra: pip install 'archcalc[onnx]'")

TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}
BIG_MACS = 5 * 10**9
BIG_PARAMS = 100 * 10**6
RUN_BIG = "1" in (os.environ.get("ARCHCALC_ONNX_BIG"), os.environ.get("ARCHCALC_BIG"))

LENET = """
name: lenet5
input: [1, 32, 32]
layers:
  - {type: conv2d, name: c1, out_channels: 6, kernel_size: 5}
  - {type: tanh, name: a1, amplitude: 1.7159, slope: 0.6667}
  - {type: subsample2d, name: s2}
  - {type: conv2d, name: c3, out_channels: 16, kernel_size: 5, connections: [
      [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5],
      [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5],
      [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5]]}
  - {type: tanh, name: a3, amplitude: 1.7159, slope: 0.6667}
  - {type: subsample2d, name: s4}
  - {type: conv2d, name: c5, out_channels: 120, kernel_size: 5}
  - {type: flatten, name: flat}
  - {type: linear, name: f6, out_features: 84}
  - {type: tanh, name: a6, amplitude: 1.7159, slope: 0.6667}
  - {type: euclidean_rbf, name: output, out_features: 10}
"""


# --- helpers ------------------------------------------------------------------------------


def _export(analysis, weights=None, *, batch=1, opset=None):
    from archcalc.onnx_export import DEFAULT_OPSET, export_onnx

    if weights is None:
        weights = init_weights(analysis, seed=0, dtype=np.float32)
    return export_onnx(analysis, weights, batch=batch, opset=opset or DEFAULT_OPSET), weights


def _dims(value_info) -> tuple:
    return tuple(d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim)


def onnx_inferred_shapes(model) -> dict[str, tuple]:
    """Every tensor's shape as ONNX's strict shape inference derives it.

    It runs on a copy without the shapes the exporter declared on the graph outputs (so
    nothing of archcalc's is used) and with the layer tensors as graph inputs of the same
    shapes instead of initializers (shapes need no weights; VGG's would be copied 4 times).
    The constants (named <layer>/<purpose>: pad amounts, axes) stay, as inference reads them.
    """
    graph = model.graph
    weights = [i for i in graph.initializer if "/" not in i.name]
    inputs = [*graph.input, *(onnx.helper.make_tensor_value_info(i.name, i.data_type, i.dims)
                              for i in weights)]
    outputs = [onnx.helper.make_empty_tensor_value_info(o.name) for o in graph.output]
    light = onnx.helper.make_graph(graph.node, graph.name, inputs, outputs,
                                   initializer=[i for i in graph.initializer if "/" in i.name])
    copy = onnx.helper.make_model(light, opset_imports=model.opset_import,
                                  ir_version=model.ir_version)
    inferred = onnx.shape_inference.infer_shapes(copy, check_type=True, strict_mode=True)
    return {v.name: _dims(v) for v in [*inferred.graph.value_info, *inferred.graph.output]}


def onnxruntime_outputs(model, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Run the model in onnxruntime, every named layer made a graph output."""
    declared = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name)
                              for name in names if name not in declared)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    return dict(zip(names, session.run(names, {"input": x})))


def assert_same_activations(analysis, model, weights, x):
    """The network outputs agree elementwise (atol = rtol = 1e-4); so does every layer,
    relative to its own scale: |ours − theirs| ≤ 1e-4·(1 + max |ours|). (Deep networks with
    the executor's initial weights, batch norm an identity, reach activations of 10–100, where
    float32 summation order alone moves a near-zero entry by 1e-4; a wrong mapping is off by
    the scale itself.)"""
    names = [row.name for row in analysis.layers]
    ours = run(analysis, x, weights, keep="all", seed=0)
    theirs = onnxruntime_outputs(model, x, names)
    for row in analysis.layers:
        finite = ours[row.name][np.isfinite(ours[row.name])]  # ±∞ and NaN must match exactly
        scale = 1.0 + float(np.abs(finite).max(initial=0.0))
        np.testing.assert_allclose(
            theirs[row.name], ours[row.name], atol=TOLERANCE["atol"] * scale, rtol=0,
            equal_nan=True,
            err_msg=f"layer '{row.name}' ({row.kind}): onnxruntime and the executor differ "
                    f"beyond 1e-4 of the layer's scale {scale:.3g}")
    for name in analysis.outputs:
        np.testing.assert_allclose(theirs[name], ours[name], **TOLERANCE, equal_nan=True,
                                   err_msg=f"network output '{name}'")


def connection_table_zeros(analysis) -> int:
    """Σ over conv layers with a table: (C'·C − connected pairs)·kh·kw, from the table itself."""
    total = 0
    for row in analysis.layers:
        table = getattr(row.layer, "connections", None)
        if table is not None:
            c = row.input_shapes[0][0]
            kh, kw = row.layer.window.kernel
            total += (len(table) * c - sum(len(maps) for maps in table)) * kh * kw
    return total


#: the constants each kind's mapping may add, by purpose (the part of the name after '/')
ALLOWED_CONSTANTS = {
    "conv2d": {"pad_amounts"},
    "conv_transpose2d": {"pad_amounts"},
    "lp_pool2d": {"pad_amounts", "exponent_p", "window_of_ones", "inverse_exponent"},
    "max_pool2d": {"pad_amounts", "padding_value"},
    "adaptive_avg_pool2d": {"row_averaging_matrix", "column_averaging_matrix"},
    "euclidean_rbf": {"unsqueeze_axes", "sum_axes"},
    "tanh": {"slope", "amplitude"},
    "batch_norm2d": {"unit_scale", "zero_shift"},
    "local_response_norm": {"channel_view_axis", "alpha", "k", "beta"},
}


def assert_initializers_account(analysis, model):
    """Σ numel over the model's initializers = params + buffers + table zeros + constants,
    read from the ONNX file: tensors named <layer>.<tensor>, constants <layer>/<purpose>."""
    kinds = {row.name: row.kind for row in analysis.layers}
    tensors = {f"{row.name}.{t.name}" for row in analysis.layers for t in row.tensors}
    tensor_values = constant_values = 0
    for init in model.graph.initializer:
        n = math.prod(init.dims)
        if init.name in tensors:
            tensor_values += n
            tensors.discard(init.name)
            continue
        layer, _, purpose = init.name.rpartition("/")
        assert layer in kinds, f"initializer '{init.name}' belongs to no layer"
        assert purpose.rstrip("_0123456789") in ALLOWED_CONSTANTS.get(kinds[layer], ()), \
            f"unexplained constant '{init.name}' on a {kinds[layer]} layer"
        assert init.doc_string, f"constant '{init.name}' does not say what it is"
        constant_values += n
    assert not tensors, f"tensors missing from the ONNX model: {sorted(tensors)[:5]}"
    expected = (analysis.totals.params + analysis.totals.buffers
                + connection_table_zeros(analysis))
    assert tensor_values == expected
    return tensor_values, constant_values


# --- the bundled specs ----------------------------------------------------------------------


def _is_big(analysis) -> bool:
    return analysis.totals.macs > BIG_MACS or analysis.totals.params > BIG_PARAMS


@needs_onnx
@pytest.mark.parametrize("name", bundled_names())
def test_bundled_spec_exports_and_passes_all_oracles(name):
    analysis = analyze(name)
    run_it = RUN_BIG or not _is_big(analysis)
    weights = None if run_it else {  # values matter only to the run; zeros are quick
        f"{row.name}.{t.name}": np.zeros(t.shape, np.float32)
        for row in analysis.layers for t in row.tensors}
    with _skip_if_it_does_not_fit(name):
        export, weights = _export(analysis, weights)
    model = export.model
    onnx.checker.check_model(model, full_check=True)

    assert_initializers_account(analysis, model)

    shapes = onnx_inferred_shapes(model)
    for row in analysis.layers:
        assert shapes.get(row.name) == (1, *row.output_shape), (
            f"layer '{row.name}' ({row.kind}): ONNX infers {shapes.get(row.name)}, "
            f"archcalc analyses {row.output_shape}")

    if not run_it:
        pytest.skip(f"{name}: {analysis.totals.macs:,} MACs, {analysis.totals.params:,} params; "
                    "set ARCHCALC_ONNX_BIG=1 to run it through onnxruntime and the executor")
    x = np.random.default_rng(0).standard_normal((1, *analysis.input_shape), dtype=np.float32)
    with _skip_if_it_does_not_fit(name):
        assert_same_activations(analysis, model, weights, x)


@contextlib.contextmanager
def _skip_if_it_does_not_fit(name: str):
    """The executor's memory guard refuses runs that would not fit the memory free now."""
    try:
        yield
    except ExecError as exc:
        if not exc.what.startswith("refusing"):
            raise
        pytest.skip(f"{name} does not fit in memory at batch 1 now: {exc.what}")


# --- every layer kind: worked examples and generated networks --------------------------------


def _random_weights(analysis, seed: int) -> dict[str, np.ndarray]:
    """Weights with no structure (unlike the executor's initialisation, where batch-norm and
    subsampling start as identities), so swapped or ignored tensors cannot go unnoticed."""
    rng = np.random.default_rng(seed)
    weights = {}
    for row in analysis.layers:
        for t in row.tensors:
            if t.name == "running_var":
                value = rng.uniform(0.5, 2.0, t.shape)
            elif len(t.shape) == 1 and t.role == "weight":
                value = rng.uniform(0.5, 1.5, t.shape)
            else:
                fan_in = math.prod(t.shape[1:]) if len(t.shape) > 1 else 1
                value = rng.standard_normal(t.shape) / math.sqrt(fan_in)
            weights[f"{row.name}.{t.name}"] = value.astype(np.float32)
    return weights


def _example_spec(kind: str, example: dict) -> str:
    """A network whose one computing layer is the registry's worked example (as test_layers
    builds it: vectors via a flatten, merge inputs as 1×1 conv branches)."""
    inputs = example.get("inputs") or [example["input"]]
    layers: list[dict] = []
    doc = {"name": f"{kind}-example", "layers": layers}
    if len(inputs[0]) == 3:
        doc["input"] = list(inputs[0])
    else:
        doc["input"] = [inputs[0][0], 1, 1]
        layers.append({"type": "flatten", "name": "to_vector"})
    if len(inputs) == 1:
        layers.append({"type": kind, "name": "layer", **example["fields"]})
    else:
        for i, shape in enumerate(inputs):
            layers.append({"type": "conv2d", "name": f"branch{i}", "inputs": ["input"],
                           "out_channels": shape[0], "kernel_size": 1})
        layers.append({"type": kind, "name": "layer", **example["fields"],
                       "inputs": [f"branch{i}" for i in range(len(inputs))]})
    return json.dumps(doc)


EXAMPLES = [pytest.param(kind, i, example, id=f"{kind}-{i}")
            for kind, cls in sorted(REGISTRY.items()) for i, example in enumerate(cls.examples)
            if example.get("params", 0) < 10**7]


@needs_onnx
@pytest.mark.parametrize(("kind", "index", "example"), EXAMPLES)
def test_worked_example_of_every_kind(kind, index, example):
    analysis = analyze(parse_spec(_example_spec(kind, example), file="example.yaml"))
    weights = _random_weights(analysis, seed=index)
    export, _ = _export(analysis, weights)
    onnx.checker.check_model(export.model, full_check=True)
    assert_initializers_account(analysis, export.model)
    assert onnx_inferred_shapes(export.model)["layer"] == (1, *example["shape"])
    x = np.random.default_rng(index).standard_normal((1, *analysis.input_shape),
                                                     dtype=np.float32)
    assert_same_activations(analysis, export.model, weights, x)


# A generator of small networks: each kind draws its fields for the shape it receives.
# archcalc's own shape rule only steers the generation (a layer that does not fit is left
# out); the oracles then compare against ONNX and onnxruntime.

pair = st.integers(1, 3)
size = st.one_of(pair, st.lists(pair, min_size=2, max_size=2))
small = st.one_of(st.integers(1, 2), st.lists(st.integers(1, 2), min_size=2, max_size=2))
padding = st.one_of(st.integers(0, 2), st.lists(st.integers(0, 2), min_size=2, max_size=2),
                    st.lists(st.integers(0, 2), min_size=4, max_size=4),
                    st.sampled_from(["same", "valid"]))


def _divisors(n: int) -> list[int]:
    return [g for g in (1, 2, 3) if n % g == 0]


@st.composite
def conv2d(draw, shape):
    c = shape[0]
    groups = draw(st.sampled_from(_divisors(c)))
    out = groups * draw(st.integers(1, 3))
    fields = {"out_channels": out, "kernel_size": draw(size), "stride": draw(small),
              "padding": draw(padding), "dilation": draw(small), "groups": groups,
              "bias": draw(st.booleans()),
              "padding_mode": draw(st.sampled_from(["zeros", "replicate"]))}
    if groups == 1 and draw(st.booleans()):
        fields["connections"] = [sorted(draw(st.sets(st.integers(0, c - 1), min_size=1)))
                                 for _ in range(out)]
    return fields


@st.composite
def conv_transpose2d(draw, shape):
    groups = draw(st.sampled_from(_divisors(shape[0])))
    stride, dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    return {"out_channels": groups * draw(st.integers(1, 2)), "kernel_size": draw(size),
            "stride": stride, "dilation": dilation, "padding": draw(st.integers(0, 1)),
            "output_padding": draw(st.integers(0, max(stride, dilation) - 1)),
            "groups": groups, "bias": draw(st.booleans())}


def _window(draw, *, padded: bool = True, dilation: int = 1) -> dict:
    """Pool fields; padding at most half the effective kernel, as pools require."""
    kh, kw = draw(pair), draw(pair)
    fields = {"kernel_size": [kh, kw] if kh != kw else kh, "ceil_mode": draw(st.booleans())}
    if draw(st.booleans()):
        fields["stride"] = draw(small)
    if padded:
        half_h, half_w = (dilation * (kh - 1) + 1) // 2, (dilation * (kw - 1) + 1) // 2
        top, bottom = draw(st.integers(0, half_h)), draw(st.integers(0, half_h))
        left, right = draw(st.integers(0, half_w)), draw(st.integers(0, half_w))
        fields["padding"] = [top, bottom, left, right]
    return fields


@st.composite
def max_pool2d(draw, shape):
    dilation = draw(st.integers(1, 2))
    return {**_window(draw, dilation=dilation), "dilation": dilation}


@st.composite
def avg_pool2d(draw, shape):
    return {**_window(draw), "count_include_pad": draw(st.booleans())}


# lp_pool2d and subsample2d without padding: their specs refuse any (padding: 0 only)
@st.composite
def lp_pool2d(draw, shape):
    return {**_window(draw, padded=False), "norm_type": draw(st.sampled_from([1, 2, 3, 4, 1.5]))}


@st.composite
def subsample2d(draw, shape):
    return {**_window(draw, padded=False), "bias": draw(st.booleans())}


@st.composite
def adaptive_avg_pool2d(draw, shape):
    return {"output_size": draw(st.one_of(st.integers(1, 7),
                                          st.lists(st.integers(1, 7), min_size=2, max_size=2)))}


@st.composite
def batch_norm2d(draw, shape):
    return {"affine": draw(st.booleans()), "eps": draw(st.sampled_from([1e-5, 1e-3]))}


@st.composite
def local_response_norm(draw, shape):
    return {"size": draw(st.integers(1, 6)), "alpha": draw(st.sampled_from([1e-4, 0.1, 1.0])),
            "beta": draw(st.sampled_from([0.5, 0.75])), "k": draw(st.sampled_from([1.0, 2.0]))}


@st.composite
def linear(draw, shape):
    return {"out_features": draw(st.integers(1, 8)), "bias": draw(st.booleans())}


@st.composite
def euclidean_rbf(draw, shape):
    return {"out_features": draw(st.integers(1, 6))}


@st.composite
def leaky_relu(draw, shape):
    return {"negative_slope": draw(st.sampled_from([0.01, 0.2]))}


@st.composite
def tanh(draw, shape):
    return {"amplitude": draw(st.sampled_from([1.0, 1.7159])),
            "slope": draw(st.sampled_from([1.0, 0.6667]))}


def no_fields(shape):
    return st.just({})


MAP_KINDS = {
    "conv2d": conv2d, "conv_transpose2d": conv_transpose2d, "max_pool2d": max_pool2d,
    "avg_pool2d": avg_pool2d, "lp_pool2d": lp_pool2d, "subsample2d": subsample2d,
    "global_avg_pool2d": no_fields, "global_max_pool2d": no_fields,
    "adaptive_avg_pool2d": adaptive_avg_pool2d, "batch_norm2d": batch_norm2d,
    "local_response_norm": local_response_norm, "concat": no_fields, "add": no_fields,
}
ANYWHERE_KINDS = {
    "relu": no_fields, "leaky_relu": leaky_relu, "sigmoid": no_fields, "tanh": tanh,
    "softmax": no_fields, "dropout": lambda shape: st.just({"p": 0.5}), "flatten": no_fields,
}
VECTOR_KINDS = {"linear": linear, "euclidean_rbf": euclidean_rbf}
GENERATED_KINDS = {**MAP_KINDS, **ANYWHERE_KINDS, **VECTOR_KINDS}


def _shape_of(kind: str, fields: dict, ins: list[tuple], rounding: str):
    """archcalc's output shape, or None when the drawn layer does not fit."""
    try:
        return REGISTRY[kind](type=kind, **fields).infer(ins, Context(rounding=rounding)).shape
    except (ArchcalcError, ValueError):  # ValueError: pydantic's validation error
        return None


@st.composite
def small_networks(draw) -> dict:
    """A chain of 1–7 drawn layers (merges as 1×1 conv branches off the current tensor)."""
    in_shape = (draw(st.integers(1, 4)), draw(st.integers(3, 12)), draw(st.integers(3, 12)))
    rounding = draw(st.sampled_from(["exact", "floor", "ceil"]))
    shapes = {"input": in_shape}
    layers: list[dict] = []

    def add(kind: str, fields: dict, inputs: list[str]) -> str | None:
        out = _shape_of(kind, fields, [shapes[i] for i in inputs], rounding)
        if out is None:
            return None
        name = f"l{len(layers)}"
        layers.append({"type": kind, "name": name, "inputs": inputs, **fields})
        shapes[name] = out
        return name

    def grow(kinds: dict, current: str) -> str:
        shape = shapes[current]
        kind = draw(st.sampled_from(sorted(kinds)))
        if kind == "euclidean_rbf" and layers and layers[-1]["type"] == kind:
            return current  # squared distances of squared distances (~10³) make a softmax
            # after them ill-conditioned in float32, whatever the implementation
        fields = draw(kinds[kind](shape))
        inputs = [current]
        if kind in ("concat", "add"):
            for _ in range(draw(st.integers(1, 2))):
                channels = shape[0] if kind == "add" else draw(st.integers(1, 3))
                inputs.append(add("conv2d", {"out_channels": channels, "kernel_size": 1},
                                  [current]))
        elif kind == "lp_pool2d" and fields["norm_type"] not in (2, 4):
            inputs = [add("sigmoid", {}, [current])]  # x^p of a negative x would be NaN
        return add(kind, fields, inputs) or inputs[0]

    current = "input"
    map_kinds = {k: v for k, v in {**MAP_KINDS, **ANYWHERE_KINDS}.items() if k != "flatten"}
    for _ in range(draw(st.integers(0, 5))):
        current = grow(map_kinds, current)
    if draw(st.booleans()):  # a classifier head on vectors
        current = add("flatten", {}, [current])
        for _ in range(draw(st.integers(1, 3))):
            current = grow({**ANYWHERE_KINDS, **VECTOR_KINDS}, current)
    if not layers:
        add("relu", {}, ["input"])
    return {"name": "generated", "input": list(in_shape), "rounding": rounding,
            "layers": layers}


def test_the_generator_covers_every_kind():
    assert set(GENERATED_KINDS) == set(REGISTRY), "a kind the ONNX oracles never generate"


@needs_onnx
@settings(max_examples=int(os.environ.get("ARCHCALC_ONNX_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(doc=small_networks(), seed=st.integers(0, 2**16), batch=st.integers(1, 3),
       opset=st.sampled_from([13, 18, 22, 24]))
def test_generated_networks_agree_with_onnx(doc, seed, batch, opset):
    from archcalc.onnx_export import ExportError

    analysis = analyze(parse_spec(json.dumps(doc), file="generated.yaml"))
    for row in analysis.layers:
        event(row.kind)
    weights = _random_weights(analysis, seed)
    try:
        export, _ = _export(analysis, weights, batch="N", opset=opset)
    except ExportError as exc:  # the one refusal: an average pool's ceil size before opset 22
        assert "needs ONNX opset 22" in str(exc) and opset < 22, str(exc)
        event("refused below opset 22")
        export, _ = _export(analysis, weights, batch="N", opset=22)
    onnx.checker.check_model(export.model, full_check=True)
    assert_initializers_account(analysis, export.model)
    shapes = onnx_inferred_shapes(export.model)
    for row in analysis.layers:
        assert shapes.get(row.name) == ("N", *row.output_shape), (row.name, row.kind)
    x = np.random.default_rng(seed).standard_normal((batch, *analysis.input_shape),
                                                    dtype=np.float32)
    assert_same_activations(analysis, export.model, weights, x)


# --- accounting, by hand ------------------------------------------------------------------


@needs_onnx
def test_lenet5_initializers_add_up_by_hand():
    analysis = analyze(parse_spec(LENET, file="lenet5.yaml"))
    export, _ = _export(analysis)
    tensors, constants = assert_initializers_account(analysis, export.model)
    # LeCun et al. 1998: C1 (5·5·1 + 1)·6 = 156, S2 2·6 = 12, C3 (6·3 + 9·4 + 6)·25 + 16 = 1,516,
    # S4 2·16 = 32, C5 (5·5·16 + 1)·120 = 48,120, F6 (120 + 1)·84 = 10,164 -> 60,000 trainable;
    # the RBF output's fixed codes 84·10 = 840 -> 60,840 parameters, no buffers.
    # C3 is stored dense: 16·6 = 96 map pairs, 60 connected, 36·25 = 900 zeros.
    assert tensors == 60_840 + 900
    # tanh: slope and amplitude scalars on a1, a3, a6 (6); RBF: unsqueeze and sum axes (2)
    assert constants == 8
    assert export.params == 60_840 and export.buffers == 0 and export.extra == 908
    assert export.extras_by_reason()["zeros of connection tables (unconnected input maps)"] == 900


@needs_onnx
def test_batch_norm_running_statistics_are_initializers():
    analysis = analyze(parse_spec("""
name: bn
input: [3, 8, 8]
layers:
  - {type: conv2d, name: conv, out_channels: 4, kernel_size: 3, bias: false}
  - {type: batch_norm2d, name: bn}
""", file="bn.yaml"))
    export, _ = _export(analysis)
    sizes = {i.name: math.prod(i.dims) for i in export.model.graph.initializer}
    # conv 4·3·3·3 = 108; γ, β, μ, σ² of 4 channels each
    assert sizes == {"conv.weight": 108, "bn.weight": 4, "bn.bias": 4, "bn.running_mean": 4,
                     "bn.running_var": 4}
    assert export.params == 116 and export.buffers == 8


# --- mapping details ----------------------------------------------------------------------


def _nodes(model, op_type: str):
    return [n for n in model.graph.node if n.op_type == op_type]


def _attributes(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


@needs_onnx
def test_asymmetric_padding_is_written_begins_then_ends():
    analysis = analyze(parse_spec("""
name: pads
input: [1, 7, 7]
layers:
  - {type: conv2d, name: conv, out_channels: 1, kernel_size: 3, stride: [1, 2],
     padding: [1, 0, 0, 2]}
""", file="pads.yaml"))
    model = _export(analysis)[0].model
    (conv,) = _nodes(model, "Conv")
    # archcalc's padding is (top, bottom, left, right) = (1, 0, 0, 2); ONNX wants
    # [top, left, bottom, right] = [1, 0, 0, 2] here; height (7 − 3 + 1)/1 + 1 = 6,
    # width (7 − 3 + 2)/2 + 1 = 4
    assert _attributes(conv)["pads"] == [1, 0, 0, 2]
    assert conv.name == "conv" and list(conv.output) == ["conv"]
    assert onnx_inferred_shapes(model)["conv"] == (1, 1, 6, 4)


@needs_onnx
def test_googlenet_ceil_pool_uses_ceil_mode():
    analysis = analyze(parse_spec("""
name: ceil
input: [64, 112, 112]
layers:
  - {type: max_pool2d, name: pool, kernel_size: 3, stride: 2, ceil_mode: true}
""", file="ceil.yaml"))
    model = _export(analysis)[0].model
    (pool,) = _nodes(model, "MaxPool")
    # ⌈(112 − 3)/2⌉ + 1 = 56, while floor gives 55: ceil_mode is needed
    assert _attributes(pool)["ceil_mode"] == 1
    assert onnx_inferred_shapes(model)["pool"] == (1, 64, 56, 56)


CEIL_DROPS_A_WINDOW = """
name: dropped
input: [1, 3, 3]
layers:
  - {type: avg_pool2d, name: pool, kernel_size: [2, 3], padding: [1, 1, 1, 0], ceil_mode: true}
"""
# height: (3 − 2 + 1 + 1)/2 + 1 = 2.5 -> ⌈⌉ = 3, but window 2 would start at 2·2 − 1 = 3, past
#   the input: dropped (PyTorch) -> 2;
# width: (3 − 3 + 1 + 0)/3 + 1 = 1.33 -> ⌈⌉ = 2 (window 1 starts at 3 − 1 = 2, inside).
# So the width needs ceil_mode, and ONNX's ceil rule before opset 22 keeps the height's window.


@needs_onnx
def test_average_pool_whose_ceil_drops_a_window_needs_opset_22():
    from archcalc.onnx_export import ExportError

    analysis = analyze(parse_spec(CEIL_DROPS_A_WINDOW, file="dropped.yaml"))
    assert analysis.layer("pool").output_shape == (1, 2, 2)
    with pytest.raises(ExportError, match=r"layer 'pool' \(avg_pool2d\).*opset 22.*--opset 22"):
        _export(analysis, opset=18)
    model = _export(analysis, opset=22)[0].model
    assert onnx_inferred_shapes(model)["pool"] == (1, 1, 2, 2)


@needs_onnx
def test_max_pool_whose_ceil_drops_a_window_pads_with_minus_infinity():
    analysis = analyze(parse_spec(CEIL_DROPS_A_WINDOW.replace("avg_pool2d", "max_pool2d"),
                                  file="dropped.yaml"))
    model = _export(analysis, opset=18)[0].model
    assert [n.op_type for n in model.graph.node] == ["Pad", "MaxPool"]
    values = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    assert values["pool/padding_value"] == -np.inf
    # explicit padding: top 1, bottom 1 + max(0, (2 − 1)·2 + 2 − (3 + 2)) = 1,
    # left 1, right 0 + (2 − 1)·3 + 3 − (3 + 1) = 2; as [N, C, H, W] begins then ends
    assert list(values["pool/pad_amounts"]) == [0, 0, 1, 1, 0, 0, 1, 2]
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    # windows: rows {pad, 0} and {1, 2}; columns {pad, 0, 1} and {2, pad, pad}
    out = onnxruntime_outputs(model, x, ["pool"])["pool"]
    np.testing.assert_array_equal(out.reshape(2, 2), [[1, 2], [7, 8]])


@needs_onnx
def test_even_lrn_size_matches_pytorch_window():
    # size 4: PyTorch (and archcalc) sum channels c − 2 … c + 1; ONNX's LRN would take
    # c − 1 … c + 2 (and onnxruntime refuses even sizes), so it is written out.
    analysis = analyze(parse_spec("""
name: lrn
input: [6, 2, 2]
layers:
  - {type: local_response_norm, name: lrn, size: 4, alpha: 1.0, beta: 1.0, k: 1.0}
""", file="lrn.yaml"))
    model = _export(analysis)[0].model
    assert "LRN" not in {n.op_type for n in model.graph.node}
    x = np.zeros((1, 6, 2, 2), np.float32)
    x[0, 0], x[0, 2] = 1.0, 2.0
    out = onnxruntime_outputs(model, x, ["lrn"])["lrn"][0, :, 0, 0]
    # channel 0 sums channels −2 … 1: 1/(1 + 1/4·1²) = 0.8 (ONNX's window −1 … 2 would add 2²)
    # channel 2 sums channels 0 … 3: 2/(1 + 1/4·(1² + 2²)) = 2/2.25 (ONNX's 1 … 4: 2/2 = 1)
    np.testing.assert_allclose(out, [0.8, 0, 2 / 2.25, 0, 0, 0], rtol=1e-6)


# --- errors and the command line --------------------------------------------------------------


@needs_onnx
def test_a_kind_without_mapping_is_a_clear_error(monkeypatch):
    from archcalc.layers.activation import ReLU
    from archcalc.layers.base import Layer
    from archcalc.onnx_export import ExportError

    monkeypatch.setattr(ReLU, "to_onnx", Layer.to_onnx)
    analysis = analyze(parse_spec(LENET.replace("type: tanh, name: a3, amplitude: 1.7159, "
                                                "slope: 0.6667", "type: relu, name: a3"),
                                  file="lenet5.yaml"))
    with pytest.raises(ExportError) as info:
        _export(analysis)
    message = str(info.value)
    assert message.startswith("lenet5.yaml:")
    assert "layer 'a3' (relu): relu has no faithful ONNX mapping" in message
    assert "Fix:" in message


def _write(tmp_path, text: str, name: str = "net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _initializers(path) -> dict[str, np.ndarray]:
    model = onnx.load(str(path))
    return {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}


@needs_onnx
def test_cli_export_uses_the_executors_weights(tmp_path):
    spec = _write(tmp_path, LENET)
    out = tmp_path / "lenet.onnx"
    result = CliRunner().invoke(cli, ["export", spec, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "60,840 params" in result.output
    analysis = analyze(parse_spec(LENET, file="lenet5.yaml"))
    expected = init_weights(analysis, seed=0, dtype=np.float32)  # `archcalc run`'s default
    stored = _initializers(out)
    for key, value in expected.items():
        np.testing.assert_array_equal(stored[key].reshape(value.shape), value, err_msg=key)

    other = tmp_path / "seed3.onnx"
    result = CliRunner().invoke(cli, ["export", spec, "-o", str(other), "--seed", "3"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(_initializers(other)["c1.weight"],
                                  init_weights(analysis, seed=3, dtype=np.float32)["c1.weight"])


@needs_onnx
def test_cli_export_with_a_weights_file(tmp_path):
    spec = _write(tmp_path, LENET)
    analysis = analyze(parse_spec(LENET, file="lenet5.yaml"))
    weights = _random_weights(analysis, seed=7)
    save_weights(tmp_path / "w.npz", weights)
    out = tmp_path / "lenet.onnx"
    result = CliRunner().invoke(cli, ["export", spec, "-o", str(out), "--weights",
                                      str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    stored = _initializers(out)
    np.testing.assert_array_equal(stored["f6.weight"], weights["f6.weight"])
    mask = analysis.layer("c3").layer.connection_mask(6).astype(np.float32)
    np.testing.assert_array_equal(stored["c3.weight"], weights["c3.weight"] * mask)


@needs_onnx
def test_cli_export_options(tmp_path):
    spec = _write(tmp_path, LENET)
    out = tmp_path / "lenet.onnx"
    runner = CliRunner()
    assert runner.invoke(cli, ["export", spec, "-o", str(out), "--dynamic-batch",
                               "--opset", "13"]).exit_code == 0
    model = onnx.load(str(out))
    assert _dims(model.graph.input[0]) == ("N", 1, 32, 32)
    assert model.opset_import[0].version == 13
    assert [n.name for n in model.graph.node if "/" not in n.name] == [
        "c1", "a1", "s2", "c3", "a3", "s4", "c5", "flat", "f6", "a6", "output"]
    onnx.checker.check_model(model, full_check=True)

    again = runner.invoke(cli, ["export", spec, "-o", str(out)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert runner.invoke(cli, ["export", spec, "-o", str(out), "--force",
                               "--batch", "4"]).exit_code == 0
    assert _dims(onnx.load(str(out)).graph.input[0]) == (4, 1, 32, 32)

    for opset in ("9", "0"):  # 0 once became the default, 18, silently
        bad = runner.invoke(cli, ["export", spec, "-o", str(tmp_path / "x.onnx"),
                                  "--opset", opset])
        assert bad.exit_code == 1 and f"opset {opset} is outside" in bad.output
        assert "--opset 18" in bad.output
        assert not (tmp_path / "x.onnx").exists()
    assert runner.invoke(cli, ["export", spec]).exit_code == 2  # -o is required
    both = runner.invoke(cli, ["export", spec, "-o", str(tmp_path / "y.onnx"), "--batch", "2",
                               "--dynamic-batch"])
    assert both.exit_code == 2 and "not both" in both.output


@needs_onnx
def test_cli_export_with_set(tmp_path):
    spec = _write(tmp_path, """
name: width
input: [3, 8, 8]
params: {width: 4}
layers:
  - {type: conv2d, name: conv, out_channels: $width, kernel_size: 3}
""")
    out = tmp_path / "w.onnx"
    result = CliRunner().invoke(cli, ["export", spec, "-o", str(out), "--set", "width=6"])
    assert result.exit_code == 0, result.output
    assert _initializers(out)["conv.weight"].shape == (6, 3, 3, 3)


def test_cli_export_without_onnx_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    spec = _write(tmp_path, LENET)
    result = CliRunner().invoke(cli, ["export", spec, "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1
    assert "pip install 'archcalc[onnx]'" in result.output
    assert not (tmp_path / "m.onnx").exists()


@needs_onnx
def test_cli_verify_compares_with_the_executor_before_writing(tmp_path, monkeypatch):
    spec = _write(tmp_path, LENET)
    good = tmp_path / "good.onnx"
    result = CliRunner().invoke(cli, ["export", spec, "-o", str(good), "--verify"])
    assert result.exit_code == 0, result.output
    assert "verified: onnxruntime equals the NumPy executor" in result.output

    from archcalc.layers.activation import Tanh

    # a deliberately wrong mapping: tanh without its amplitude 1.7159
    monkeypatch.setattr(Tanh, "to_onnx", lambda self, ctx, inputs, inferred:
                        ctx.node("Tanh", inputs))
    bad = tmp_path / "bad.onnx"
    result = CliRunner().invoke(cli, ["export", spec, "-o", str(bad), "--verify"])
    assert result.exit_code == 1
    assert "onnxruntime and the NumPy executor disagree: 'output' max |Δ|" in result.output
    assert not bad.exists()


@needs_onnx
def test_cli_export_reads_the_memory_limit_once(tmp_path, monkeypatch):
    # the weights and the --verify run share one limit: MemAvailable read once (2 GiB);
    # a later read (0 bytes, the weights' own allocation having lowered it) would refuse
    from archcalc import executor

    reads = []

    def available():
        reads.append(1)
        return 2 << 30 if len(reads) == 1 else 0

    monkeypatch.setattr(executor, "available_memory", available)
    spec = _write(tmp_path, LENET)
    result = CliRunner().invoke(cli, ["export", spec, "-o", str(tmp_path / "m.onnx"),
                                      "--verify"])
    assert result.exit_code == 0, result.output
    assert len(reads) == 1


@needs_onnx
def test_save_refuses_to_overwrite(tmp_path):
    from archcalc.errors import OutputError
    from archcalc.onnx_export import save

    export, _ = _export(analyze(parse_spec(LENET, file="lenet5.yaml")))
    path = save(export, tmp_path / "m.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    with pytest.raises(OutputError, match="already exists"):
        save(export, path)
    save(export, path, force=True)
