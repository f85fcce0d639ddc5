"""archcalc.diagram and `archcalc render`.

Expected shapes and counts are worked out by hand in the comments (output size
(W − F + 2P)/S + 1, conv params F·F·C·K + K, conv MACs H'·W'·K·F·F·C, linear in·out); the
structure of the DOT is also read back through the renderer's own parser (its JSON output), and
the SVG through xml.etree.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from archcalc.analysis import analyze
from archcalc.cli import cli
from archcalc.diagram import _short, build_diagram, render, to_digraph, to_dot
from archcalc.dot_render import render_dot, supported_formats
from archcalc.spec import bundled_names, load_spec

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SEQUENTIAL = """
name: tiny
input: [1, 32, 32]
layers:
  - {type: conv2d, name: conv1, out_channels: 6, kernel_size: 5}
  - {type: relu, name: relu1}
  - {type: max_pool2d, name: pool1, kernel_size: 2, stride: 2}
  - {type: flatten, name: flatten}
  - {type: linear, name: fc, out_features: 10}
"""
# conv1: (32 − 5 + 2·0)/1 + 1 = 28 → 28×28×6;  pool1: (28 − 2)/2 + 1 = 14 → 14×14×6
# flatten: 14·14·6 = 1176;  fc: 10
SEQUENTIAL_EDGES = {
    ("input", "conv1", "32×32×1"),
    ("conv1", "relu1", "28×28×6"),
    ("relu1", "pool1", "28×28×6"),
    ("pool1", "flatten", "14×14×6"),
    ("flatten", "fc", "1176"),
    ("fc", "output", "10"),
}

# GoogLeNet inception (3a), Szegedy et al. 2015, Table 1: 28×28×192 in; #1×1 64,
# #3×3 reduce 96, #3×3 128, #5×5 reduce 16, #5×5 32, pool proj 32; out 28×28×256.
INCEPTION = """
name: inception
input: [192, 28, 28]
blocks:
  inception:
    params: [c1, c3r, c3, c5r, c5, pp]
    layers:
      - {type: conv2d, name: b1, inputs: [input], out_channels: $c1, kernel_size: 1}
      - {type: conv2d, name: b2_reduce, inputs: [input], out_channels: $c3r, kernel_size: 1}
      - {type: conv2d, name: b2, out_channels: $c3, kernel_size: 3, padding: 1}
      - {type: conv2d, name: b3_reduce, inputs: [input], out_channels: $c5r, kernel_size: 1}
      - {type: conv2d, name: b3, out_channels: $c5, kernel_size: 5, padding: 2}
      - {type: max_pool2d, name: b4_pool, inputs: [input], kernel_size: 3, stride: 1, padding: 1}
      - {type: conv2d, name: b4, out_channels: $pp, kernel_size: 1}
      - {type: concat, name: concat, inputs: [b1, b2, b3, b4]}
layers:
  - {block: inception, name: inception_3a,
     args: {c1: 64, c3r: 96, c3: 128, c5r: 16, c5: 32, pp: 32}}
"""

RESIDUAL = """
name: residual
input: [64, 56, 56]
blocks:
  basic:
    layers:
      - {type: conv2d, name: conv1, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
      - {type: batch_norm2d, name: bn1}
      - {type: relu, name: relu1}
      - {type: conv2d, name: conv2, out_channels: 64, kernel_size: 3, padding: 1, bias: false}
      - {type: batch_norm2d, name: bn2}
      - {type: add, name: add, inputs: [bn2, input]}
      - {type: relu, name: relu2}
layers:
  - {block: basic, name: res, repeat: 3}
  - {type: global_avg_pool2d, name: gap}
  - {type: flatten, name: flat}
  - {type: linear, name: fc, out_features: 10}
"""
BASIC_LAYERS = ("conv1", "bn1", "relu1", "conv2", "bn2", "add", "relu2")

# A ResNet stage: the first block downsamples (stride 2, 1×1 projection shortcut), the other
# three are identical 28×28×128 → 28×28×128 blocks.
STAGE = """
name: stage
input: [64, 56, 56]
rounding: floor
blocks:
  basic:
    params: {out: ~, stride: 1, project: false}
    layers:
      - {type: conv2d, name: conv1, out_channels: $out, kernel_size: 3, stride: $stride,
         padding: 1, bias: false}
      - {type: relu, name: relu1}
      - {type: conv2d, name: conv2, out_channels: $out, kernel_size: 3, padding: 1, bias: false}
      - {type: conv2d, name: proj, inputs: [input], out_channels: $out, kernel_size: 1,
         stride: $stride, bias: false, if: $project}
      - {type: add, name: add, inputs: [conv2, proj]}
      - {type: relu, name: relu2}
layers:
  - {block: basic, name: stage, repeat: 4, args: {out: 128}, first: {stride: 2, project: true}}
"""


def edge_set(diagram):
    return {(e.tail, e.head, e.shape) for e in diagram.edges}


def node_keys(diagram):
    return {n.key for n in diagram.nodes}


def renderer_json(source: str) -> dict:
    """The DOT as the renderer itself parsed it (an independent reading of our text)."""
    data, _ = render_dot(source, "json")
    return json.loads(data)


# ----------------------------------------------------------------------------- structure


def test_sequential_nodes_edges_and_shapes(analyse_text):
    diagram = build_diagram(analyse_text(SEQUENTIAL))
    assert node_keys(diagram) == {"input", "conv1", "relu1", "pool1", "flatten", "fc", "output"}
    assert edge_set(diagram) == SEQUENTIAL_EDGES
    assert diagram.clusters == ()


def test_sequential_labels_and_numbers(analyse_text):
    diagram = build_diagram(analyse_text(SEQUENTIAL))
    conv = diagram.node("conv1")
    assert conv.detail == "conv 5×5/1, 6"
    # params 5·5·1·6 + 6 = 156; MACs 28·28·6·(5·5·1) = 117,600 ≈ 118 k
    assert conv.numbers == ("156 params · 118 k MACs",)
    assert conv.family == "conv"
    # fc: params 1176·10 + 10 = 11,770 ≈ 11.8 k; MACs 1176·10 = 11,760 ≈ 11.8 k
    assert diagram.node("fc").numbers == ("11.8 k params · 11.8 k MACs",)
    assert diagram.node("relu1").numbers == ()  # no params, no MACs: no numbers line
    assert diagram.node("input").detail == "32×32×1"
    assert diagram.node("output").detail == "10"
    assert set(diagram.legend) == {"conv", "activation", "pool", "reshape", "dense"}
    # whole network: 156 + 11,770 = 11,926 params; 117,600 + 11,760 = 129,360 MACs
    assert diagram.title[1] == "11.9 k params · 129 k MACs · input 32×32×1"


def test_chw_flips_edge_labels(analyse_text):
    diagram = build_diagram(analyse_text(SEQUENTIAL), chw=True)
    assert ("conv1", "relu1", "6×28×28") in edge_set(diagram)
    assert ("input", "conv1", "1×32×32") in edge_set(diagram)
    assert "C×H×W" in diagram.title[2]


def test_sequential_dot_read_back_by_the_renderer(analyse_text):
    parsed = renderer_json(to_dot(analyse_text(SEQUENTIAL)))
    names = [o["name"] for o in parsed["objects"]]
    assert set(names) >= {"input", "conv1", "relu1", "pool1", "flatten", "fc"}
    edges = {(names[e["tail"]], names[e["head"]], e["label"].strip()) for e in parsed["edges"]}
    assert "output" in names  # the output node's key is its DOT id
    assert edges == set(SEQUENTIAL_EDGES)


def test_a_layer_named_output_keeps_its_own_node(analyse_text):
    # the output node's key becomes output' (not a plain DOT id: '#n2'), so the layer and the
    # network output stay two nodes when the renderer reads the DOT back
    analysis = analyse_text("name: t\ninput: [1, 4, 4]\nlayers:\n"
                            "  - {type: relu, name: output}\n")
    assert node_keys(build_diagram(analysis)) == {"input", "output", "output'"}
    parsed = renderer_json(to_dot(analysis))
    names = [o["name"] for o in parsed["objects"] if o["name"] != "#legend"]
    assert names == ["input", "output", "#n2"]
    edges = {(names[e["tail"]], names[e["head"]]) for e in parsed["edges"]}
    assert edges == {("input", "output"), ("output", "#n2")}


def test_inception_four_branches_into_concat(analyse_text):
    diagram = build_diagram(analyse_text(INCEPTION))
    p = "inception_3a."
    layers = ["b1", "b2_reduce", "b2", "b3_reduce", "b3", "b4_pool", "b4", "concat"]
    assert node_keys(diagram) == {"input", "output", *(p + n for n in layers)}
    assert edge_set(diagram) == {
        ("input", p + "b1", "28×28×192"),
        ("input", p + "b2_reduce", "28×28×192"),
        ("input", p + "b3_reduce", "28×28×192"),
        ("input", p + "b4_pool", "28×28×192"),  # (28 − 3 + 2·1)/1 + 1 = 28 below
        (p + "b2_reduce", p + "b2", "28×28×96"),
        (p + "b3_reduce", p + "b3", "28×28×16"),
        (p + "b4_pool", p + "b4", "28×28×192"),
        (p + "b1", p + "concat", "28×28×64"),
        (p + "b2", p + "concat", "28×28×128"),
        (p + "b3", p + "concat", "28×28×32"),
        (p + "b4", p + "concat", "28×28×32"),
        (p + "concat", "output", "28×28×256"),  # 64 + 128 + 32 + 32 = 256
    }
    [cluster] = diagram.clusters
    assert (cluster.key, cluster.title, cluster.repeat) == ("inception_3a",
                                                           "inception_3a · inception", 1)
    assert {n.key for n in diagram.nodes if n.cluster == "inception_3a"} == {
        p + n for n in layers}
    b2 = diagram.node(p + "b2")
    assert b2.title == "b2"  # named relative to its cluster
    # params 3·3·96·128 + 128 = 110,720 ≈ 111 k; MACs 28·28·128·(3·3·96) = 86,704,128 ≈ 86.7 M
    assert b2.numbers == ("111 k params · 86.7 M MACs",)
    assert diagram.node(p + "concat").family == "merge"


def test_inception_folded(analyse_text):
    diagram = build_diagram(analyse_text(INCEPTION), depth=0)
    assert node_keys(diagram) == {"input", "inception_3a", "output"}
    assert edge_set(diagram) == {("input", "inception_3a", "28×28×192"),
                                 ("inception_3a", "output", "28×28×256")}
    block = diagram.node("inception_3a")
    assert (block.role, block.family, block.detail) == ("block", "block",
                                                        "inception block · 8 layers")
    assert diagram.clusters == ()


def test_residual_shortcut_edges(analyse_text):
    diagram = build_diagram(analyse_text(RESIDUAL), collapse_repeats=False)
    assert node_keys(diagram) == {"input", "gap", "flat", "fc", "output",
                                  *(f"res.{i}.{n}" for i in (1, 2, 3) for n in BASIC_LAYERS)}
    edges = edge_set(diagram)
    # the shortcut: each add sums its block's input with bn2, all 56×56×64
    assert ("input", "res.1.add", "56×56×64") in edges
    assert ("res.1.bn2", "res.1.add", "56×56×64") in edges
    assert ("res.1.relu2", "res.2.add", "56×56×64") in edges
    assert ("res.2.relu2", "res.3.add", "56×56×64") in edges
    assert ("res.3.relu2", "gap", "56×56×64") in edges
    assert ("gap", "flat", "1×1×64") in edges
    assert ("flat", "fc", "64") in edges
    assert len(edges) == 3 * 8 + 4  # 8 arrows into/inside each block, then gap, flat, fc, out
    assert [c.key for c in diagram.clusters] == ["res.1", "res.2", "res.3"]


def test_identical_repeats_drawn_once_unfolded(analyse_text):
    diagram = build_diagram(analyse_text(RESIDUAL))
    assert node_keys(diagram) == {"input", "gap", "flat", "fc", "output",
                                  *(f"res.1.{n}" for n in BASIC_LAYERS)}
    [cluster] = diagram.clusters
    assert (cluster.key, cluster.title, cluster.repeat) == ("res.1", "res.1 … res.3 · basic", 3)
    edges = edge_set(diagram)
    assert ("input", "res.1.conv1", "56×56×64") in edges
    assert ("input", "res.1.add", "56×56×64") in edges  # the shortcut is still drawn
    assert ("res.1.relu2", "gap", "56×56×64") in edges  # the run's output leaves the last copy
    assert not any(h == "res.1.conv1" and t != "input" for t, h, _ in edges)  # no loop back
    assert len(edges) == 8 + 4


def test_identical_repeats_folded_to_one_node(analyse_text):
    diagram = build_diagram(analyse_text(RESIDUAL), depth=0)
    assert node_keys(diagram) == {"input", "res.1", "gap", "flat", "fc", "output"}
    block = diagram.node("res.1")
    assert (block.title, block.repeat, block.detail) == ("res.1 … res.3", 3,
                                                         "basic block · 7 layers")
    # per block: 2 convs of 3·3·64·64 = 36,864 weights and 2 batch norms of 2·64 = 128:
    # 73,984 ≈ 74.0 k params; MACs 2·56·56·64·(3·3·64) = 231,211,008 ≈ 231 M;
    # ×3: 221,952 ≈ 222 k params, 693,633,024 ≈ 694 M MACs
    assert block.numbers == ("each: 74.0 k params · 231 M MACs",
                             "all 3: 222 k params · 694 M MACs")
    assert edge_set(diagram) == {("input", "res.1", "56×56×64"), ("res.1", "gap", "56×56×64"),
                                 ("gap", "flat", "1×1×64"), ("flat", "fc", "64"),
                                 ("fc", "output", "10")}


def test_expand_repeats_keeps_every_instance(analyse_text):
    diagram = build_diagram(analyse_text(RESIDUAL), depth=0, collapse_repeats=False)
    assert node_keys(diagram) == {"input", "res.1", "res.2", "res.3", "gap", "flat", "fc",
                                  "output"}
    assert all(n.repeat == 1 for n in diagram.nodes)


def test_run_starts_after_a_different_first_instance(analyse_text):
    diagram = build_diagram(analyse_text(STAGE), depth=0)
    assert node_keys(diagram) == {"input", "stage.1", "stage.2", "output"}
    assert diagram.node("stage.1").repeat == 1
    assert (diagram.node("stage.2").title, diagram.node("stage.2").repeat) == (
        "stage.2 … stage.4", 3)
    # stage.1 conv1 with floor rounding: ⌊(56 − 3 + 2·1)/2⌋ + 1 = 28
    assert edge_set(diagram) == {("input", "stage.1", "56×56×64"),
                                 ("stage.1", "stage.2", "28×28×128"),
                                 ("stage.2", "output", "28×28×128")}
    assert "proj" in {n.title for n in build_diagram(analyse_text(STAGE)).nodes}


def test_no_collapse_when_a_middle_instance_is_read_from_outside(analyse_text):
    text = RESIDUAL.replace("name: residual", "name: residual\noutputs: [res.2]")
    diagram = build_diagram(analyse_text(text), depth=0)
    # res.2 is a network output, so res.2 and res.3 cannot be drawn as one: res.1 … res.2 ×2,
    # then res.3
    assert {n.key for n in diagram.nodes if n.role == "block"} == {"res.1", "res.3"}
    assert diagram.node("res.1").repeat == 2
    assert ("res.1", "res.3", "56×56×64") in edge_set(diagram)
    outputs = {(e.tail, e.shape) for e in diagram.edges if e.head.startswith("output")}
    assert outputs == {("res.1", "56×56×64"), ("fc", "10")}


def test_depth_folds_only_deeper_blocks(analyse_text):
    text = """
name: nested
input: [8, 16, 16]
blocks:
  unit:
    layers:
      - {type: conv2d, name: conv, out_channels: 8, kernel_size: 3, padding: 1}
      - {type: relu, name: relu}
  pair:
    layers:
      - {block: unit, name: a}
      - {block: unit, name: b}
layers:
  - {block: pair, name: p}
  - {type: flatten, name: flat}
"""
    analysis = analyse_text(text)
    full = build_diagram(analysis, collapse_repeats=False)
    assert {c.key: c.parent for c in full.clusters} == {"p": None, "p.a": "p", "p.b": "p"}
    one = build_diagram(analysis, depth=1, collapse_repeats=False)
    assert node_keys(one) == {"input", "p.a", "p.b", "flat", "output"}
    assert {c.key for c in one.clusters} == {"p"}
    assert {n.cluster for n in one.nodes if n.role == "block"} == {"p"}
    assert edge_set(one) >= {("input", "p.a", "16×16×8"), ("p.a", "p.b", "16×16×8")}
    zero = build_diagram(analysis, depth=0)
    assert node_keys(zero) == {"input", "p", "flat", "output"}
    # a and b are identical and chained: with collapsing, depth 1 draws them once
    assert node_keys(build_diagram(analysis, depth=1)) == {"input", "p.a", "flat", "output"}


@pytest.mark.parametrize(("count", "text"), [
    (0, "0"), (999, "999"), (1000, "1.00 k"), (1792, "1.79 k"), (9999, "10.0 k"),
    (73_984, "74.0 k"), (999_499, "999 k"), (999_700, "1.00 M"), (10_035_200, "10.0 M"),
    (138_357_544, "138 M"), (15_470_264_320, "15.5 G")])
def test_counts_in_three_significant_digits(count, text):
    assert _short(count) == text


def test_negative_depth_rejected(analyse_text):
    with pytest.raises(ValueError):
        build_diagram(analyse_text(SEQUENTIAL), depth=-1)


# ------------------------------------------------------------------------------ escaping

WEIRD = """
name: 'weird "net" <x>'
input: [1, 8, 8]
layers:
  - {type: conv2d, name: 'a"b<c>{d}', out_channels: 2, kernel_size: 3}
  - {type: relu, name: 'tail\\ & ]] -> x; node [shape=none] "q\\'}
  - {type: flatten, name: 'x:y'}
  - {type: linear, name: '<b>bold</b>', out_features: 3}
"""
WEIRD_NAMES = ['a"b<c>{d}', 'tail\\ & ]] -> x; node [shape=none] "q\\', "x:y", "<b>bold</b>"]


def test_names_are_escaped_not_injected(analyse_text):
    analysis = analyse_text(WEIRD)
    assert [row.name for row in analysis.layers] == WEIRD_NAMES
    source = to_dot(analysis)
    parsed = renderer_json(source)
    objects = parsed["objects"]
    # input, four layers, output, legend: nothing more (no injected node), nothing less
    assert len(objects) == 7
    assert len(parsed["edges"]) == 5
    assert 'a&quot;b&lt;c&gt;{d}' in source  # the name is text inside an HTML-like label


def test_escaped_names_appear_verbatim_in_svg(analyse_text):
    data, _ = render(analyse_text(WEIRD), "svg")
    root = ET.fromstring(data)
    texts = [t.text for t in root.iter(SVG + "text")]
    for name in WEIRD_NAMES:
        assert name in texts
    assert 'weird "net" <x>' in texts


# ------------------------------------------------------------------------- rendering


def test_svg_parses_with_titles_and_shapes(analyse_text):
    data, renderer = render(analyse_text(INCEPTION), "svg")
    assert renderer
    root = ET.fromstring(data)  # well-formed XML
    titles = {t.text for t in root.iter(SVG + "title")}
    p = "inception_3a."
    assert {"input", p + "b1", p + "b2", p + "b3", p + "b4", p + "concat"} <= titles
    assert f"{p}b2->{p}concat" in titles
    texts = {(t.text or "").strip() for t in root.iter(SVG + "text")}
    assert {"28×28×192", "28×28×64", "28×28×128", "28×28×32", "28×28×256"} <= texts
    assert "conv 3×3/1, 128" in texts
    assert "inception_3a · inception" in texts


def test_png_magic(analyse_text):
    data, _ = render(analyse_text(RESIDUAL), "png", depth=0)
    assert data[:8] == PNG_MAGIC


def test_digraph_api(analyse_text):
    import graphviz

    digraph = to_digraph(analyse_text(SEQUENTIAL), rankdir="LR")
    assert isinstance(digraph, graphviz.Digraph)
    assert "rankdir=LR" in digraph.source
    with pytest.raises(ValueError):
        to_digraph(analyse_text(SEQUENTIAL), rankdir="sideways")


def test_jupyter_display(analyse_text):
    analysis = analyse_text(SEQUENTIAL)
    svg = analysis._repr_svg_()
    assert ET.fromstring(svg).tag == SVG + "svg"
    bundle = to_digraph(analysis)._repr_mimebundle_()  # through archcalc's renderer
    assert ET.fromstring(bundle["image/svg+xml"]).tag == SVG + "svg"


# -------------------------------------------------------------------------------- CLI


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SEQUENTIAL, encoding="utf-8")
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_dot_and_refuses_to_overwrite(spec_file, tmp_path):
    out = tmp_path / "tiny.dot"
    result = run("render", spec_file, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("digraph tiny {")
    assert "renderer: none (DOT text)" in result.output
    again = run("render", spec_file, "-o", out)
    assert again.exit_code == 1
    assert "already exists" in again.output and "--force" in again.output
    forced = run("render", spec_file, "-o", out, "--force", "--rankdir", "LR")
    assert forced.exit_code == 0
    assert "rankdir=LR" in out.read_text(encoding="utf-8")


def test_cli_format_from_suffix(spec_file, tmp_path):
    svg, png = tmp_path / "tiny.svg", tmp_path / "tiny.png"
    result = run("render", spec_file, "-o", svg)
    assert result.exit_code == 0, result.output
    assert "renderer:" in result.output
    assert ET.fromstring(svg.read_bytes()).tag == SVG + "svg"
    assert run("render", spec_file, "-o", png).exit_code == 0
    assert png.read_bytes()[:8] == PNG_MAGIC
    forced = tmp_path / "diagram.out"
    assert run("render", spec_file, "-o", forced, "--format", "svg").exit_code == 0
    assert ET.fromstring(forced.read_bytes()).tag == SVG + "svg"


def test_cli_unknown_format(spec_file, tmp_path):
    result = run("render", spec_file, "-o", tmp_path / "tiny.xyz")
    assert result.exit_code == 1
    assert "unknown diagram format 'xyz'" in result.output
    assert not (tmp_path / "tiny.xyz").exists()
    result = run("render", spec_file, "-o", tmp_path / "a.svg", "--format", "svgg")
    assert result.exit_code == 1
    assert "did you mean 'svg'" in result.output


def test_cli_needs_a_suffix_or_format(spec_file, tmp_path):
    result = run("render", spec_file, "-o", tmp_path / "diagram")
    assert result.exit_code == 2
    assert "--format" in result.output


def test_cli_pdf_made_or_explained(spec_file, tmp_path):
    out = tmp_path / "tiny.pdf"
    result = run("render", spec_file, "-o", out)
    if "pdf" in supported_formats():
        assert result.exit_code == 0 and out.read_bytes()[:5] == b"%PDF-"
    else:
        assert result.exit_code == 1
        assert "cannot render PDF" in result.output and "install Graphviz" in result.output
        assert not out.exists()


@pytest.fixture
def stdout_is_a_terminal(monkeypatch):
    """CliRunner's standard output claims to be a terminal."""
    import click.testing

    monkeypatch.setattr(click.testing.BytesIOCopy, "isatty", lambda self: True, raising=False)


def test_cli_text_formats_go_to_a_terminal(spec_file, stdout_is_a_terminal):
    # Graphviz's json is text: it may be written to a terminal
    result = run("render", spec_file, "-o", "-", "--format", " JSON")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "tiny"
    assert "JSON of tiny" in result.stderr


def test_cli_binary_formats_do_not_go_to_a_terminal(spec_file, stdout_is_a_terminal):
    result = run("render", spec_file, "-o", "-", "--format", "png")
    assert result.exit_code == 2
    assert "PNG is binary; not writing it to a terminal" in result.output
    assert PNG_MAGIC not in result.stdout_bytes


def test_cli_stdout_depth_and_set(tmp_path):
    spec = tmp_path / "res.yaml"
    spec.write_text(RESIDUAL.replace("out_features: 10", "out_features: $classes")
                    .replace("name: residual", "name: residual\nparams: {classes: 10}"),
                    encoding="utf-8")
    result = run("render", spec, "-o", "-", "--depth", "0", "--set", "classes=7", "--chw")
    assert result.exit_code == 0, result.output
    dot = result.stdout
    assert dot.startswith("digraph residual {")
    assert "fc 7" in dot and "res.1 … res.3" in dot and "64×56×56" in dot
    assert "res.1.conv1" not in dot
    expanded = run("render", spec, "-o", "-", "--expand-repeats").stdout
    assert '"res.3.conv1"' in expanded


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_spec_renders(name):
    analysis = analyze(load_spec(name))
    svg, _ = render(analysis, "svg")
    titles = {t.text for t in ET.fromstring(svg).iter(SVG + "title")}
    assert "input" in titles and analysis.layers[0].name in titles  # bundled names are plain
    png, _ = render(analysis, "png", depth=0)
    assert png[:8] == PNG_MAGIC
