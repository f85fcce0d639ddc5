"""`archcalc explain`: per-layer worked arithmetic with the actual numbers.

Networks are written inline (AlexNet as in the notes, a 3×3 stack, a small Inception-like
merge) or the bundled VGG-16; expected values are the notes' own numbers or hand arithmetic.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from archcalc.cli import cli
from archcalc.errors import ArchcalcError
from archcalc.explain import explain, render_text, select

# AlexNet as the notes draw it (seed 003, "Full (simplified) AlexNet architecture")
ALEXNET = """\
name: alexnet_notes
input: [3, 227, 227]
layers:
  - {type: conv2d, name: conv1, out_channels: 96, kernel_size: 11, stride: 4}
  - {type: relu, name: relu1}
  - {type: max_pool2d, name: pool1, kernel_size: 3, stride: 2}
  - {type: local_response_norm, name: norm1, size: 5}
  - {type: conv2d, name: conv2, out_channels: 256, kernel_size: 5, padding: 2}
  - {type: relu, name: relu2}
  - {type: max_pool2d, name: pool2, kernel_size: 3, stride: 2}
  - {type: local_response_norm, name: norm2, size: 5}
  - {type: conv2d, name: conv3, out_channels: 384, kernel_size: 3, padding: 1}
  - {type: conv2d, name: conv4, out_channels: 384, kernel_size: 3, padding: 1}
  - {type: conv2d, name: conv5, out_channels: 256, kernel_size: 3, padding: 1}
  - {type: max_pool2d, name: pool3, kernel_size: 3, stride: 2}
  - {type: flatten, name: flatten}
  - {type: linear, name: fc6, out_features: 4096}
  - {type: linear, name: fc7, out_features: 4096}
  - {type: linear, name: fc8, out_features: 1000}
"""

STACK = """\
name: stack
input: [64, 56, 56]
layers:
  - {type: conv2d, name: conv1, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
  - {type: conv2d, name: conv2, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
  - {type: conv2d, name: conv3, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
"""

MERGE = """\
name: merge
input: [8, 16, 16]
blocks:
  two_paths:
    params: []
    layers:
      - {type: conv2d, name: a, inputs: [input], out_channels: 4, kernel_size: 1}
      - {type: conv2d, name: b, inputs: [input], out_channels: 4, kernel_size: 3, padding: 1}
      - {type: concat, name: cat, inputs: [a, b]}
layers:
  - {block: two_paths, name: mix}
"""


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def spec_file(tmp_path):
    def write(text: str, name: str = "net.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_alexnet_shapes_from_the_notes(spec_file, analyse_text):
    # 227 -> (227 − 11)/4 + 1 = 55 -> (55 − 3)/2 + 1 = 27 -> (27 − 5 + 4)/1 + 1 = 27
    # -> (27 − 3)/2 + 1 = 13 -> 13 -> 13 -> 13 -> (13 − 3)/2 + 1 = 6
    result = run("explain", spec_file(ALEXNET))
    assert result.exit_code == 0, result.output
    out = result.stdout
    for line in ("(227 − 11 + 2·0)/4 + 1 = 55", "(55 − 3 + 2·0)/2 + 1 = 27",
                 "(27 − 5 + 2·2)/1 + 1 = 27", "(27 − 3 + 2·0)/2 + 1 = 13",
                 "(13 − 3 + 2·1)/1 + 1 = 13", "(13 − 3 + 2·0)/2 + 1 = 6",
                 "256·6·6 = 9,216"):
        assert line in out, line
    shapes = re.findall(r"→ (\S+)\n", out)
    # conv1 relu1 pool1 norm1 conv2 relu2 pool2 norm2 conv3 conv4 conv5 pool3 flatten fc6-8
    assert shapes == ["55×55×96", "55×55×96", "27×27×96", "27×27×96", "27×27×256",
                      "27×27×256", "13×13×256", "13×13×256", "13×13×384", "13×13×384",
                      "13×13×256", "6×6×256", "9216", "4096", "4096", "1000"]


def test_alexnet_conv1_params_and_macs(spec_file):
    out = run("explain", spec_file(ALEXNET), "conv1").stdout
    assert "(11·11·3 + 1)·96 = 34,944" in out
    assert "55·55·96·(11·11·3) = 105,415,200" in out
    assert "r' = r + (F_eff − 1)·j = 1 + (11 − 1)·1 = 11; j' = j·S = 1·4 = 4" in out


def test_alexnet_receptive_field_chain(spec_file):
    # pool1: 11 + (3 − 1)·4 = 19, j = 8; conv2: 19 + (5 − 1)·8 = 51
    out = run("explain", spec_file(ALEXNET), "conv2").stdout
    assert "19 + (5 − 1)·8 = 51" in out
    out = run("explain", spec_file(ALEXNET), "pool1").stdout
    assert "11 + (3 − 1)·4 = 19; j' = j·S = 4·2 = 8" in out


def test_stack_of_three_by_three_grows_the_field_3_5_7(spec_file):
    out = run("explain", spec_file(STACK)).stdout
    assert "1 + (3 − 1)·1 = 3" in out
    assert "3 + (3 − 1)·1 = 5" in out
    assert "5 + (3 − 1)·1 = 7" in out
    # three times 3·3·64·64 = 36,864 weights = 110,592 = 27·64²
    assert out.count("3·3·64·64 = 36,864") == 3
    assert "params 110,592" in out


def test_vgg16_fc_weights_from_the_notes():
    # notes: 512 × 7 × 7 × 4096 = 102,760,448; 4096 × 4096 = 16,777,216; 4096 × 1000 = 4,096,000
    out = run("explain", "vgg16", "fc6").stdout
    assert "25088·4096 = 102,760,448" in out
    assert "512·7·7 = 25,088" not in out  # only fc6's own layers
    assert "4096·4096 = 16,777,216" in run("explain", "vgg16", "fc7.fc").stdout
    assert "4096·1000 = 4,096,000" in run("explain", "vgg16", "fc8").stdout


def test_vgg16_pool5_receptive_field():
    # conv5.3 sees 196 pixels at stride 16; pool5 2×2: 196 + (2 − 1)·16 = 212
    out = run("explain", "vgg16", "pool5").stdout
    assert "196 + (2 − 1)·16 = 212; j' = j·S = 16·2 = 32" in out


def test_block_instance_and_repeated_group():
    out = run("explain", "vgg16", "conv1").stdout
    assert "conv1.1.conv" in out and "conv1.2.conv" in out and "pool1" not in out
    # (3·3·3 + 1)·64 = 1,792 and (3·3·64 + 1)·64 = 36,928
    assert "1,792 + 36,928 = 38,720" in out
    out = run("explain", "vgg16", "conv1.2").stdout
    assert "conv1.1.conv" not in out and "conv1.2.relu" in out


def test_merge_explains_the_union_of_fields(spec_file):
    # path a: 1×1 -> r = 1; path b: 3×3 -> r = 3; concat: the union, 3
    out = run("explain", spec_file(MERGE), "mix").stdout
    assert "union of the inputs' fields ('mix.a' 1×1, 'mix.b' 3×3) = 3×3" in out
    assert "4 + 4 = 8 channels" in out
    # a 1×1 convolution is still a window: 1 + (1 − 1)·1 = 1
    assert "r' = r + (F_eff − 1)·j = 1 + (1 − 1)·1 = 1" in out


def test_unknown_layer_did_you_mean():
    result = run("explain", "vgg16", "fc66")
    assert result.exit_code == 1
    assert "no layer or block named 'fc66'" in result.stderr
    assert "did you mean 'fc6'?" in result.stderr


def test_json_format(spec_file):
    data = json.loads(run("explain", spec_file(ALEXNET), "conv1", "--format", "json").stdout)
    (layer,) = data["layers"]
    assert layer["name"] == "conv1"
    assert layer["params"] == 34_944
    assert layer["work"]["params"] == "(11·11·3 + 1)·96 = 34,944"
    assert layer["work"]["output_shape"][0] == "height = width: (227 − 11 + 2·0)/4 + 1 = 55"


def test_library_api(analyse_text):
    analysis = analyse_text(STACK)
    items = explain(analysis, "conv2")
    assert [i.stats.name for i in items] == ["conv2"]
    assert items[0].rf_work.startswith("r' = r + (F_eff − 1)·j = 3 + (3 − 1)·1 = 5")
    assert "stack: input 56×56×64" in render_text(analysis)
    with pytest.raises(ArchcalcError, match="did you mean 'conv2'"):
        select(analysis, "conv22")
