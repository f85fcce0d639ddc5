"""The bundled model zoo: every spec's own expectations hold, and the published numbers are
asserted here directly, each next to its source. Counts are written out by hand or copied from
the papers and the torchvision model documentation — never from archcalc's output."""

from __future__ import annotations

import functools

import pytest
from click.testing import CliRunner

from archcalc.analysis import Analysis, analyze
from archcalc.cli import cli
from archcalc.expectations import check_expectations
from archcalc.spec import BUNDLED_DIR, bundled_names, load_spec, parse_spec

ZOO = [
    "lenet5", "lenet5_modern", "alexnet", "alexnet_onetower", "zfnet", "vgg11", "vgg13", "vgg16",
    "vgg19", "vgg16_bn", "nin", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101",
    "resnet152", "resnet50_v1", "inception_naive", "inception_bottleneck", "stack_3x3",
    "single_7x7", "one_by_one", "cs231n_conv",
]


@functools.cache
def zoo(name: str, **overrides) -> Analysis:
    return analyze(load_spec(name, overrides=overrides or None))


def hw(analysis: Analysis, layer: str) -> tuple[int, ...]:
    return analysis.layer(layer).output_shape


def test_the_zoo_is_bundled():
    assert set(ZOO) <= set(bundled_names())


@pytest.mark.parametrize("name", ZOO)
def test_every_expectation_holds(name):
    results = check_expectations(zoo(name))
    failures = [(r.subject, r.quantity, r.expected, r.actual, r.detail)
                for r in results if not r.ok]
    assert results, f"{name} asserts nothing"
    assert not failures


@pytest.mark.parametrize("name", ZOO)
def test_every_spec_says_what_it_is_and_where_it_comes_from(name):
    spec = zoo(name).spec
    assert spec.description and spec.source
    claimed = set(spec.expect.totals)
    assert "output_shape" in claimed and claimed & {"params", "macs", "trainable_params"}


# --- torchvision's model documentation ---------------------------------------------------------
# pytorch.org/vision/stable/models: num_params and GFLOPS (multiply–accumulates, 224×224 input)

TORCHVISION = {
    "alexnet_onetower": (61_100_840, "0.71"),
    "vgg11": (132_863_336, "7.61"),
    "vgg13": (133_047_848, "11.31"),
    "vgg16": (138_357_544, "15.47"),
    "vgg19": (143_667_240, "19.63"),
    "vgg16_bn": (138_365_992, "15.47"),
    "resnet18": (11_689_512, "1.81"),
    "resnet34": (21_797_672, "3.66"),
    "resnet50": (25_557_032, "4.09"),
    "resnet101": (44_549_160, "7.8"),
    "resnet152": (60_192_808, "11.51"),
}


@pytest.mark.parametrize(("name", "published"), TORCHVISION.items())
def test_torchvision_params_and_gflops(name, published):
    params, gflops = published
    analysis = zoo(name)
    assert analysis.totals.params == params
    decimals = len(gflops.split(".")[1])
    assert round(analysis.totals.macs / 1e9, decimals) == float(gflops)


def test_vgg16_macs_by_hand():
    # Σ over the 13 convs of H·W·C'·9·C, then 25,088·4,096 + 4,096·4,096 + 4,096·1,000
    convs = [(224, 3, 64), (224, 64, 64), (112, 64, 128), (112, 128, 128), (56, 128, 256),
             (56, 256, 256), (56, 256, 256), (28, 256, 512), (28, 512, 512), (28, 512, 512),
             (14, 512, 512), (14, 512, 512), (14, 512, 512)]
    macs = sum(h * h * cout * 9 * cin for h, cin, cout in convs)
    macs += 25_088 * 4_096 + 4_096 * 4_096 + 4_096 * 1_000
    assert macs == 15_470_264_320
    assert zoo("vgg16").totals.macs == macs


@pytest.mark.parametrize(("name", "millions"), [
    # Simonyan & Zisserman 2015, Table 2: "Number of parameters (in millions)"
    ("vgg11", 133), ("vgg13", 133), ("vgg16", 138), ("vgg19", 144),
])
def test_vgg_paper_table_2(name, millions):
    assert round(zoo(name).totals.params / 1e6) == millions


def test_vgg16_bn_adds_gamma_and_beta_per_channel():
    # 2·(2·64 + 2·128 + 3·256 + 6·512) = 8,448 (γ, β); as many running statistics
    assert zoo("vgg16_bn").totals.params - zoo("vgg16").totals.params == 8_448
    assert zoo("vgg16_bn").totals.buffers == 8_448
    assert zoo("vgg16_bn").totals.macs == zoo("vgg16").totals.macs


def test_vgg_fc_weights_from_the_notes():
    # lecture notes: 512×7×7×4096 = 102,760,448; 4096×4096 = 16,777,216; 4096×1000 = 4,096,000
    vgg = zoo("vgg16")
    assert vgg.layer("fc6.fc").weights == 102_760_448
    assert vgg.layer("fc7.fc").weights == 16_777_216
    assert vgg.layer("fc8").weights == 4_096_000


# --- LeNet-5 -----------------------------------------------------------------------------------


def test_lenet5_per_layer_params_from_the_paper():
    # LeCun et al. 1998, §II-B
    lenet = zoo("lenet5")
    expected = {
        "c1": 156,        # (5·5·1 + 1)·6
        "s2": 12,         # a coefficient and a bias per map: 2·6
        "c3": 1_516,      # (6·3 + 9·4 + 1·6)·25 + 16, Table I's connections
        "s4": 32,         # 2·16
        "c5": 48_120,     # (5·5·16 + 1)·120
        "f6": 10_164,     # (120 + 1)·84
    }
    assert {name: lenet.layer(name).params for name in expected} == expected
    assert sum(expected.values()) == 60_000
    assert lenet.totals.trainable_params == 60_000
    # the RBF output's 84·10 parameter vectors are fixed by hand, not learned
    assert lenet.layer("output").params == 840
    assert lenet.layer("output").trainable_params == 0
    assert lenet.totals.non_trainable_params == 840


def test_lenet5_connections_from_the_paper():
    # §II-B counts "connections" = multiply–accumulates + bias adds
    lenet = zoo("lenet5")
    assert lenet.layer("c1").macs + 28 * 28 * 6 == 122_304
    assert lenet.layer("c3").macs + 10 * 10 * 16 == 151_600
    assert lenet.layer("c5").macs + 120 == 48_120


def test_lenet5_c3_table_is_the_papers_table_i():
    # Table I: X marks which S2 map (row) feeds which C3 map (column)
    table_i = [
        "X...XXX..XXXX.XX",
        "XX...XXX..XXXX.X",
        "XXX...XXX..X.XXX",
        ".XXX..XXXX..X.XX",
        "..XXX..XXXX.XX.X",
        "...XXX..XXXX.XXX",
    ]
    columns = [tuple(row for row in range(6) if table_i[row][col] == "X") for col in range(16)]
    c3 = zoo("lenet5").layer("c3").layer
    assert c3.connections == tuple(columns)


def test_lenet5_modern_is_fully_connected():
    # conv2: (5·5·6 + 1)·16 = 2,416; total 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706
    modern = zoo("lenet5_modern")
    assert modern.layer("conv2").params == 2_416
    assert modern.totals.params == 61_706


# --- AlexNet and ZFNet -------------------------------------------------------------------------


def test_alexnet_shapes_from_the_notes():
    # 227 → (227 − 11)/4 + 1 = 55 → (55 − 3)/2 + 1 = 27 → 27 (pad 2) → (27 − 3)/2 + 1 = 13
    # → 13 → 13 → 13 → (13 − 3)/2 + 1 = 6
    alexnet = zoo("alexnet")
    sizes = [hw(alexnet, name)[1] for name in
             ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool3")]
    assert sizes == [55, 27, 27, 13, 13, 13, 13, 6]
    assert [hw(alexnet, name)[0] for name in ("conv1", "conv2", "conv3", "conv4", "conv5")] \
        == [96, 256, 384, 384, 256]


def test_alexnet_three_published_parameter_counts():
    # two towers (groups=2 on conv2/4/5): 34,944 + 307,456 + 885,120 + 663,936 + 442,624
    # + 37,752,832 + 16,781,312 + 4,097,000 = 60,965,224 — the 60.97 M of the paper's network
    assert zoo("alexnet").totals.params == 60_965_224
    # the same layers without groups: conv2 614,656, conv4 1,327,488, conv5 884,992 → 62.38 M,
    # the figure most slides quote
    text = (BUNDLED_DIR / "alexnet.yaml").read_text(encoding="utf-8")
    ungrouped = analyze(parse_spec(text.replace("groups: 2", "groups: 1"), file="alexnet.yaml"))
    assert ungrouped.totals.params == 62_378_344
    # torchvision's one-tower 64-192-384-256-256 model: 61.10 M (docs: 61,100,840)
    assert zoo("alexnet_onetower").totals.params == 61_100_840


def test_zfnet_figure_3_sizes():
    # Zeiler & Fergus 2014, Figure 3: 224 → 110 → 55 → 26 → 13 → 13 → 13 → 13 → 6
    zf = zoo("zfnet")
    sizes = [hw(zf, name)[1] for name in
             ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool3")]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]
    # the notes' filters: conv3/4/5 = 512, 1024, 512
    assert [hw(zf, name)[0] for name in ("conv3", "conv4", "conv5")] == [512, 1024, 512]


# --- NIN and GoogLeNet -------------------------------------------------------------------------


def test_nin_params_by_hand():
    def conv(k, cin, cout):
        return (k * k * cin + 1) * cout

    total = (conv(11, 3, 96) + conv(1, 96, 96) + conv(1, 96, 96)
             + conv(5, 96, 256) + conv(1, 256, 256) + conv(1, 256, 256)
             + conv(3, 256, 384) + conv(1, 384, 384) + conv(1, 384, 384)
             + conv(3, 384, 1024) + conv(1, 1024, 1024) + conv(1, 1024, 1000))
    assert zoo("nin").totals.params == total == 7_595_176
    assert hw(zoo("nin"), "gap") == (1000, 1, 1)  # global average pooling, no FC layer


# Szegedy et al. 2015, Table 1: input channels, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5,
# pool proj; spatial size; and the "ops" column (M)
INCEPTION = {
    "inception_3a": (192, 64, 96, 128, 16, 32, 32, 28, 128),
    "inception_3b": (256, 128, 128, 192, 32, 96, 64, 28, 304),
    "inception_4a": (480, 192, 96, 208, 16, 48, 64, 14, 73),
    "inception_4b": (512, 160, 112, 224, 24, 64, 64, 14, 88),
    "inception_4c": (512, 128, 128, 256, 24, 64, 64, 14, 100),
    "inception_4d": (512, 112, 144, 288, 32, 64, 64, 14, 119),
    "inception_4e": (528, 256, 160, 320, 32, 128, 128, 14, 170),
    "inception_5a": (832, 256, 160, 320, 32, 128, 128, 7, 54),
    "inception_5b": (832, 384, 192, 384, 48, 128, 128, 7, 71),
}
TABLE_1_MISPRINTS = {"inception_4a": 73_608_192, "inception_5a": 51_079_168}


def inception_weights(i, c1, c3r, c3, c5r, c5, pp):
    return i * c1 + i * c3r + 9 * c3r * c3 + i * c5r + 25 * c5r * c5 + i * pp


@pytest.mark.parametrize("name", INCEPTION)
def test_googlenet_table_1_rows(name):
    i, c1, c3r, c3, c5r, c5, pp, size, ops = INCEPTION[name]
    weights = inception_weights(i, c1, c3r, c3, c5r, c5, pp)
    block = [row for row in zoo("googlenet").layers if row.node.block_path[:1] == (name,)]
    assert sum(row.weights for row in block) == weights
    assert sum(row.bias for row in block) == c1 + c3r + c3 + c5r + c5 + pp
    macs = sum(row.macs for row in block)
    assert macs == size * size * weights  # 1×1-padded convs: every weight used at each position
    if name in TABLE_1_MISPRINTS:  # 4a prints 73M for 73.6M; 5a prints 54M for 51.1M
        assert macs == TABLE_1_MISPRINTS[name]
    else:
        assert round(macs / 1e6) == ops
    assert hw(zoo("googlenet"), f"{name}.concat") == (c1 + c3 + c5 + pp, size, size)


def test_googlenet_totals_by_hand():
    stem = (7 * 7 * 3 * 64 + 64) + (64 * 64 + 64) + (3 * 3 * 64 * 192 + 192)
    modules = sum(inception_weights(*row[:7]) + sum(row[1:7]) for row in INCEPTION.values())
    classifier = 1024 * 1000 + 1000
    assert stem + modules + classifier == 6_998_552
    assert zoo("googlenet").totals.params == 6_998_552
    # §5's "computational budget of 1.5 billion multiply-adds": 1.58 G
    assert round(zoo("googlenet").totals.macs / 1e9, 1) == 1.6


def test_googlenet_aux_heads_switch_on():
    # §5: 5×5/3 average pool (14 → 4), 1×1 conv 128, fc 1024, fc 1000, after 4a (512 maps)
    # and 4d (528 maps)
    head = 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    aux1, aux2 = 512 * 128 + 128 + head, 528 * 128 + 128 + head
    with_aux = zoo("googlenet", aux=True)
    assert with_aux.totals.params == 6_998_552 + aux1 + aux2 == 13_378_280
    assert with_aux.outputs == ("aux1.prob", "aux2.prob", "prob")
    assert hw(with_aux, "aux1.pool") == (512, 4, 4)
    assert zoo("googlenet").outputs == ("prob",)


# --- ResNet ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                  "resnet50_v1"])
def test_resnet_table_1_output_sizes(name):
    # He et al. 2016, Table 1: conv1 112×112, conv2_x 56×56, conv3_x 28×28, conv4_x 14×14,
    # conv5_x 7×7
    net = zoo(name)
    assert hw(net, "conv1")[1:] == (112, 112)
    assert [hw(net, f"layer{i}.1.relu")[1] for i in range(1, 5)] == [56, 28, 14, 7]


@pytest.mark.parametrize(("name", "gflops"), [
    # He et al. 2016, Table 1 "FLOPs" (multiply-adds, §3.3), v1 stride placement
    ("resnet18", 1.8), ("resnet34", 3.6), ("resnet50_v1", 3.8),
])
def test_resnet_paper_flops_within_two_percent(name, gflops):
    assert abs(zoo(name).totals.macs / 1e9 - gflops) / gflops < 0.02


def test_resnet_v1_and_v15_differ_only_in_the_strided_1x1():
    # v1.5 runs the first 1×1 of stages 2–4 at the input resolution: ¾·H²·C·w more MACs,
    # ¾·56²·256·128 = ¾·28²·512·256 = ¾·14²·1024·512 = 77,070,336 per stage
    v15, v1 = zoo("resnet50"), zoo("resnet50_v1")
    assert v15.totals.params == v1.totals.params
    assert v15.totals.macs - v1.totals.macs == 3 * 77_070_336


def test_resnet50_macs_by_hand():
    # He et al. 2016, Table 1 (v1): Σ over the convs of H'·W'·C'·k²·C, then the fc 2,048·1,000.
    # conv1 7×7/2 to 112×112×64; each stage's first block has a 1×1 projection shortcut and
    # (v1) its stride in the first 1×1, so every conv of a stage runs at the stage's size h.
    macs = 112 * 112 * 64 * 7 * 7 * 3
    stages = [(56, 64, 256, 3, 64), (28, 128, 512, 4, 256), (14, 256, 1024, 6, 512),
              (7, 512, 2048, 3, 1024)]  # (h, width, output channels, blocks, input channels)
    for h, mid, out, blocks, c_in in stages:
        for block in range(blocks):
            c = c_in if block == 0 else out
            macs += h * h * (mid * c + mid * 9 * mid + out * mid)  # 1×1, 3×3, 1×1
            if block == 0:
                macs += h * h * out * c  # projection
    macs += 2_048 * 1_000
    assert macs == 3_857_973_248
    assert zoo("resnet50_v1").totals.macs == macs
    # v1.5 strides the 3×3 instead: stages 2–4's first 1×1 runs at 2h, (2h)² − h² = 3·h² more
    # positions: 3·28²·128·256 = 3·14²·256·512 = 3·7²·512·1,024 = 77,070,336 each
    v15_extra = sum(3 * h * h * mid * c_in for h, mid, _, _, c_in in stages[1:])
    assert v15_extra == 3 * 77_070_336 == 231_211_008
    assert zoo("resnet50").totals.macs == macs + v15_extra == 4_089_184_256


def test_resnet50_receptive_fields():
    # v1: 483 at the last block (google-research/receptive_field table, resnet_v1_50/block4)
    assert zoo("resnet50_v1").layer("layer4.3.relu").receptive_field.height.size == 483
    # v1.5 by hand: 11 after the pool (j 4); layer1 + 3·2·4 = 35; layer2 + 2·4 + 3·2·8 = 91;
    # layer3 + 2·8 + 5·2·16 = 267; layer4 + 2·16 + 2·2·32 = 427
    assert zoo("resnet50").layer("layer4.3.relu").receptive_field.height.size == 427


# --- the notes' worked examples ----------------------------------------------------------------


def test_one_by_one_bottleneck_saves_work():
    # notes: 20·11·11·(120·5·5) = 7,260,000 vs 6·11·11·120 + 20·11·11·(6·5·5) = 450,120
    assert zoo("inception_naive").totals.macs == 20 * 11 * 11 * (120 * 5 * 5) == 7_260_000
    assert zoo("inception_bottleneck").totals.macs == 87_120 + 363_000 == 450_120
    assert hw(zoo("inception_naive"), "conv5x5") == hw(zoo("inception_bottleneck"), "conv5x5") \
        == (20, 11, 11)


def test_three_3x3_vs_one_7x7():
    # notes: 3·C·(3·3·C) = 27C² < C·(7·7·C) = 49C², C = 64; both see 7×7
    c = 64
    assert zoo("stack_3x3").totals.params == 27 * c * c
    assert zoo("single_7x7").totals.params == 49 * c * c
    assert zoo("stack_3x3").layer("conv3").receptive_field.height.size == 7
    assert zoo("single_7x7").layer("conv7x7").receptive_field.height.size == 7


def test_one_by_one_and_cs231n_shapes():
    # notes: 56×56×64 → 1×1 conv, 32 filters → 56×56×32
    assert zoo("one_by_one").output.output_shape == (32, 56, 56)
    # CS231n: 32×32×3, ten 5×5 filters, stride 1, pad 2: (32 − 5 + 2·2)/1 + 1 = 32 → 32×32×10;
    # (5·5·3 + 1)·10 = 760 params
    assert zoo("cs231n_conv").output.output_shape == (10, 32, 32)
    assert zoo("cs231n_conv").totals.params == 760


# --- the CLI on the big ones -------------------------------------------------------------------


@pytest.mark.parametrize(("args", "present"), [
    (["summary", "resnet152"], ["layer3.36.relu", "layer4.3.add", "60,192,808"]),
    (["summary", "resnet152", "--depth", "0"], ["layer3.36", "60,192,808"]),
    (["summary", "googlenet"], ["inception_5b.concat", "inception_3a.5x5", "6,998,552"]),
    (["summary", "googlenet", "--depth", "0"], ["inception_4e", "6,998,552"]),
    (["summary", "googlenet", "--set", "aux=true"], ["aux2.classifier", "13,378,280"]),
])
def test_summary_prints_complete_tables(args, present):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for text in present:
        assert text in result.output


def test_verify_all_bundled_specs():
    result = CliRunner().invoke(cli, ["verify", "--failed"])
    assert result.exit_code == 0, result.output
    assert " 0 ✗" in result.output
