"""dot_render: DOT text to SVG/PNG bytes through the system `dot` or pip's graphviz-pure.

The real renderings use graphviz-pure, which archcalc declares as a dependency; the system-`dot`
cases use a small fake `dot` script so they run the same with or without Graphviz installed.
"""

from __future__ import annotations

import os
import stat
import sys
import xml.etree.ElementTree as ET

import pytest

from archcalc import dot_render
from archcalc.errors import RenderError

SVG_NS = "{http://www.w3.org/2000/svg}"

SMALL_DOT = r"""digraph net {
  node [shape=box, fontname="Helvetica"];
  subgraph cluster_block1 {
    label="block1 (residual)";
    conv1 [label="conv1\n3×3, 64 \"same\" <pad=1>"];
    relu1 [label=<<b>relu1</b><br/>55×55×96 &lt;in&gt;>];
  }
  input [label="input\n224×224×3"];
  pool1 [shape=record, label="{pool1|{k=2|s=2}}"];
  input -> conv1 [label="224×224×3"];
  conv1 -> relu1 [label="55×55×96"];
  relu1 -> pool1 [label="55×55×96"];
  input -> pool1 [style=dashed, label="skip"];
}
"""

posix_only = pytest.mark.skipif(os.name != "posix", reason="the fake `dot` is a shell script")


@pytest.fixture
def no_system_dot(tmp_path, monkeypatch):
    """PATH holds nothing, as for a console script run from a venv that is not activated."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


@pytest.fixture
def fake_dot(tmp_path, monkeypatch):
    """Write an executable `dot` script on an otherwise empty PATH; returns a writer."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))

    def write(body: str):
        path = bin_dir / "dot"
        path.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\n" + body)  # its own PATH for cat, sleep
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    return write


FAKE_GRAPHVIZ = """
case "$1" in
  -V) echo "dot - graphviz version 99.1.0 (fake)" >&2; exit 0;;
  "-T?") echo 'Format: "?" not recognized. Use one of: dot pdf:cairo svg svg:core' >&2; exit 1;;
  -Tsvg) cat >/dev/null; echo '<svg xmlns="http://www.w3.org/2000/svg"><title>fake</title></svg>';;
  -Tpdf) cat >/dev/null; printf '%%PDF-1.4 fake';;
  *) echo "Error: fake dot cannot do $1" >&2; exit 1;;
esac
"""


def titles(svg: bytes) -> set[str]:
    root = ET.fromstring(svg)
    return {el.text for el in root.iter(f"{SVG_NS}title")}


def texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return [el.text or "" for el in root.iter(f"{SVG_NS}text")]


# ------------------------------------------------------------------- real renderings (pip renderer)


def test_svg_has_every_node_cluster_and_label():
    svg, used = dot_render.render_dot(SMALL_DOT, "svg")
    assert {"conv1", "relu1", "input", "pool1", "cluster_block1", "input->conv1"} <= titles(svg)
    words = texts(svg)
    assert '3×3, 64 "same" <pad=1>' in words  # escaped quotes and angle brackets survive
    assert "55×55×96 <in>" in words  # HTML-like label, entity-escaped
    assert "224×224×3" in words  # edge label with the multiplication sign
    assert "block1 (residual)" in words
    assert used  # names the renderer, e.g. "graphviz-pure version 0.2.2 (...)"


def test_png_is_a_png_with_a_size():
    png, _ = dot_render.render_dot(SMALL_DOT, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    assert width > 50 and height > 50


def test_dot_text_needs_no_renderer(monkeypatch, no_system_dot):
    monkeypatch.setattr(dot_render, "_pip_renderer_path", lambda: None)
    assert dot_render.available_renderers() == []
    data, used = dot_render.render_dot(SMALL_DOT, "dot")
    assert data == SMALL_DOT.encode("utf-8")
    assert used == "none (DOT text)"
    assert "dot" in dot_render.supported_formats()


def test_without_system_dot_the_pip_renderer_is_found_and_used(no_system_dot):
    # PATH is empty: graphviz-pure must be found next to this Python, not through PATH
    renderers = dot_render.available_renderers()
    assert [r.name for r in renderers] == ["graphviz-pure"]
    assert {"svg", "png"} <= renderers[0].formats
    svg, used = dot_render.render_dot(SMALL_DOT, "svg")
    assert "conv1" in titles(svg)
    assert used.startswith("graphviz-pure version ")
    assert {"svg", "png", "dot"} <= set(dot_render.supported_formats())


def test_check_format_cleans_up_and_refuses_before_rendering(no_system_dot):
    assert dot_render.check_format(" .SVG") == "svg"
    assert dot_render.check_format("gv") == "gv"
    with pytest.raises(RenderError, match=r"unknown diagram format 'svgg'.*did you mean 'svg'"):
        dot_render.check_format("svgg")
    with pytest.raises(RenderError, match=r"cannot render PDF"):
        dot_render.check_format("pdf")  # graphviz-pure alone makes no PDF


@pytest.mark.parametrize(("data", "binary"), [
    (b"digraph t {\n}\n", False),
    ('{"name": "tiny", "label": " 28\u00d728\u00d76 "}'.encode(), False),  # UTF-8 '×'
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", True),  # PNG: NULs and a non-UTF-8 lead
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", True),  # PDF's marker line of high bytes
    (b"text\x00with a NUL", True),
])
def test_is_binary(data, binary):
    assert dot_render.is_binary(data) is binary


def test_text_formats_render_as_text():
    # what the CLI may write to a terminal is decided from the bytes: json and plain are text
    extra = [f for f in ("plain", "xdot") if f in dot_render.supported_formats()]
    for fmt in ("svg", "json", *extra):
        data, _ = dot_render.render_dot(SMALL_DOT, fmt)
        assert not dot_render.is_binary(data), fmt
    png, _ = dot_render.render_dot(SMALL_DOT, "png")
    assert dot_render.is_binary(png)


# ------------------------------------------------------------------------------------ errors


def test_pdf_without_system_dot_says_what_to_install(no_system_dot):
    with pytest.raises(RenderError) as caught:
        dot_render.render_dot(SMALL_DOT, "pdf")
    message = str(caught.value)
    assert "cannot render PDF" in message
    assert "graphviz-pure version" in message  # the renderer tried, and what it makes
    assert "makes svg, png" in message
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "or choose svg, png" in message


def test_unknown_format_suggests_the_close_one():
    with pytest.raises(RenderError, match=r"unknown diagram format 'svgg'.*did you mean 'svg'"):
        dot_render.render_dot(SMALL_DOT, "svgg")
    with pytest.raises(RenderError, match=r"unknown diagram format '-o'"):
        dot_render.render_dot(SMALL_DOT, "-o")  # never reaches a command line


def test_no_renderer_at_all_names_both_installs(monkeypatch, no_system_dot):
    monkeypatch.setattr(dot_render, "_pip_renderer_path", lambda: None)
    with pytest.raises(RenderError) as caught:
        dot_render.render_dot(SMALL_DOT, "svg")
    message = str(caught.value)
    assert "cannot render SVG: no Graphviz renderer found" in message
    assert "pip install graphviz-pure" in message and "apt-get install graphviz" in message


def test_renderer_failure_is_reported_with_its_error(no_system_dot):
    with pytest.raises(RenderError, match=r"cannot render SVG: graphviz-pure.*syntax error"):
        dot_render.render_dot("digraph { a -> ; }", "svg")


# ------------------------------------------------------------- system dot first (a fake one)


@posix_only
def test_system_dot_comes_first_and_is_named(fake_dot):
    fake_dot(FAKE_GRAPHVIZ)
    renderers = dot_render.available_renderers()
    assert [r.name for r in renderers] == ["dot", "graphviz-pure"]
    assert renderers[0].formats == {"dot", "pdf", "svg"}
    svg, used = dot_render.render_dot(SMALL_DOT, "svg")
    assert titles(svg) == {"fake"}
    assert used == "system dot, graphviz version 99.1.0 (fake)"
    pdf, used = dot_render.render_dot(SMALL_DOT, "pdf")
    assert pdf.startswith(b"%PDF") and used.startswith("system dot")


@posix_only
def test_format_the_system_dot_lacks_goes_to_the_pip_renderer(fake_dot):
    fake_dot(FAKE_GRAPHVIZ)  # lists no png
    png, used = dot_render.render_dot(SMALL_DOT, "png")
    assert png[:4] == b"\x89PNG"
    assert used.startswith("graphviz-pure")


@posix_only
def test_failing_system_dot_falls_back(fake_dot):
    fake_dot(FAKE_GRAPHVIZ.replace("-Tsvg) cat >/dev/null;", "-Tsvg) exit 3;"))
    svg, used = dot_render.render_dot(SMALL_DOT, "svg")
    assert "conv1" in titles(svg) and used.startswith("graphviz-pure")


@posix_only
def test_a_dot_that_is_not_graphviz_is_ignored(fake_dot):
    fake_dot('echo "dot 1.0, a dotfiles manager"\n')
    assert [r.name for r in dot_render.available_renderers()] == ["graphviz-pure"]


@posix_only
def test_a_hanging_renderer_times_out(fake_dot, monkeypatch):
    fake_dot(FAKE_GRAPHVIZ.replace("-Tsvg) cat >/dev/null;", "-Tsvg) exec sleep 30;"))
    monkeypatch.setattr(dot_render, "_pip_renderer_path", lambda: None)
    with pytest.raises(RenderError, match=r"cannot render SVG: system dot.*no answer within 0.5 s"):
        dot_render.render_dot(SMALL_DOT, "svg", timeout=0.5)


def test_pip_renderer_is_found_from_this_python_without_path(no_system_dot):
    path = dot_render._pip_renderer_path()
    assert path is not None, "graphviz-pure is a dependency of archcalc: pip install graphviz-pure"
    assert os.path.basename(path).startswith("graphviz-pure")
    prefix = os.path.realpath(sys.prefix)
    assert os.path.commonpath([path, prefix]) == prefix  # this environment's copy
