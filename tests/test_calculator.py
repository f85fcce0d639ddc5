"""`archcalc conv` and `archcalc pool`: the lecture notes' single-layer examples, worked out.

Every expected number is written out by hand with its arithmetic; sources are the notes
(seeds 000–004: cs231n summary, "A Closer Look at Spatial Dimensions", AlexNet, GoogLeNet's
1×1 convolutions, 7×7 vs 3×3 kernels, max pooling).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archcalc import calculator as calc
from archcalc.cli import cli
from archcalc.errors import ArchcalcError


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def conv_json(*args: str) -> dict:
    result = run("conv", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def pool_json(*args: str) -> dict:
    result = run("pool", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- AlexNet conv1, the example ----------------------------------------------------


def test_alexnet_conv1_text_shows_every_formula_filled_in():
    result = run("conv", "--input", "227x227x3", "--kernel", "11", "--stride", "4",
                 "--padding", "0", "--filters", "96")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "(227 − 11 + 2·0)/4 + 1 = 55" in out
    assert "55×55×96" in out
    # params: (11·11·3 + 1)·96 = 364·96 = 34,944
    assert "(11·11·3 + 1)·96 = 34,944" in out
    # MACs: 55·55·96·(11·11·3) = 3,025·96·363 = 105,415,200
    assert "55·55·96·(11·11·3) = 105,415,200" in out
    # receptive field of one layer: 1 + (11 − 1)·1 = 11, stride 4
    assert "1 + (11 − 1)·1 = 11" in out
    assert "11×11 px, stride 4" in out


def test_alexnet_conv1_json():
    data = conv_json("--input", "227x227x3", "--kernel", "11", "--stride", "4",
                     "--filters", "96")
    assert data["fits"] is True
    assert data["output_shape"] == [96, 55, 55]
    assert data["params"] == 34_944
    assert data["weights"] == 11 * 11 * 3 * 96 == 34_848
    assert data["bias"] == 96
    assert data["macs"] == 105_415_200
    assert data["receptive_field"]["height"]["size"] == 11
    assert data["receptive_field"]["width"]["stride"] == 4


# --- "A Closer Look at Spatial Dimensions": 7×7 input, 3×3 filter --------------------------


@pytest.mark.parametrize(("stride", "size"), [
    ("1", 5),  # (7 − 3)/1 + 1 = 5
    ("2", 3),  # (7 − 3)/2 + 1 = 3
])
def test_seven_by_seven_input_three_by_three_filter(stride, size):
    data = conv_json("--input", "7", "--kernel", "3", "--stride", stride)
    assert data["output_shape"] == [1, size, size]


def test_stride_three_does_not_fit_and_says_what_would():
    result = run("conv", "--input", "7", "--kernel", "3", "--stride", "3")
    assert result.exit_code == 0  # the question was answered: "does not fit"
    out = result.stdout
    assert "✗ does not fit" in out
    assert "(7 − 3 + 2·0)/3 + 1 = 2.333" in out  # 4/3 + 1 = 2.33…
    # padding 1: (7 − 3 + 2)/3 + 1 = 3; stride 2: 4/2 + 1 = 3; stride 4: 4/4 + 1 = 2
    assert "padding 1        → 3×3×1" in out
    assert "stride 2         → 3×3×1" in out
    assert "stride 4         → 2×2×1" in out
    # rounding: ⌊2.33⌋ = 2 (PyTorch), ⌈2.33⌉ = 3 (Caffe)
    assert "floor rounding   → 2×2×1" in out
    assert "ceil rounding    → 3×3×1" in out


def test_does_not_fit_is_exit_1_with_strict():
    result = run("conv", "--input", "7", "--kernel", "3", "--stride", "3", "--strict")
    assert result.exit_code == 1
    assert "does not fit" in result.stdout


def test_does_not_fit_json_lists_the_alternatives():
    data = conv_json("--input", "7", "--kernel", "3", "--stride", "3")
    assert data["fits"] is False
    assert data["problem"]["formula"] == "(7 − 3 + 2·0)/3 + 1 = 2.333"
    fits = {(a["change"], a["value"]): a["output_shape"] for a in data["alternatives"]}
    assert fits == {("padding", 1): [1, 3, 3], ("stride", 2): [1, 3, 3],
                    ("stride", 4): [1, 2, 2], ("rounding", "floor"): [1, 2, 2],
                    ("rounding", "ceil"): [1, 3, 3]}


def test_rounding_option_floor():
    # ⌊(7 − 3)/3 + 1⌋ = ⌊2.33⌋ = 2
    data = conv_json("--input", "7", "--kernel", "3", "--stride", "3", "--rounding", "floor")
    assert data["output_shape"] == [1, 2, 2]


def test_kernel_larger_than_input_suggests_padding():
    # 7×7 kernel on 3×3: needs 3 + 2P ≥ 7, P ≥ 2 -> (3 − 7 + 4)/1 + 1 = 1
    result = run("conv", "--input", "3", "--kernel", "7")
    assert result.exit_code == 0
    assert "kernel does not fit" in result.stdout
    assert "padding 2        → 1×1×1" in result.stdout


def test_one_pixel_padding_keeps_the_size():
    # N×N input, 3×3 filter, stride 1, 1 pixel padding: (7 − 3 + 2·1)/1 + 1 = 7
    assert conv_json("--input", "7", "--kernel", "3", "--padding", "1")["output_shape"] == \
        [1, 7, 7]


# --- cs231n: 32×32×3 image, 5×5×3 filters -------------------------------------------------


def test_cs231n_five_by_five_filter_gives_28():
    # (32 − 5)/1 + 1 = 28; one filter: 5·5·3 = 75 weights + 1 bias
    data = conv_json("--input", "32x32x3", "--kernel", "5")
    assert data["output_shape"] == [1, 28, 28]
    assert data["params"] == 76


def test_cs231n_six_filters_stack_to_28x28x6():
    # "if we had 6 5x5 filters, we'll get 6 separate activation maps ... 28x28x6"
    # params (5·5·3 + 1)·6 = 456; MACs 28·28·6·75 = 352,800
    data = conv_json("--input", "32x32x3", "--kernel", "5", "--filters", "6")
    assert data["output_shape"] == [6, 28, 28]
    assert data["params"] == 456
    assert data["macs"] == 352_800


def test_cs231n_padding_two_keeps_32():
    # (32 − 5 + 2·2)/1 + 1 = 32
    data = conv_json("--input", "32x32x3", "--kernel", "5", "--padding", "2", "--filters", "6")
    assert data["output_shape"] == [6, 32, 32]


# --- the padding slide: "13 x 13, p=2, Stride = 1 -> 11 x 11" -------------------------------


def test_padding_slide_13_by_13_with_p2_gives_11_with_a_7x7_kernel():
    # (13 − F + 2·2)/1 + 1 = 11  =>  F = 13 + 4 + 1 − 11 = 7
    result = run("conv", "--input", "13x13", "--kernel", "7", "--padding", "2")
    assert "(13 − 7 + 2·2)/1 + 1 = 11" in result.stdout
    assert conv_json("--input", "13x13", "--kernel", "7", "--padding", "2")["output_shape"] \
        == [1, 11, 11]


@pytest.mark.parametrize(("padding", "kernel"), [("1", "3"), ("2", "5")])
def test_padding_slide_retaining_the_size(padding, kernel):
    # "We can retain the data size": an 11×11 map stays 11×11 when 2P = F − 1
    # p = 1, 3×3 (the 13×13 padded picture): (11 − 3 + 2)/1 + 1 = 11
    # p = 2, 5×5: (11 − 5 + 4)/1 + 1 = 11
    data = conv_json("--input", "11x11", "--kernel", kernel, "--padding", padding)
    assert data["output_shape"] == [1, 11, 11]


# --- 1×1 convolutions and GoogLeNet's bottleneck --------------------------------------------


def test_one_by_one_conv_reduces_depth():
    # 56×56×64 with 32 filters of 1×1×64: (56 − 1)/1 + 1 = 56
    # params (1·1·64 + 1)·32 = 2,080; MACs 56·56·32·64 = 6,422,528
    data = conv_json("--input", "56x56x64", "--kernel", "1", "--filters", "32")
    assert data["output_shape"] == [32, 56, 56]
    assert data["params"] == 2_080
    assert data["macs"] == 6_422_528


def test_bottleneck_numbers_from_the_notes():
    # naive: 20 × 11 × 11 × (120 × 5 × 5) = 7,260,000 ("7260k")
    naive = conv_json("--input", "11x11x120", "--kernel", "5", "--padding", "2",
                      "--filters", "20")
    assert naive["macs"] == 20 * 11 * 11 * 120 * 5 * 5 == 7_260_000
    # 6 × 11 × 11 × (120 × 1 × 1) = 87,120 and 20 × 11 × 11 × (6 × 5 × 5) = 363,000
    reduce = conv_json("--input", "11x11x120", "--kernel", "1", "--filters", "6")
    after = conv_json("--input", "11x11x6", "--kernel", "5", "--padding", "2",
                      "--filters", "20")
    assert reduce["macs"] == 87_120
    assert after["macs"] == 363_000
    assert reduce["macs"] + after["macs"] == 450_120  # "= 450k"


# --- 7×7 once vs 3×3 three times ------------------------------------------------------------


def test_three_by_three_stack_vs_seven_by_seven_weights():
    # 3 × C × (3 × 3 × C) = 27C² < C × (7 × 7 × C) = 49C², with C = 64 and no bias:
    c = 64
    small = conv_json("--input", f"56x56x{c}", "--kernel", "3", "--padding", "1",
                      "--filters", str(c), "--no-bias")
    big = conv_json("--input", f"56x56x{c}", "--kernel", "7", "--padding", "3",
                    "--filters", str(c), "--no-bias")
    assert 3 * small["params"] == 27 * c * c == 110_592
    assert big["params"] == 49 * c * c == 200_704
    assert big["receptive_field"]["height"]["size"] == 7


# --- options: rectangular kernels, same padding, dilation, groups ---------------------------


def test_rectangular_kernel_and_padding():
    # height (7 − 3 + 2·1)/1 + 1 = 7; width (9 − 5 + 2·2)/1 + 1 = 9
    result = run("conv", "--input", "7x9x2", "--kernel", "3x5", "--padding", "1x2")
    assert "height: (7 − 3 + 2·1)/1 + 1 = 7" in result.stdout
    assert "width: (9 − 5 + 2·2)/1 + 1 = 9" in result.stdout
    data = conv_json("--input", "7x9x2", "--kernel", "3x5", "--padding", "1x2")
    assert data["output_shape"] == [1, 7, 9]
    assert data["params"] == 3 * 5 * 2 + 1  # 31
    # receptive field 3 tall, 5 wide
    assert data["receptive_field"]["height"]["size"] == 3
    assert data["receptive_field"]["width"]["size"] == 5


def test_same_padding_with_stride_two():
    # TensorFlow 'same': ⌈32/2⌉ = 16
    data = conv_json("--input", "32x32x3", "--kernel", "3", "--stride", "2",
                     "--padding", "same", "--filters", "8")
    assert data["output_shape"] == [8, 16, 16]


def test_dilation_widens_the_kernel():
    # F_eff = 2·(3 − 1) + 1 = 5: (32 − 5 + 2·2)/1 + 1 = 32; receptive field 5
    result = run("conv", "--input", "32x32x8", "--kernel", "3", "--padding", "2",
                 "--dilation", "2", "--filters", "8")
    assert "(32 − (2·(3 − 1) + 1) + 2·2)/1 + 1 = 32" in result.stdout
    data = conv_json("--input", "32x32x8", "--kernel", "3", "--padding", "2",
                     "--dilation", "2", "--filters", "8")
    assert data["output_shape"] == [8, 32, 32]
    assert data["receptive_field"]["height"]["size"] == 5


def test_depthwise_groups():
    # 32 groups on 112×112×32, no bias: 32 filters of 3×3×1 -> 288 weights
    data = conv_json("--input", "112x112x32", "--kernel", "3", "--padding", "1",
                     "--filters", "32", "--groups", "32", "--no-bias")
    assert data["params"] == 32 * 3 * 3 == 288
    assert data["macs"] == 112 * 112 * 32 * 9


# --- pooling ------------------------------------------------------------------------------


def test_notes_six_by_six_max_pool_gives_three_by_three():
    # the notes' 6×6 example, 2×2 windows, s = 2: (6 − 2)/2 + 1 = 3
    result = run("pool", "--input", "6x6", "--kernel", "2", "--stride", "2")
    assert result.exit_code == 0
    assert "(6 − 2 + 2·0)/2 + 1 = 3" in result.stdout
    assert "3×3×1" in result.stdout
    # 9 outputs, 3 comparisons each: 3·3·1·(2·2 − 1) = 27
    assert "3·3·1·(2·2 − 1) = 27" in result.stdout


def test_pool_stride_defaults_to_the_kernel():
    # "max pool with 2×2 filters and stride 2" on 4×4: (4 − 2)/2 + 1 = 2
    assert pool_json("--input", "4x4", "--kernel", "2")["output_shape"] == [1, 2, 2]


def test_alexnet_overlapping_pool():
    # (55 − 3)/2 + 1 = 27; no parameters; receptive field 3, stride 2
    data = pool_json("--input", "55x55x96", "--kernel", "3", "--stride", "2")
    assert data["output_shape"] == [96, 27, 27]
    assert data["params"] == 0
    assert data["macs"] == 0
    assert data["receptive_field"]["height"]["size"] == 3
    assert data["receptive_field"]["height"]["stride"] == 2


def test_average_pool_of_googlenet_head():
    # 7×7 average over 7×7×1024 -> 1×1×1024; 1,024 outputs × 49 values = 50,176 FLOPs
    data = pool_json("--input", "7x7x1024", "--kernel", "7", "--stride", "1", "--type", "avg")
    assert data["output_shape"] == [1024, 1, 1]
    assert data["flops"] == 1024 * 49


def test_pool_ceil_mode():
    # (112 − 3)/2 + 1 = 55.5: exact does not fit; ⌈54.5⌉ + 1 = 56 with --ceil
    exact = pool_json("--input", "112x112x64", "--kernel", "3", "--stride", "2")
    assert exact["fits"] is False
    ceil = pool_json("--input", "112x112x64", "--kernel", "3", "--stride", "2", "--ceil")
    assert ceil["output_shape"] == [64, 56, 56]
    assert ceil["rounding"] == "ceil"  # what the size was computed with, as the JSON says
    same = pool_json("--input", "112x112x64", "--kernel", "3", "--stride", "2", "--ceil",
                     "--rounding", "ceil")
    assert same["output_shape"] == [64, 56, 56]


@pytest.mark.parametrize("rounding", ["floor", "exact"])
def test_pool_ceil_with_another_rounding_is_refused(rounding):
    # --ceil is ceil rounding: with --rounding floor it used to compute ⌈⌉ and report floor
    result = run("pool", "--input", "112x112x64", "--kernel", "3", "--stride", "2", "--ceil",
                 "--rounding", rounding, "--format", "json")
    assert result.exit_code == 1
    assert f"--ceil (ceil mode) and --rounding {rounding} contradict" in result.stderr
    assert "Traceback" not in result.output


def test_dilated_max_pool():
    # F_eff = 2·(3 − 1) + 1 = 5: (7 − 5)/2 + 1 = 2; receptive field 1 + (5 − 1)·1 = 5
    data = pool_json("--input", "7x7", "--kernel", "3", "--stride", "2", "--dilation", "2")
    assert data["output_shape"] == [1, 2, 2]
    assert data["receptive_field"]["height"]["size"] == 5
    result = run("pool", "--input", "7x7", "--kernel", "3", "--type", "avg", "--dilation", "2")
    assert result.exit_code == 1 and "avg pooling has no dilation" in result.stderr


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["conv", "--input", "7x7x3x2", "--kernel", "3"], "an input has 1, 2 or 3 sizes"),
    (["conv", "--input", "7", "--kernel", "3x"], "cannot read '3x'"),
    (["conv", "--input", "seven", "--kernel", "3"], "cannot read 'seven'"),
    (["conv", "--input", "0x7", "--kernel", "3"], "input sizes must be positive"),
    (["conv", "--input", "7", "--kernel", "3", "--stride", "0"], "field 'stride'"),
    (["conv", "--input", "7", "--kernel", "0"], "field 'kernel'"),
    (["conv", "--input", "7", "--kernel", "3", "--padding", "1,2,3"],
     "a padding has 1, 2 or 4 numbers"),
    (["conv", "--input", "32x32x3", "--kernel", "3", "--filters", "6", "--groups", "4"],
     "groups=4 does not divide"),
    (["pool", "--input", "6x6", "--kernel", "2", "--padding", "3"],
     "padding 3 is more than half the kernel 2"),
    # (8 − 3 + 2·2)/4 + 1 = 3.25 does not fit either, but the padding rule is said first, so
    # no size hint suggests a padding the pool refuses
    (["pool", "--input", "8x8", "--kernel", "3", "--stride", "4", "--padding", "2"],
     "padding 2 is more than half the kernel 3"),
])
def test_bad_input_is_one_clear_error(args, message):
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_option_is_usage_error():
    assert run("conv", "--input", "7").exit_code == 2


# --- the library API ----------------------------------------------------------------------


def test_parse_input_orders():
    assert calc.parse_input("227x227x3") == (3, 227, 227)
    assert calc.parse_input("7") == (1, 7, 7)
    assert calc.parse_input("7×5") == (1, 7, 5)
    assert calc.parse_padding("same") == "same"
    assert calc.parse_padding("1,1,0,2") == (1, 1, 0, 2)
    with pytest.raises(ArchcalcError):
        calc.parse_size("3x5x7", option="kernel")


def test_work_out_reuses_the_layer_classes():
    layer = calc.conv_layer(filters=96, kernel=11, stride=4)
    work = calc.work_out(layer, (3, 227, 227))
    assert work.fits and work.output_shape == (96, 55, 55)
    assert work.params == 34_944 and work.macs == 105_415_200
    assert calc.params_formula(work.tensors) == "(11·11·3 + 1)·96 = 34,944"


def test_only_a_window_that_does_not_fit_is_an_answer():
    # a window that does not fit is a FitError, answered with what would fit;
    # any other shape problem (2 groups cannot split 3 channels) is an error
    from archcalc.errors import FitError, ShapeError
    from archcalc.geometry import window_output

    with pytest.raises(FitError):
        window_output(7, 3, 3, 0, 0)  # (7 − 3)/3 + 1 = 2.33
    with pytest.raises(FitError):
        window_output(3, 7, 1, 0, 0)  # 7 > 3
    work = calc.work_out(calc.conv_layer(kernel=3, stride=3), (1, 7, 7))
    assert not work.fits and isinstance(work.problem, FitError)
    with pytest.raises(ShapeError) as info:
        calc.work_out(calc.conv_layer(filters=4, kernel=3, groups=2), (3, 7, 7))
    assert not isinstance(info.value, FitError)


# --- alternatives against a brute-force search -----------------------------------------------


def _brute_fits(n: int, k: int, s: int, p: int, d: int, rounding: str = "exact") -> int | None:
    """The output size of one axis, or None: geometry.window_output as the oracle."""
    from archcalc.errors import FitError
    from archcalc.geometry import window_output

    try:
        return window_output(n, k, s, p, p, dilation=d, rounding=rounding).value
    except FitError:
        return None


def _nearest(fits, current: int, candidates: range) -> list[int]:
    """[current] when it fits, else the closest fitting value below and above it."""
    if fits(current):
        return [current]
    below = [v for v in candidates if v < current and fits(v)]
    above = [v for v in candidates if v > current and fits(v)]
    return ([below[-1]] if below else []) + ([above[0]] if above else [])


def _pair(value) -> tuple[int, int]:
    return value if isinstance(value, tuple) else (value, value)


CASES = [  # (H, W, kernel, stride, padding, dilation)
    (h, w, k, s, p, d)
    for h in (5, 6, 7, 8, 12) for w in (5, 7, 8, 11)
    for k in (1, 2, 3, (3, 5), (5, 2)) for s in (1, 2, 3, 4, (2, 3), (4, 1))
    for p in (0, 1, (2, 0)) for d in (1, 2, (1, 3))
]


@pytest.mark.parametrize("chunk", range(8))
def test_alternatives_match_a_brute_force_search(chunk):
    """Every layer of the grid that does not fit: the paddings offered use, per axis, exactly
    the nearest fitting paddings (scanning every padding), the strides exactly the nearest
    fitting strides up to max(2·S, F_eff), and each output is what window_output gives."""
    checked = 0
    for h, w, k, s, p, d in CASES[chunk::8]:
        layer = calc.conv_layer(kernel=k, stride=s, padding=p, dilation=d)
        kernel, stride, pad, dil = _pair(k), _pair(s), _pair(p), _pair(d)
        axes = list(zip((h, w), kernel, stride, pad, dil))
        if all(_brute_fits(n, ki, si, pi, di) is not None for n, ki, si, pi, di in axes):
            continue  # fits: nothing to suggest
        checked += 1
        found = calc.alternatives(layer, (1, h, w))
        by_change = {c: [a for a in found if a.change == c] for c in ("padding", "stride",
                                                                       "rounding")}
        # paddings: 0 … current + F_eff + 2S covers every residue above the least fitting one
        wanted = [_nearest(lambda v, n=n, ki=ki, si=si, di=di: _brute_fits(n, ki, si, v, di)
                           is not None, pi, range(0, pi + di * (ki - 1) + 1 + 2 * si + 1))
                  for n, ki, si, pi, di in axes]
        values = [_pair(a.value) for a in by_change["padding"]]
        if wanted[0] and wanted[1]:
            assert {v[0] for v in values} == set(wanted[0]), (h, w, k, s, p, d)
            assert {v[1] for v in values} == set(wanted[1]), (h, w, k, s, p, d)
        else:
            assert values == [], (h, w, k, s, p, d)
        for a, (ph, pw) in zip(by_change["padding"], values):
            assert a.output_shape == (1, _brute_fits(h, kernel[0], stride[0], ph, dil[0]),
                                      _brute_fits(w, kernel[1], stride[1], pw, dil[1]))
        # strides: 1 … max(2·S, F_eff), with the current padding
        wanted = [_nearest(lambda v, n=n, ki=ki, pi=pi, di=di: _brute_fits(n, ki, v, pi, di)
                           is not None, si, range(1, max(2 * si, di * (ki - 1) + 1) + 1))
                  for n, ki, si, pi, di in axes]
        values = [_pair(a.value) for a in by_change["stride"]]
        if wanted[0] and wanted[1]:
            assert {v[0] for v in values} == set(wanted[0]), (h, w, k, s, p, d)
            assert {v[1] for v in values} == set(wanted[1]), (h, w, k, s, p, d)
        else:
            assert values == [], (h, w, k, s, p, d)
        for a, (sh, sw) in zip(by_change["stride"], values):
            assert a.output_shape == (1, _brute_fits(h, kernel[0], sh, pad[0], dil[0]),
                                      _brute_fits(w, kernel[1], sw, pad[1], dil[1]))
        # rounding: floor and ceil whenever both axes then give a size
        for a in by_change["rounding"]:
            assert a.output_shape == (1, *(_brute_fits(n, ki, si, pi, di, a.value)
                                           for n, ki, si, pi, di in axes))
        expected_modes = [m for m in ("floor", "ceil")
                          if all(_brute_fits(n, ki, si, pi, di, m) is not None
                                 for n, ki, si, pi, di in axes)]
        assert [a.value for a in by_change["rounding"]] == expected_modes
    assert checked > 100


def test_alternatives_cover_the_hard_cases():
    # non-square input, a different answer per axis: 7×8, 3×3 stride 2. Height
    # (7 − 3)/2 + 1 = 3 fits; width (8 − 3)/2 + 1 = 3.5 does not, and no symmetric padding
    # helps (8 − 3 + 2p is odd, the stride even). Strides dividing the width's room 5: 1, and
    # 5, beyond max(2·2, 3) = 4, so only 1; the height keeps 2
    found = calc.alternatives(calc.conv_layer(kernel=3, stride=2), (1, 7, 8))
    assert [(a.change, a.value, a.output_shape) for a in found] == [
        ("stride", (2, 1), (1, 3, 6)),  # width (8 − 3)/1 + 1 = 6
        ("rounding", "floor", (1, 3, 3)),  # ⌊3.5⌋
        ("rounding", "ceil", (1, 3, 4)),  # ⌈3.5⌉ = 4: the last window starts at 6 < 8
    ]
    # dilation 2: F_eff = 2·(3 − 1) + 1 = 5 on 6: (6 − 5 + 2p)/3 + 1 needs 1 + 2p ≡ 0 (mod 3):
    # p = 1 → (6 − 5 + 2)/3 + 1 = 2; p = 4 → (6 − 5 + 8)/3 + 1 = 4
    found = calc.alternatives(calc.conv_layer(kernel=3, stride=3, dilation=2), (1, 6, 6))
    assert [(a.value, a.output_shape) for a in found if a.change == "padding"] == [
        (1, (1, 2, 2))]
    found = calc.alternatives(calc.conv_layer(kernel=3, stride=3, padding=2, dilation=2),
                              (1, 6, 6))
    assert [(a.value, a.output_shape) for a in found if a.change == "padding"] == [
        (1, (1, 2, 2)), (4, (1, 4, 4))]
