"""The executor's NumPy maths, written once: padding, convolution, pooling, normalisation.

Every tensor is batch-first NCHW. Results keep the input's dtype: parameters are cast to ``x.dtype``
and nothing is upcast. Sizes are ``(h, w)`` pairs (an int means both); a conv or pool ``padding``
is a resolved ``(top, bottom, left, right)``. These functions trust their caller (the layer classes
validate user input) and raise ``ValueError`` only for inconsistent arguments.

Convolution is a GEMM per group on im2col columns copied from a strided window view, in
cache-sized blocks (bands of output rows, or several small images side by side); a 1×1
convolution is a plain matmul; a dense 3×3 stride-1 convolution with enough channels runs as
Winograd F(2×2, 3×3): 16 GEMMs on transformed 4×4 tiles, 2.25× fewer multiplications.
Transposed convolution is a GEMM then a col2im scatter-add. Pools are separable reductions over
shifted strided views. No Python loop ever runs over pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import as_strided

Pair = tuple[int, int]
Pad4 = tuple[int, int, int, int]

# im2col blocking. An image with at least _MIN_COLS output pixels is convolved in bands of rows
# whose im2col matrix is at most _BAND_BYTES (one GEMM per image for most layers: fewer BLAS calls,
# which matters most when the machine is shared); smaller images go side by side, _FOLD_BYTES of
# columns (but at least _MIN_COLS) per GEMM. Nothing exceeds _MAX_COLS_BYTES. Whole-network
# timings (VGG-16, ResNet-50, batch 1 and 8) chose these among 2, 4, 8, 16 and 64 MiB.
_BAND_BYTES = 16 << 20
_FOLD_BYTES = 2 << 20
_MIN_COLS = 512
_MAX_COLS_BYTES = 64 << 20

# Winograd F(2×2, 3×3) is used for dense 3×3 stride-1 convolutions with at least
# _WINOGRAD_MIN_CHANNELS input and output channels, when it saves enough: with
# saved = N·(9·H'·W' − 16·⌈H'/2⌉·⌈W'/2⌉) multiplications per (input, output) channel pair, it
# must reach saved·√(C·C') ≥ _WINOGRAD_MIN_SAVING, or the weight transform (∝ C·C') and the
# tile transforms (∝ (C + C')·tiles) cost more than the multiplications saved. Timed against
# im2col on VGG-16 and ResNet-50 layer shapes at batch 1, 2, 4 and 8 (7×7 and 14×14 maps at
# batch 1 stay on im2col). Tiles are transformed and multiplied in bands (several small images
# side by side, or bands of tile rows of a large one) of about _WINOGRAD_TILES_FEW tiles under
# 256 input channels, _WINOGRAD_TILES_MANY from 256: few enough that a band stays in cache when
# channels are few, enough for an efficient GEMM when they are many.
_WINOGRAD_MIN_CHANNELS = 64
_WINOGRAD_MIN_SAVING = 1 << 20
_WINOGRAD_TILES_FEW = 256
_WINOGRAD_TILES_MANY = 1024

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm2d",
    "conv2d",
    "conv_transpose2d",
    "local_response_norm",
    "lp_pool2d",
    "max_pool2d",
    "pad2d",
    "softmax",
    "subsample2d",
]


# ----------------------------------------------------------------------------- helpers


def _pair(v: int | Sequence[int], name: str) -> Pair:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or an (h, w) pair, got {v!r}")
    return int(v[0]), int(v[1])


def _pad4(v: Sequence[int], name: str) -> Pad4:
    if len(v) != 4:
        raise ValueError(f"{name} must be (top, bottom, left, right), got {v!r}")
    top, bottom, left, right = (int(p) for p in v)
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"{name} must be non-negative, got {tuple(v)}")
    return top, bottom, left, right


def _float_input(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"expected a floating-point tensor, got {x.dtype}")
    return x


def _channel_param(p: np.ndarray | float, c: int, dtype: np.dtype) -> np.ndarray:
    """A per-channel parameter as a (1, C, 1, 1) array of ``dtype`` (scalars broadcast)."""
    return np.broadcast_to(np.asarray(p, dtype=dtype), (c,)).reshape(1, c, 1, 1)


def _lowest(dtype: np.dtype) -> float | int:
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _tap(
    x: np.ndarray, i: int, j: int, stride: Pair, dilation: Pair, out_hw: Pair
) -> np.ndarray:
    """View of the (i, j) kernel tap for every output pixel: x[..., i·d + s·y, j·d + s·x]."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
    cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
    return x[..., rows, cols]


def _windows(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """Read-only (N, C, kh, kw, H', W') view: v[n, c, i, j, y, x] = x[n, c, s·y + d·i, s·x + d·j]"""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    n, c, h, w = x.shape
    if (ho - 1) * sh + (kh - 1) * dh >= h or (wo - 1) * sw + (kw - 1) * dw >= w:
        raise ValueError(f"windows {kernel} for output {out_hw} do not fit input {(h, w)}")
    s0, s1, s2, s3 = x.strides
    return as_strided(
        x,
        shape=(n, c, kh, kw, ho, wo),
        strides=(s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw),
        writeable=False,
    )


def _out_size(n: int, k: int, s: int, d: int) -> int:
    """floor((n − d(k − 1) − 1)/s) + 1 for an already padded extent n."""
    return (n - d * (k - 1) - 1) // s + 1


def _fit(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair,
         padding: Pad4, value: float) -> np.ndarray:
    """Pad by ``padding`` with ``value``, then further on the bottom/right so every one of the
    ``out_hw`` windows (ceil mode) lies inside the array; the extra cells also hold ``value``."""
    top, bottom, left, right = padding
    need_h = (out_hw[0] - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1
    need_w = (out_hw[1] - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1
    bottom += max(0, need_h - (x.shape[2] + top + bottom))
    right += max(0, need_w - (x.shape[3] + left + right))
    return pad2d(x, (top, bottom, left, right), value=value)


def _separable(x: np.ndarray, ufunc: np.ufunc, kernel: Pair, stride: Pair, dilation: Pair,
               out_hw: Pair) -> np.ndarray:
    """``ufunc``-reduce every window: first along H (kh shifted row views), then along W (kw)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    full_w = (out_hw[0], x.shape[3])
    rows = np.array(_tap(x, 0, 0, (sh, 1), (dh, 1), full_w))
    for i in range(1, kh):
        ufunc(rows, _tap(x, i, 0, (sh, 1), (dh, 1), full_w), out=rows)
    out = np.array(_tap(rows, 0, 0, (1, sw), (1, dw), out_hw))
    for j in range(1, kw):
        ufunc(out, _tap(rows, 0, j, (1, sw), (1, dw), out_hw), out=out)
    return out


def _check_out(out_hw: Pair) -> Pair:
    ho, wo = out_hw
    if ho < 1 or wo < 1:
        raise ValueError(f"output size must be positive, got {out_hw}")
    return ho, wo


# ----------------------------------------------------------------------------- padding


def pad2d(
    x: np.ndarray,
    padding: Sequence[int],
    mode: Literal["zeros", "replicate"] = "zeros",
    value: float = 0.0,
) -> np.ndarray:
    """Pad H by (top, bottom) and W by (left, right).

    ``zeros``: new cells hold ``value`` (0 unless asked, e.g. −∞ for max pooling);
    ``replicate``: x_pad[y, x] = x[clip(y − top, 0, H−1), clip(x − left, 0, W−1)].
    Returns ``x`` itself when there is nothing to pad.
    """
    top, bottom, left, right = _pad4(padding, "padding")
    x = np.asarray(x)
    if top == bottom == left == right == 0:
        return x
    if mode == "replicate":
        return np.pad(x, ((0, 0),) * (x.ndim - 2) + ((top, bottom), (left, right)), mode="edge")
    if mode != "zeros":
        raise ValueError(f"padding mode must be 'zeros' or 'replicate', got {mode!r}")
    h, w = x.shape[-2:]
    out = np.empty(x.shape[:-2] + (h + top + bottom, w + left + right), dtype=x.dtype)
    out[..., :top, :] = value
    out[..., top + h :, :] = value
    inner = out[..., top : top + h, :]
    inner[..., :left] = value
    inner[..., left + w :] = value
    inner[..., left : left + w] = x
    return out


# ----------------------------------------------------------------------------- convolution


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    stride: int | Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0, 0, 0),
    dilation: int | Sequence[int] = (1, 1),
    groups: int = 1,
    padding_mode: Literal["zeros", "replicate"] = "zeros",
) -> np.ndarray:
    """2-D cross-correlation (PyTorch ``conv2d``), w of shape (C_out, C_in/groups, kh, kw).

    y[n, o, p, q] = b[o] + Σ_{c in group(o), i, j} w[o, c, i, j] · x_pad[n, c, s·p + d·i, s·q + d·j]
    with H' = floor((H + p_t + p_b − d(kh − 1) − 1)/s) + 1, likewise W'.
    """
    x = _float_input(x)
    w = np.asarray(w, dtype=x.dtype)
    n, c, _, _ = x.shape
    co, cig, kh, kw = w.shape
    if groups < 1 or c != cig * groups or co % groups:
        raise ValueError(
            f"conv2d: input has {c} channels, weight {w.shape} with groups={groups} "
            f"needs {cig * groups} input channels and C_out divisible by groups"
        )
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    top, bottom, left, right = _pad4(padding, "padding")
    ho = _out_size(x.shape[2] + top + bottom, kh, stride[0], dilation[0])
    wo = _out_size(x.shape[3] + left + right, kw, stride[1], dilation[1])
    _check_out((ho, wo))
    if uses_winograd(c, co, (kh, kw), stride, dilation, groups, (ho, wo), n):
        # one padded copy, with the extra row/column an odd output size needs
        xp = pad2d(x, (top, bottom + ho % 2, left, right + wo % 2), mode=padding_mode)
        bias = None if b is None else np.broadcast_to(np.asarray(b, dtype=x.dtype), (co,))
        return _conv_winograd(xp, w, (ho, wo), bias)
    xp = pad2d(x, (top, bottom, left, right), mode=padding_mode)
    out = _conv_gemm(xp, w, groups, stride, dilation, (ho, wo))
    if b is not None:
        out += _channel_param(b, co, x.dtype)
    return out


def _im2col_block(col_bytes: int, out_hw: Pair, batch: int) -> Pair:
    """(images, rows) of one im2col block, ``col_bytes`` per column: an image of at least
    _MIN_COLS pixels alone, in bands of min(H', _BAND_BYTES / (col_bytes·W')) rows; smaller
    images whole, side by side, _FOLD_BYTES of columns (at least _MIN_COLS) per block. Nothing
    exceeds _MAX_COLS_BYTES (but one row)."""
    ho, wo = out_hw
    if ho * wo >= _MIN_COLS:
        return 1, min(ho, max(1, min(_BAND_BYTES, _MAX_COLS_BYTES) // col_bytes // wo))
    block = min(max(_FOLD_BYTES // col_bytes, _MIN_COLS), max(1, _MAX_COLS_BYTES // col_bytes))
    return min(batch, max(1, block // (ho * wo))), ho


def conv2d_workspace(c_in: int, c_out: int, kernel: Pair, stride: Pair, dilation: Pair,
                     groups: int, out_hw: Pair, batch: int, itemsize: int) -> int:
    """Values in conv2d's temporaries besides its padded input and output: Winograd's (see
    ``winograd_workspace``) where it takes that path; for a 1×1 kernel the strided input,
    N·C·H'·W'; otherwise one im2col block, C·F_h·F_w·images·rows·W' (``_im2col_block``)."""
    kh, kw = kernel
    if uses_winograd(c_in, c_out, kernel, stride, dilation, groups, out_hw, batch):
        return winograd_workspace(c_in, c_out, out_hw, batch)
    if kh == kw == 1:
        return batch * c_in * out_hw[0] * out_hw[1]
    images, rows = _im2col_block(c_in * kh * kw * itemsize, out_hw, batch)
    return c_in * kh * kw * images * rows * out_hw[1]


def _conv_gemm(xp: np.ndarray, w: np.ndarray, groups: int, stride: Pair, dilation: Pair,
               out_hw: Pair) -> np.ndarray:
    """y[n, g] = W_g (C_out/g × C_in/g·kh·kw) @ im2col(x_pad[n, g]) (C_in/g·kh·kw × H'·W').

    The im2col matrix is built block by block in one reused buffer: bands of output rows of one
    image (``_BAND_BYTES``), or, for images under ``_MIN_COLS`` pixels, several whole images side
    by side (``_FOLD_BYTES``).
    Measured against (bench_kernels --alternatives): NHWC im2col, slower on every shape tried;
    shifted-GEMM accumulation, ≤ 6 % faster at 28×28 and 56×56 but 1.1–2× slower at 112×112,
    14×14 and 7×7.
    """
    n, c, _, _ = xp.shape
    co, cig, kh, kw = w.shape
    ho, wo = out_hw
    g, k, cog, hw = groups, cig * kh * kw, co // groups, ho * wo
    wmat = w.reshape(g, cog, k)
    out = np.empty((n, co, ho, wo), dtype=xp.dtype)
    if kh == kw == 1:  # the window is the pixel: no im2col, at most a strided subsample
        cols = np.ascontiguousarray(_tap(xp, 0, 0, stride, dilation, out_hw))
        np.matmul(wmat, cols.reshape(n, g, cig, hw), out=out.reshape(n, g, cog, hw))
        return out
    view = _windows(xp, (kh, kw), stride, dilation, out_hw)  # (N, C, kh, kw, H', W')
    step, rows = _im2col_block(c * kh * kw * xp.itemsize, out_hw, n)
    buf = np.empty(c * kh * kw * step * rows * wo, dtype=xp.dtype)  # conv2d_workspace
    if hw >= _MIN_COLS:  # one image at a time, in bands of rows; the GEMM writes them in place
        flat = out.reshape(n, g, cog, hw)
        for i in range(n):
            for y0 in range(0, ho, rows):
                m = min(rows, ho - y0)
                cols = buf[: c * kh * kw * m * wo].reshape(c, kh, kw, m, wo)
                cols[...] = view[i, :, :, :, y0 : y0 + m]
                band = flat[i, :, :, y0 * wo : (y0 + m) * wo]
                np.matmul(wmat, cols.reshape(g, k, m * wo), out=band)
        return out
    # several small images side by side: columns (image, y, x), then back to NCHW
    for n0 in range(0, n, step):
        m = min(step, n - n0)
        cols = buf[: c * kh * kw * m * hw].reshape(c, kh, kw, m, ho, wo)
        cols[...] = view[n0 : n0 + m].transpose(1, 2, 3, 0, 4, 5)
        if m == 1:
            np.matmul(wmat, cols.reshape(g, k, hw), out=out[n0].reshape(g, cog, hw))
        else:
            res = np.matmul(wmat, cols.reshape(g, k, m * hw))  # (g, C_out/g, m·H'·W')
            out[n0 : n0 + m] = res.reshape(co, m, ho, wo).transpose(1, 0, 2, 3)
    return out


def uses_winograd(c_in: int, c_out: int, kernel: Pair, stride: Pair, dilation: Pair,
                  groups: int, out_hw: Pair, batch: int) -> bool:
    """Whether conv2d takes the Winograd path: 3×3, stride 1, no dilation, one group, at least
    _WINOGRAD_MIN_CHANNELS channels in and out, and a saving of at least _WINOGRAD_MIN_SAVING
    (see there)."""
    if not (tuple(kernel) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1 and min(c_in, c_out) >= _WINOGRAD_MIN_CHANNELS):
        return False
    ho, wo = out_hw
    saved = batch * (9 * ho * wo - 16 * -(-ho // 2) * -(-wo // 2))
    return saved > 0 and saved * saved * c_in * c_out >= _WINOGRAD_MIN_SAVING**2


def _winograd_band(c_in: int, n: int, tiles_h: int, tiles_w: int) -> Pair:
    """(images, tile rows) per band of about _WINOGRAD_TILES_FEW (C < 256) or
    _WINOGRAD_TILES_MANY tiles, whole images when they fit."""
    tiles = _WINOGRAD_TILES_FEW if c_in < 256 else _WINOGRAD_TILES_MANY
    per_image = tiles_h * tiles_w
    if per_image >= tiles:
        return 1, min(tiles_h, max(1, tiles // tiles_w))
    return min(n, max(1, tiles // per_image)), tiles_h


def winograd_workspace(c_in: int, c_out: int, out_hw: Pair, batch: int) -> int:
    """Values in _conv_winograd's temporaries, with T = ⌈H'/2⌉·⌈W'/2⌉ tiles per image and a band
    of ``images`` × ``rows`` tile rows × ⌈W'/2⌉ = t tiles (``_winograd_band``): the transformed
    weights 16·C'·C, the band's row-transformed input 4·C·images·rows·(2⌈W'/2⌉ + 2), its
    transformed tiles 16·C·t, products 16·C'·t and half-transformed outputs 8·C'·t, for an
    odd H' or W' the uncropped output N·C'·4·T, and NumPy's buffers for the transforms' strided
    operands, at most np.getbufsize() values for each of 3."""
    tiles_h, tiles_w = -(-out_hw[0] // 2), -(-out_hw[1] // 2)
    images, rows = _winograd_band(c_in, batch, tiles_h, tiles_w)
    tiles = images * rows * tiles_w
    band = 4 * c_in * images * rows * (2 * tiles_w + 2) + 16 * c_in * tiles
    uncropped = batch * c_out * 4 * tiles_h * tiles_w if out_hw[0] % 2 or out_hw[1] % 2 else 0
    return (16 * c_out * c_in + band + 24 * c_out * tiles + uncropped
            + 3 * np.getbufsize())


# Winograd F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
# a 2×2 output tile of a 3×3 correlation is Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for the 4×4 input
# tile d (stride 2, overlapping by 2): 16 multiplications instead of 36.
_WINOGRAD_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def _winograd_weights(w: np.ndarray) -> np.ndarray:
    """U[a·4 + b] = (G g Gᵀ)[a, b] for every (C_out, C_in) filter g: shape (16, C_out, C_in),
    one (16 × 9) @ (9 × C_out·C_in) product with the Kronecker matrix (G ⊗ G)."""
    g = np.asarray(_WINOGRAD_G, dtype=w.dtype)
    kron = np.einsum("ai,bj->abij", g, g).reshape(16, 9)
    co, ci = w.shape[:2]
    return (kron @ w.reshape(co * ci, 9).T).reshape(16, co, ci)


def _winograd_in(d: Sequence[np.ndarray], out: np.ndarray) -> None:
    """out[0..3] = Bᵀ (d0, d1, d2, d3): d0 − d2, d1 + d2, d2 − d1, d1 − d3."""
    np.subtract(d[0], d[2], out=out[0])
    np.add(d[1], d[2], out=out[1])
    np.subtract(d[2], d[1], out=out[2])
    np.subtract(d[1], d[3], out=out[3])


def _winograd_out(m: Sequence[np.ndarray], y0: np.ndarray, y1: np.ndarray) -> None:
    """(y0, y1) = Aᵀ (m0, m1, m2, m3): m0 + m1 + m2, m1 − m2 − m3."""
    np.add(m[0], m[1], out=y0)
    y0 += m[2]
    np.subtract(m[1], m[2], out=y1)
    y1 -= m[3]


def _conv_winograd(xp: np.ndarray, w: np.ndarray, out_hw: Pair,
                   bias: np.ndarray | None = None) -> np.ndarray:
    """A 3×3 stride-1 correlation of the padded ``xp`` (valid) by Winograd F(2×2, 3×3); an odd
    H' or W' needs one more row or column of ``xp`` (any values: what it touches is cropped).

    Per band of tiles: input tiles → V (16, C, tiles) by Bᵀ along rows then columns (strided
    views, no copies of windows), M[k] = U[k] @ V[k] for the 16 positions k (one batched GEMM),
    then Aᵀ along columns and rows straight into the output. The bias goes into M[1, 1] alone,
    a quarter of the output's size: Aᵀ e₁ = (1, 1), so Aᵀ (β e₁ e₁ᵀ) A adds β to all four
    outputs of the tile. An odd output size is computed one row or column larger and cropped.
    """
    n, c, _, _ = xp.shape
    co = w.shape[0]
    ho, wo = out_hw
    tiles_h, tiles_w = -(-ho // 2), -(-wo // 2)
    if xp.shape[2] < 2 * tiles_h + 2 or xp.shape[3] < 2 * tiles_w + 2:
        raise ValueError(f"Winograd needs a padded input of at least {2 * tiles_h + 2}×"
                         f"{2 * tiles_w + 2} for output {out_hw}, got {xp.shape[2:]}")
    u = _winograd_weights(w)
    images, rows = _winograd_band(c, n, tiles_h, tiles_w)
    tiles = images * rows * tiles_w
    row_buf = np.empty((4, c, images, rows, xp.shape[3]), dtype=xp.dtype)
    v = np.empty((16, c, tiles), dtype=xp.dtype)
    m = np.empty((16, co, tiles), dtype=xp.dtype)
    half = np.empty((4, 2, co, tiles), dtype=xp.dtype)
    full = np.empty((n, co, 2 * tiles_h, 2 * tiles_w), dtype=xp.dtype)
    for n0 in range(0, n, images):
        b = min(images, n - n0)
        x_band = xp[n0 : n0 + b].transpose(1, 0, 2, 3)  # (C, b, H_p, W_p)
        y_band = full[n0 : n0 + b].transpose(1, 0, 2, 3)  # (C', b, H', W')
        for r0 in range(0, tiles_h, rows):
            r = min(rows, tiles_h - r0)
            count = b * r * tiles_w
            t = row_buf[:, :, :b, :r]
            _winograd_in([x_band[:, :, 2 * r0 + i : 2 * (r0 + r) + i : 2] for i in range(4)], t)
            vv = v[:, :, :count].reshape(4, 4, c, b, r, tiles_w)
            for a in range(4):
                _winograd_in([t[a][..., j : j + 2 * tiles_w : 2] for j in range(4)], vv[a])
            np.matmul(u, v[:, :, :count], out=m[:, :, :count])
            if bias is not None:
                m[5, :, :count] += bias[:, None]
            mm = m[:, :, :count].reshape(4, 4, co, b, r, tiles_w)
            hh = half[..., :count].reshape(4, 2, co, b, r, tiles_w)
            for a in range(4):
                _winograd_out(mm[a], hh[a, 0], hh[a, 1])
            y = y_band[:, :, 2 * r0 : 2 * (r0 + r)]
            for j in range(2):
                _winograd_out(hh[:, j], y[:, :, 0::2, j::2], y[:, :, 1::2, j::2])
    if full.shape[2:] != (ho, wo):
        full = np.ascontiguousarray(full[:, :, :ho, :wo])
    return full


def _col2im(phases: np.ndarray, cols: np.ndarray, y0: int, stride: Pair, dilation: Pair) -> None:
    """Scatter-add the columns (N, C, kh, kw, m, W) of input rows y0 … y0 + m − 1 into the output,
    full[n, c, s·y + d·i, s·x + d·j] += cols[n, c, i, j, y − y0, x], with the output stored by
    stride phase (``phases[n, c, a, b, q, r] = full[n, c, q·s_h + a, r·s_w + b]``) so that every
    tap adds into contiguous rows instead of every s-th element."""
    (sh, sw), (dh, dw) = stride, dilation
    _, _, kh, kw, m, wd = cols.shape
    for i in range(kh):
        qi, ai = divmod(y0 * sh + i * dh, sh)
        for j in range(kw):
            qj, aj = divmod(j * dw, sw)
            phases[:, :, ai, aj, qi : qi + m, qj : qj + wd] += cols[:, :, i, j]


def _col2im_block(col_bytes: int, in_hw: Pair, batch: int) -> Pair:
    """(images, rows) of one transposed-convolution GEMM block, ``col_bytes`` per input pixel:
    _FOLD_BYTES of columns (at least _MIN_COLS, at most _MAX_COLS_BYTES but one row), as bands
    of input rows of one image when it has that many pixels, else whole images side by side."""
    h, w = in_hw
    block = min(max(_FOLD_BYTES // col_bytes, _MIN_COLS), max(1, _MAX_COLS_BYTES // col_bytes))
    if h * w >= block:
        return 1, min(h, max(1, block // w))
    return min(batch, max(1, block // (h * w))), h


def conv_transpose2d_workspace(c_in: int, c_out: int, kernel: Pair, stride: Pair,
                               padding: Pair, in_hw: Pair, out_hw: Pair, batch: int,
                               itemsize: int) -> int:
    """Values in conv_transpose2d's temporaries besides its output: the uncropped output by
    stride phase, N·C'·s_h·s_w·⌈(H' + 2p_h)/s_h⌉·⌈(W' + 2p_w)/s_w⌉, one GEMM block of columns,
    C'·F_h·F_w·images·rows·W (``_col2im_block``), and with whole images side by side their
    gathered input, C·images·H·W."""
    (kh, kw), (sh, sw) = kernel, stride
    hq = -(-(out_hw[0] + 2 * padding[0]) // sh)
    wq = -(-(out_hw[1] + 2 * padding[1]) // sw)
    images, rows = _col2im_block(c_out * kh * kw * itemsize, in_hw, batch)
    gathered = c_in * images * in_hw[0] * in_hw[1] if rows == in_hw[0] and images > 1 else 0
    return (batch * c_out * sh * sw * hq * wq + c_out * kh * kw * images * rows * in_hw[1]
            + gathered)


def conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    stride: int | Sequence[int] = (1, 1),
    padding: int | Sequence[int] = (0, 0),
    output_padding: int | Sequence[int] = (0, 0),
    dilation: int | Sequence[int] = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Transposed convolution (PyTorch ``conv_transpose2d``), w: (C_in, C_out/groups, kh, kw).

    Each input pixel scatters its weighted kernel: full[n, o, s·y + d·i, s·x + d·j] +=
    Σ_{c in group(o)} x[n, c, y, x] · w[c, o mod C_out/g, i, j]; the result is ``full`` cropped by
    p on every side (and extended by output_padding at the bottom/right), plus b[o]:
    H' = (H − 1)s − 2p + d(kh − 1) + output_padding + 1. Computed as GEMM then col2im.
    """
    x = _float_input(x)
    w = np.asarray(w, dtype=x.dtype)
    n, c, h, wd = x.shape
    ci, cog, kh, kw = w.shape
    if groups < 1 or c != ci or ci % groups:
        raise ValueError(
            f"conv_transpose2d: input has {c} channels, weight {w.shape} with groups={groups} "
            "needs weight.shape[0] == C_in, divisible by groups"
        )
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    (oph, opw), (dh, dw) = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
    if not (0 <= oph < max(sh, dh) and 0 <= opw < max(sw, dw)):
        raise ValueError("output_padding must be smaller than either stride or dilation")
    g, cig, co = groups, ci // groups, cog * groups
    hf = (h - 1) * sh + dh * (kh - 1) + 1 + oph  # uncropped extent
    wf = (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    ho, wo = _check_out((hf - 2 * ph, wf - 2 * pw))
    # (g, cog·kh·kw, cig): row o·kh·kw + i·kw + j of group g holds w[g·cig + c, o, i, j] over c
    wmat = w.reshape(g, cig, cog * kh * kw).transpose(0, 2, 1)
    hq, wq = -(-hf // sh), -(-wf // sw)
    phases = np.zeros((n, co, sh, sw, hq, wq), dtype=x.dtype)
    hw, k = h * wd, cog * kh * kw
    step, rows = _col2im_block(co * kh * kw * x.itemsize, (h, wd), n)
    if rows < h or step == 1:  # bands of input rows of one image (their scatters add up)
        buf = np.empty(co * kh * kw * rows * wd, dtype=x.dtype)
        for i in range(n):
            for y0 in range(0, h, rows):
                m = min(rows, h - y0)
                cols = buf[: co * kh * kw * m * wd].reshape(g, k, m * wd)
                np.matmul(wmat, x[i, :, y0 : y0 + m].reshape(g, cig, m * wd), out=cols)
                _col2im(phases[i : i + 1], cols.reshape(1, co, kh, kw, m, wd), y0, (sh, sw),
                        (dh, dw))
    else:  # several small images side by side as GEMM columns (image, y, x)
        for n0 in range(0, n, step):
            m = min(step, n - n0)
            xs = x[n0 : n0 + m].reshape(m, g, cig, hw).transpose(1, 2, 0, 3).reshape(g, cig, m * hw)
            cols = np.matmul(wmat, xs).reshape(co, kh, kw, m, h, wd).transpose(3, 0, 1, 2, 4, 5)
            _col2im(phases[n0 : n0 + m], cols, 0, (sh, sw), (dh, dw))
    out = np.empty((n, co, ho, wo), dtype=x.dtype)  # out[y, x] = full[y + p_h, x + p_w]
    for a in range(sh):
        y1 = (a - ph) % sh  # first output row in phase a
        q0, ny = (y1 + ph) // sh, len(range(y1, ho, sh))
        for bb in range(sw):
            x1 = (bb - pw) % sw
            r0, nx = (x1 + pw) // sw, len(range(x1, wo, sw))
            out[:, :, y1::sh, x1::sw] = phases[:, :, a, bb, q0 : q0 + ny, r0 : r0 + nx]
    if b is not None:
        out += _channel_param(b, co, x.dtype)
    return out


# ----------------------------------------------------------------------------- pooling


def max_pool2d(
    x: np.ndarray,
    *,
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    padding: Sequence[int] = (0, 0, 0, 0),
    dilation: int | Sequence[int] = (1, 1),
    out_hw: Sequence[int],
) -> np.ndarray:
    """y[n, c, p, q] = max_{i, j} x_pad[n, c, s·p + d·i, s·q + d·j], padding = −∞.

    ``out_hw`` is the caller's (floor or ceil) choice; cells past the padded input count as −∞,
    so a ceil-mode window that runs off the edge takes the max of what it covers.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor, got shape {x.shape}")
    kernel, stride = _pair(kernel, "kernel"), _pair(stride, "stride")
    dilation, out_hw = _pair(dilation, "dilation"), _check_out(_pair(out_hw, "out_hw"))
    xp = _fit(x, kernel, stride, dilation, out_hw, _pad4(padding, "padding"), _lowest(x.dtype))
    return _separable(xp, np.maximum, kernel, stride, dilation, out_hw)


def _window_counts(k: int, s: int, lo: int, hi: int, pad_before: int, out: int) -> np.ndarray:
    """Per output index p: how many cells of the window [s·p − pad_before, +k) lie in [lo, hi)."""
    start = np.arange(out) * s - pad_before
    return np.minimum(start + k, hi) - np.maximum(start, lo)


def avg_pool2d(
    x: np.ndarray,
    *,
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    padding: Sequence[int] = (0, 0, 0, 0),
    out_hw: Sequence[int],
    count_include_pad: bool = True,
) -> np.ndarray:
    """y[n, c, p, q] = Σ_{window} x_pad / divisor (PyTorch ``avg_pool2d``, ceil mode included).

    With ``count_include_pad`` the divisor counts the window's cells inside the padded input
    [−p_t, H + p_b) × [−p_l, W + p_r); without, only its cells inside the real input.
    """
    x = _float_input(x)
    kernel, stride = _pair(kernel, "kernel"), _pair(stride, "stride")
    out_hw = _check_out(_pair(out_hw, "out_hw"))
    top, bottom, left, right = _pad4(padding, "padding")
    xp = _fit(x, kernel, stride, (1, 1), out_hw, (top, bottom, left, right), 0.0)
    total = _separable(xp, np.add, kernel, stride, (1, 1), out_hw)
    h, w = x.shape[2:]
    if count_include_pad:  # cells inside the padded input
        lo_h, hi_h, lo_w, hi_w = -top, h + bottom, -left, w + right
    else:  # cells inside the real input
        lo_h, hi_h, lo_w, hi_w = 0, h, 0, w
    ch = _window_counts(kernel[0], stride[0], lo_h, hi_h, top, out_hw[0])
    cw = _window_counts(kernel[1], stride[1], lo_w, hi_w, left, out_hw[1])
    total /= np.multiply.outer(ch, cw).astype(x.dtype)
    return total


def lp_pool2d(
    x: np.ndarray,
    *,
    p: float,
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    out_hw: Sequence[int],
) -> np.ndarray:
    """y[n, c, p, q] = (Σ_{window} x^p)^(1/p) (PyTorch ``LPPool2d``: x^p, not |x|^p; no padding).

    A ceil-mode window that runs off the input sums only the cells it covers (PyTorch instead
    rescales such a partial sum by kh·kw / covered).
    """
    x = _float_input(x)
    kernel, stride = _pair(kernel, "kernel"), _pair(stride, "stride")
    out_hw = _check_out(_pair(out_hw, "out_hw"))
    xp = _fit(np.power(x, x.dtype.type(p)), kernel, stride, (1, 1), out_hw, (0, 0, 0, 0), 0.0)
    total = _separable(xp, np.add, kernel, stride, (1, 1), out_hw)
    return np.power(total, x.dtype.type(1.0 / p), out=total)


def subsample2d(
    x: np.ndarray,
    coeff: np.ndarray,
    bias: np.ndarray,
    *,
    kernel: int | Sequence[int],
    stride: int | Sequence[int],
    out_hw: Sequence[int],
) -> np.ndarray:
    """LeNet-5 trainable subsampling: y[n, c, p, q] = coeff[c] · mean_{window} x + bias[c].

    No padding; a ceil-mode window that runs off the input averages the cells it covers.
    """
    x = _float_input(x)
    y = avg_pool2d(x, kernel=kernel, stride=stride, out_hw=out_hw, count_include_pad=False)
    c = x.shape[1]
    y *= _channel_param(coeff, c, x.dtype)
    y += _channel_param(bias, c, x.dtype)
    return y


def _adaptive_matrix(n: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out × n) averaging matrix: row i is 1/len over [floor(i·n/out), ceil((i+1)·n/out))."""
    i = np.arange(out)
    start = (i * n) // out
    end = -((-(i + 1) * n) // out)
    cols = np.arange(n)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d(x: np.ndarray, out_hw: int | Sequence[int]) -> np.ndarray:
    """PyTorch adaptive average pooling: output cell (i, j) is the mean of rows
    [floor(i·H/H'), ceil((i+1)·H/H')) × columns [floor(j·W/W'), ceil((j+1)·W/W'))."""
    x = _float_input(x)
    ho, wo = _check_out(_pair(out_hw, "out_hw"))
    n, c, h, w = x.shape
    if (ho, wo) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True)
    if h % ho == 0 and w % wo == 0:  # equal, disjoint bins
        return x.reshape(n, c, ho, h // ho, wo, w // wo).mean(axis=(3, 5))
    rows = _adaptive_matrix(h, ho, x.dtype)
    cols = _adaptive_matrix(w, wo, x.dtype)
    return np.matmul(np.matmul(rows, x), cols.T)


# ----------------------------------------------------------------------------- normalisation


def local_response_norm(
    x: np.ndarray, *, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> np.ndarray:
    """PyTorch ``local_response_norm``: y_c = x_c / (k + alpha/size · Σ_{c'} x_{c'}²)^beta,
    c' over the channels c − size//2 … c + (size − 1)//2 that exist (zeros outside)."""
    x = _float_input(x)
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    c = x.shape[1]
    sq = np.square(x)
    acc = sq.copy()
    before, after = size // 2, (size - 1) // 2
    for o in range(1, min(before, c - 1) + 1):  # neighbour c − o contributes to channel c
        acc[:, o:] += sq[:, : c - o]
    for o in range(1, min(after, c - 1) + 1):  # neighbour c + o
        acc[:, : c - o] += sq[:, o:]
    dt = x.dtype.type
    acc *= dt(alpha / size)
    acc += dt(k)
    np.power(acc, dt(beta), out=acc)
    return np.divide(x, acc, out=acc)


def batch_norm2d(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    *,
    eps: float = 1e-5,
) -> np.ndarray:
    """Inference batch norm: y = (x − mean[c]) / sqrt(var[c] + eps) · gamma[c] + beta[c]."""
    x = _float_input(x)
    c, dt = x.shape[1], x.dtype
    scale = _channel_param(gamma, c, dt) / np.sqrt(_channel_param(var, c, dt) + dt.type(eps))
    shift = _channel_param(beta, c, dt) - _channel_param(mean, c, dt) * scale
    y = x * scale
    y += shift
    return y


def softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    """softmax(x)_i = exp(x_i − max x) / Σ_j exp(x_j − max x) along ``axis``."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"expected a floating-point tensor, got {x.dtype}")
    e = x - x.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e
