"""`archcalc check`: homework answers files and a spec's expect: block.

The shipped examples under examples/homework/ must grade exactly as their comments say:
every answer right except those marked WRONG in mistakes.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import cli
from archcalc.errors import ArchcalcError
from archcalc.homework import grade_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "homework"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def sheet_json(path: str | Path) -> tuple[int, dict]:
    result = run("check", str(path), "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def answers(tmp_path):
    def write(text: str, name: str = "answers.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


# --- the shipped examples -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["conv_sizes.yaml", "vgg16_fc.yaml", "alexnet_shapes.yaml",
                                  "stack_3x3_inline.yaml"])
def test_correct_examples_grade_all_right(name):
    code, sheet = sheet_json(EXAMPLES / name)
    wrong = [g for g in sheet["grades"] if not g["ok"]]
    assert wrong == []
    assert code == 0
    assert sheet["score"] == sheet["total"] > 0


def test_conv_sizes_covers_the_notes_questions():
    _, sheet = sheet_json(EXAMPLES / "conv_sizes.yaml")
    correct = {(g["subject"].split()[0], g["quantity"]): g["correct"] for g in sheet["grades"]}
    assert correct[("Q1", "output")] == "5×5×1"  # (7 − 3)/1 + 1
    assert correct[("Q2", "output")] == "3×3×1"  # (7 − 3)/2 + 1
    assert correct[("Q3", "output")] == "does not fit"  # (7 − 3)/3 + 1 = 2.33
    assert correct[("Q8", "output")] == "11×11×1"  # (13 − 7 + 4)/1 + 1
    assert correct[("Q9", "params")] == "34,944"  # (11·11·3 + 1)·96
    assert correct[("Q11", "macs")] == "7,260,000"  # 20·11·11·(120·5·5)
    assert correct[("Q15", "output")] == "3×3×1"  # 6×6 max pool, 2×2/2


def test_mistakes_example_marks_exactly_the_wrong_answers():
    path = EXAMPLES / "mistakes.yaml"
    code, sheet = sheet_json(path)
    assert code == 1
    wrong = {(g["subject"].split()[0], g["quantity"]) for g in sheet["grades"] if not g["ok"]}
    assert wrong == {
        ("pool5", "receptive_field"),  # 196 given, 196 + (2 − 1)·16 = 212
        ("fc6.fc", "params"),  # biases forgotten: 102,760,448 + 4,096 = 102,764,544
        ("totals", "macs"),  # 30.9G is the FLOPs; MACs 15.47G
        ("Q2", "output"),  # (7 − 3)/2 + 1 = 3 fits
        ("Q3", "output"),  # (7 − 3)/3 + 1 = 2.33 does not fit
        ("Q4", "output"),  # no padding: (32 − 5)/1 + 1 = 28
        ("Q5", "params"),  # (11·11·3 + 1)·96 = 34,944, not 34,848
        ("Q7", "output"),  # (55 − 3)/2 + 1 = 27, not 26
    }
    # and they are exactly the lines the file marks WRONG
    lines = path.read_text().splitlines()
    marked = {i + 1 for i, line in enumerate(lines) if "# WRONG" in line}
    assert {g["line"] for g in sheet["grades"] if not g["ok"]} == marked
    assert sheet["score"] == sheet["total"] - 8


def test_grade_sheet_text_shows_marks_correct_values_formulas_and_score():
    result = run("check", str(EXAMPLES / "mistakes.yaml"))
    assert result.exit_code == 1
    out = result.stdout
    assert "✗ params           34,848   correct: 34,944" in out
    assert "(11·11·3 + 1)·96 = 34,944" in out
    assert "✗ output           2x2   correct: does not fit" in out
    assert "(7 − 3 + 2·0)/3 + 1 = 2.333" in out
    assert "✓ output           3x3" in out
    assert "score: 8/16" in out
    assert "half a unit of its last written digit" in out  # the tolerance rule


# --- number formats ----------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "ok"), [
    ("34944", True),
    ("'34,944'", True),
    ("34.9k", True),  # 34,900 ± 50 holds 34,944
    ("35.0k", False),  # 35,000 ± 50 does not
    ("34.94k", True),  # 34,940 ± 5
    ("34.95k", False),  # 34,950 ± 5: 34,944 is 6 away
    ("34945", False),  # exact integers are exact
    ("0.035M", True),  # 35,000 ± 500
])
def test_count_formats_and_tolerance(answers, written, ok):
    path = answers(f"questions:\n  - input: 227x227x3\n    kernel: 11\n    stride: 4\n"
                   f"    filters: 96\n    params: {written}\n")
    _, sheet = sheet_json(path)
    (grade,) = sheet["grades"]
    assert grade["ok"] is ok
    assert grade["correct"] == "34,944"


@pytest.mark.parametrize(("written", "ok"), [
    ("7260k", True), ("7.26M", True), ("7,260,000", True), ("7.3M", True), ("7.2M", False),
])
def test_bottleneck_macs_formats(answers, written, ok):
    # 20·11·11·(120·5·5) = 7,260,000
    path = answers("questions:\n  - input: 11x11x120\n    kernel: 5\n    padding: 2\n"
                   f"    filters: 20\n    macs: {written}\n")
    assert sheet_json(path)[1]["grades"][0]["ok"] is ok


@pytest.mark.parametrize(("written", "ok"), [("450K", True), ("450k", True), ("450120", True),
                                             ("451k", False)])
def test_bottleneck_total_450k(answers, written, ok):
    # 6·11·11·120 + 20·11·11·(6·5·5) = 87,120 + 363,000 = 450,120
    path = answers(f"""\
spec:
  name: bottleneck
  input: [120, 11, 11]
  layers:
    - {{type: conv2d, name: reduce, out_channels: 6, kernel_size: 1}}
    - {{type: conv2d, name: conv5x5, out_channels: 20, kernel_size: 5, padding: 2}}
answers:
  totals: {{macs: {written}}}
""")
    assert sheet_json(path)[1]["grades"][0]["ok"] is ok


def test_vgg_totals_in_giga_and_mega(answers):
    # 15,470,264,320 MACs and 138,357,544 params (torchvision; the notes' 138 M)
    path = answers("network: vgg16\nanswers:\n  totals: {macs: 15.47G, params: 138M}\n")
    code, sheet = sheet_json(path)
    assert code == 0
    assert [g["ok"] for g in sheet["grades"]] == [True, True]


# --- the answers: layers, blocks, totals, shapes, receptive fields ------------------------------


def test_answers_by_layer_and_dotted_and_block(answers):
    path = answers("""\
network: vgg16
answers:
  conv1.1.conv: {output_shape: 224x224x64, params: 1792}
  pool1.output_shape: 112x112x64
  pool1.receptive_field: 6
  conv1: {params: 38720}
  fc6: {output_shape: 4096}
  totals: {output_shape: 1000, receptive_field: 404, layers: 39}
""")
    # conv1.1: (3·3·3 + 1)·64 = 1,792; conv1.2: (3·3·64 + 1)·64 = 36,928; sum 38,720
    # pool1 field: conv 3 -> 5, pool 5 + (2 − 1)·1 = 6
    # vgg16 after expansion: 13 conv + 13 relu + 5 pool + flatten + 2 fc blocks of 3 layers
    # (fc, relu, dropout) + fc8 + prob = 13 + 13 + 5 + 1 + 6 + 1 + 1 = 40 layers; 39 is wrong
    code, sheet = sheet_json(path)
    oks = {(g["subject"], g["quantity"]): g["ok"] for g in sheet["grades"]}
    assert oks == {
        ("conv1.1.conv", "output_shape"): True, ("conv1.1.conv", "params"): True,
        ("pool1", "output_shape"): True, ("pool1", "receptive_field"): True,
        ("conv1", "params"): True, ("fc6", "output_shape"): True,
        ("totals", "output_shape"): True, ("totals", "receptive_field"): True,
        ("totals", "layers"): False,
    }
    assert next(g for g in sheet["grades"] if g["quantity"] == "layers")["correct"] == "40"
    assert code == 1


def test_spatial_only_shape_answers(answers):
    path = answers("network: vgg16\nanswers:\n  pool5: {output_shape: 7x7}\n"
                   "  pool4: {output_shape: 14}\n")
    _, sheet = sheet_json(path)
    assert [g["ok"] for g in sheet["grades"]] == [True, True]
    assert sheet["grades"][0]["note"] == "spatial size only"


def test_network_path_relative_to_the_answers_file(tmp_path):
    folder = tmp_path / "hw"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(
        "name: tiny\ninput: [3, 32, 32]\nlayers:\n"
        "  - {type: conv2d, name: conv, out_channels: 6, kernel_size: 5}\n")
    (folder / "answers.yaml").write_text(
        "network: tiny.yaml\nanswers:\n  conv: {output_shape: 28x28x6, params: 456}\n")
    # (32 − 5)/1 + 1 = 28; (5·5·3 + 1)·6 = 456
    code, sheet = sheet_json(folder / "answers.yaml")
    assert code == 0 and sheet["network"] == "tiny"


def test_questions_for_a_layer_that_does_not_fit(answers):
    path = answers("""\
questions:
  - {input: 7, kernel: 3, stride: 3, output: does not fit, params: does not fit}
  - {input: 7, kernel: 3, stride: 3, macs: 10}
""")
    _, sheet = sheet_json(path)
    assert [g["ok"] for g in sheet["grades"]] == [True, True, False]


def test_pool_question_and_receptive_field(answers):
    path = answers("""\
questions:
  - {pool: max, input: 6x6, kernel: 2, stride: 2, output: 3x3, receptive_field: 2}
  - {pool: avg, input: 7x7x1024, kernel: 7, output: 1x1x1024}
  - {pool: max, input: 112x112x64, kernel: 3, stride: 2, ceil: true, output: 56x56x64}
""")
    # ⌈(112 − 3)/2⌉ + 1 = 56 with ceil
    code, sheet = sheet_json(path)
    assert code == 0 and sheet["score"] == 4


def test_ceil_written_as_no_or_false_is_not_ceil_mode(answers):
    # (7 − 2)/2 + 1 = 3.5: exact rounding does not fit; only ceil mode would give ⌈3.5⌉ = 4
    path = answers("""\
questions:
  - {pool: max, input: 7x7, kernel: 2, stride: 2, ceil: no, output: 4x4}
  - {pool: max, input: 7x7, kernel: 2, stride: 2, ceil: "false", output: 4x4}
  - {pool: max, input: 7x7, kernel: 2, stride: 2, ceil: off, output: does not fit}
  - {pool: max, input: 7x7, kernel: 2, stride: 2, ceil: yes, output: 4x4}
  - {pool: max, input: 7x7, kernel: 2, stride: 2, ceil: true, rounding: ceil, output: 4x4}
""")
    _, sheet = sheet_json(path)
    assert [g["ok"] for g in sheet["grades"]] == [False, False, True, True, True]


def test_dilated_max_pool_question(answers):
    # F_eff = 2·(3 − 1) + 1 = 5: (7 − 5)/2 + 1 = 2, not the undilated (7 − 3)/2 + 1 = 3
    path = answers("""\
questions:
  - {pool: max, input: 7x7, kernel: 3, stride: 2, dilation: 2, output: 2x2}
  - {pool: max, input: 7x7, kernel: 3, stride: 2, dilation: 2, output: 3x3}
  - {pool: max, input: 7x7, kernel: 3, stride: 2, dilation: 2, receptive_field: 5}
""")
    _, sheet = sheet_json(path)
    assert [g["ok"] for g in sheet["grades"]] == [True, False, True]


def test_rf_stride_is_graded_on_both_axes(answers):
    # stride 2 down, 1 across: one output step moves 2 input rows or 1 input column, so the
    # receptive field's stride is 2×1; '2' alone (meaning 2×2) is wrong
    path = answers("""\
questions:
  - {input: 8x8, kernel: 2, stride: 2x1, rf_stride: 2}
  - {input: 8x8, kernel: 2, stride: 2x1, rf_stride: 2x1}
  - {input: 8x8, kernel: 2, stride: 2x1, rf_stride: 1x2}
  - {input: 8x8, kernel: 2, stride: 2x1, jump: [2, 1]}
  - {input: 8x8, kernel: 2, stride: 2, rf_stride: 2}
""")
    _, sheet = sheet_json(path)
    assert [g["ok"] for g in sheet["grades"]] == [False, True, False, True, True]
    assert sheet["grades"][0]["correct"] == "2×1"


def test_network_rf_stride_answer_on_both_axes(answers):
    # conv 3×3 stride (2, 1) on 9×10: (9 − 3)/2 + 1 = 4, (10 − 3)/1 + 1 = 8, j = (2, 1);
    # then a 2×2/2 pool: 2×4, j = (2·2, 1·2) = (4, 2)
    path = answers("""\
spec:
  name: uneven
  input: [1, 9, 10]
  layers:
    - {type: conv2d, name: conv, out_channels: 1, kernel_size: 3, stride: [2, 1]}
    - {type: max_pool2d, name: pool, kernel_size: 2, stride: 2}
answers:
  conv: {rf_stride: 2x1}
  pool.rf_stride: 4
  pool.jump: 4x2
""")
    _, sheet = sheet_json(path)
    assert [g["ok"] for g in sheet["grades"]] == [True, False, True]


# --- errors carry file:line ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "message", "line"), [
    ("network: vgg16\nanswers:\n  fc66: {params: 1}\n",
     "no layer or block named 'fc66'", 3),
    ("network: vgg16\nanswers:\n  pool5:\n    output_shape: 7x7x512\n    params: lots\n",
     "cannot read 'lots' as a number", 5),
    ("network: vgg16\nanswers:\n  pool5: {outptu_shape: 7x7x512}\n",
     "unknown quantity 'outptu_shape'", 3),
    ("network: vgg16\nanswers:\n  conv1.1.conv: {params: 1,792}\n",
     "unknown quantity '792'", 3),
    ("answers:\n  conv1: {params: 1}\n", "answers: needs the network", 1),
    ("network: vgg16\nanwsers:\n  conv1: {params: 1}\n", "unknown key 'anwsers'", 2),
    ("questions:\n  - {input: 7x7, stride: 1, output: 5x5}\n", "the question has no 'kernel'",
     2),
    ("questions:\n  - {input: 7x7, kernel: 3, output: 5x5x1x2}\n", "at most 3 sizes", 2),
    ("questions:\n  - {pool: min, input: 6, kernel: 2, output: 3x3}\n",
     "unknown pooling 'min'", 2),
    ("questions:\n  - {input: 7x7, kernel: 0, output: 5x5}\n", "invalid value 0", 2),
    ("questions:\n  - {input: 7x7, kernel: 3}\n", "no answer to grade", 2),
    ("student: s1234567\ntitle: nothing\n", "nothing to grade", 1),
    # not a size problem: 2 groups cannot split 3 input channels
    ("questions:\n  - {input: 7x7x3, kernel: 3, groups: 2, filters: 4, output: 5x5}\n",
     "groups=2 does not divide in_channels=3", 2),
    # keys that do not apply to the question's kind of layer are refused, not ignored
    ("questions:\n  - {pool: avg, input: 7x7, kernel: 3, dilation: 2, output: 3x3}\n",
     "avg pooling has no dilation", 2),
    ("questions:\n  - {pool: max, input: 7x7, kernel: 3,\n     groups: 2, output: 3x3}\n",
     "'groups' does not apply to max pooling", 3),
    ("questions:\n  - {pool: max, input: 7x7, kernel: 3, filters: 4, output: 3x3}\n",
     "'filters' does not apply to max pooling", 2),
    ("questions:\n  - {pool: avg, input: 7x7, kernel: 3, bias: false, output: 3x3}\n",
     "'bias' does not apply to avg pooling", 2),
    ("questions:\n  - {input: 7x7, kernel: 3,\n     ceil: true, output: 3x3}\n",
     "'ceil' does not apply to a convolution", 3),
    ("questions:\n  - {pool: max, input: 7x7, kernel: 2, ceil: true,\n"
     "     rounding: floor, output: 3x3}\n",
     "ceil (ceil mode) and rounding floor contradict each other", 3),
    ("questions:\n  - {pool: max, input: 7x7, kernel: 2,\n     ceil: maybe, output: 3x3}\n",
     "invalid value 'maybe'", 3),
])
def test_errors_name_the_line(answers, text, message, line):
    path = answers(text)
    result = run("check", path)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert f"answers.yaml:{line}:" in result.stderr
    assert "Traceback" not in result.output


def test_comma_inside_flow_mapping_gets_a_hint(answers):
    result = run("check", answers("network: vgg16\nanswers:\n  conv1.1.conv: {params: 1,792}\n"))
    assert "quote it ('363,000')" in result.stderr


def test_unknown_layer_suggests_a_close_name(answers):
    result = run("check", answers("network: vgg16\nanswers:\n  pool55: {params: 0}\n"))
    assert "did you mean 'pool5'?" in result.stderr


def test_inline_spec_errors_point_into_the_answers_file(answers):
    path = answers("""\
spec:
  name: bad
  input: [3, 32, 32]
  layers:
    - {type: conv2d, name: conv, out_channels: 6, kernel_size: 5, stide: 2}
answers:
  conv: {params: 456}
""")
    result = run("check", path)
    assert result.exit_code == 1
    assert "answers.yaml:5:" in result.stderr and "stide" in result.stderr


def test_library_grade_text():
    sheet = grade_text("questions:\n  - {input: 7x7, kernel: 3, stride: 2, output: 3x3}\n")
    assert (sheet.score, sheet.total) == (1, 1)
    with pytest.raises(ArchcalcError):
        grade_text("- just a list\n")


# --- a spec's expect: block --------------------------------------------------------------------


def test_check_bundled_vgg16_expectations_hold():
    result = run("check", "vgg16")
    assert result.exit_code == 0, result.output
    assert "✓ weights          expected 102,760,448, actual 102,760,448" in result.stdout
    assert "✗" not in result.stdout
    assert "claims hold" in result.stdout


def test_check_spec_with_a_false_claim(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("""\
name: net
input: [3, 227, 227]
layers:
  - {type: conv2d, name: conv1, out_channels: 96, kernel_size: 11, stride: 4}
expect:
  totals: {params: 34944}
  layers:
    conv1: {output_shape: 55x55x96, macs: 105415200, receptive_field: 13}
""")
    # (11·11·3 + 1)·96 = 34,944; 55·55·96·363 = 105,415,200; the field is 11, not 13
    result = run("check", str(path))
    assert result.exit_code == 1
    out = result.stdout
    assert "✓ params" in out and "✓ output_shape" in out and "✓ macs" in out
    assert "✗ receptive_field  expected 13, actual 11" in out
    assert "3/4 claims hold; 1 does not" in out
    data = json.loads(run("check", str(path), "--format", "json").stdout)
    assert (data["passed"], data["total"]) == (3, 4)


def test_check_spec_without_expectations(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("name: net\ninput: [1, 7, 7]\nlayers:\n  - {type: relu}\n")
    result = run("check", str(path))
    assert result.exit_code == 0
    assert "nothing to check" in result.stdout


def test_check_neither_spec_nor_answers(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("hello: world\n")
    result = run("check", str(path))
    assert result.exit_code == 1
    assert "neither a spec" in result.stderr


def test_readme_example_grades_all_right(tmp_path):
    text = (EXAMPLES / "README.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    sheet = grade_text(block, file="readme.yaml", base=tmp_path)
    # conv1: 55×55×96, (11·11·3 + 1)·96 = 34,944, 105,415,200 MACs, RF 11; pool1 27×27×96;
    # fc6 weights 6·6·256·4096 = 37,748,736; totals 60,965,224 params, 724,406,816 MACs;
    # questions: 7×7 3×3/3 does not fit, AlexNet conv1 again, 6×6 max pool -> 3×3
    assert [g.ok for g in sheet.grades] == [True] * 13
