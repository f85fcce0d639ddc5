"""The NumPy executor: every layer kind end to end, the notes' worked examples, weights,
the memory guard, the CLI, and (when installed) PyTorch as a second implementation."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archcalc import ArchcalcError
from archcalc.analysis import analyze
from archcalc.cli import cli
from archcalc.errors import ExecError
from archcalc.executor import (
    check_memory,
    estimate_memory,
    format_bytes,
    parse_bytes,
    run,
)
from archcalc.spec import parse_spec
from archcalc.weights import all_finite, init_weights, load_weights, save_weights

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30


def net(layers: str, input_shape=(3, 16, 16), **top) -> object:
    """Analyse an inline spec: ``layers`` is YAML list items, one layer per line."""
    c, h, w = input_shape
    head = "".join(f"{k}: {v}\n" for k, v in top.items())
    text = f"name: t\ninput: [{c}, {h}, {w}]\n{head}layers:\n" + "\n".join(
        "  " + line.strip() for line in layers.strip().splitlines())
    return analyze(parse_spec(text, file="t.yaml"))


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------- every kind

#: one small network per layer kind (and variant), with the output shape worked by hand (C, H, W)
KIND_CASES = {
    # (16 − 3 + 2·1)/1 + 1 = 16
    "conv2d": ("- {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}", (4, 16, 16)),
    # groups 3: 6 maps, each from one input map; (16 − 3)/2 + 1 = 7.5 -> floor 7
    "conv2d groups stride": ("- {type: conv2d, out_channels: 6, kernel_size: 3, stride: 2, "
                             "groups: 3, rounding: floor}", (6, 7, 7)),
    # depthwise with dilation 2: F_eff = 2·(3 − 1) + 1 = 5; (16 − 5 + 2·2)/1 + 1 = 16
    "conv2d depthwise dilation": ("- {type: conv2d, out_channels: 3, kernel_size: 3, groups: 3, "
                                  "dilation: 2, padding: 2}", (3, 16, 16)),
    # asymmetric [top, bottom, left, right] = [1, 0, 2, 0]: H (16 − 3 + 1)/1 + 1 = 15,
    # W (16 − 3 + 2)/1 + 1 = 16; replicate padding
    "conv2d asymmetric replicate": ("- {type: conv2d, out_channels: 2, kernel_size: 3, "
                                    "padding: [1, 0, 2, 0], padding_mode: replicate}",
                                    (2, 15, 16)),
    # ceil rounding: ⌈(16 − 3)/2⌉ + 1 = 8
    "conv2d ceil": ("- {type: conv2d, out_channels: 2, kernel_size: 3, stride: 2, "
                    "rounding: ceil}", (2, 8, 8)),
    # LeNet-style table: 3 output maps reading {0}, {1, 2}, {0, 1, 2}; (16 − 5)/1 + 1 = 12
    "conv2d table": ("- {type: conv2d, out_channels: 3, kernel_size: 5, "
                     "connections: [[0], [1, 2], [0, 1, 2]]}", (3, 12, 12)),
    # (16 − 1)·2 − 2·1 + (4 − 1) + 0 + 1 = 32
    "conv_transpose2d": ("- {type: conv_transpose2d, out_channels: 2, kernel_size: 4, "
                         "stride: 2, padding: 1}", (2, 32, 32)),
    # (16 − 1)·2 − 0 + 2·(3 − 1) + 1 + 1 = 36
    "conv_transpose2d groups dilation": ("- {type: conv_transpose2d, out_channels: 6, "
                                         "kernel_size: 3, stride: 2, groups: 3, dilation: 2, "
                                         "output_padding: 1}", (6, 36, 36)),
    # (16 − 2)/2 + 1 = 8
    "max_pool2d": ("- {type: max_pool2d, kernel_size: 2}", (3, 8, 8)),
    # ceil: ⌈(16 − 3)/2⌉ + 1 = 8 (floor would give 7)
    "max_pool2d ceil": ("- {type: max_pool2d, kernel_size: 3, stride: 2, ceil_mode: true}",
                        (3, 8, 8)),
    # (16 − 3 + 2)/1 + 1 = 16
    "avg_pool2d": ("- {type: avg_pool2d, kernel_size: 3, stride: 1, padding: 1}", (3, 16, 16)),
    "avg_pool2d exclude pad": ("- {type: avg_pool2d, kernel_size: 3, stride: 1, padding: 1, "
                               "count_include_pad: false}", (3, 16, 16)),
    "lp_pool2d": ("- {type: lp_pool2d, kernel_size: 2, norm_type: 2}", (3, 8, 8)),
    "subsample2d": ("- {type: subsample2d}", (3, 8, 8)),
    "global_avg_pool2d": ("- {type: global_avg_pool2d}", (3, 1, 1)),
    "global_max_pool2d": ("- {type: global_max_pool2d}", (3, 1, 1)),
    "adaptive_avg_pool2d": ("- {type: adaptive_avg_pool2d, output_size: 5}", (3, 5, 5)),
    "batch_norm2d": ("- {type: batch_norm2d}", (3, 16, 16)),
    "local_response_norm": ("- {type: local_response_norm, size: 3, k: 2.0}", (3, 16, 16)),
    "relu": ("- {type: relu}", (3, 16, 16)),
    "leaky_relu": ("- {type: leaky_relu, negative_slope: 0.2}", (3, 16, 16)),
    "sigmoid": ("- {type: sigmoid}", (3, 16, 16)),
    "tanh": ("- {type: tanh, amplitude: 1.7159, slope: 0.6667}", (3, 16, 16)),
    "softmax": ("- {type: softmax}", (3, 16, 16)),
    "dropout": ("- {type: dropout, p: 0.5}", (3, 16, 16)),
    # 3·16·16 = 768
    "flatten": ("- {type: flatten}", (768,)),
    "linear": ("- {type: flatten}\n- {type: linear, out_features: 10}", (10,)),
    "euclidean_rbf": ("- {type: flatten}\n- {type: euclidean_rbf, out_features: 10}", (10,)),
    # 2 + 3 = 5 maps
    "concat": ("- {type: conv2d, name: a, out_channels: 2, kernel_size: 1}\n"
               "- {type: conv2d, name: b, out_channels: 3, kernel_size: 3, padding: 1, "
               "inputs: [input]}\n- {type: concat, inputs: [a, b]}", (5, 16, 16)),
    "add": ("- {type: conv2d, name: a, out_channels: 3, kernel_size: 3, padding: 1}\n"
            "- {type: add, inputs: [a, input]}", (3, 16, 16)),
}


def test_every_registered_kind_has_a_case():
    from archcalc.layers import REGISTRY

    covered = {case.split()[0] for case in KIND_CASES}
    assert set(REGISTRY) <= covered, set(REGISTRY) - covered


@pytest.mark.parametrize("case", sorted(KIND_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kind_runs_with_the_analysed_shape(case, dtype):
    layers, expected = KIND_CASES[case]
    analysis = net(layers)
    assert analysis.output.output_shape == expected
    x = rand((2, 3, 16, 16), dtype=dtype)
    acts = run(analysis, x)
    assert set(acts) == {row.name for row in analysis.layers}
    for row in analysis.layers:
        assert acts[row.name].shape == (2, *row.output_shape)
        assert acts[row.name].dtype == dtype
        assert np.isfinite(acts[row.name]).all()


def test_single_example_gets_a_batch_axis():
    analysis = net(KIND_CASES["conv2d"][0])
    acts = run(analysis, rand((3, 16, 16)))
    assert acts[analysis.outputs[0]].shape == (1, 4, 16, 16)


def test_keep_outputs_and_names():
    analysis = net("- {type: conv2d, name: c, out_channels: 2, kernel_size: 3}\n"
                   "- {type: relu, name: r}\n- {type: flatten, name: f}")
    x = rand((1, 3, 16, 16))
    assert list(run(analysis, x, keep="outputs")) == ["f"]
    assert list(run(analysis, x, keep=["r", "c"])) == ["c", "r"]  # layer order
    with pytest.raises(ExecError, match="did you mean 'r'"):
        run(analysis, x, keep=["rr"])


def test_progress_reports_every_layer_in_order():
    analysis = net(KIND_CASES["linear"][0])
    seen = []
    run(analysis, rand((1, 3, 16, 16)), progress=lambda e: seen.append((e.index, e.row.name,
                                                                         e.output.shape)))
    assert [s[1] for s in seen] == [row.name for row in analysis.layers]
    assert seen[-1] == (1, analysis.layers[1].name, (1, 10))


# ----------------------------------------------------------------------------- the notes


def test_notes_max_pooling_example():
    # lecture notes: a 6×6 map, 2×2 max pool with stride 2 -> 3×3
    grid = np.array([[0, 5, 4, 3, 0, 0],
                     [8, 2, 0, 0, 6, 9],
                     [9, 0, 0, 6, 4, 0],
                     [8, 6, 0, 8, 9, 6],
                     [4, 0, 6, 9, 0, 2],
                     [0, 7, 6, 4, 10, 7]], dtype=np.float32)
    analysis = net("- {type: max_pool2d, name: pool, kernel_size: 2, stride: 2}",
                   input_shape=(1, 6, 6))
    out = run(analysis, grid[None])["pool"]
    assert out[0, 0].tolist() == [[8, 4, 9], [9, 8, 9], [7, 9, 10]]


def test_translation_equivariance_of_a_conv_relu_conv_stack():
    # notes: f∘g(x) = g∘f(x) for a convolution f and a translation g. With stride 1 and no
    # padding, shifting the input by (dy, dx) shifts the output by (dy, dx); compare away from
    # the borders (the cells both outputs see entirely inside the original image).
    analysis = net("- {type: conv2d, name: c1, out_channels: 4, kernel_size: 3}\n"
                   "- {type: relu, name: r}\n"
                   "- {type: conv2d, name: c2, out_channels: 2, kernel_size: 5, dilation: 2}",
                   input_shape=(2, 32, 32))
    weights = init_weights(analysis, seed=3, dtype=np.float64)
    x = rand((1, 2, 32, 32), dtype=np.float64)
    dy, dx = 3, 5
    shifted = np.zeros_like(x)
    shifted[..., dy:, dx:] = x[..., :-dy, :-dx]
    y = run(analysis, x, weights, keep="outputs")["c2"]
    ys = run(analysis, shifted, weights, keep="outputs")["c2"]
    # output (p, q) sees input rows p .. p + 2 + 8: with shift it sees x[p − dy ..], inside
    # the original image once p ≥ dy and q ≥ dx
    np.testing.assert_allclose(ys[..., dy:, dx:], y[..., :-dy, :-dx], rtol=1e-12, atol=1e-12)
    assert not np.allclose(ys, y)  # not trivially equal


def test_conv_against_hand_computed_values():
    # a 1×3×3 input, one 2×2 filter of ones plus bias 1: each output is a window sum + 1
    analysis = net("- {type: conv2d, name: c, out_channels: 1, kernel_size: 2}",
                   input_shape=(1, 3, 3))
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)  # 0 1 2 / 3 4 5 / 6 7 8
    weights = {"c.weight": np.ones((1, 1, 2, 2)), "c.bias": np.ones(1)}
    out = run(analysis, x, weights)["c"][0, 0]
    # 0+1+3+4 + 1 = 9, 1+2+4+5 + 1 = 13, 3+4+6+7 + 1 = 21, 4+5+7+8 + 1 = 25
    assert out.tolist() == [[9, 13], [21, 25]]


def test_connection_table_ignores_unconnected_maps():
    # output map 0 reads only input map 1: changing map 0 must not change it
    analysis = net("- {type: conv2d, name: c, out_channels: 2, kernel_size: 1, "
                   "connections: [[1], [0, 1]]}", input_shape=(2, 4, 4))
    weights = {"c.weight": np.full((2, 2, 1, 1), 2.0), "c.bias": np.zeros(2)}
    x = rand((1, 2, 4, 4), dtype=np.float64)
    y = run(analysis, x, weights)["c"]
    np.testing.assert_allclose(y[0, 0], 2 * x[0, 1])
    np.testing.assert_allclose(y[0, 1], 2 * x[0, 0] + 2 * x[0, 1])


# ----------------------------------------------------------------------------- cross-checks


def test_a_wrong_output_shape_is_reported_as_a_bug_naming_the_layer(monkeypatch):
    from archcalc.layers.activation import ReLU

    analysis = net("- {type: conv2d, name: c, out_channels: 2, kernel_size: 3}\n"
                   "- {type: relu, name: act}")
    monkeypatch.setattr(ReLU, "forward", lambda self, xs, p, i: xs[0][..., 1:])
    with pytest.raises(ExecError) as info:
        run(analysis, rand((1, 3, 16, 16)))
    text = str(info.value)
    assert "layer 'act' (relu)" in text and "bug in archcalc" in text
    assert "14×13×2" in text and "14×14×2" in text  # executed vs analysed, H×W×C


def test_a_wrong_parameter_count_is_reported_as_a_bug(monkeypatch):
    from archcalc.layers.base import TensorSpec
    from archcalc.layers.conv import Conv2d

    analysis = net("- {type: conv2d, name: c, out_channels: 2, kernel_size: 3}")
    row = analysis.layers[0]
    wrong = (TensorSpec("weight", (2, 3, 3, 3), "weight", "", count=53),) + row.tensors[1:]
    object.__setattr__(row, "tensors", wrong)  # the analysis now claims 53 + 2 = 55
    # the arrays hold 2·3·3·3 + 2 = 56
    with pytest.raises(ExecError, match=r"56 free parameters .* counts 55"):
        run(analysis, rand((1, 3, 16, 16)))
    assert Conv2d  # the real class is untouched


def test_table_parameter_count_is_mask_aware():
    # LeNet C3 from the notes: 6 maps read 3 inputs, 9 read 4, 1 reads 6 -> 60 links;
    # (60·5·5 + 16) = 1,516 params, though the weight array holds 16·6·5·5 = 2,400 entries
    table = ([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5], [0, 1, 2, 3],
              [1, 2, 3, 4], [2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5],
              [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5]])
    analysis = net(f"- {{type: conv2d, name: c3, out_channels: 16, kernel_size: 5, "
                   f"connections: {table}}}", input_shape=(6, 14, 14))
    weights = init_weights(analysis)
    assert weights["c3.weight"].shape == (16, 6, 5, 5)
    assert np.count_nonzero(weights["c3.weight"]) == 60 * 25
    assert run(analysis, rand((1, 6, 14, 14)))["c3"].shape == (1, 16, 10, 10)


# ----------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("x, message", [
    (np.zeros((1, 3, 15, 16), np.float32), "input has shape 1×3×15×16"),
    (np.zeros((16, 16), np.float32), "input has shape 16×16"),
    (np.zeros((0, 3, 16, 16), np.float32), "empty"),
    (np.zeros((1, 3, 16, 16), np.int64), "dtype int64"),
    (np.zeros((1, 3, 16, 16), np.float16), "dtype float16"),
    ([[0.0]], "NumPy array"),
])
def test_bad_inputs_are_clear_errors(x, message):
    with pytest.raises(ExecError, match=message):
        run(net("- {type: relu}"), x)


def test_nan_input_is_refused_with_its_index():
    x = np.zeros((1, 3, 16, 16), np.float32)
    x[0, 2, 5, 7] = np.nan
    with pytest.raises(ExecError, match=r"1 NaN or infinite values, the first at index "
                                        r"\(0, 2, 5, 7\)"):
        run(net("- {type: relu}"), x)


# ----------------------------------------------------------------------------- weights

SMALL = ("- {type: conv2d, name: conv1, out_channels: 4, kernel_size: 3, padding: 1}\n"
         "- {type: batch_norm2d, name: bn1}\n"
         "- {type: relu, name: relu1}\n"
         "- {type: subsample2d, name: s2}\n"
         "- {type: flatten, name: flat}\n"
         "- {type: linear, name: fc, out_features: 5}\n"
         "- {type: tanh, name: t}\n"
         "- {type: euclidean_rbf, name: rbf, out_features: 3}")


def test_init_weights_keys_shapes_and_rules():
    analysis = net(SMALL)
    w = init_weights(analysis, seed=1)
    assert set(w) == {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                      "bn1.running_mean", "bn1.running_var", "s2.weight", "s2.bias",
                      "fc.weight", "fc.bias", "rbf.weight"}
    assert w["conv1.weight"].shape == (4, 3, 3, 3) and w["fc.weight"].shape == (5, 4 * 8 * 8)
    assert all(a.dtype == np.float32 for a in w.values())
    assert (w["conv1.bias"] == 0).all() and (w["fc.bias"] == 0).all()
    assert (w["bn1.weight"] == 1).all() and (w["bn1.bias"] == 0).all()
    assert (w["bn1.running_mean"] == 0).all() and (w["bn1.running_var"] == 1).all()
    assert (w["s2.weight"] == 1).all() and (w["s2.bias"] == 0).all()
    # fc feeds tanh -> Glorot uniform: limit √(6/(256 + 5)) ≈ 0.1516
    assert np.abs(w["fc.weight"]).max() <= math.sqrt(6 / (256 + 5))
    # rbf -> Glorot uniform, limit √(6/(5 + 3))
    assert np.abs(w["rbf.weight"]).max() <= math.sqrt(6 / 8)
    again = init_weights(analysis, seed=1)
    assert all(np.array_equal(w[k], again[k]) for k in w)
    other = init_weights(analysis, seed=2)
    assert not np.array_equal(w["conv1.weight"], other["conv1.weight"])


def test_he_init_has_the_right_spread():
    # conv → bn → relu: He normal, std √(2/fan_in) = √(2/(64·3·3)) = √2/24 ≈ 0.0589
    analysis = net("- {type: conv2d, name: c, out_channels: 256, kernel_size: 3}\n"
                   "- {type: batch_norm2d, name: bn}\n- {type: relu}", input_shape=(64, 8, 8))
    w = init_weights(analysis, dtype=np.float64)["c.weight"]
    std = math.sqrt(2) / 24
    assert abs(w.std() / std - 1) < 0.02  # 147k samples: relative error ~0.2 %
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)
    # without the ReLU: Glorot uniform, limit √(6/(576 + 256·9)), std limit/√3
    glorot = net("- {type: conv2d, name: c, out_channels: 256, kernel_size: 3}",
                 input_shape=(64, 8, 8))
    w = init_weights(glorot, dtype=np.float64)["c.weight"]
    limit = math.sqrt(6 / (576 + 2304))
    assert np.abs(w).max() <= limit and abs(w.std() / (limit / math.sqrt(3)) - 1) < 0.02


def test_weights_of_a_layer_do_not_depend_on_other_layers():
    a = init_weights(net("- {type: conv2d, name: c, out_channels: 2, kernel_size: 3}"))
    b = init_weights(net("- {type: conv2d, name: first, out_channels: 3, kernel_size: 1}\n"
                         "- {type: conv2d, name: c, out_channels: 2, kernel_size: 3}"))
    np.testing.assert_array_equal(a["c.weight"], b["c.weight"])


def test_weights_round_trip_gives_identical_outputs(tmp_path):
    analysis = net(SMALL)
    weights = init_weights(analysis, seed=7)
    x = rand((2, 3, 16, 16))
    path = save_weights(tmp_path / "w.npz", weights)
    assert path == tmp_path / "w.npz"  # exactly the name given, no extra suffix
    loaded = load_weights(path, analysis)
    assert set(loaded) == set(weights)
    a, b = run(analysis, x, weights), run(analysis, x, loaded)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ArchcalcError, match="already exists"):
        save_weights(path, weights)
    save_weights(path, weights, force=True)


def _npz(tmp_path, **arrays):
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    return path


def test_load_errors(tmp_path):
    analysis = net("- {type: conv2d, name: conv1, out_channels: 2, kernel_size: 3}")
    good = {"conv1.weight": np.zeros((2, 3, 3, 3), np.float32),
            "conv1.bias": np.zeros(2, np.float32)}
    with pytest.raises(ExecError, match="weight 'conv1.bias' is missing"):
        load_weights(_npz(tmp_path, **{"conv1.weight": good["conv1.weight"]}), analysis)
    with pytest.raises(ExecError, match="unknown weight 'conv1.weights'.*did you mean "
                                        "'conv1.weight'"):
        load_weights(_npz(tmp_path, **good, **{"conv1.weights": good["conv1.weight"]}),
                     analysis)
    with pytest.raises(ExecError, match=r"'conv1.weight' has shape 2×3×5×5, layer 'conv1' "
                                        r"needs 2×3×3×3"):
        load_weights(_npz(tmp_path, **{**good, "conv1.weight": np.zeros((2, 3, 5, 5))}),
                     analysis)
    with pytest.raises(ExecError, match="NaN"):
        load_weights(_npz(tmp_path, **{**good, "conv1.bias": np.array([0, np.nan])}), analysis)
    with pytest.raises(ExecError, match="no such weights file"):
        load_weights(tmp_path / "missing.npz", analysis)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ExecError, match="cannot read it"):
        load_weights(tmp_path / "junk.npz", analysis)
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ExecError, match="single .npy array"):
        load_weights(tmp_path / "one.npy", analysis)


@pytest.mark.parametrize("values, finite", [
    ([0.5, -2.0, 1e-30], True),
    ([3e38, 3e38, -1.0], True),  # finite, but their float32 sum overflows to inf
    ([1.0, np.nan], False),
    ([np.inf, 1.0], False),
    ([np.inf, -np.inf], False),  # their sum is NaN
])
def test_all_finite_is_exact_even_when_the_sum_overflows(values, finite):
    assert all_finite(np.array(values, dtype=np.float32)) is finite


def test_run_names_a_non_finite_weight_that_spoils_the_output():
    analysis = net("- {type: conv2d, name: conv1, out_channels: 2, kernel_size: 3}")
    weights = init_weights(analysis)
    weights["conv1.bias"] = np.array([0.0, np.inf], np.float32)
    with pytest.raises(ExecError, match=r"weight 'conv1.bias' holds 1 NaN or infinite values"):
        run(analysis, rand((1, 3, 16, 16)), weights)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_run_lets_finite_weights_overflow_float32():
    # 3·3·3 inputs of 1 times weights of 1e38: each output is 27·1e38 > 3.4e38, float32's max
    analysis = net("- {type: conv2d, name: conv1, out_channels: 1, kernel_size: 3, bias: false}")
    weights = {"conv1.weight": np.full((1, 3, 3, 3), 1e38, np.float32)}
    out = run(analysis, np.ones((1, 3, 16, 16), np.float32), weights, keep="outputs")
    assert np.isposinf(out["conv1"]).all()


def test_run_checks_weights_given_in_memory():
    analysis = net("- {type: conv2d, name: conv1, out_channels: 2, kernel_size: 3}")
    with pytest.raises(ExecError, match="'conv1.bias' is missing"):
        run(analysis, rand((1, 3, 16, 16)), {"conv1.weight": np.zeros((2, 3, 3, 3))})


def test_float64_weights_are_cast_to_the_input_dtype():
    analysis = net(KIND_CASES["linear"][0])
    weights = init_weights(analysis, dtype=np.float64)
    out = run(analysis, rand((1, 3, 16, 16)), weights)
    assert all(a.dtype == np.float32 for a in out.values())


# ----------------------------------------------------------------------------- memory guard


def test_memory_estimate_by_hand():
    # input 1×8×8 (64 values); conv 3×3 pad 1 -> 2×8×8 (128); relu (128). batch 4, float32.
    analysis = net("- {type: conv2d, name: c, out_channels: 2, kernel_size: 3, padding: 1}\n"
                   "- {type: relu, name: r}", input_shape=(1, 8, 8))
    est = estimate_memory(analysis, batch=4, dtype=np.float32, keep="outputs")
    # weights: 2·1·3·3 + 2 = 20 values = 80 bytes
    assert est.weights == 80
    # at 'r' (keep outputs: c is freed after r): alive = input 64 + c 128 + r 128 = 320,
    # workspace 2·(128 + 128) = 512, per example; ×4 examples ×4 bytes
    # at 'c': alive 64 + 128, workspace 2·(64 + 128) + im2col min(4·(1·3·3·8)·8, …) = 2,304
    #   -> 192 + 384 + 2304/4 per example... im2col for the batch: 4·9·64 = 2,304 values
    # c: (192·4 + 384·4 + 2,304)·4 = 18,432 bytes; r: (320·4 + 512·4)·4 = 13,312 bytes
    assert est.peak_layer == "c"
    assert est.activations == 192 * 4 * 4
    assert est.workspace == (384 * 4 + 2304) * 4
    assert est.total == 80 + 18_432


@pytest.mark.parametrize("spec, shape", [
    ("- {type: relu}", (3, 1_000_000, 1_000_000)),  # a 10⁶×10⁶ input
    ("- {type: conv2d, out_channels: 1000000000, kernel_size: 1}", (3, 8, 8)),  # 10⁹ channels
])
def test_absurd_networks_are_refused_before_allocating(spec, shape):
    analysis = net(spec, input_shape=shape)
    est = estimate_memory(analysis)
    with pytest.raises(ExecError, match="refusing to run: the estimated peak memory") as info:
        check_memory(est)
    assert "Fix:" in str(info.value)
    # run() refuses before touching the (tiny, wrong-shaped) input: the shape check comes first
    with pytest.raises(ExecError):
        run(analysis, np.zeros((1, 3, 8, 8), np.float32))


def test_init_weights_refuses_absurd_networks():
    # 10⁹ output maps of a 1×1 conv on 3 maps: 3·10⁹ weights + 10⁹ biases = 16 GB as float32
    analysis = net("- {type: conv2d, out_channels: 1000000000, kernel_size: 1}",
                   input_shape=(3, 8, 8))
    with pytest.raises(ExecError, match="refusing to initialise 14.9 GiB of weights"):
        init_weights(analysis)


def test_memory_guard_limit_is_overridable():
    analysis = net("- {type: conv2d, name: c, out_channels: 8, kernel_size: 3}")
    x = rand((4, 3, 16, 16))
    with pytest.raises(ExecError, match="exceeds --max-memory of 1 KiB"):
        run(analysis, x, max_memory=1024)
    assert run(analysis, x, max_memory=parse_bytes("1GiB"))["c"].shape == (4, 8, 14, 14)


def test_max_memory_also_lifts_the_weights_limit(monkeypatch, spec_file):
    # with a default limit of 100 bytes, the 8·3·3·3 + 8 = 224 float32 weights (896 bytes) fit
    # only under the limit the caller gives; init_weights once ignored it and refused
    from archcalc import executor

    monkeypatch.setattr(executor, "DEFAULT_LIMIT", 100)
    analysis = net("- {type: conv2d, name: c, out_channels: 8, kernel_size: 3}")
    x = rand((1, 3, 16, 16))
    with pytest.raises(ExecError, match="exceeds the default limit"):
        run(analysis, x)
    assert run(analysis, x, max_memory=parse_bytes("1GiB"))["c"].shape == (1, 8, 14, 14)
    # the CLI: weights initialised by the command itself, under --max-memory
    assert invoke(spec_file, "--top-k", 0).exit_code != 0
    result = invoke(spec_file, "--top-k", 0, "--max-memory", "1GiB")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("text, value", [
    ("4GiB", 4 * 2**30), ("512MiB", 512 * 2**20), ("2GB", 2 * 10**9), ("1.5G", 1_500_000_000),
    ("1000", 1000), ("64kib", 65536), (123, 123),
])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["lots", "-1", "0", "4 GiBs", ""])
def test_parse_bytes_rejects(text):
    with pytest.raises(ExecError):
        parse_bytes(text)


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 2**30) == "3 GiB"
    assert format_bytes(2**20 - 1) == "1 MiB"  # 1023.999 KiB rounds to 1024 KiB
    assert format_bytes(1000 * 2**10) == "1000 KiB"  # three digits, no exponent


# ----------------------------------------------------------------------------- CLI

SPEC_TEXT = """name: tiny
input: [1, 12, 12]
layers:
  - {type: conv2d, name: conv1, out_channels: 4, kernel_size: 3}
  - {type: relu, name: relu1}
  - {type: max_pool2d, name: pool1, kernel_size: 2}
  - {type: flatten, name: flat}
  - {type: linear, name: fc, out_features: 10}
  - {type: softmax, name: prob}
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC_TEXT)
    return path


def invoke(*args):
    return CliRunner().invoke(cli, ["run", *map(str, args)])


def test_cli_run_prints_table_topk_and_totals(spec_file):
    result = invoke(spec_file, "--top-k", 3, "--batch", 2)
    assert result.exit_code == 0, result.output
    out = result.output
    # (12 − 3)/1 + 1 = 10; pool (10 − 2)/2 + 1 = 5; 4·5·5 = 100
    assert "10×10×4" in out and "5×5×4" in out and "100" in out
    assert "top-3 of 'prob'" in out and "example 1:" in out
    assert "total:" in out and "memory estimate:" in out
    assert "checked: all 6 layers" in out
    for column in ("mean", "std", "min", "max", "ms"):
        assert column in out


def test_cli_run_of_one_layer_says_so_in_the_singular():
    result = invoke("one_by_one", "--top-k", 0)
    assert result.exit_code == 0, result.output
    assert ("checked: the layer's output shape and parameter count agree with the analysis"
            in result.output)


def test_cli_save_and_reload_weights_and_activations(spec_file, tmp_path):
    w, acts = tmp_path / "w.npz", tmp_path / "a.npz"
    assert invoke(spec_file, "--seed", 4, "--save-weights", w).exit_code == 0
    result = invoke(spec_file, "--weights", w, "--seed", 4, "--save", acts, "--keep",
                    "conv1,prob")
    assert result.exit_code == 0, result.output
    with np.load(acts) as saved:
        assert sorted(saved.files) == ["conv1", "prob"]
        assert saved["conv1"].shape == (1, 4, 10, 10)
        np.testing.assert_allclose(saved["prob"].sum(), 1.0, rtol=1e-5)
    # same seed for input, same weights -> same output as initialising from the seed
    again = tmp_path / "b.npz"
    assert invoke(spec_file, "--seed", 4, "--save", again, "--keep", "prob").exit_code == 0
    with np.load(acts) as a, np.load(again) as b:
        np.testing.assert_array_equal(a["prob"], b["prob"])
    refused = invoke(spec_file, "--save", acts)
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert invoke(spec_file, "--save", acts, "--force").exit_code == 0


def test_cli_input_file_and_its_errors(spec_file, tmp_path):
    good = tmp_path / "x.npy"
    np.save(good, rand((1, 12, 12)))
    assert invoke(spec_file, "--input", good).exit_code == 0
    np.save(good, rand((3, 1, 12, 12), dtype=np.float64))
    result = invoke(spec_file, "--input", good, "--top-k", 2)
    assert result.exit_code == 0 and "example 2:" in result.output
    cases = {
        "shape.npy": (np.zeros((12, 12)), "input has shape 12×12"),
        "nan.npy": (np.full((1, 12, 12), np.nan), "144 NaN or infinite values"),
        "str.npy": (np.array(["a"]), "not a real number type"),
    }
    for name, (array, message) in cases.items():
        np.save(tmp_path / name, array)
        result = invoke(spec_file, "--input", tmp_path / name)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Fix:" in result.output
    result = invoke(spec_file, "--input", tmp_path / "nope.npy")
    assert result.exit_code == 1 and "no such input file" in result.output
    np.save(good, rand((3, 1, 12, 12)))
    result = invoke(spec_file, "--input", good, "--batch", 2)
    assert result.exit_code == 1 and "--batch 2 disagrees" in result.output


def test_cli_input_is_checked_once_by_as_batch_at_its_file(spec_file, tmp_path, monkeypatch):
    # the CLI's input checks are the executor's (one message, one pass over the values),
    # located at the file; run()'s own pass over the input is not repeated
    from archcalc import executor
    from archcalc.errors import Location

    calls = []
    real = executor.as_batch

    def spy(analysis, x, where=None):
        calls.append(where)
        return real(analysis, x, where)

    monkeypatch.setattr(executor, "as_batch", spy)
    path = tmp_path / "x.npy"
    np.save(path, rand((2, 1, 12, 12)))
    result = invoke(spec_file, "--input", path, "--top-k", 0)
    assert result.exit_code == 0, result.output
    assert calls == [Location(str(path))]
    calls.clear()
    assert invoke(spec_file, "--top-k", 0).exit_code == 0  # a random input is finite as made
    assert calls == []
    with pytest.raises(ExecError, match=r"^x\.npy: the input holds 1 NaN"):
        real(net("- {type: relu}", input_shape=(1, 2, 2)), np.array([[[1.0, np.inf], [0, 0]]]),
             where=Location("x.npy"))


@pytest.fixture
def shrinking_memory(monkeypatch):
    """/proc/meminfo's MemAvailable as 2 GiB at the first read, nothing at any later one (as if
    the run's own allocations had used it up); the reads are counted."""
    from archcalc import executor

    reads = []

    def available():
        reads.append(1)
        return 2 * GIB if len(reads) == 1 else 0

    monkeypatch.setattr(executor, "available_memory", available)
    return reads


def test_the_default_limit_is_read_once_per_run(spec_file, shrinking_memory):
    # the weights and the activations are checked against one limit, min(8 GiB, 2 GiB / 2);
    # a second read would see 0 bytes free and refuse the weights already counted
    analysis = net("- {type: conv2d, name: c, out_channels: 8, kernel_size: 3}")
    assert run(analysis, rand((1, 3, 16, 16)))["c"].shape == (1, 8, 14, 14)
    assert len(shrinking_memory) == 1
    shrinking_memory.clear()
    result = invoke(spec_file, "--top-k", 0)
    assert result.exit_code == 0, result.output
    assert len(shrinking_memory) == 1


def test_a_refusal_by_the_default_limit_says_so(monkeypatch):
    from archcalc import executor

    monkeypatch.setattr(executor, "available_memory", lambda: 1024)
    analysis = net("- {type: conv2d, name: c, out_channels: 8, kernel_size: 3}")
    with pytest.raises(ExecError, match=r"exceeds the default limit, min\(8 GiB, half the free "
                                        r"memory\) of 512 B"):
        run(analysis, rand((1, 3, 16, 16)))
    with pytest.raises(ExecError, match="more than the default limit"):
        init_weights(analysis)


@pytest.mark.parametrize("values, finite", [
    ([1.0, -2.0], True), ([1.0, np.nan], False), ([np.inf, 0.0], False),
    ([-np.inf, 0.0], False), ([np.nan, np.inf], False), ([], True),
], ids=["finite", "NaN", "+inf", "-inf", "both", "empty"])
def test_cli_record_says_whether_an_output_is_finite(values, finite):
    from types import SimpleNamespace

    from archcalc.commands.run import _record

    event = SimpleNamespace(output=np.array([values], np.float32).reshape(1, -1), seconds=0.0,
                            row=SimpleNamespace(name="l", kind="linear", macs=0))
    assert _record(event)["finite"] is finite


def test_cli_errors_and_misuse(spec_file, tmp_path):
    result = invoke(spec_file, "--max-memory", "lots")
    assert result.exit_code == 2
    result = invoke(spec_file, "--max-memory", "1KiB")
    assert result.exit_code == 1 and "refusing to run" in result.output
    result = invoke(spec_file, "--keep", "relu2", "--save", tmp_path / "a.npz")
    assert result.exit_code == 1 and "did you mean 'relu1'" in result.output
    assert not (tmp_path / "a.npz").exists()
    result = invoke(spec_file, "--weights", tmp_path / "missing.npz")
    assert result.exit_code == 1 and "no such weights file" in result.output
    assert invoke(spec_file, "--dtype", "float16").exit_code == 2
    assert invoke(spec_file, "--batch", 0).exit_code == 2


def test_cli_huge_input_is_refused_not_crashed(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\ninput: [3, 1000000, 1000000]\nlayers:\n  - {type: relu}\n")
    result = invoke(path)
    assert result.exit_code == 1
    assert "refusing to run" in result.output and "TiB" in result.output


def test_cli_top_k_orders_by_value(tmp_path):
    # a linear layer with zero weights and biases 0..4 ranks index 4 first; an RBF layer with
    # codes w_i = i·1 on a zero input gives penalties i²·n, so index 0 (smallest) wins
    path = tmp_path / "k.yaml"
    path.write_text("name: k\ninput: [1, 1, 1]\nlayers:\n  - {type: flatten, name: f}\n"
                    "  - {type: linear, name: fc, out_features: 5}\n"
                    "  - {type: euclidean_rbf, name: rbf, inputs: [f], out_features: 3}\n"
                    "outputs: [fc, rbf]\n")
    weights = tmp_path / "w.npz"
    np.savez(weights, **{"fc.weight": np.zeros((5, 1)), "fc.bias": np.arange(5.0),
                         "rbf.weight": np.arange(3.0).reshape(3, 1)})
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 1)))
    result = invoke(path, "--weights", weights, "--input", x, "--top-k", 2)
    assert result.exit_code == 0, result.output
    assert "top-2 of 'fc' (largest, index: value):\n  4: 4, 3: 3" in result.output
    assert "top-2 of 'rbf' (smallest, index: value):\n  0: 0, 1: 1" in result.output


def test_cli_float64_and_chw(spec_file):
    result = invoke(spec_file, "--dtype", "float64", "--chw")
    assert result.exit_code == 0 and "4×10×10" in result.output and "float64" in result.output


# ----------------------------------------------------------------------------- PyTorch


def _twin():
    path = ROOT / "benchmarks" / "torch_twin.py"
    spec = importlib.util.spec_from_file_location("torch_twin", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", sorted(KIND_CASES))
def test_every_kind_matches_pytorch_layer_by_layer(case):
    torch = pytest.importorskip("torch")
    twin = _twin()
    analysis = net(KIND_CASES[case][0])
    weights = init_weights(analysis, seed=5)
    # non-trivial batch-norm statistics and biases, so those code paths matter
    rng = np.random.default_rng(9)
    for key in weights:
        if key.endswith((".bias", ".running_mean")):
            weights[key] = rng.standard_normal(weights[key].shape).astype(np.float32)
        if key.endswith(".running_var"):
            weights[key] = rng.uniform(0.5, 2, weights[key].shape).astype(np.float32)
    x = np.abs(rand((2, 3, 16, 16))) if "lp_pool" in case else rand((2, 3, 16, 16))
    acts = run(analysis, x, weights)
    values = {"input": x, **acts}
    compared = 0
    for row in analysis.layers:
        params = {t.name: weights[f"{row.name}.{t.name}"] for t in row.tensors}
        op = twin.layer_op(row, params)
        if op is None:
            continue
        inputs = [torch.from_numpy(values[name]) for name in row.inputs]
        want = op(*inputs).numpy()
        np.testing.assert_allclose(acts[row.name], want, rtol=1e-4, atol=1e-4,
                                   err_msg=f"layer {row.name} ({row.kind})")
        compared += 1
    assert compared >= 1 or case.startswith("avg_pool2d exclude")


def test_small_network_matches_pytorch_end_to_end():
    pytest.importorskip("torch")
    import torch

    twin = _twin()
    # (33 − 5 + 2·2)/2 + 1 = 17; ceil pool ⌈(17 − 3)/2⌉ + 1 = 8
    analysis = net("- {type: conv2d, name: c1, out_channels: 8, kernel_size: 5, stride: 2, "
                   "padding: 2}\n- {type: batch_norm2d, name: bn}\n- {type: relu, name: r}\n"
                   "- {type: max_pool2d, name: p, kernel_size: 3, stride: 2, ceil_mode: true}\n"
                   "- {type: local_response_norm, name: lrn, size: 5}\n"
                   "- {type: conv2d, name: c2, out_channels: 16, kernel_size: 3, groups: 4, "
                   "padding: 1}\n- {type: global_avg_pool2d, name: g}\n"
                   "- {type: flatten, name: f}\n- {type: linear, name: fc, out_features: 10}",
                   input_shape=(3, 33, 33))
    weights = init_weights(analysis, seed=2)
    x = rand((3, 3, 33, 33))
    ours = run(analysis, x, weights, keep="outputs")["fc"]
    theirs = twin.TorchNet(analysis, weights)(torch.from_numpy(x))["fc"].numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- padded pools


@pytest.mark.parametrize("kind", ["lp_pool2d", "subsample2d"])
def test_pools_without_padding_refuse_it(kind):
    # their kernels take no padding (as PyTorch's LPPool2d); the executor once dropped a
    # given padding silently, misaligning every window. Now the spec is refused instead.
    from archcalc.errors import SpecError

    with pytest.raises(SpecError, match="field 'padding'.*must be 0"):
        net(f"- {{type: {kind}, name: p, kernel_size: 2, padding: 1}}", input_shape=(1, 4, 4))


# ----------------------------------------------------------------------------- bundled specs


def _bundled():
    from archcalc.spec import bundled_names

    return bundled_names()


@pytest.mark.parametrize("name", _bundled())
def test_every_bundled_spec_fits_the_default_memory_limit_at_batch_1(name):
    from archcalc.spec import load_spec

    analysis = analyze(load_spec(name))
    check_memory(estimate_memory(analysis, keep="outputs"), 8 * 2**30)


@pytest.mark.parametrize("name", _bundled())
def test_bundled_specs_run_with_the_analysed_shapes(name):
    from archcalc.spec import load_spec

    analysis = analyze(load_spec(name))
    if analysis.totals.macs > 4.5e9 and os.environ.get("ARCHCALC_BIG") != "1":
        pytest.skip("large network (VGG, ResNet-101/152): set ARCHCALC_BIG=1 to run it; CI does")
    x = rand((1, *analysis.input_shape))
    acts = run(analysis, x, keep="outputs")  # run() checks every layer's shape and params
    for name_ in analysis.outputs:
        assert acts[name_].shape == (1, *analysis.by_name[name_].output_shape)
        assert np.isfinite(acts[name_]).all()
