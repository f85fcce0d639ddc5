"""The summary command through click's CliRunner: formats, options, errors, exit codes."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from archcalc.cli import cli

SMALL = """\
name: small
input: [3, 32, 32]
blocks:
  conv_relu:
    params: [out]
    layers:
      - {type: conv2d, name: conv, out_channels: $out, kernel_size: 5, padding: 2}
      - {type: relu, name: relu}
layers:
  - {block: conv_relu, name: stage1, args: {out: 10}}
  - {type: max_pool2d, name: pool, kernel_size: 2}
  - {type: flatten, name: flatten}
  - {type: linear, name: fc, out_features: 10}
"""
# by hand: conv 5×5 pad 2 keeps 32×32: (32 − 5 + 2·2)/1 + 1 = 32 -> 32×32×10
#   params (5·5·3 + 1)·10 = 760, MACs 32·32·10·75 = 768,000
# pool 2×2/2 -> 16×16×10; flatten 16·16·10 = 2,560; fc 2,560·10 = 25,600 MACs, 25,610 params
SMALL_PARAMS = 760 + 25_610
SMALL_MACS = 768_000 + 25_600


@pytest.fixture
def small_spec(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return str(path)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_summary_table_golden(small_spec, golden):
    result = invoke("summary", small_spec)
    assert result.exit_code == 0
    golden("summary_small.txt", result.output)


def test_summary_depth_and_chw(small_spec):
    folded = invoke("summary", small_spec, "--depth", "0").output
    assert "stage1" in folded and "conv_relu (2 layers)" in folded
    assert "stage1.conv" not in folded
    chw = invoke("summary", small_spec, "--chw").output
    assert "10×32×32" in chw and "output C×H×W" in chw


def test_summary_json_is_the_stable_interface(small_spec):
    data = json.loads(invoke("summary", small_spec, "--format", "json").output)
    assert data["name"] == "small" and data["input"] == [3, 32, 32]
    conv = data["layers"][0]
    assert conv["name"] == "stage1.conv" and conv["type"] == "conv2d"
    assert conv["inputs"] == ["input"] and conv["output_shape"] == [10, 32, 32]
    assert (conv["weights"], conv["bias"], conv["params"]) == (750, 10, 760)
    assert conv["macs"] == 768_000
    assert conv["receptive_field"]["height"]["size"] == 5
    assert data["layers"][3]["output_shape"] == [2560]
    totals = data["totals"]
    assert totals["params"] == SMALL_PARAMS and totals["macs"] == SMALL_MACS
    assert totals["trainable_params"] == SMALL_PARAMS
    # FLOPs: 2·MACs + bias adds (32·32·10 + 10) + pool 16·16·10·... no: max pool has no FLOPs
    assert totals["flops"] == 2 * SMALL_MACS + 32 * 32 * 10 + 10
    assert totals["output_shape"] == [10]


def test_summary_csv_and_markdown(small_spec):
    rows = list(csv.DictReader(io.StringIO(invoke("summary", small_spec, "--format",
                                                  "csv").output)))
    assert [r["name"] for r in rows] == ["stage1.conv", "stage1.relu", "pool", "flatten", "fc"]
    assert rows[0]["output_shape"] == "32×32×10" and rows[0]["params"] == "760"
    md = invoke("summary", small_spec, "--format", "markdown").output
    assert "| 0 | `stage1.conv` | conv2d | 32×32×10 | 760 | 768,000 | 5 |" in md


UNEVEN = """\
name: uneven
input: [1, 9, 10]
layers:
  - {type: conv2d, name: down, out_channels: 1, kernel_size: 3, stride: [2, 1]}
  - {type: conv_transpose2d, name: up, out_channels: 1, kernel_size: 4, stride: 4}
"""


def test_summary_rf_stride_of_both_axes_as_decimals(tmp_path):
    # down: j = (1·2, 1·1) = (2, 1); up (transposed, stride 4): j = (2/4, 1/4) = (0.5, 0.25).
    # It was printed as the height's raw Fraction, 'stride 1/2'.
    path = tmp_path / "uneven.yaml"
    path.write_text(UNEVEN)
    out = CliRunner().invoke(cli, ["summary", str(path)], catch_exceptions=False,
                             terminal_width=200).output
    assert "receptive field 3 px, stride 0.5×0.25" in out


def test_human_units_are_chosen_after_rounding():
    from archcalc.report import human, human_bytes

    assert human(15_470_264_320) == "15.47 G"  # VGG-16's MACs
    assert human(999) == "999"
    assert human(999_994) == "999.99 k"  # 999.994 k
    assert human(999_999) == "1.00 M"  # 999.999 k rounds to 1000.00 k = 1.00 M
    assert human(-2_500_000) == "-2.50 M"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(2**20 - 6) == "1023.99 KiB"  # 1,048,570/1,024 = 1023.994
    assert human_bytes(2**20 - 1) == "1.00 MiB"  # 1023.999 KiB rounds to 1024.00 KiB
    assert human_bytes(2**30 - 1) == "1.00 GiB"
    assert human_bytes(3_200_000) == "3.05 MiB"  # 3,200,000/1,048,576 = 3.052


def test_vgg16_from_the_issue():
    data = json.loads(invoke("summary", "vgg16", "--format", "json").output)
    # torchvision vgg16: 138,357,544 params, 15.47 GMACs; the notes' FC weights
    assert data["totals"]["params"] == 138_357_544
    assert data["totals"]["macs"] == 15_470_264_320
    weights = {layer["name"]: layer["weights"] for layer in data["layers"]}
    assert weights["fc6.fc"] == 512 * 7 * 7 * 4096 == 102_760_448
    assert weights["fc7.fc"] == 4096 * 4096 == 16_777_216
    assert weights["fc8"] == 4096 * 1000 == 4_096_000


def test_set_overrides_a_parameter(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ninput: [1, 4, 4]\nparams: {n: 2}\n"
                    "layers: [{type: conv2d, out_channels: $n, kernel_size: 1}]\n")
    data = json.loads(invoke("summary", str(path), "--set", "n=5", "--format", "json").output)
    assert data["layers"][0]["output_shape"] == [5, 4, 4]


def test_bad_spec_is_one_clean_message_and_exit_1(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ninput: [3, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 4, "
                    "kernel_size: 3, stide: 2}\n")
    result = CliRunner().invoke(cli, ["summary", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {path}:4:53 layer 'conv2d_1' (conv2d) field "
                                    "'stide': unknown field 'stide'")
    assert "Traceback" not in result.output


def test_missing_spec_suggests_a_bundled_name():
    result = CliRunner().invoke(cli, ["summary", "vgg61"])
    assert result.exit_code == 1
    assert "did you mean 'vgg16'?" in result.output


def test_misuse_exits_2():
    assert CliRunner().invoke(cli, ["summary"]).exit_code == 2
    assert CliRunner().invoke(cli, ["summary", "vgg16", "--format", "xml"]).exit_code == 2
    assert CliRunner().invoke(cli, ["summary", "vgg16", "--set", "novalue"]).exit_code == 2


def test_traceback_flag_shows_the_stack(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\n")
    result = CliRunner().invoke(cli, ["--traceback", "summary", str(path)])
    assert result.exit_code == 1 and result.exception is not None


def test_python_module_entry_point():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "archcalc", "--help"], capture_output=True,
                         text=True, check=True)
    assert "summary" in out.stdout


def test_check_points_at_a_misspelt_layers_key(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("name: t\ninput: [3, 8, 8]\nlayer: [{type: relu}]\n")
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert result.output == (f"error: {path}:3:1: neither a spec (no layers:) nor an answers "
                             "file (no answers: or questions:). Fix: did you mean 'layers:' "
                             "instead of 'layer:'?\n")
