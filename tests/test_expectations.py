"""check_expectations: claims that hold, claims that fail, tolerances, and clear errors for
unknown quantities and layers. Expected numbers are hand arithmetic, written out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.analysis import analyze
from archcalc.cli import cli
from archcalc.errors import SpecError
from archcalc.expectations import all_passed, check_expectations
from archcalc.spec import load_spec, parse_spec

# AlexNet's conv1 and pool1: (227 − 11)/4 + 1 = 55; (55 − 3)/2 + 1 = 27;
# params (11·11·3 + 1)·96 = 34,944; MACs 55·55·96·(11·11·3) = 105,415,200
CONV1 = """\
name: conv1_only
input: [3, 227, 227]
layers:
  - {type: conv2d, name: conv1, out_channels: 96, kernel_size: 11, stride: 4}
  - {type: relu, name: relu1}
  - {type: max_pool2d, name: pool1, kernel_size: 3, stride: 2}
"""


def check(expect: str, *, layers: str = CONV1, file: str = "test.yaml"):
    spec = parse_spec(layers + expect, file=file)
    return check_expectations(analyze(spec), source_text=layers + expect)


def by_key(results):
    return {(r.subject, r.quantity): r for r in results}


def test_claims_that_hold():
    results = check("""\
expect:
  source: Krizhevsky et al. 2012
  totals:
    params: 34944
    macs: {value: "105,415,200", source: "55·55·96·363"}  # quoted: a flow mapping
    output_shape: 27x27x96
    layers: 3
    receptive_field: 19          # 11, then 11 + (3 − 1)·4 = 19
  layers:
    conv1: {output_shape: [96, 55, 55], weights: 34848, bias: 96, receptive_field: [11, 11],
            rf_stride: 4}
    pool1: {rf_stride: 8}
""")
    assert all_passed(results)
    assert len(results) == 11
    found = by_key(results)
    assert found["totals", "macs"].source == "55·55·96·363"
    assert found["totals", "params"].source == "Krizhevsky et al. 2012"  # the default source
    assert found["totals", "output_shape"].actual == (96, 27, 27)
    assert found["totals", "output_shape"].actual_text == "27×27×96"
    assert found["conv1", "output_shape"].actual_text == "[96, 55, 55]"
    assert found["totals", "params"].expected_text == "34,944"


def test_a_wrong_claim_fails_and_says_by_how_much():
    results = check("""\
expect:
  totals:
    params: 34848            # weights only: the 96 biases are missing
    output_shape: 55x55x96   # that is conv1, not the network output
""")
    found = by_key(results)
    assert not all_passed(results)
    params = found["totals", "params"]
    assert not params.ok and params.actual == 34_944
    assert "off by +96" in params.detail
    shape = found["totals", "output_shape"]
    assert not shape.ok
    assert "27×27×96" in shape.detail and "55×55×96" in shape.detail


@pytest.mark.parametrize(("written", "ok"), [
    ("34.9k", True),    # 34,900 ± 50 holds 34,944
    ("34.8k", False),   # 34,800 ± 50 does not
    ("35k", True),      # 35,000 ± 500
    ("0.035M", True),   # 35,000 ± 500
    ("34,944", True),
    ("34,945", False),  # exact: no tolerance without a rounded form
])
def test_written_precision_is_the_tolerance(written, ok):
    (result,) = check(f"expect:\n  totals:\n    params: '{written}'\n")
    assert result.ok is ok


@pytest.mark.parametrize(("tolerance", "ok"), [(0.01, True), (0.001, False)])
def test_explicit_relative_tolerance(tolerance, ok):
    # |34,944 − 35,000| = 56: within 1 % (350), not within 0.1 % (35)
    (result,) = check(f"expect:\n  totals:\n    params: {{value: 35000, tolerance: {tolerance}}}\n")
    assert result.ok is ok
    assert (f"±{tolerance:g} relative" in result.detail) is True


def test_a_claim_off_by_more_than_a_float_can_hold_says_so_in_words():
    # params = 10⁹⁹·10⁹⁹·10⁶·10⁶ = 10²¹⁰ (no bias) against a claim of 10⁻¹⁰⁰: the ratio 10³¹⁰
    # is beyond float's 1.8·10³⁰⁸, so no percentage can be printed
    huge = 10**99
    layers = (f"name: huge\ninput: [{huge}, 1000000, 1000000]\nlayers:\n"
              f"  - {{type: conv2d, name: c, out_channels: {huge}, kernel_size: 1000000,"
              " bias: false}\n")
    (result,) = check("expect:\n  totals: {params: '1e-100'}\n", layers=layers)
    assert not result.ok
    assert result.actual == 10**210
    assert result.detail.startswith("off by +")
    assert result.detail.endswith(", over a million times the value written")


def test_receptive_field_per_axis():
    text = """\
name: wide
input: [1, 32, 32]
layers:
  - {type: conv2d, name: conv, out_channels: 4, kernel_size: [3, 5], padding: [1, 2]}
"""
    results = check("""\
expect:
  layers:
    conv: {receptive_field: [3, 5], rf_stride: 1}
""", layers=text)
    assert all_passed(results)
    (bad,) = check("expect:\n  layers:\n    conv: {receptive_field: 3}\n", layers=text)
    assert not bad.ok
    assert bad.detail == "height: matches; width: off by +2, +66.667%"


def test_unknown_total_quantity_is_located_with_did_you_mean(tmp_path: Path):
    path = tmp_path / "typo.yaml"
    path.write_text(CONV1 + "expect:\n  totals:\n    parms: 34944\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        check_expectations(analyze(load_spec(path)))
    message = info.value.message
    assert f"{path}:9:5" in message  # line 9, column 5: the key 'parms'
    assert "unknown quantity 'parms'" in message
    assert "did you mean 'params'?" in message


def test_claims_that_hold_do_not_read_the_spec_again(tmp_path: Path, monkeypatch):
    # the spec's text is re-read only to place an error; claims that hold need no position
    import archcalc.expectations as expectations

    path = tmp_path / "fine.yaml"
    path.write_text(CONV1 + "expect:\n  totals:\n    params: 34944\n", encoding="utf-8")
    analysis = analyze(load_spec(path))
    reads = []
    monkeypatch.setattr(expectations, "_read", lambda file: reads.append(file))
    assert all_passed(check_expectations(analysis))
    assert reads == []


def test_unknown_layer_quantity_is_located():
    with pytest.raises(SpecError) as info:
        check("expect:\n  layers:\n    conv1: {outputshape: 55x55x96}\n")
    assert "test.yaml:9:13" in info.value.message
    assert "did you mean 'output_shape'?" in info.value.message


def test_unknown_layer_name_is_located_with_did_you_mean():
    with pytest.raises(SpecError) as info:
        check("expect:\n  layers:\n    conv_1: {params: 34944}\n")
    message = info.value.message
    assert "test.yaml:9:5" in message
    assert "'conv_1', which is not a layer or block" in message
    assert "did you mean 'conv1'?" in message


def test_unreadable_value_is_located():
    with pytest.raises(SpecError) as info:
        check("expect:\n  totals:\n    params: lots\n")
    assert "test.yaml:9:5" in info.value.message
    assert "cannot read 'lots'" in info.value.message


def test_a_tolerance_on_a_shape_is_refused():
    with pytest.raises(SpecError, match="tolerance applies to counts"):
        check("expect:\n  totals:\n    output_shape: {value: 27x27x96, tolerance: 0.1}\n")


def test_no_expect_block_means_no_claims():
    assert check_expectations(analyze(parse_spec(CONV1))) == []


BLOCKS = """\
name: blocks
input: [16, 8, 8]
blocks:
  pair:
    params: [out]
    layers:
      - {type: conv2d, name: conv, out_channels: $out, kernel_size: 3, padding: 1}
      - {type: relu, name: relu}
layers:
  - {block: pair, name: stage, repeat: 2, args: {out: 16}}
  - {block: pair, name: head, args: {out: 8}}
"""


def test_block_instance_and_repeated_group_are_summed():
    # one pair with 16 → 16: (3·3·16 + 1)·16 = 2,320 params, 8·8·16·144 = 147,456 MACs
    # head, 16 → 8: (3·3·16 + 1)·8 = 1,160 params
    results = check("""\
expect:
  layers:
    stage.1: {params: 2320, macs: 147456, output_shape: 8x8x16, receptive_field: 3}
    stage: {params: 4640, macs: 294912, receptive_field: 5}
    head: {params: 1160, weights: 1152, bias: 8, output_shape: 8x8x8}
""", layers=BLOCKS)
    assert all_passed(results), [r for r in results if not r.ok]


def test_switched_off_layer_is_unknown():
    text = """\
name: optional
input: [4, 8, 8]
params: {extra: false}
layers:
  - {type: conv2d, name: conv, out_channels: 4, kernel_size: 1}
  - {type: relu, name: act, if: $extra}
"""
    with pytest.raises(SpecError, match="switched off by `if:`"):
        check("expect:\n  layers:\n    act: {params: 0}\n", layers=text)


# --- archcalc verify ------------------------------------------------------------------------


def test_verify_named_bundled_spec_passes():
    result = CliRunner().invoke(cli, ["verify", "cs231n_conv"])
    assert result.exit_code == 0, result.output
    assert "✓" in result.output and "0 ✗" in result.output
    assert "claims in 1 specs" in result.output


def test_verify_a_failing_spec_exits_1(tmp_path: Path):
    path = tmp_path / "wrong.yaml"
    path.write_text(CONV1 + "expect:\n  totals:\n    params: 34848\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert result.exit_code == 1
    assert "✗" in result.output and "off by +96" in result.output


def test_verify_json(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text(CONV1 + "expect:\n  totals:\n    params: 34.9k\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["passed"] == 1 and data["failed"] == 0
    (claim,) = data["specs"][0]["claims"]
    assert claim == {"subject": "totals", "quantity": "params", "expected": "34.9k",
                     "actual": 34944, "ok": True, "source": None,
                     "detail": "within ±50 from the precision written"}


def test_verify_reports_a_spec_that_cannot_be_analysed(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text(CONV1 + "expect:\n  layers:\n    nope: {params: 1}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", str(path)])
    assert result.exit_code == 1
    assert "nope" in result.output
