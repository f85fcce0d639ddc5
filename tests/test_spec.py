"""The spec language: inputs, naming, branches, blocks, repeat, if, rounding, parameters."""

from __future__ import annotations

import pytest

from archcalc.errors import ArchcalcError, GraphError, ShapeError, SpecError
from archcalc.spec import load_spec, parse_spec

INCEPTION = """
name: mini_inception
input: {channels: 192, height: 28, width: 28}
blocks:
  conv_relu:
    params: {out: ~, k: 1, pad: 0}
    layers:
      - {type: conv2d, name: conv, out_channels: $out, kernel_size: $k, padding: $pad}
      - {type: relu, name: relu}
  inception:
    params: [c1, c3r, c3, c5r, c5, pp]
    layers:
      - {block: conv_relu, name: branch1, args: {out: $c1}}
      - {block: conv_relu, name: branch2_reduce, inputs: [input], args: {out: $c3r}}
      - {block: conv_relu, name: branch2, args: {out: $c3, k: 3, pad: 1}}
      - {block: conv_relu, name: branch3_reduce, inputs: [input], args: {out: $c5r}}
      - {block: conv_relu, name: branch3, args: {out: $c5, k: 5, pad: 2}}
      - {type: max_pool2d, name: branch4_pool, inputs: [input], kernel_size: 3, stride: 1,
         padding: 1}
      - {block: conv_relu, name: branch4, args: {out: $pp}}
      - {type: concat, name: concat, inputs: [branch1, branch2, branch3, branch4]}
layers:
  - {block: inception, name: inception_3a,
     args: {c1: 64, c3r: 96, c3: 128, c5r: 16, c5: 32, pp: 32}}
  - {block: inception, name: inception_3b,
     args: {c1: 128, c3r: 128, c3: 192, c5r: 32, c5: 96, pp: 64}}
"""

RESNET_STAGE = """
name: stage
input: [64, 56, 56]
blocks:
  bottleneck:
    params: {width: ~, out: ~, stride: 1, project: false}
    layers:
      - {type: conv2d, name: conv1, out_channels: $width, kernel_size: 1, bias: false}
      - {type: relu, name: relu1}
      - {type: conv2d, name: conv2, out_channels: $width, kernel_size: 3, stride: $stride,
         padding: 1, bias: false}
      - {type: relu, name: relu2}
      - {type: conv2d, name: conv3, out_channels: $out, kernel_size: 1, bias: false}
      - {type: conv2d, name: downsample, inputs: [input], out_channels: $out, kernel_size: 1,
         stride: $stride, bias: false, if: $project}
      - {type: add, name: add, inputs: [conv3, downsample]}
      - {type: relu, name: relu}
layers:
  - {block: bottleneck, name: layer1, repeat: 3, args: {width: 64, out: 256},
     first: {project: true}}
"""


def test_inception_block_shapes_and_addressable_internals(analyse_text):
    analysis = analyse_text(INCEPTION)
    # GoogLeNet Table 1: inception (3a) output 28×28×256, (3b) 28×28×480
    assert analysis.layer("inception_3a.concat").output_shape == (256, 28, 28)
    assert analysis.layer("inception_3b.concat").output_shape == (480, 28, 28)
    branch = analysis.layer("inception_3a.branch2.conv")
    assert branch.inputs == ("inception_3a.branch2_reduce.relu",)
    assert analysis.layer("inception_3a.branch2_reduce.conv").inputs == ("input",)
    assert analysis.layer("inception_3b.branch1.conv").inputs == ("inception_3a.concat",)
    # the 3×3 branch of (3a): 28·28·128·(3·3·96) MACs
    assert branch.macs == 28 * 28 * 128 * 3 * 3 * 96


def test_repeat_with_first_overrides_and_dropped_layers(analyse_text):
    analysis = analyse_text(RESNET_STAGE)
    names = [row.name for row in analysis.layers]
    assert "layer1.1.downsample" in names  # projected in the first repetition only
    assert "layer1.2.downsample" not in names
    # a dropped layer passes its input through: the identity shortcut
    assert analysis.layer("layer1.2.add").inputs == ("layer1.2.conv3", "layer1.1.relu")
    assert analysis.layer("layer1.1.add").inputs == ("layer1.1.conv3", "layer1.1.downsample")
    assert analysis.layer("layer1.3.relu").output_shape == (256, 56, 56)
    # first: 64·64 + 9·64·64 + 64·256 + 64·256 (projection) = 73,728;
    # others: 256·64 + 9·64·64 + 64·256 = 69,632 each. (torchvision resnet50's layer1 has
    # 215,808 params: these 212,992 plus its batch norms' 2,816 γ/β.)
    assert analysis.totals.params == 73_728 + 2 * 69_632 == 212_992


def test_block_rows_fold_by_depth(analyse_text):
    from archcalc.analysis import fold

    analysis = analyse_text(RESNET_STAGE)
    rows = fold(analysis, 0)
    assert [r.name for r in rows] == ["layer1.1", "layer1.2", "layer1.3"]
    assert [r.kind for r in rows] == ["bottleneck"] * 3
    assert sum(r.params for r in rows) == analysis.totals.params
    assert len(fold(analysis, None)) == len(analysis.layers)


def test_auto_names_count_per_type(analyse_text):
    analysis = analyse_text("""
name: t
input: [1, 8, 8]
layers:
  - {type: conv2d, out_channels: 2, kernel_size: 3}
  - {type: relu}
  - {type: conv2d, out_channels: 2, kernel_size: 3}
  - {type: conv2d, out_channels: 2, kernel_size: 1}
""")
    assert [r.name for r in analysis.layers] == ["conv2d_1", "relu_1", "conv2d_2", "conv2d_3"]


@pytest.mark.parametrize(("name", "of_layer", "of_block_use", "fix"), [
    ("''", "invalid layer name ''", "invalid layer name ''",
     "use a non-empty name without surrounding spaces"),
    ("0", "invalid value 0: must be text", "invalid layer name 0", "quote it: `name: '0'`"),
    ("false", "invalid value false: must be text", "invalid layer name false",
     "quote it: `name: 'false'`"),
])
def test_a_written_name_that_is_empty_or_not_text_is_refused_not_replaced(name, of_layer,
                                                                          of_block_use, fix):
    layer = f"name: t\ninput: [1, 8, 8]\nlayers:\n  - {{type: relu, name: {name}}}\n"
    with pytest.raises(SpecError) as info:
        parse_spec(layer, file="t.yaml")
    label = "" if name == "''" else f"layer '{name}' (relu) "
    assert info.value.message == f"t.yaml:4:18 {label}field 'name': {of_layer}. Fix: {fix}."
    use = ("name: t\ninput: [1, 8, 8]\nblocks:\n  b: {layers: [{type: relu}]}\n"
           f"layers:\n  - {{block: b, name: {name}}}\n")
    with pytest.raises(SpecError) as info:
        parse_spec(use, file="t.yaml")
    assert info.value.message == f"t.yaml:6:16 field 'name': {of_block_use}. Fix: {fix}."


def test_a_null_name_means_no_name():
    spec = parse_spec("name: t\ninput: [1, 8, 8]\nlayers:\n  - {type: relu, name: ~}\n")
    assert [n.name for n in spec.nodes] == ["relu_1"]


def test_network_params_and_set_override():
    text = """
name: t
input: [1, 8, 8]
params: {aux: false, width: 4}
layers:
  - {type: conv2d, name: trunk, out_channels: $width, kernel_size: 1}
  - {type: flatten, name: aux_flat, inputs: [trunk], if: $aux}
  - {type: linear, name: aux_fc, out_features: 3, if: $aux}
  - {type: global_avg_pool2d, name: gap, inputs: [trunk]}
outputs: [aux_fc]
"""
    plain = parse_spec(text, file="t.yaml")
    assert [n.name for n in plain.nodes] == ["trunk", "gap"]
    assert plain.output_names == ("gap",)  # an output switched off by `if:` is left out
    with_aux = parse_spec(text, file="t.yaml", overrides={"aux": True, "width": 6})
    assert [n.name for n in with_aux.nodes] == ["trunk", "aux_flat", "aux_fc", "gap"]
    assert with_aux.output_names == ("aux_fc", "gap")
    with pytest.raises(SpecError, match="no parameter 'auxx'.*did you mean 'aux'"):
        parse_spec(text, file="t.yaml", overrides={"auxx": True})


def test_main_output_is_the_last_layer_whatever_the_order_of_outputs(analyse_text):
    text = """
name: t
input: [1, 8, 8]
layers:
  - {type: conv2d, name: a, out_channels: 2, kernel_size: 3}
  - {type: global_avg_pool2d, name: b, inputs: [a]}
  - {type: conv2d, name: c, inputs: [a], out_channels: 4, kernel_size: 1}
outputs: [%s]
"""
    for listed in ("c, b", "b, c", "b"):
        analysis = analyse_text(text % listed)
        assert analysis.outputs == ("b", "c")
        # c: a 1×1 conv to 4 channels of a's 8 − 3 + 1 = 6 × 6 map; b: a's 2 channels, 1×1
        assert analysis.output.name == "c" and analysis.output.output_shape == (4, 6, 6)
        assert analysis.layer("b").output_shape == (2, 1, 1)


def test_an_output_switched_off_inside_a_block_is_left_out():
    text = """
name: t
input: [1, 8, 8]
params: {side: false}
blocks:
  blk:
    params: {side: false}
    layers:
      - {type: conv2d, name: c, out_channels: 2, kernel_size: 3}
      - {type: global_avg_pool2d, name: side, if: $side}
      - {type: relu, name: r, inputs: [c]}
layers:
  - {block: blk, name: s, args: {side: $side}}
  - {type: conv2d, name: last, out_channels: 4, kernel_size: 1}
outputs: [s.side]
"""
    # like a switched-off top-level output (test above), not s.side's input s.c in its place
    assert parse_spec(text, file="t.yaml").output_names == ("last",)
    on = parse_spec(text, file="t.yaml", overrides={"side": True})
    assert on.output_names == ("s.side", "last")


def test_network_rounding_applies_to_every_layer(analyse_text):
    text = """
name: t
input: [1, 7, 7]
rounding: {mode}
layers: [{{type: max_pool2d, name: p, kernel_size: 3, stride: 3}}]
"""
    # (7 − 3)/3 + 1 = 2.33
    assert analyse_text(text.format(mode="floor")).layer("p").output_shape == (1, 2, 2)
    assert analyse_text(text.format(mode="ceil")).layer("p").output_shape == (1, 3, 3)
    with pytest.raises(ShapeError, match=r"\(7 − 3 \+ 2·0\)/3 \+ 1 = 2\.333"):
        analyse_text(text.format(mode="exact"))


def test_bundled_name_resolves_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_spec("vgg16").name == "vgg16"
    assert load_spec("vgg16.yaml").name == "vgg16"


# --- the error examples the core issue names -------------------------------------------------

BASE = "name: t\ninput: [3, 8, 8]\nlayers:\n"


def _error(analyse_text, layers: str) -> ArchcalcError:
    with pytest.raises(ArchcalcError) as info:
        analyse_text(BASE + layers)
    return info.value


def test_typo_field(analyse_text):
    err = _error(analyse_text, "  - {type: conv2d, name: c, out_channels: 4, kernel_size: 3, "
                               "stide: 2}\n")
    assert err.message == ("test.yaml:4:62 layer 'c' (conv2d) field 'stide': unknown field "
                           "'stide'. Fix: did you mean 'stride'?")


def test_wrong_type_tag(analyse_text):
    err = _error(analyse_text, "  - {type: conv, out_channels: 4}\n")
    assert "test.yaml:4:6 field 'type'" in err.message
    assert "unknown layer type 'conv'" in err.message and "did you mean 'conv2d'" in err.message


def test_kernel_larger_than_padded_input(analyse_text):
    err = _error(analyse_text, "  - {type: conv2d, name: big, out_channels: 4, kernel_size: 11}\n")
    assert isinstance(err, ShapeError)
    assert err.message.startswith(
        "test.yaml:4:5 layer 'big' (conv2d), input 8×8×3: kernel does not fit")
    assert "(8 − 11 + 2·0)/1 + 1 = −2" in err.message
    assert "Fix: padding ≥ 2 or kernel_size ≤ 8" in err.message


def test_non_integer_size_under_exact(analyse_text):
    err = _error(analyse_text, "  - {type: conv2d, name: c, out_channels: 4, kernel_size: 3, "
                               "stride: 2}\n")
    # (8 − 3 + 0)/2 + 1 = 3.5; padding 1 -> (8 − 3 + 2)/2 + 1 = 4.5 no; total 1 -> 4 yes
    assert "output height is not a whole number ((8 − 3 + 2·0)/2 + 1 = 3.5)" in err.message
    assert "total padding 1" in err.message and "rounding: floor" in err.message


def test_concat_mismatch(analyse_text):
    err = _error(analyse_text, """\
  - {type: max_pool2d, name: half, kernel_size: 2}
  - {type: concat, name: cat, inputs: [half, input]}
""")
    assert err.message.startswith("test.yaml:5:5 layer 'cat' (concat): inputs differ in spatial "
                                  "size: 'half' 4×4×3, 'input' 8×8×3")
    assert "Fix:" in err.message


def test_add_mismatch(analyse_text):
    err = _error(analyse_text, """\
  - {type: conv2d, name: wide, out_channels: 6, kernel_size: 1}
  - {type: add, name: sum, inputs: [wide, input]}
""")
    assert "layer 'sum' (add): inputs differ in shape: 'wide' 8×8×6, 'input' 8×8×3" in err.message
    assert "1×1 conv" in err.message


def test_cycle(analyse_text):
    err = _error(analyse_text, """\
  - {type: relu, name: a, inputs: [b]}
  - {type: relu, name: b, inputs: [a]}
  - {type: add, inputs: [a, b]}
""")
    assert isinstance(err, GraphError)
    assert "cycle: a → b → a" in err.message and "test.yaml:4:5" in err.message


def test_unknown_input(analyse_text):
    err = _error(analyse_text, """\
  - {type: relu, name: relu1}
  - {type: relu, name: relu2, inputs: [rleu1]}
""")
    assert "test.yaml:5:5 layer 'relu2' (relu) field 'inputs': unknown input 'rleu1'" in err.message
    assert "did you mean 'relu1'" in err.message


def test_unknown_input_of_a_block_use_is_reported_at_the_use(analyse_text):
    err = _error(analyse_text, """\
  - {type: relu, name: r}
  - {block: cr, name: b, inputs: [rr]}
blocks:
  cr:
    layers:
      - {type: conv2d, name: conv, out_channels: 2, kernel_size: 3}
""")
    # line 5 is the block use, not line 9 (the first layer of the block's definition)
    assert err.message == ("test.yaml:5:5 layer 'b' (block cr) field 'inputs': unknown input "
                           "'rr'. Fix: did you mean 'r'?")


def test_unknown_input_of_a_switched_off_layer_is_reported_at_that_layer(analyse_text):
    err = _error(analyse_text, """\
  - {type: relu, name: r}
  - {type: relu, name: s, inputs: [rr], if: false}
  - {type: relu, name: t, inputs: [s]}
""")
    assert err.message == ("test.yaml:5:5 layer 's' (relu) field 'inputs': unknown input 'rr'. "
                           "Fix: did you mean 'r'?")


@pytest.mark.parametrize("bad", ["0", "-3"])
def test_zero_or_negative_sizes(analyse_text, bad):
    layer = f"  - {{type: conv2d, name: c, out_channels: 4, kernel_size: {bad}}}\n"
    err = _error(analyse_text, layer)
    assert "layer 'c' (conv2d) field 'kernel_size'" in err.message
    assert f"invalid value {bad}" in err.message
    with pytest.raises(SpecError, match=r"input sizes must be positive"):
        analyse_text(f"name: t\ninput: [3, {bad}, 8]\nlayers: [{{type: relu}}]\n")


def test_groups_must_divide_channels(analyse_text):
    err = _error(analyse_text, "  - {type: conv2d, name: g, out_channels: 4, kernel_size: 1, "
                               "groups: 2}\n")
    assert "groups=2 does not divide in_channels=3 (3 / 2 = 1.5)" in err.message


def test_duplicate_names(analyse_text):
    err = _error(analyse_text, "  - {type: relu, name: a}\n  - {type: relu, name: a}\n")
    assert "test.yaml:5" in err.message and "duplicate layer name 'a'" in err.message


def test_dangling_layer(analyse_text):
    err = _error(analyse_text, """\
  - {type: relu, name: lost}
  - {type: sigmoid, name: out, inputs: [input]}
""")
    assert "layer 'lost' (relu): the output of 'lost' is never used" in err.message


def test_recursive_block(analyse_text):
    with pytest.raises(GraphError, match="block 'a' uses itself: a → b → a"):
        analyse_text("""
name: t
input: [1, 4, 4]
blocks:
  a: {layers: [{block: b}]}
  b: {layers: [{block: a}]}
layers: [{block: a}]
""")


def _nested_blocks(levels: int) -> str:
    """Blocks b0 … b(levels−1), each using the next; the innermost holds one relu.
    Block b<i> is defined on lines 4 + 2i (name) and 5 + 2i (its layers)."""
    lines = ["name: deep", "input: [1, 4, 4]", "blocks:"]
    for i in range(levels):
        inner = f"{{block: b{i + 1}, name: n}}" if i < levels - 1 else "{type: relu, name: r}"
        lines += [f"  b{i}:", f"    layers: [{inner}]"]
    return "\n".join([*lines, "layers: [{block: b0, name: n}]", ""])


def test_blocks_nested_as_deep_as_yaml_may_nest(analyse_text):
    from archcalc.yaml_source import MAX_DEPTH

    analysis = analyse_text(_nested_blocks(MAX_DEPTH))
    assert [row.name for row in analysis.layers] == ["n." * MAX_DEPTH + "r"]
    assert analysis.output.output_shape == (1, 4, 4)


@pytest.mark.parametrize("levels", [65, 600])
def test_blocks_nested_deeper_are_refused_without_recursion_error(levels):
    with pytest.raises(SpecError) as info:
        parse_spec(_nested_blocks(levels), file="t.yaml")
    # the use of b64 inside b63, whose layers are on line 5 + 2·63 = 131, column 15
    assert info.value.message == ("t.yaml:131:15 layer 'n." + "n." * 63 + "n' (block b64) "
                                  "field 'block': blocks are nested more than 64 deep: b0 → … → "
                                  "b63 → b64. Fix: use fewer levels of blocks inside blocks.")


def test_bundled_specs_are_named_without_machine_paths():
    with pytest.raises(SpecError) as info:
        load_spec("vgg16", overrides={"x": 1})
    assert info.value.message.startswith("specs/vgg16.yaml: --set x:")


def test_thousands_commas_in_flow_mappings_get_a_hint():
    text = ("name: t\ninput: [3, 8, 8]\nlayers: [{type: relu, name: r}]\n"
            "expect:\n  totals: {macs: {value: 105,415,200}}\n")
    with pytest.raises(SpecError, match=r"t.yaml:5:30 .*unknown key '415'.*thousands commas"):
        parse_spec(text, file="t.yaml")
