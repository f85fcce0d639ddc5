"""Hostile and half-finished input: every bad spec ends in one exact, clear message and exit 1.

The corpus lives in tests/bad_specs/: ``NN_name.expected`` holds the one-line message
`archcalc summary NN_name.yaml` must print after ``error: `` (run from that folder, so the
message starts with the file name). ``NN_name.yaml`` is usually a file; for the entries about
paths it is a folder, or missing on purpose. The message is part of the interface: a change
to any of them is a change users see.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.analysis import analyze
from archcalc.cli import cli
from archcalc.errors import ArchcalcError
from archcalc.spec import load_spec, parse_spec
from archcalc.yaml_source import MAX_FILE_BYTES

CORPUS = Path(__file__).parent / "bad_specs"
CASES = sorted(p.stem for p in CORPUS.glob("*.expected"))
SECONDS = 5  # per bad spec, generous for a loaded CI machine; each takes milliseconds


def expected(stem: str) -> str:
    text = (CORPUS / f"{stem}.expected").read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == 1, "one line per message"
    return text.rstrip("\n")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_corpus_is_complete():
    specs = {p.name.removesuffix(".yaml") for p in CORPUS.glob("*.yaml")}
    assert specs <= set(CASES), f"bad specs without an .expected message: {specs - set(CASES)}"
    assert len(CASES) >= 40
    assert len({stem.split("_")[0] for stem in CASES}) == len(CASES), "numbers are unique"


@pytest.mark.parametrize("stem", CASES)
def test_bad_spec_message(stem, monkeypatch):
    monkeypatch.chdir(CORPUS)
    message = expected(stem)
    assert message.startswith(f"{stem}.yaml"), "the message starts with where: the file"
    assert ". Fix: " in message or "? Fix: " in message, "every message ends with a fix"
    started = time.perf_counter()
    result = invoke("summary", f"{stem}.yaml")
    elapsed = time.perf_counter() - started
    assert result.stderr == f"error: {message}\n"
    assert result.exit_code == 1
    assert result.stdout == ""
    assert elapsed < SECONDS


@pytest.mark.parametrize("stem", CASES)
def test_bad_spec_raises_archcalc_error_from_the_library(stem, monkeypatch):
    monkeypatch.chdir(CORPUS)
    with pytest.raises(ArchcalcError) as info:
        analyze(load_spec(f"{stem}.yaml"))
    assert info.value.message == expected(stem)
    assert info.value.where.file == f"{stem}.yaml"


@pytest.mark.parametrize("command", ["explain", "check", "run", "verify"])
@pytest.mark.parametrize("stem",
                         ["02_wrong_type_conv", "17_duplicate_key", "25_billion_laughs"])
def test_other_commands_give_the_same_one_line_message(stem, command, monkeypatch):
    monkeypatch.chdir(CORPUS)
    result = invoke(command, f"{stem}.yaml")
    assert result.exit_code == 1
    assert result.stderr == f"error: {expected(stem)}\n"
    assert "Traceback" not in result.output


def test_check_with_a_shape_claim_that_is_not_a_shape(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("name: c\ninput: [3, 8, 8]\nlayers:\n  - {type: relu, name: r}\n"
                    "expect:\n  totals:\n    output_shape: [relu, 8]\n")
    result = invoke("check", str(path))
    assert result.stderr == (f"error: {path}:7:5 field 'expect.totals.output_shape': cannot read "
                             "['relu', 8] as a shape. Fix: write [C, H, W] with whole numbers, "
                             "e.g. [96, 55, 55], or H×W×C text, e.g. 55x55x96.\n")
    assert result.exit_code == 1

@pytest.mark.parametrize(("claim", "what"), [
    (".inf", "expected a number, got .inf"),
    ("-.inf", "expected a number, got -.inf"),
    (".nan", "expected a number, got .nan"),
    ("1e999", "expected a number, got .inf"),  # YAML reads it as a float: infinite
    ("'1e999'", "'1e999' is out of range: a count has at most 100 digits and a power of ten "
                "from e-100 to e100"),
    ("'1e99999999999'", "'1e99999999999' is out of range: a count has at most 100 digits and a "
                        "power of ten from e-100 to e100"),  # 10^(10^11): never built
    ("'1e-99999999999'", "'1e-99999999999' is out of range: a count has at most 100 digits and "
                         "a power of ten from e-100 to e100"),
])
def test_check_with_a_count_claim_that_is_not_finite(tmp_path, claim, what):
    path = tmp_path / "claims.yaml"
    path.write_text("name: c\ninput: [3, 8, 8]\nlayers:\n  - {type: relu, name: r}\n"
                    f"expect:\n  totals:\n    params: {claim}\n")
    started = time.perf_counter()
    result = invoke("check", str(path))
    assert time.perf_counter() - started < SECONDS
    fix = ("write a finite count, e.g. 34944 or 34.9k" if what.startswith("expected")
           else "check the value")
    assert result.stderr == f"error: {path}:7:5 field 'expect.totals.params': {what}. Fix: {fix}.\n"
    assert result.exit_code == 1


def test_check_with_an_infinite_tolerance(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("name: c\ninput: [3, 8, 8]\nlayers:\n  - {type: relu, name: r}\n"
                    "expect:\n  totals:\n    params: {value: 0, tolerance: .inf}\n")
    result = invoke("check", str(path))
    assert result.stderr == (f"error: {path}:7:24 field 'expect.totals.params.tolerance': "
                             "invalid value .inf: must be a finite number. Fix: write a number "
                             "such as 0.01 for 'tolerance'.\n")
    assert result.exit_code == 1


def test_check_with_a_claim_mapping_without_its_value(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("name: c\ninput: [3, 8, 8]\nlayers:\n  - {type: relu, name: r}\n"
                    "expect:\n  totals:\n    params: {source: paper, tolerance: 0.1}\n"
                    "  layers:\n    r: {params: {source: x}}\n")
    result = invoke("check", str(path))
    assert result.stderr == (f"error: {path}:7:5 field 'expect.totals.params.value': missing "
                             "required key 'value'. Fix: add `value: …`.\n")
    assert result.exit_code == 1


def test_compare_names_the_bad_spec(monkeypatch):
    monkeypatch.chdir(CORPUS)
    result = invoke("compare", "vgg16", "04_non_integer_output_exact.yaml")
    assert result.exit_code == 1
    assert result.stderr == f"error: {expected('04_non_integer_output_exact')}\n"


def test_messages_quoted_in_the_docs_are_the_corpus_verbatim():
    root = CORPUS.parent.parent
    quoted = [line.removeprefix("error: ")
              for doc in (root / "docs" / "errors.md", root / "README.md") if doc.exists()
              for line in doc.read_text(encoding="utf-8").splitlines()
              if line.startswith("error: ") and (CORPUS / f"{line[7:].split('.yaml')[0]}"
                                                 ".expected").exists()]
    assert quoted, "docs/errors.md (or the README) quotes messages from the corpus"
    for message in quoted:
        assert message == expected(message.split(".yaml")[0])

# --- what a corpus file cannot hold -----------------------------------------------------------


def test_spec_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:  # sparse: no 2 MB written to disk
        handle.truncate(MAX_FILE_BYTES + 1)
    result = invoke("summary", str(path))
    # 2 · 1024 · 1024 = 2,097,152 bytes allowed; one more is refused
    assert result.stderr == (f"error: {path}: file is 2,097,153 bytes; specs are limited to "
                             "2,097,152. Fix: use blocks with repeat: to shorten the spec.\n")
    assert result.exit_code == 1


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_device_is_read_within_the_size_limit():
    started = time.perf_counter()
    result = invoke("summary", "/dev/zero")
    assert result.stderr == ("error: /dev/zero: file is larger than 2,097,152 bytes; specs are "
                             "limited to 2,097,152. Fix: use blocks with repeat: to shorten the "
                             "spec.\n")
    assert result.exit_code == 1
    assert time.perf_counter() - started < SECONDS


def test_path_too_long_for_the_file_system(tmp_path):
    name = "a" * 5000 + ".yaml"
    result = invoke("summary", name)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: aaaa")
    assert result.stderr.endswith(": cannot read file: File name too long. Fix: check the "
                                  "path.\n")


def test_path_with_a_nul_character():
    result = invoke("summary", "net\0.yaml")
    assert result.stderr == ("error: net\0.yaml: file not found. Fix: check the path, or give "
                             "a bundled name such as 'vgg16'.\n")
    assert result.exit_code == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text("name: s\n")
    path.chmod(0)
    result = invoke("summary", str(path))
    assert result.stderr == (f"error: {path}: cannot read file: Permission denied. "
                             "Fix: check the file's permissions.\n")
    assert result.exit_code == 1


# --- the command line: misuse is exit 2, bad values of --set are exit 1 ------------------------


@pytest.mark.parametrize("args", [
    ["summary"],  # no SPEC
    ["summary", "vgg16", "--bogus"],
    ["summary", "vgg16", "--format", "xml"],
    ["summary", "vgg16", "--depth", "-1"],
    ["summary", "vgg16", "--dtype", "float8"],
    ["summary", "vgg16", "--set", "no_equals_sign"],
    ["sumary", "vgg16"],
    ["run", "vgg16", "--seed", "-5"],  # numpy's ValueError escaped as an internal error
    ["export", "vgg16", "-o", "never-written.onnx", "--seed", "-1"],
])
def test_cli_misuse_exits_2(args):
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "Error:" in result.stderr


def test_set_of_an_undeclared_parameter(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ninput: [1, 4, 4]\nparams: {width: 2}\n"
                    "layers: [{type: conv2d, out_channels: $width, kernel_size: 1}]\n")
    result = invoke("summary", str(path), "--set", "widht=4")
    assert result.stderr == (f"error: {path}: --set widht: the spec has no parameter 'widht'. "
                             "Fix: did you mean 'width'?\n")
    assert result.exit_code == 1


def test_set_with_malformed_yaml_value(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ninput: [1, 4, 4]\nparams: {width: 2}\n"
                    "layers: [{type: conv2d, out_channels: $width, kernel_size: 1}]\n")
    result = invoke("summary", str(path), "--set", "width=[4")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --set:")  # the line libyaml and PyYAML differ on
    assert result.stderr.endswith(": YAML syntax error: expected ',' or ']' in the [ … ] list "
                                  "opened at line 1, column 1. Fix: close the list with ']' (and "
                                  "separate its items with commas).\n")


def test_set_with_a_value_of_the_wrong_type(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ninput: [1, 4, 4]\nparams: {width: 2}\n"
                    "layers: [{type: conv2d, name: c, out_channels: $width, kernel_size: 1}]\n")
    result = invoke("summary", str(path), "--set", "width=wide")
    assert result.stderr == (f"error: {path}:4:34 layer 'c' (conv2d) field 'out_channels': "
                             "invalid value 'wide': must be a whole number. Fix: write a whole "
                             "number ≥ 1.\n")
    assert result.exit_code == 1


def test_traceback_flag_shows_the_stack_instead(monkeypatch):
    monkeypatch.chdir(CORPUS)
    result = invoke("--traceback", "summary", "02_wrong_type_conv.yaml")
    assert isinstance(result.exception, ArchcalcError)


# --- absurd but valid numbers: exact integers, no allocation, fast --------------------------


def summary_json(tmp_path, text: str) -> dict:
    path = tmp_path / "absurd.yaml"
    path.write_text(text)
    started = time.perf_counter()
    result = invoke("summary", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < SECONDS
    table = invoke("summary", str(path))  # the table renders the same numbers
    assert table.exit_code == 0, table.output
    return json.loads(result.stdout)


def test_a_billion_channels(tmp_path):
    data = summary_json(tmp_path, """\
name: wide
input: [3, 8, 8]
layers:
  - {type: conv2d, name: conv, out_channels: 1000000000, kernel_size: 3, padding: 1}
  - {type: global_avg_pool2d, name: gap}
  - {type: flatten, name: flat}
  - {type: linear, name: fc, out_features: 10}
""")
    conv, gap, flat, fc = data["layers"]
    # (8 − 3 + 2·1)/1 + 1 = 8: 8×8 maps, 10⁹ of them
    assert conv["output_shape"] == [1_000_000_000, 8, 8]
    # weights 10⁹·3·3·3 = 27·10⁹, biases 10⁹
    assert conv["params"] == 28_000_000_000
    # 8·8·10⁹·(3·3·3) = 1,728·10⁹
    assert conv["macs"] == 1_728_000_000_000
    assert gap["output_shape"] == [1_000_000_000, 1, 1]
    assert flat["output_shape"] == [1_000_000_000]
    assert fc["params"] == 10_000_000_010  # 10⁹·10 weights + 10 biases
    assert fc["macs"] == 10_000_000_000
    assert data["totals"]["params"] == 38_000_000_010
    assert data["totals"]["macs"] == 1_738_000_000_000


def test_a_million_by_million_input(tmp_path):
    data = summary_json(tmp_path, """\
name: huge_image
input: [3, 1000000, 1000000]
layers:
  - {type: conv2d, name: conv, out_channels: 64, kernel_size: 4, stride: 2, padding: 1}
  - {type: max_pool2d, name: pool, kernel_size: 2}
  - {type: global_avg_pool2d, name: gap}
  - {type: flatten, name: flat}
  - {type: linear, name: fc, out_features: 10}
""")
    conv, pool, gap, flat, fc = data["layers"]
    # (10⁶ − 4 + 2·1)/2 + 1 = 499,999 + 1 = 500,000
    assert conv["output_shape"] == [64, 500_000, 500_000]
    assert conv["params"] == 3_136  # 64·3·4·4 + 64
    # 500,000·500,000·64·(4·4·3) = 2.5·10¹¹ · 3,072 = 768·10¹²
    assert conv["macs"] == 768_000_000_000_000
    assert pool["output_shape"] == [64, 250_000, 250_000]  # (500,000 − 2)/2 + 1
    assert fc["params"] == 650 and fc["macs"] == 640
    assert data["totals"]["params"] == 3_786
    assert data["totals"]["macs"] == 768_000_000_000_640


def test_the_executor_refuses_a_huge_input_instead_of_allocating(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\ninput: [3, 1000000, 1000000]\nlayers:\n"
                    "  - {type: conv2d, name: conv, out_channels: 64, kernel_size: 4, stride: 2, "
                    "padding: 1}\n")
    started = time.perf_counter()
    result = invoke("run", str(path))
    assert time.perf_counter() - started < SECONDS
    assert result.exit_code == 1
    assert result.stderr.startswith("error: refusing to run: the estimated peak memory ")
    assert result.stderr.count("\n") == 1

def test_adaptive_pooling_to_a_huge_grid_is_counted_without_enumerating_bins(tmp_path):
    data = summary_json(tmp_path, """\
name: many_bins
input: [2, 13, 13]
layers:
  - {type: adaptive_avg_pool2d, name: up, output_size: 1000000000}
""")
    (up,) = data["layers"]
    assert up["output_shape"] == [2, 1_000_000_000, 1_000_000_000]
    # bin i spans [⌊13i/o⌋, ⌈13(i + 1)/o⌉): with o = 10⁹ ≥ 13 every bin is 1 or 2 wide;
    # Σ widths = 13 + o − gcd(13, o) = 13 + 10⁹ − 1 per axis, × 2 channels
    assert data["totals"]["flops"] == 2 * (10**9 + 12) ** 2


def test_adaptive_bin_counts_match_the_bins_listed():
    """The closed forms the analysis uses (no list of 10⁹ bins) against listing the bins."""
    from archcalc.layers.pool import adaptive_bins, adaptive_bins_total, adaptive_bins_widest

    for n in range(1, 40):
        for out in range(1, 50):
            widths = [b - a for a, b in adaptive_bins(n, out)]
            assert adaptive_bins_total(n, out) == sum(widths), (n, out)
            assert adaptive_bins_widest(n, out) == max(widths), (n, out)


@pytest.mark.parametrize("args", [
    ["conv", "--input", "7", "--kernel", "3", "--stride", "1000000000"],
    ["conv", "--input", "7", "--kernel", "3", "--stride", "2", "--padding", "9" * 30],
    ["pool", "--input", "6", "--kernel", "2", "--stride", "1000000000000"],
])
def test_calculator_hints_for_absurd_sizes_are_instant(args):
    started = time.perf_counter()
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < SECONDS


def test_calculator_fixes_use_its_own_words():
    result = invoke("conv", "--input", "7", "--kernel", "0")
    assert result.stderr == ("error: field 'kernel': invalid value 0: must be a positive integer "
                             "or [height, width]. Fix: write e.g. `kernel: 3` or `kernel: [3, 3]`."
                             "\n")
    assert result.exit_code == 1


def naive_paddings(n: int, kernel: int, stride: int, current: int, dilation: int,
                   per_side: int) -> list[int]:
    """Scan every padding (the calculator's first implementation) — a reference."""
    k_eff = dilation * (kernel - 1) + 1

    def fits(p: int) -> bool:
        return n + 2 * p >= k_eff and (n + 2 * p - k_eff) % stride == 0

    if fits(current):
        return [current]
    below = [p for p in range(current - 1, -1, -1) if fits(p)]
    above = [p for p in range(current + 1, max(current, k_eff) + 2 * stride + 1) if fits(p)]
    return sorted(below[:per_side] + above[:per_side])


def test_calculator_paddings_found_directly_match_a_scan():
    from archcalc.calculator import _axis_paddings

    for n in range(1, 12):
        for kernel in (1, 2, 3, 5, 11):
            for stride in (1, 2, 3, 4, 6):
                for current in (0, 1, 2, 5):
                    for dilation in (1, 2):  # one padding each side of the current one
                        k_eff = dilation * (kernel - 1) + 1
                        assert _axis_paddings(n, k_eff, stride, current) == naive_paddings(
                            n, kernel, stride, current, dilation, 1), (n, kernel, stride,
                                                                       current, dilation)


def test_non_whole_sizes_never_print_as_whole():
    from fractions import Fraction

    from archcalc.geometry import fmt_num

    assert fmt_num(Fraction(217, 4)) == "54.25"  # (224 − 11)/4 + 1, as the notes write it
    assert fmt_num(Fraction(2245, 2)) == "1122.5"  # 4 significant digits would say 1122
    assert fmt_num(Fraction(10**12 + 4, 10**12)) == "1.000000000004"  # (6 − 2)/10¹² + 1
    assert fmt_num(Fraction(-7, 2)) == "−3.5"  # a true minus sign, as in the formulas


def test_huge_numbers_in_error_arithmetic_do_not_overflow_floats():
    # in_channels = 10⁹⁹ is not divisible by groups = 3 (10⁹⁹ ≡ 1 mod 3)
    text = ("name: t\ninput: [1" + "0" * 99 + ", 8, 8]\nlayers:\n"
            "  - {type: conv2d, name: c, out_channels: 3, kernel_size: 1, groups: 3}\n")
    with pytest.raises(ArchcalcError) as info:
        analyze(parse_spec(text, file="t.yaml"))
    assert "groups=3 does not divide in_channels=1" + "0" * 99 in info.value.message
    assert "(1" + "0" * 99 + " / 3 = 3333" in info.value.message
