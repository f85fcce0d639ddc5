"""Every registered layer kind against its worked examples.

The examples live next to each kind's formula (``examples`` on the class); their expected
values are written by hand with the arithmetic in comments there."""

from __future__ import annotations

import pytest

from archcalc.analysis import analyze
from archcalc.layers import REGISTRY
from archcalc.spec import NetworkSpec, parse_spec

CASES = [
    pytest.param(kind, i, example, id=f"{kind}-{i}")
    for kind, cls in sorted(REGISTRY.items())
    for i, example in enumerate(cls.examples)
]


def _spec_for(kind: str, example: dict) -> NetworkSpec:
    """A network whose only computing layer is the example; merges get one branch per input."""
    import yaml

    inputs = example.get("inputs") or [example["input"]]
    first = inputs[0]
    doc: dict = {"name": f"{kind}-example", "layers": []}
    if len(first) == 3:
        doc["input"] = list(first)
    else:
        doc["input"] = [first[0], 1, 1]
        doc["layers"].append({"type": "flatten", "name": "to_vector"})
    if len(inputs) == 1:
        doc["layers"].append({"type": kind, "name": "layer", **example["fields"]})
    else:
        # one 1×1 conv per merge input so each branch has the stated channel count
        names = []
        for i, shape in enumerate(inputs):
            doc["layers"].append({"type": "conv2d", "name": f"branch{i}", "inputs": ["input"],
                                  "out_channels": shape[0], "kernel_size": 1})
            names.append(f"branch{i}")
        doc["layers"].append({"type": kind, "name": "layer", "inputs": names,
                              **example["fields"]})
    return parse_spec(yaml.safe_dump(doc), file=f"{kind}.yaml")


def test_every_kind_has_examples():
    missing = [kind for kind, cls in REGISTRY.items() if not cls.examples]
    assert not missing, f"kinds without worked examples: {missing}"


def test_every_kind_has_a_docstring_with_its_rule():
    for kind, cls in REGISTRY.items():
        assert cls.__doc__ and len(cls.__doc__.strip()) > 20, kind


@pytest.mark.parametrize(("kind", "index", "example"), CASES)
def test_worked_example(kind, index, example):
    analysis = analyze(_spec_for(kind, example))
    row = analysis.layer("layer")
    assert row.output_shape == tuple(example["shape"])
    assert row.params == example["params"]
    assert row.macs == example["macs"]
    for quantity in ("flops", "comparisons", "transcendentals"):
        if quantity in example:
            assert getattr(row.cost, quantity) == example[quantity], quantity
    assert row.kind == kind


def test_worked_examples_count_the_other_work():
    """FLOPs, comparisons and transcendentals are checked for at least these kinds."""
    counted = {kind for kind, cls in REGISTRY.items()
               if any({"flops", "comparisons", "transcendentals"} & set(e) for e in cls.examples)}
    assert counted >= {"conv2d", "max_pool2d", "avg_pool2d", "subsample2d",
                       "local_response_norm", "softmax", "relu", "sigmoid"}


def test_alexnet_conv1_from_the_notes(analyse_text):
    # notes: 227×227×3, 96 11×11 filters, stride 4, pad 0 -> 55×55×96
    # (227 − 11 + 2·0)/4 + 1 = 55; params (11·11·3 + 1)·96 = 34,944
    row = analyse_text("""
name: t
input: [3, 227, 227]
layers:
  - {type: conv2d, name: conv1, out_channels: 96, kernel_size: 11, stride: 4}
""").layer("conv1")
    assert row.output_shape == (96, 55, 55)
    assert row.params == (11 * 11 * 3 + 1) * 96 == 34_944
    assert row.weights == 11 * 11 * 3 * 96 and row.bias == 96
    assert row.inferred.work == ("height = width: (227 − 11 + 2·0)/4 + 1 = 55",)


def test_conv_transpose_counts_macs_over_input_positions(analyse_text):
    # 2×2 input, 3×3 kernel, stride 2: output (2 − 1)·2 − 0 + 2 + 0 + 1 = 5.
    # Each of the 2·2·4 input values is multiplied into a 3×3×8 patch: 4·4·9·8 = 1,152 MACs.
    # Counting over output positions instead (5·5·8·(3·3·4) = 7,200) is the common bug.
    row = analyse_text("""
name: t
input: [4, 2, 2]
layers:
  - {type: conv_transpose2d, name: up, out_channels: 8, kernel_size: 3, stride: 2}
""").layer("up")
    assert row.output_shape == (8, 5, 5)
    assert row.macs == 2 * 2 * 4 * 9 * 8 == 1_152


def test_batch_norm_running_stats_are_buffers_not_params(analyse_text):
    row = analyse_text("""
name: t
input: [64, 8, 8]
layers: [{type: batch_norm2d, name: bn}]
""").layer("bn")
    assert row.params == 2 * 64  # γ, β
    assert row.buffers == 2 * 64  # running mean, running variance
    assert row.trainable_params == 128


def test_rbf_weights_are_not_trainable(analyse_text):
    analysis = analyse_text("""
name: t
input: [84, 1, 1]
layers: [{type: flatten}, {type: euclidean_rbf, name: out, out_features: 10}]
""")
    assert analysis.totals.params == 840
    assert analysis.totals.trainable_params == 0
    assert analysis.totals.non_trainable_params == 840


def test_same_padding_follows_tensorflow(analyse_text):
    # 'same', stride 2 on 7: out = ⌈7/2⌉ = 4; total pad = (4 − 1)·2 + 3 − 7 = 2 -> 1 + 1
    #                 on 6: out = ⌈6/2⌉ = 3; total pad = (3 − 1)·2 + 3 − 6 = 1 -> 0 + 1
    # 'same', stride 1, 4×4 kernel on 6: total pad 3 -> top 1, bottom 2
    analysis = analyse_text("""
name: t
input: [1, 7, 6]
layers:
  - {type: conv2d, name: a, out_channels: 1, kernel_size: 3, stride: 2, padding: same}
  - {type: conv2d, name: b, out_channels: 1, kernel_size: 4, padding: same}
""")
    assert analysis.layer("a").output_shape == (1, 4, 3)
    assert analysis.layer("a").inferred.resolved["padding"] == (1, 1, 0, 1)
    assert analysis.layer("b").output_shape == (1, 4, 3)
    assert analysis.layer("b").inferred.resolved["padding"] == (1, 2, 1, 2)


def test_ceil_mode_drops_a_window_that_starts_in_padding(analyse_text):
    # 6 wide, kernel 2, stride 2, pad 1: ⌈(6 − 2 + 2)/2⌉ + 1 = 4, but window 4 would start at
    # 3·2 = 6 ≥ 6 + 1? no (6 < 7) -> keeps 4. With 5 wide: ⌈(5 − 2 + 2)/2⌉ + 1 = 4, start
    # (4 − 1)·2 = 6 ≥ 5 + 1 = 6 -> dropped, 3 (PyTorch's rule).
    analysis = analyse_text("""
name: t
input: [1, 6, 5]
layers:
  - {type: max_pool2d, name: p, kernel_size: 2, stride: 2, padding: 1, ceil_mode: true}
""")
    assert analysis.layer("p").output_shape == (1, 4, 3)


def test_floor_rounding_per_layer(analyse_text):
    # (7 − 3)/3 + 1 = 2.33 -> floor 2, ceil 3 (last window starts at 6 < 7)
    analysis = analyse_text("""
name: t
input: [1, 7, 7]
layers:
  - {type: max_pool2d, name: f, kernel_size: 3, stride: 3, rounding: floor, inputs: [input]}
  - {type: max_pool2d, name: c, kernel_size: 3, stride: 3, rounding: ceil, inputs: [input]}
  - {type: concat, inputs: [f, f]}
outputs: [c]
""")
    assert analysis.layer("f").output_shape == (1, 2, 2)
    assert analysis.layer("c").output_shape == (1, 3, 3)


def test_ceil_rounding_padding_is_made_explicit_once(analyse_text):
    # height: ⌈(7 − 3 + 1 + 0)/3⌉ + 1 = 3 windows reach (3 − 1)·3 + 3 = 9 cells of the padded
    # 1 + 7 + 0 = 8: one extra trailing cell. width: ⌈(8 − 3)/2⌉ + 1 = 4 windows reach
    # (4 − 1)·2 + 3 = 9 cells of 8: one extra. The executor and ONNX apply (1, 1, 0, 1).
    analysis = analyse_text("""
name: t
input: [1, 7, 8]
layers:
  - {type: max_pool2d, name: p, kernel_size: 3, stride: [3, 2], padding: [1, 0, 0, 0],
     rounding: ceil}
""")
    row = analysis.layer("p")
    assert row.output_shape == (1, 3, 4)
    assert row.inferred.resolved["padding"] == (1, 0, 0, 0)
    assert row.inferred.resolved["explicit_padding"] == (1, 1, 0, 1)


def test_receptive_field_of_stacked_3x3_equals_one_7x7(analyse_text):
    # notes: three 3×3 convs see 7×7 like one 7×7 conv: 1 + 3·(3 − 1) = 7
    analysis = analyse_text("""
name: t
input: [8, 32, 32]
layers:
  - {type: conv2d, name: a, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: conv2d, name: b, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: conv2d, name: c, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: conv2d, name: single, out_channels: 8, kernel_size: 7, padding: 3, inputs: [input]}
  - {type: add, inputs: [c, single]}
""")
    assert analysis.layer("c").receptive_field.height.size == 7
    assert analysis.layer("single").receptive_field.height.size == 7
    # weights without bias: 3·(3·3·C·C) = 27C² vs 7·7·C·C = 49C², C = 8
    assert sum(analysis.layer(n).weights for n in "abc") == 27 * 8 * 8
    assert analysis.layer("single").weights == 49 * 8 * 8


def test_receptive_field_stride_and_start(analyse_text):
    # conv 3×3/1 pad 1: r = 3, j = 1, start = 0 + (1 − 1)·1 = 0
    # pool 2×2/2: r = 3 + 1·1 = 4, j = 2, start = 0 + (0.5 − 0)·1 = 0.5
    # conv 3×3/1 pad 1: r = 4 + 2·2 = 8, j = 2, start = 0.5 + (1 − 1)·2 = 0.5
    analysis = analyse_text("""
name: t
input: [3, 32, 32]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: max_pool2d, kernel_size: 2}
  - {type: conv2d, name: last, out_channels: 4, kernel_size: 3, padding: 1}
""")
    rf = analysis.layer("last").receptive_field.width
    assert (rf.size, rf.stride, rf.start) == (8, 2, 0.5)


def test_merge_of_unaligned_paths_is_marked(analyse_text):
    # a 2×2 stride-2 path starts at 0.5, a 1×1 stride-2 path at 0: unions differ in centre
    analysis = analyse_text("""
name: t
input: [1, 8, 8]
layers:
  - {type: max_pool2d, name: a, kernel_size: 2}
  - {type: max_pool2d, name: b, kernel_size: 1, stride: 2, inputs: [input], rounding: floor}
  - {type: add, name: sum, inputs: [a, b]}
""")
    rf = analysis.layer("sum").receptive_field.height
    assert not rf.aligned
    assert rf.size == 2  # union of [0, 1] and [0, 0]


@pytest.mark.parametrize("kind", ["lp_pool2d", "subsample2d"])
def test_pools_without_padding_refuse_it(analyse_text, kind):
    # the executor has no padded form of these kinds (nor has PyTorch's LPPool2d): a padding
    # would make the analysis and the execution disagree, so it is refused up front
    from archcalc.errors import SpecError

    with pytest.raises(SpecError, match=r"field 'padding': invalid value 1: must be 0"):
        analyse_text(f"name: t\ninput: [3, 8, 8]\nlayers:\n"
                     f"  - {{type: {kind}, name: p, kernel_size: 2, padding: 1}}\n")


@pytest.mark.parametrize(("layer", "label"), [
    ({"type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1}, "conv 3×3/1, 64"),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": [1, 7], "stride": [2, 1]},
     "conv 1×7/2×1, 4"),
    ({"type": "conv2d", "out_channels": 4, "kernel_size": 3, "dilation": [2, 1]},
     "conv 3×3/1, 4, dilation 2×1"),
    ({"type": "conv2d", "out_channels": 32, "kernel_size": 3, "groups": 32, "dilation": 2},
     "conv 3×3/1, 32, groups 32, dilation 2"),
    ({"type": "max_pool2d", "kernel_size": 3, "stride": [1, 2], "dilation": 2},
     "max pool 3×3/1×2, dilation 2"),
    ({"type": "max_pool2d", "kernel_size": 2}, "max pool 2×2/2"),
    ({"type": "avg_pool2d", "kernel_size": 3, "stride": [2, 1]}, "avg pool 3×3/2×1"),
    ({"type": "lp_pool2d", "kernel_size": 2, "norm_type": 3}, "L3 pool 2×2/2"),
    ({"type": "subsample2d"}, "subsample 2×2/2"),
    ({"type": "conv_transpose2d", "out_channels": 8, "kernel_size": 4, "stride": 2},
     "deconv 4×4/2, 8"),
    ({"type": "conv_transpose2d", "out_channels": 4, "kernel_size": 3, "stride": [2, 1],
      "dilation": 2}, "deconv 3×3/2×1, 4, dilation 2"),
])
def test_window_labels_say_every_axis(layer, label):
    assert REGISTRY[layer["type"]](**layer).label() == label


def test_conv_transpose_too_much_padding_says_the_negative_size(analyse_text):
    # (2 − 1)·1 − 2·2 + 1·(1 − 1) + 0 + 1 = −2 on both axes
    from archcalc.errors import ShapeError

    with pytest.raises(ShapeError) as caught:
        analyse_text("name: t\ninput: [1, 2, 2]\nlayers:\n"
                     "  - {type: conv_transpose2d, name: up, out_channels: 1, kernel_size: 1,"
                     " padding: 2}\n")
    assert "output height would be −2" in str(caught.value)
    assert "(2 − 1)·1 − 2·2 + 1·(1 − 1) + 0 + 1 = −2" in str(caught.value)


def test_ceil_window_off_the_input_is_not_averaged_as_padding(analyse_text):
    # width 3, kernel 2, stride 2, ceil: ⌈(3 − 2)/2⌉ + 1 = 2 windows; the second covers
    # column 2 and a cell past the input, which is not padding: even with count_include_pad
    # its mean is column 2 alone (PyTorch's divisor counts cells inside the padded input)
    import numpy as np

    row = analyse_text("""
name: t
input: [1, 1, 3]
layers:
  - {type: avg_pool2d, name: p, kernel_size: [1, 2], rounding: ceil, count_include_pad: true}
""").layer("p")
    x = np.array([[[[1.0, 3.0, 8.0]]]])
    y = row.layer.forward([x], {}, row.inferred)
    np.testing.assert_array_equal(y, [[[[(1.0 + 3.0) / 2, 8.0]]]])


def test_conv_transpose_groups_must_divide_out_channels_like_conv(analyse_text):
    # 8 / 3 = 2.667: refused at the field, as for conv2d, with the divisors of 8
    from archcalc.errors import SpecError

    with pytest.raises(SpecError) as caught:
        analyse_text("name: t\ninput: [6, 4, 4]\nlayers:\n"
                     "  - {type: conv_transpose2d, name: up, out_channels: 8, kernel_size: 2,"
                     " groups: 3}\n")
    message = str(caught.value)
    assert "field 'groups'" in message
    assert "groups=3 does not divide out_channels=8 (8 / 3 = 2.667)" in message
    assert "choose groups among the divisors of out_channels: 1, 2, 4, 8" in message
