"""`archcalc compare`: totals side by side with ratios to the first network.

The notes' 1×1 bottleneck: 20·11·11·(120·5·5) = 7,260,000 MACs naive vs
6·11·11·120 + 20·11·11·(6·5·5) = 87,120 + 363,000 = 450,120 with the bottleneck, 16.1× less;
and three 3×3 layers (27C²) vs one 7×7 (49C²).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archcalc.cli import cli
from archcalc.compare import compare, ratio_words

NAIVE = """\
name: naive
input: [120, 11, 11]
layers:
  - {type: conv2d, name: conv5x5, out_channels: 20, kernel_size: 5, padding: 2}
"""
BOTTLENECK = """\
name: bottleneck
input: [120, 11, 11]
layers:
  - {type: conv2d, name: reduce, out_channels: 6, kernel_size: 1}
  - {type: conv2d, name: conv5x5, out_channels: 20, kernel_size: 5, padding: 2}
"""
STACK = """\
name: stack_3x3
input: [64, 56, 56]
layers:
  - {type: conv2d, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
  - {type: conv2d, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
  - {type: conv2d, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
"""
SINGLE = """\
name: single_7x7
input: [64, 56, 56]
layers:
  - {type: conv2d, out_channels: 64, kernel_size: 7, padding: 3, bias: false}
"""


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def specs(tmp_path):
    paths = {}
    for name, text in (("naive", NAIVE), ("bottleneck", BOTTLENECK), ("stack", STACK),
                       ("single", SINGLE)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        paths[name] = str(path)
    return paths


def compare_json(*args: str) -> dict:
    result = run("compare", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bottleneck_macs_and_ratio(specs):
    data = compare_json(specs["naive"], specs["bottleneck"])
    macs = data["quantities"]["macs"]
    assert macs["values"] == [7_260_000, 450_120]
    assert macs["ratios"][1] == pytest.approx(450_120 / 7_260_000)
    # params: (5·5·120 + 1)·20 = 60,020 vs (120 + 1)·6 + (5·5·6 + 1)·20 = 726 + 3,020 = 3,746
    assert data["quantities"]["params"]["values"] == [60_020, 3_746]
    assert data["quantities"]["output_shape"]["values"] == [[20, 11, 11], [20, 11, 11]]
    assert data["networks"] == ["naive", "bottleneck"]


def test_bottleneck_table_text(specs):
    result = run("compare", specs["naive"], specs["bottleneck"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "7,260,000" in out and "450,120" in out
    assert "16.1× less" in out  # 7,260,000 / 450,120 = 16.13
    assert "receptive field" in out and "output shape" in out


def test_stack_vs_single_seven_by_seven(specs):
    # 3·(3·3·64·64) = 110,592 = 27·64² vs 7·7·64·64 = 200,704 = 49·64²: 49/27 = 1.81× more
    # both see 7×7 pixels: 1 + 3·(3 − 1) = 7 and 1 + (7 − 1) = 7
    data = compare_json(specs["stack"], specs["single"])
    assert data["quantities"]["params"]["values"] == [110_592, 200_704]
    assert data["quantities"]["receptive_field"]["values"] == [{"height": 7, "width": 7}] * 2
    assert data["quantities"]["receptive_field"]["ratios"] == [1.0, 1.0]
    out = run("compare", specs["stack"], specs["single"]).stdout
    assert "1.81× more" in out


TALL = """\
name: tall
input: [1, 9, 9]
layers:
  - {type: conv2d, name: conv, out_channels: 1, kernel_size: [3, 5]}
"""
SQUARE = """\
name: square
input: [1, 9, 9]
layers:
  - {type: conv2d, name: conv, out_channels: 1, kernel_size: 3}
"""


def test_receptive_field_that_is_not_square(tmp_path):
    # a 3×5 kernel sees 3×5 pixels: 1 + (3 − 1) = 3 high, 1 + (5 − 1) = 5 wide. It was shown
    # as 3×3 (height only) and its ratio to a 3×3 field as "same".
    paths = []
    for name, text in (("tall", TALL), ("square", SQUARE)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        paths.append(str(path))
    rf = compare_json(*paths)["quantities"]["receptive_field"]
    assert rf["values"] == [{"height": 3, "width": 5}, {"height": 3, "width": 3}]
    assert rf["ratios"] == [None, None]
    out = run("compare", *paths, "--format", "markdown").stdout
    assert "| receptive field | 3×5 | 3×3 |" in out


def test_three_networks_ratios_to_the_first(specs):
    data = compare_json(specs["naive"], specs["bottleneck"], specs["naive"])
    assert data["quantities"]["macs"]["ratios"] == [1.0, pytest.approx(0.062, abs=1e-3), 1.0]
    assert data["networks"] == ["naive (1)", "bottleneck (2)", "naive (3)"]


def test_markdown(specs):
    out = run("compare", specs["naive"], specs["bottleneck"], "--format", "markdown").stdout
    assert "| MACs | 7,260,000 | 450,120 (16.1× less) |" in out


def test_bundled_inception_naive_vs_bottleneck():
    result = run("compare", "inception_naive", "inception_bottleneck", "--format", "json")
    assert result.exit_code == 0, result.output
    macs = json.loads(result.stdout)["quantities"]["macs"]
    assert macs["values"] == [7_260_000, 450_120]
    assert "16.1× less" in run("compare", "inception_naive", "inception_bottleneck").stdout


def test_needs_two_specs():
    assert run("compare", "vgg16").exit_code == 2


def test_unknown_spec_is_a_clear_error():
    result = run("compare", "vgg16", "vgg61")
    assert result.exit_code == 1
    assert "no bundled spec" in result.stderr or "vgg61" in result.stderr


def test_ratio_words():
    assert ratio_words(1.0) == "same"
    assert ratio_words(2.5) == "2.50× more"
    assert ratio_words(450_120 / 7_260_000) == "16.1× less"
    assert ratio_words(None) == ""


def test_library_compare(analyse_text):
    result = compare([analyse_text(NAIVE), analyse_text(BOTTLENECK)])
    macs = next(r for r in result.rows if r.quantity.key == "macs")
    assert macs.values == (7_260_000, 450_120)
    assert macs.ratio_text(1) == "16.1× less"
