"""Hypothesis: for random valid networks the executor agrees with the analysis.

Random chains of conv/pool/activation/normalisation layers with random kernel, stride,
padding, dilation and groups (chosen so every size stays positive), with add and concat
branches and an optional classifier head. For every layer:

- the executed shape (batch excluded) equals the analysed shape;
- the free entries of the weight arrays the layer ran with equal the analysed params;
- the multiplies counted here, from the executed arrays' sizes, equal the analysed MACs:
  a convolution uses each (unmasked) weight entry once per output position, a transposed
  convolution once per input position, a linear or RBF layer once per example.
"""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from archcalc import ArchcalcError
from archcalc.analysis import analyze
from archcalc.executor import run
from archcalc.spec import parse_spec
from archcalc.weights import init_weights

ACTIVATIONS = ["relu", "leaky_relu", "sigmoid", "tanh", "dropout"]


def _conv(draw, c, h, w, name):
    d = draw(st.integers(1, 2))
    pads = draw(st.one_of(st.integers(0, 2), st.lists(st.integers(0, 2), min_size=4,
                                                       max_size=4)))
    t, b, l, r = (pads,) * 4 if isinstance(pads, int) else pads  # noqa: E741
    k_max = min(4, (h + t + b - 1) // d + 1, (w + l + r - 1) // d + 1)
    layer = {"type": "conv2d", "name": name, "out_channels": None,
             "kernel_size": draw(st.integers(1, k_max)), "stride": draw(st.integers(1, 2)),
             "padding": pads, "dilation": d,
             "padding_mode": draw(st.sampled_from(["zeros", "replicate"]))}
    if draw(st.booleans()) and c > 1:  # a LeNet connection table
        out = draw(st.integers(1, 5))
        layer["connections"] = [sorted(draw(st.sets(st.integers(0, c - 1), min_size=1)))
                                for _ in range(out)]
        layer["out_channels"] = out
    else:
        groups = draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
        layer["groups"] = groups
        layer["out_channels"] = groups * draw(st.integers(1, 3))
    return layer


def _pool(draw, h, w, name):
    kind = draw(st.sampled_from(["max_pool2d", "avg_pool2d", "lp_pool2d", "subsample2d"]))
    k = draw(st.integers(1, min(3, h, w)))
    layer = {"type": kind, "name": name, "kernel_size": k, "stride": draw(st.integers(1, 2))}
    if kind in ("max_pool2d", "avg_pool2d"):
        layer["padding"] = draw(st.integers(0, k // 2))
        layer["ceil_mode"] = draw(st.booleans())
    return layer


@st.composite
def networks(draw):
    """A spec dict of 1–7 steps; sizes tracked so every layer gets a positive output."""
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(4, 14)), draw(st.integers(4, 14))
    layers, prev, n = [], "input", 0
    spec = {"name": "random", "input": [c, h, w], "rounding": "floor", "layers": layers}

    def add(layer):
        nonlocal prev, n
        layer.setdefault("inputs", [prev])
        layers.append(layer)
        prev = layer["name"]
        n += 1

    for _ in range(draw(st.integers(1, 7))):
        analysis = _analysable(spec) if layers else None
        c, h, w = analysis.output.output_shape if analysis else (c, h, w)
        step = draw(st.sampled_from(["conv", "conv", "pool", "act", "norm", "branch",
                                     "deconv"]))
        name = f"l{n}"
        if step == "conv":
            add(_conv(draw, c, h, w, name))
        elif step == "pool":
            add(_pool(draw, h, w, name))
        elif step == "act":
            add({"type": draw(st.sampled_from(ACTIVATIONS)), "name": name})
        elif step == "norm":
            kind = draw(st.sampled_from(["batch_norm2d", "local_response_norm"]))
            layer = {"type": kind, "name": name}
            if kind == "local_response_norm":
                layer["size"] = draw(st.integers(1, 5))
            add(layer)
        elif step == "deconv" and max(h, w) <= 12:
            s = draw(st.integers(1, 2))
            add({"type": "conv_transpose2d", "name": name, "out_channels": draw(st.integers(1, 4)),
                 "kernel_size": draw(st.integers(1, 3)), "stride": s,
                 "output_padding": draw(st.integers(0, s - 1))})
        elif step == "branch":
            source, merge = prev, draw(st.sampled_from(["add", "concat"]))
            out = draw(st.integers(1, 4))
            k = draw(st.sampled_from([1, 3]))
            add({"type": "conv2d", "name": f"{name}a", "out_channels": out, "kernel_size": k,
                 "padding": k // 2})
            a = prev
            prev = source
            width = out if merge == "add" else draw(st.integers(1, 4))
            add({"type": "conv2d", "name": f"{name}b", "out_channels": width,
                 "kernel_size": 3, "padding": 1, "dilation": 1})
            add({"type": merge, "name": f"{name}m", "inputs": [a, prev]})
    head = draw(st.sampled_from(["none", "linear", "rbf", "global", "adaptive"]))
    if head == "global":
        add({"type": draw(st.sampled_from(["global_avg_pool2d", "global_max_pool2d"])),
             "name": "head"})
    elif head == "adaptive":
        add({"type": "adaptive_avg_pool2d", "name": "head", "output_size": draw(
            st.integers(1, 3))})
    elif head in ("linear", "rbf"):
        add({"type": "flatten", "name": "flat"})
        add({"type": "linear" if head == "linear" else "euclidean_rbf", "name": "head",
             "out_features": draw(st.integers(1, 6))})
        if head == "linear" and draw(st.booleans()):
            add({"type": "softmax", "name": "prob"})
    _analysable(spec)
    return spec


def _analysable(spec):
    """The analysis of ``spec``; the few draws the size tracking misses are rejected."""
    try:
        return analyze(parse_spec(json.dumps(spec), file="random.yaml"))
    except ArchcalcError:
        reject()


def counted_multiplies(row, x_shapes, y_shape, params) -> int:
    """Multiplies of one example, counted from the arrays' sizes (see the module docstring)."""
    weight = params.get("weight")
    if row.kind == "conv2d":
        entries = weight.size
        if row.layer.connections is not None:
            entries = sum(len(maps) for maps in row.layer.connections) * math.prod(
                weight.shape[2:])
        return entries * y_shape[-2] * y_shape[-1]
    if row.kind == "conv_transpose2d":
        return weight.size * x_shapes[0][-2] * x_shapes[0][-1]
    if row.kind in ("linear", "euclidean_rbf"):
        return weight.size
    return 0


def free_entries(row, params) -> int:
    total = 0
    for spec in row.tensors:
        if spec.role == "buffer":
            continue
        array = params[spec.name]
        if spec.role == "weight" and getattr(row.layer, "connections", None) is not None:
            total += sum(len(m) for m in row.layer.connections) * math.prod(array.shape[2:])
        else:
            total += array.size
    return total


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=networks(), batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_executed_network_agrees_with_the_analysis(spec, batch, seed):
    analysis = analyze(parse_spec(json.dumps(spec), file="random.yaml"))
    x = np.random.default_rng(seed).standard_normal((batch, *analysis.input_shape))
    weights = init_weights(analysis, seed=seed, dtype=np.float64)
    acts = run(analysis, x, weights)
    values = {"input": x, **acts}
    for row in analysis.layers:
        y = acts[row.name]
        assert y.shape == (batch, *row.output_shape), row.name
        params = {t.name: weights[f"{row.name}.{t.name}"] for t in row.tensors}
        assert free_entries(row, params) == row.params, row.name
        xs = [values[name].shape for name in row.inputs]
        assert counted_multiplies(row, xs, y.shape, params) == row.macs, row.name
        assert np.isfinite(y).all(), row.name
