"""archcalc.kernels against naive loops, fixed truths, properties and (when installed) PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archcalc import kernels

try:  # tests/ on sys.path (no __init__.py), or tests as a package
    import naive
except ImportError:  # pragma: no cover
    from . import naive

TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ----------------------------------------------------------------------------- pad2d


@pytest.mark.parametrize("mode", ["zeros", "replicate"])
@pytest.mark.parametrize("padding", [(0, 0, 0, 0), (1, 2, 0, 3), (3, 0, 2, 1)])
def test_pad2d_matches_naive(mode, padding):
    x = rand(2, 3, 4, 5)
    np.testing.assert_array_equal(kernels.pad2d(x, padding, mode), naive.pad2d(x, padding, mode))


def test_pad2d_fill_value_and_dtype():
    x = rand(1, 1, 2, 2).astype(np.float32)
    y = kernels.pad2d(x, (1, 0, 0, 1), value=-np.inf)
    assert y.dtype == np.float32
    assert np.isneginf(y[0, 0, 0]).all() and np.isneginf(y[0, 0, :, 2]).all()
    np.testing.assert_array_equal(y[0, 0, 1:, :2], x[0, 0])


# ----------------------------------------------------------------------------- conv2d

CONV_CASES = {
    # name: (N, C_in, H, W, C_out, kernel, stride, padding, dilation, groups, padding_mode)
    "3x3 p0": (2, 3, 6, 7, 4, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1, "zeros"),
    "3x3 p1": (1, 2, 5, 5, 3, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, "zeros"),
    "stride 2 odd": (2, 3, 7, 9, 2, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1, "zeros"),
    "stride (2,3) asym pad": (1, 2, 8, 7, 3, (2, 3), (2, 3), (0, 2, 1, 0), (1, 1), 1, "zeros"),
    "dilation 2": (1, 2, 9, 8, 2, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1, "zeros"),
    "dilation (2,1) s2": (2, 2, 9, 8, 3, (3, 2), (2, 1), (1, 0, 0, 1), (2, 1), 1, "zeros"),
    "alexnet groups 2": (1, 4, 6, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2, "zeros"),
    "depthwise": (2, 3, 6, 5, 3, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 3, "zeros"),
    "depthwise x2 s2": (1, 3, 7, 7, 6, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 3, "zeros"),
    "1x1": (2, 4, 5, 3, 3, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, "zeros"),
    "1x1 s2 pad groups": (1, 4, 5, 6, 2, (1, 1), (2, 2), (1, 0, 0, 1), (1, 1), 2, "zeros"),
    "5x5 big pad": (1, 1, 3, 4, 2, (5, 5), (1, 1), (4, 4, 3, 3), (1, 1), 1, "zeros"),
    "replicate asym": (2, 2, 5, 6, 3, (3, 3), (1, 1), (2, 0, 1, 2), (1, 1), 1, "replicate"),
    "replicate s2 d2": (1, 3, 7, 7, 2, (3, 3), (2, 2), (2, 2, 2, 2), (2, 2), 1, "replicate"),
    "7x1": (1, 2, 9, 4, 2, (7, 1), (1, 1), (3, 3, 0, 0), (1, 1), 1, "zeros"),
}


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv2d_matches_naive(case, bias):
    n, c, h, w, co, k, s, p, d, g, mode = case
    x, wt = rand(n, c, h, w, seed=1), rand(co, c // g, *k, seed=2)
    b = rand(co, seed=3) if bias else None
    args = {"stride": s, "padding": p, "dilation": d, "groups": g, "padding_mode": mode}
    got = kernels.conv2d(x, wt, b, **args)
    np.testing.assert_allclose(got, naive.conv2d(x, wt, b, **args), **TIGHT)
    assert got.dtype == np.float64


@st.composite
def conv_configs(draw):
    g = draw(st.integers(1, 3))
    c = g * draw(st.integers(1, 2))
    co = g * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pad[0] - pad[1]), 8))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pad[2] - pad[3]), 8))
    mode = draw(st.sampled_from(["zeros", "replicate"]))
    n = draw(st.integers(1, 2))
    return (n, c, h, w, co, (kh, kw), (sh, sw), pad, (dh, dw), g, mode)


@settings(max_examples=30, deadline=None)
@given(conv_configs(), st.integers(0, 2**16))
def test_conv2d_random_configs(case, seed):
    n, c, h, w, co, k, s, p, d, g, mode = case
    x, wt, b = rand(n, c, h, w, seed=seed), rand(co, c // g, *k, seed=seed + 1), rand(co)
    args = {"stride": s, "padding": p, "dilation": d, "groups": g, "padding_mode": mode}
    np.testing.assert_allclose(kernels.conv2d(x, wt, b, **args), naive.conv2d(x, wt, b, **args),
                               **TIGHT)


# ----------------------------------------------------------------------------- Winograd F(2×2, 3×3)

@pytest.fixture
def winograd_always(monkeypatch):
    """conv2d takes the Winograd path for every 3×3 stride-1 case, however small."""
    monkeypatch.setattr(kernels, "_WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(kernels, "_WINOGRAD_MIN_SAVING", 0)


# n, c, c_out, h, w, padding, padding mode
WINOGRAD_CASES = {
    "even output": (1, 16, 16, 6, 6, (1, 1, 1, 1), "zeros"),
    "odd output": (2, 17, 18, 5, 7, (1, 1, 1, 1), "zeros"),
    "asymmetric padding": (2, 20, 16, 9, 4, (0, 2, 1, 0), "zeros"),
    "no padding, one tile": (3, 16, 33, 4, 4, (0, 0, 0, 0), "zeros"),
    "2×1 output": (2, 3, 5, 4, 3, (0, 0, 0, 0), "zeros"),
    "replicate padding": (1, 16, 16, 5, 6, (1, 1, 1, 1), "replicate"),
}


@pytest.mark.parametrize("case", WINOGRAD_CASES.values(), ids=WINOGRAD_CASES.keys())
@pytest.mark.parametrize("bias", [False, True], ids=["no bias", "bias"])
def test_winograd_conv_matches_naive(winograd_always, case, bias):
    n, c, co, h, w, padding, mode = case
    x, wt, b = rand(n, c, h, w), rand(co, c, 3, 3, seed=1), rand(co, seed=2) if bias else None
    ho, wo = h + padding[0] + padding[1] - 2, w + padding[2] + padding[3] - 2
    assert kernels.uses_winograd(c, co, (3, 3), (1, 1), (1, 1), 1, (ho, wo), n)
    want = naive.conv2d(x, wt, b, padding=padding, padding_mode=mode)
    got = kernels.conv2d(x, wt, b, padding=padding, padding_mode=mode)
    np.testing.assert_allclose(got, want, **TIGHT)
    assert got.flags.c_contiguous
    # float32 in, float32 out: the transforms' rounding stays at float32's ~1e-6 relative
    got32 = kernels.conv2d(x.astype(np.float32), wt.astype(np.float32),
                           None if b is None else b.astype(np.float32),
                           padding=padding, padding_mode=mode)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("few", "many"), [(1, 1), (3, 3), (7, 7), (60, 60), (2, 60)],
                         ids=["1 tile", "3 tiles", "bands of rows", "images side by side",
                              "by channels"])
def test_winograd_bands_do_not_change_the_result(winograd_always, monkeypatch, few, many):
    # 5 images of 7×9 -> 4×5 = 20 tiles each: bands of part of a row, of rows, of whole images;
    # 16 input channels (< 256) take the bands of `few` tiles
    monkeypatch.setattr(kernels, "_WINOGRAD_TILES_FEW", few)
    monkeypatch.setattr(kernels, "_WINOGRAD_TILES_MANY", many)
    # under 20 tiles: one row of 5 tiles per band (at least a row); 60: three whole images
    assert kernels._winograd_band(16, 5, 4, 5) == ((3, 4) if few == 60 else (1, 1))
    x, wt, b = rand(5, 16, 7, 9), rand(4 * 4, 16, 3, 3, seed=1), rand(16, seed=2)
    args = {"padding": (1, 1, 1, 1)}
    np.testing.assert_allclose(kernels.conv2d(x, wt, b, **args), naive.conv2d(x, wt, b, **args),
                               **TIGHT)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 6), co=st.integers(1, 6), h=st.integers(3, 11),
       w=st.integers(3, 11), seed=st.integers(0, 2**16))
def test_winograd_equals_im2col_on_random_shapes(n, c, co, h, w, seed):
    """The two conv paths, one against the other, on any valid (padded) input size."""
    xp, wt = rand(n, c, h, w, seed=seed), rand(co, c, 3, 3, seed=seed + 1)
    out_hw = (h - 2, w - 2)
    odd = kernels.pad2d(xp, (0, out_hw[0] % 2, 0, out_hw[1] % 2), value=np.nan)  # cropped away
    np.testing.assert_allclose(kernels._conv_winograd(odd, wt, out_hw),
                               kernels._conv_gemm(xp, wt, 1, (1, 1), (1, 1), out_hw), **TIGHT)


# saved = N·(9·H'·W' − 16·⌈H'/2⌉·⌈W'/2⌉) multiplications per channel pair; Winograd when
# saved·√(C·C') ≥ 2²⁰ = 1,048,576 and both C, C' ≥ 64
@pytest.mark.parametrize(("c", "co", "kernel", "stride", "dilation", "groups", "hw", "n",
                          "expected"), [
    (64, 64, (3, 3), (1, 1), (1, 1), 1, 224, 1, True),  # VGG conv1.2: 62,720·4·64 ≫ 2²⁰
    (256, 512, (3, 3), (1, 1), (1, 1), 1, 28, 1, True),  # VGG conv4.1: (7,056 − 3,136)·362
    (512, 512, (3, 3), (1, 1), (1, 1), 1, 14, 1, False),  # VGG conv5: (1,764 − 784)·512 < 2²⁰
    (512, 512, (3, 3), (1, 1), (1, 1), 1, 14, 8, True),  # … but 8·980·512 = 4,014,080
    (64, 64, (3, 3), (1, 1), (1, 1), 1, 56, 1, False),  # ResNet layer1: 15,680·64 = 1,003,520
    (64, 64, (3, 3), (1, 1), (1, 1), 1, 56, 2, True),  # … 2,007,040 at batch 2
    (512, 512, (3, 3), (1, 1), (1, 1), 1, 7, 8, False),  # 8·(441 − 256)·512 = 757,760
    (32, 32, (3, 3), (1, 1), (1, 1), 1, 224, 8, False),  # too few channels
    (64, 64, (3, 3), (2, 2), (1, 1), 1, 56, 8, False),
    (64, 64, (3, 3), (1, 1), (2, 2), 1, 56, 8, False),
    (64, 64, (3, 3), (1, 1), (1, 1), 64, 56, 8, False),  # depthwise
    (64, 64, (5, 5), (1, 1), (1, 1), 1, 56, 8, False),
    (64, 64, (1, 3), (1, 1), (1, 1), 1, 56, 8, False),
    (512, 512, (3, 3), (1, 1), (1, 1), 1, 1, 1000, False),  # a 1×1 output: 9 − 16 < 0
])
def test_which_convolutions_take_the_winograd_path(c, co, kernel, stride, dilation, groups, hw,
                                                   n, expected):
    got = kernels.uses_winograd(c, co, kernel, stride, dilation, groups, (hw, hw), n)
    assert got is expected


@pytest.mark.parametrize("shape", [(1, 16, 16, 12, 12), (3, 32, 24, 9, 7), (2, 16, 16, 40, 40)],
                         ids=["one band", "odd, images side by side", "bands of rows"])
def test_winograd_allocates_no_more_than_its_workspace(winograd_always, shape):
    """The memory guard charges a conv layer 2·(input + output) + workspace values; the
    Winograd path's allocations (measured by tracemalloc, which NumPy reports to) stay within."""
    import tracemalloc

    n, c, co, h, w = shape
    x, wt, b = rand(n, c, h, w), rand(co, c, 3, 3, seed=1), rand(co, seed=2)
    budget = (2 * (x.size + n * co * h * w)
              + kernels.winograd_workspace(c, co, (h, w), n)) * x.itemsize
    tracemalloc.start()
    try:
        kernels.conv2d(x, wt, b, padding=(1, 1, 1, 1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= budget


# n, c, c_out, h, w, kernel, stride, padding, groups
IM2COL_CASES = {
    "one band, capped at the image": (1, 3, 8, 32, 32, 3, 1, 1, 1),
    "bands of rows, grouped": (2, 4, 6, 48, 48, (3, 5), 1, 0, 2),
    "strided": (2, 3, 4, 61, 51, 3, 2, 1, 1),
    "images side by side": (8, 3, 8, 12, 12, 3, 1, 1, 1),
    "1×1, strided": (2, 8, 4, 31, 31, 1, 2, 0, 1),
}


@pytest.mark.parametrize("case", IM2COL_CASES.values(), ids=IM2COL_CASES.keys())
def test_im2col_allocates_no_more_than_its_workspace(case):
    """As for Winograd: the memory guard's 2·(input + output) + workspace for a conv layer
    (estimate_memory of a one-layer network) bounds what the im2col path allocates. A band of
    rows once took the full _BAND_BYTES (16 MiB) even for a 32×32 image needing 0.11 MiB."""
    import tracemalloc

    from archcalc.analysis import analyze
    from archcalc.executor import estimate_memory
    from archcalc.spec import parse_spec

    n, c, co, h, w, kernel, stride, padding, groups = case
    kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    spec = (f"name: t\ninput: [{c}, {h}, {w}]\nlayers:\n  - {{type: conv2d, name: c, "
            f"out_channels: {co}, kernel_size: {list(kernel)}, "
            f"stride: {stride}, padding: {padding}, groups: {groups}}}\n")
    analysis = analyze(parse_spec(spec, file="t.yaml"))
    estimate = estimate_memory(analysis, batch=n, dtype=np.float64)
    assert estimate.peak_layer == "c"
    x, wt = rand(n, c, h, w), rand(co, c // groups, *kernel, seed=1)
    assert not kernels.uses_winograd(c, co, kernel, (stride, stride),
                                     (1, 1), groups, analysis.layers[0].output_shape[1:], n)
    tracemalloc.start()
    try:
        y = kernels.conv2d(x, wt, stride=stride, padding=(padding,) * 4, groups=groups)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= estimate.workspace
    # the kernels' own account, written from the sizing code that allocates
    ws = kernels.conv2d_workspace(c, co, kernel, (stride, stride), (1, 1), groups, y.shape[2:],
                                  n, x.itemsize)
    assert peak <= (2 * (x.size + y.size) + ws) * x.itemsize


# n, c, c_out, h, w, kernel, stride, padding, output padding, groups
TRANSPOSED_CASES = {
    "bands of input rows": (1, 16, 8, 40, 40, 4, 2, 1, 0, 1),
    "images side by side": (6, 4, 6, 5, 6, 3, 2, 0, 1, 2),
    "one small image": (1, 4, 4, 6, 6, 3, 3, 2, 0, 1),
}


@pytest.mark.parametrize("case", TRANSPOSED_CASES.values(), ids=TRANSPOSED_CASES.keys())
def test_conv_transpose_allocates_no_more_than_its_workspace(case):
    """conv_transpose2d's allocations stay within its output + conv_transpose2d_workspace
    (the uncropped output by phase, one block of columns, the gathered input)."""
    import tracemalloc

    n, c, co, h, w, k, s, p, op, g = case
    x, wt = rand(n, c, h, w), rand(c, co // g, k, k, seed=1)
    # H' = (H − 1)·s − 2p + (k − 1) + output_padding + 1
    out_hw = ((h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op)
    ws = kernels.conv_transpose2d_workspace(c, co, (k, k), (s, s), (p, p), (h, w), out_hw, n,
                                            x.itemsize)
    tracemalloc.start()
    try:
        y = kernels.conv_transpose2d(x, wt, stride=s, padding=p, output_padding=op, groups=g)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == (n, co, *out_hw)
    assert peak <= (y.size + ws) * x.itemsize + 4096  # + the views' Python objects


def test_winograd_pads_its_input_once(winograd_always):
    """conv2d pads an odd output's extra row and column with the padding (it padded, then
    _conv_winograd padded that copy again): the allocations are one padded input
    N·C·(2⌈H'/2⌉ + 2)·(2⌈W'/2⌉ + 2), the output and winograd_workspace."""
    import tracemalloc

    n, c, co, h, w = 2, 16, 16, 41, 39  # padding 1: H' = 41, W' = 39, both odd
    x, wt = rand(n, c, h, w), rand(co, c, 3, 3, seed=1)
    padded = n * c * (2 * 21 + 2) * (2 * 20 + 2)
    budget = (padded + n * co * h * w + kernels.winograd_workspace(c, co, (h, w), n)) * 8
    tracemalloc.start()
    try:
        y = kernels.conv2d(x, wt, padding=(1, 1, 1, 1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(y, naive.conv2d(x, wt, padding=(1, 1, 1, 1)), **TIGHT)
    assert peak <= budget + 4096  # + the views' Python objects


@pytest.mark.parametrize(
    ("band", "fold", "min_cols", "cap"),
    [(1, 1, 1, 1 << 20), (3000, 1, 20, 1 << 20), (1, 1 << 20, 64, 1 << 20), (1, 1, 1, 1)],
    ids=["bands of 1 row", "bands of 2 rows", "images side by side", "cap of 1 byte"],
)
def test_conv_blocking_does_not_change_the_result(monkeypatch, band, fold, min_cols, cap):
    x, wt = rand(5, 4, 9, 8), rand(6, 2, 3, 3, seed=1)
    args = {"stride": (1, 2), "padding": (1, 1, 2, 0), "groups": 2}
    xt, wtt = rand(5, 4, 3, 4), rand(4, 2, 3, 3, seed=1)
    targs = {"stride": (2, 2), "padding": (1, 0)}
    monkeypatch.setattr(kernels, "_BAND_BYTES", band)
    monkeypatch.setattr(kernels, "_FOLD_BYTES", fold)
    monkeypatch.setattr(kernels, "_MIN_COLS", min_cols)
    monkeypatch.setattr(kernels, "_MAX_COLS_BYTES", cap)
    np.testing.assert_allclose(kernels.conv2d(x, wt, **args), naive.conv2d(x, wt, **args), **TIGHT)
    np.testing.assert_allclose(kernels.conv_transpose2d(xt, wtt, **targs),
                               naive.conv_transpose2d(xt, wtt, **targs), **TIGHT)


def test_conv2d_keeps_float32():
    x = rand(1, 4, 6, 6).astype(np.float32)
    w64, b64 = rand(4, 4, 3, 3, seed=1), rand(4, seed=2)  # float64 parameters are cast down
    for g in (1, 2):
        y = kernels.conv2d(x, w64[:, : 4 // g], b64, padding=(1, 1, 1, 1), groups=g)
        assert y.dtype == np.float32
        ref = naive.conv2d(x.astype(np.float64), w64[:, : 4 // g].astype(np.float32), b64,
                           padding=(1, 1, 1, 1), groups=g)
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    y = kernels.conv2d(x, w64[:, :1], b64, groups=4)  # depthwise path
    assert y.dtype == np.float32


def test_conv2d_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="channels"):
        kernels.conv2d(rand(1, 3, 5, 5), rand(4, 2, 3, 3))
    with pytest.raises(ValueError, match="positive"):
        kernels.conv2d(rand(1, 1, 2, 2), rand(1, 1, 3, 3))
    with pytest.raises(TypeError):
        kernels.conv2d(np.ones((1, 1, 3, 3), dtype=int), rand(1, 1, 1, 1))


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 4),
    d=st.integers(1, 2),
    pad=st.tuples(*[st.integers(0, 2)] * 4),
    dy=st.integers(-3, 3),
    dx=st.integers(-3, 3),
    seed=st.integers(0, 2**16),
)
def test_conv2d_is_translation_equivariant(k, d, pad, dy, dx, seed):
    """conv(shift(x)) == shift(conv(x)) wherever neither window meets a border or wraps."""
    h = w = 12
    x, wt = rand(1, 2, h, w, seed=seed), rand(3, 2, k, k, seed=seed + 1)
    y = kernels.conv2d(x, wt, padding=pad, dilation=(d, d))
    ys = kernels.conv2d(np.roll(x, (dy, dx), axis=(2, 3)), wt, padding=pad, dilation=(d, d))
    span = d * (k - 1)
    y0, y1 = pad[0] + max(dy, 0), pad[0] + h + min(dy, 0) - span
    x0, x1 = pad[2] + max(dx, 0), pad[2] + w + min(dx, 0) - span
    assert y1 > y0 and x1 > x0
    np.testing.assert_allclose(ys[..., y0:y1, x0:x1], y[..., y0 - dy : y1 - dy, x0 - dx : x1 - dx],
                               **TIGHT)


# ----------------------------------------------------------------------------- conv_transpose2d

TCONV_CASES = {
    # name: (N, C_in, H, W, C_out/groups, kernel, stride, padding, output_padding, dilation, groups)
    "k3 s1": (2, 3, 4, 5, 2, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1),
    "k3 s2 p1 op1": (1, 2, 4, 3, 3, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1),
    "k4 s2 p1 (DCGAN)": (2, 3, 3, 3, 2, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1),
    "k2 s2 (U-Net)": (1, 4, 3, 4, 2, (2, 2), (2, 2), (0, 0), (0, 0), (1, 1), 1),
    "dilation 2 s3 op2": (1, 2, 3, 4, 2, (3, 2), (3, 1), (2, 0), (2, 0), (2, 2), 1),
    "groups 2": (2, 4, 3, 3, 3, (3, 3), (2, 1), (1, 0), (1, 0), (1, 1), 2),
    "1x1": (1, 3, 4, 4, 5, (1, 1), (1, 1), (0, 0), (0, 0), (1, 1), 1),
    "stride > kernel": (1, 2, 3, 3, 2, (2, 2), (3, 3), (0, 1), (2, 0), (1, 1), 1),
}


@pytest.mark.parametrize("case", TCONV_CASES.values(), ids=TCONV_CASES.keys())
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv_transpose2d_matches_naive(case, bias):
    n, c, h, w, cog, k, s, p, op, d, g = case
    x, wt = rand(n, c, h, w, seed=4), rand(c, cog, *k, seed=5)
    b = rand(cog * g, seed=6) if bias else None
    args = {"stride": s, "padding": p, "output_padding": op, "dilation": d, "groups": g}
    got = kernels.conv_transpose2d(x, wt, b, **args)
    want = naive.conv_transpose2d(x, wt, b, **args)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **TIGHT)
    assert got.flags.c_contiguous


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv(x), y> == <x, conv_transpose(y)> with the same weights, stride, padding, dilation."""
    x, w, y = rand(2, 3, 8, 7), rand(4, 3, 3, 3, seed=1), rand(2, 4, 4, 4, seed=2)
    args = {"stride": (2, 2), "dilation": (1, 1)}
    cx = kernels.conv2d(x, w, padding=(1, 1, 1, 1), **args)
    assert cx.shape == y.shape
    ty = kernels.conv_transpose2d(y, w, padding=(1, 1), output_padding=(1, 0), **args)
    assert ty.shape == x.shape
    np.testing.assert_allclose(np.vdot(cx, y), np.vdot(x, ty), rtol=1e-10)


# ----------------------------------------------------------------------------- pooling


def test_max_pool_lecture_example():
    """The lecture notes' 6×6 example, 2×2 windows, stride 2."""
    x = np.array([
        [0, 5, 4, 3, 0, 0],
        [8, 2, 0, 0, 6, 9],
        [9, 0, 0, 6, 4, 0],
        [8, 6, 0, 8, 9, 6],
        [4, 0, 6, 9, 0, 2],
        [0, 7, 6, 4, 10, 7],
    ], dtype=np.float64)[None, None]
    y = kernels.max_pool2d(x, kernel=(2, 2), stride=(2, 2), out_hw=(3, 3))
    np.testing.assert_array_equal(y[0, 0], [[8, 4, 9], [9, 8, 9], [7, 9, 10]])


POOL_CASES = {
    # name: (H, W, kernel, stride, padding, out_hw or None for the floor size)
    "2x2 s2": (6, 6, (2, 2), (2, 2), (0, 0, 0, 0), None),
    "3x3 s2 overlapping": (7, 7, (3, 3), (2, 2), (0, 0, 0, 0), None),
    "3x3 s2 ceil": (6, 6, (3, 3), (2, 2), (0, 0, 0, 0), (3, 3)),
    "3x3 s2 p1": (5, 6, (3, 3), (2, 2), (1, 1, 1, 1), None),
    "3x3 s2 p1 ceil": (6, 8, (3, 3), (2, 2), (1, 1, 1, 1), (4, 5)),
    "asym pad": (5, 5, (2, 3), (1, 2), (1, 0, 0, 2), None),
    "asym pad ceil": (5, 6, (3, 2), (2, 3), (0, 1, 1, 0), (3, 3)),
    "stride > kernel": (7, 7, (2, 2), (3, 3), (0, 0, 0, 0), None),
    "odd 1x3": (4, 9, (1, 3), (1, 3), (0, 0, 0, 0), None),
}


def _floor_out(h, w, k, s, p, d):
    return ((h + p[0] + p[1] - d[0] * (k[0] - 1) - 1) // s[0] + 1,
            (w + p[2] + p[3] - d[1] * (k[1] - 1) - 1) // s[1] + 1)


@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
@pytest.mark.parametrize("dilation", [(1, 1), (2, 1)], ids=["d1", "d(2,1)"])
def test_max_pool2d_matches_naive(case, dilation):
    h, w, k, s, p, ceil_hw = case
    # the cases' ceil-mode sizes are for dilation 1; dilated windows use the floor size
    out_hw = ceil_hw if ceil_hw and dilation == (1, 1) else _floor_out(h, w, k, s, p, dilation)
    x = rand(2, 3, h, w)
    args = {"kernel": k, "stride": s, "padding": p, "dilation": dilation, "out_hw": out_hw}
    np.testing.assert_array_equal(kernels.max_pool2d(x, **args), naive.max_pool2d(x, **args))


def test_max_pool2d_keeps_dtype():
    for dt in (np.float32, np.int64):
        x = (rand(1, 2, 5, 5) * 10).astype(dt)
        y = kernels.max_pool2d(x, kernel=2, stride=2, padding=(1, 0, 1, 0), out_hw=(3, 3))
        assert y.dtype == dt
        np.testing.assert_array_equal(
            y, naive.max_pool2d(x, kernel=(2, 2), stride=(2, 2), padding=(1, 0, 1, 0),
                                out_hw=(3, 3)))


@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
@pytest.mark.parametrize("include", [True, False], ids=["include_pad", "exclude_pad"])
def test_avg_pool2d_matches_naive(case, include):
    h, w, k, s, p, out_hw = case
    out_hw = out_hw or _floor_out(h, w, k, s, p, (1, 1))
    x = rand(2, 3, h, w)
    args = {"kernel": k, "stride": s, "padding": p, "out_hw": out_hw, "count_include_pad": include}
    got = kernels.avg_pool2d(x, **args)
    np.testing.assert_allclose(got, naive.avg_pool2d(x, **args), **TIGHT)
    assert kernels.avg_pool2d(x.astype(np.float32), **args).dtype == np.float32


@pytest.mark.parametrize("p", [1, 2, 3, 1.5])
@pytest.mark.parametrize(("h", "k", "s", "out"), [(6, 2, 2, 3), (7, 3, 2, 3), (7, 3, 2, 4)],
                         ids=["2x2 s2", "3x3 s2", "3x3 s2 ceil"])
def test_lp_pool2d_matches_naive(p, h, k, s, out):
    x = rand(2, 2, h, h + 1)
    if p != 2:  # x^p summed may be negative and its 1/p-th power NaN, in PyTorch too
        x = np.abs(x)
    wo = (h + 1 - k) // s + 1
    args = {"p": p, "kernel": (k, k), "stride": (s, s), "out_hw": (out, wo)}
    np.testing.assert_allclose(kernels.lp_pool2d(x, **args), naive.lp_pool2d(x, **args), **TIGHT)


def test_lp_pool2d_p2_is_the_l2_norm():
    x = rand(1, 3, 4, 4)
    y = kernels.lp_pool2d(x, p=2, kernel=(2, 2), stride=(2, 2), out_hw=(2, 2))
    windows = x.reshape(1, 3, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(1, 3, 2, 2, 4)
    np.testing.assert_allclose(y, np.linalg.norm(windows, axis=-1), **TIGHT)


@pytest.mark.parametrize(("h", "k", "s", "out"), [(28, 2, 2, 14), (7, 2, 2, 3), (7, 2, 2, 4)],
                         ids=["lenet s2", "odd floor", "odd ceil"])
def test_subsample2d_matches_naive(h, k, s, out):
    x, coeff, bias = rand(2, 3, h, h), rand(3, seed=1), rand(3, seed=2)
    args = {"kernel": (k, k), "stride": (s, s), "out_hw": (out, out)}
    np.testing.assert_allclose(kernels.subsample2d(x, coeff, bias, **args),
                               naive.subsample2d(x, coeff, bias, **args), **TIGHT)


@pytest.mark.parametrize(("hw", "out"), [((7, 7), (1, 1)), ((6, 8), (3, 4)), ((7, 5), (3, 3)),
                                         ((5, 4), (2, 3)), ((3, 2), (5, 4)), ((13, 13), (6, 6))])
def test_adaptive_avg_pool2d_matches_naive(hw, out):
    x = rand(2, 3, *hw)
    got = kernels.adaptive_avg_pool2d(x, out)
    np.testing.assert_allclose(got, naive.adaptive_avg_pool2d(x, out), **TIGHT)
    assert kernels.adaptive_avg_pool2d(x.astype(np.float32), out).dtype == np.float32


# ----------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(("c", "size"), [(7, 5), (6, 4), (3, 5), (4, 1), (2, 9)])
def test_local_response_norm_matches_naive(c, size):
    x = rand(2, c, 3, 4)
    args = {"size": size, "alpha": 1e-1, "beta": 0.75, "k": 2.0}
    got = kernels.local_response_norm(x, **args)
    np.testing.assert_allclose(got, naive.local_response_norm(x, **args), **TIGHT)
    assert kernels.local_response_norm(x.astype(np.float32), **args).dtype == np.float32


def test_batch_norm2d_matches_naive():
    x = rand(2, 3, 4, 5)
    gamma, beta, mean = rand(3, seed=1), rand(3, seed=2), rand(3, seed=3)
    var = np.abs(rand(3, seed=4)) + 0.1
    got = kernels.batch_norm2d(x, gamma, beta, mean, var, eps=1e-5)
    np.testing.assert_allclose(got, naive.batch_norm2d(x, gamma, beta, mean, var, eps=1e-5),
                               **TIGHT)
    y32 = kernels.batch_norm2d(x.astype(np.float32), gamma, beta, mean, var, eps=1e-5)
    assert y32.dtype == np.float32


@pytest.mark.parametrize("axis", [1, -1])
def test_softmax_matches_naive_and_is_stable(axis):
    x = rand(2, 5, 3)
    np.testing.assert_allclose(kernels.softmax(x, axis), naive.softmax(x, axis), **TIGHT)
    big = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]], dtype=np.float32)
    y = kernels.softmax(big, axis=1)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[1], 1 / 3, rtol=1e-6)


# ----------------------------------------------------------------------------- against PyTorch


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


TORCH_TOL = {"rtol": 1e-5, "atol": 1e-5}


def _t(torch, a):
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d_matches_torch(torch, case):
    f = torch.nn.functional
    n, c, h, w, co, k, s, p, d, g, mode = case
    x, wt, b = rand(n, c, h, w, seed=7), rand(co, c // g, *k, seed=8), rand(co, seed=9)
    xt = f.pad(_t(torch, x), (p[2], p[3], p[0], p[1]),
               mode="replicate" if mode == "replicate" else "constant")
    want = f.conv2d(xt, _t(torch, wt), _t(torch, b), stride=s, dilation=d, groups=g).numpy()
    got = kernels.conv2d(x, wt, b, stride=s, padding=p, dilation=d, groups=g, padding_mode=mode)
    np.testing.assert_allclose(got, want, **TORCH_TOL)


@pytest.mark.parametrize("case", TCONV_CASES.values(), ids=TCONV_CASES.keys())
def test_conv_transpose2d_matches_torch(torch, case):
    n, c, h, w, cog, k, s, p, op, d, g = case
    x, wt, b = rand(n, c, h, w, seed=10), rand(c, cog, *k, seed=11), rand(cog * g, seed=12)
    args = {"stride": s, "padding": p, "output_padding": op, "dilation": d, "groups": g}
    want = torch.nn.functional.conv_transpose2d(_t(torch, x), _t(torch, wt), _t(torch, b), **args)
    np.testing.assert_allclose(kernels.conv_transpose2d(x, wt, b, **args), want.numpy(),
                               **TORCH_TOL)


TORCH_POOLS = [  # (H, W, kernel, stride, symmetric padding, dilation, ceil_mode)
    (6, 6, 2, 2, 0, 1, False),
    (7, 7, 3, 2, 0, 1, True),
    (8, 6, 3, 2, 1, 1, True),
    (9, 8, 3, 2, 1, 2, False),
    (10, 7, (3, 2), (2, 3), (1, 1), (1, 1), True),
    (5, 5, 2, 3, 1, 1, True),
]


@pytest.mark.parametrize("case", TORCH_POOLS)
def test_pools_match_torch(torch, case):
    f = torch.nn.functional
    h, w, k, s, p, d, ceil = case
    x = rand(2, 3, h, w, seed=13)
    xt = _t(torch, x)
    ph, pw = (p, p) if isinstance(p, int) else p
    pad4 = (ph, ph, pw, pw)
    k2, s2 = (k, k) if isinstance(k, int) else k, (s, s) if isinstance(s, int) else s

    want = f.max_pool2d(xt, k, s, p, d, ceil_mode=ceil).numpy()
    got = kernels.max_pool2d(x, kernel=k2, stride=s2, padding=pad4, dilation=d,
                             out_hw=want.shape[2:])
    np.testing.assert_allclose(got, want, **TORCH_TOL)

    for include in (True, False):
        want = f.avg_pool2d(xt, k, s, p, ceil_mode=ceil, count_include_pad=include).numpy()
        got = kernels.avg_pool2d(x, kernel=k2, stride=s2, padding=pad4,
                                 out_hw=want.shape[2:], count_include_pad=include)
        np.testing.assert_allclose(got, want, **TORCH_TOL)

    if not ceil:  # PyTorch rescales partial ceil-mode windows of LPPool; see lp_pool2d's docstring
        for norm, xn in ((2.0, x), (3.0, np.abs(x))):
            want = f.lp_pool2d(_t(torch, xn), norm, k, s).numpy()
            got = kernels.lp_pool2d(xn, p=norm, kernel=k2, stride=s2, out_hw=want.shape[2:])
            np.testing.assert_allclose(got, want, **TORCH_TOL)


@pytest.mark.parametrize(("hw", "out"), [((7, 7), (1, 1)), ((7, 5), (3, 3)), ((3, 2), (5, 4))])
def test_adaptive_avg_pool2d_matches_torch(torch, hw, out):
    x = rand(2, 3, *hw, seed=14)
    want = torch.nn.functional.adaptive_avg_pool2d(_t(torch, x), out).numpy()
    np.testing.assert_allclose(kernels.adaptive_avg_pool2d(x, out), want, **TORCH_TOL)


@pytest.mark.parametrize(("c", "size"), [(96, 5), (6, 4), (3, 5)])
def test_local_response_norm_matches_torch(torch, c, size):
    x = rand(2, c, 3, 4, seed=15)
    want = torch.nn.functional.local_response_norm(_t(torch, x), size, alpha=1e-2, beta=0.75,
                                                   k=2.0).numpy()
    got = kernels.local_response_norm(x, size=size, alpha=1e-2, beta=0.75, k=2.0)
    np.testing.assert_allclose(got, want, **TORCH_TOL)


def test_batch_norm_and_softmax_match_torch(torch):
    f = torch.nn.functional
    x = rand(2, 3, 4, 5, seed=16)
    gamma, beta, mean = rand(3, seed=1), rand(3, seed=2), rand(3, seed=3)
    var = np.abs(rand(3, seed=4)) + 0.1
    want = f.batch_norm(_t(torch, x), _t(torch, mean), _t(torch, var), _t(torch, gamma),
                        _t(torch, beta), training=False, eps=1e-3).numpy()
    np.testing.assert_allclose(kernels.batch_norm2d(x, gamma, beta, mean, var, eps=1e-3), want,
                               **TORCH_TOL)
    np.testing.assert_allclose(kernels.softmax(x, axis=1),
                               torch.softmax(_t(torch, x), dim=1).numpy(), **TORCH_TOL)
