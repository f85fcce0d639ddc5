"""Reference loops for archcalc.kernels, written straight from the definitions.

Slow and obviously right: explicit Python loops over n, c, y, x and the window, no strides, no
GEMM. Every result is float64 so the comparison measures the fast kernels' rounding only.
"""

from __future__ import annotations

import math

import numpy as np


def pad2d(x, padding, mode="zeros", value=0.0):
    t, b, l, r = padding  # noqa: E741
    n, c, h, w = x.shape
    out = np.full((n, c, h + t + b, w + l + r), value, dtype=np.float64)
    for i in range(n):
        for ch in range(c):
            for y in range(h + t + b):
                for xx in range(w + l + r):
                    sy, sx = y - t, xx - l
                    if mode == "replicate":
                        sy, sx = min(max(sy, 0), h - 1), min(max(sx, 0), w - 1)
                    if 0 <= sy < h and 0 <= sx < w:
                        out[i, ch, y, xx] = x[i, ch, sy, sx]
    return out


def conv2d(x, w, b=None, *, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1,
           padding_mode="zeros"):
    xp = pad2d(x, padding, padding_mode)
    n, c, hp, wp = xp.shape
    co, cig, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    ho = (hp - dh * (kh - 1) - 1) // sh + 1
    wo = (wp - dw * (kw - 1) - 1) // sw + 1
    cog = co // groups
    out = np.zeros((n, co, ho, wo))
    for i in range(n):
        for o in range(co):
            g = o // cog
            for y in range(ho):
                for xx in range(wo):
                    s = 0.0 if b is None else float(b[o])
                    for ci in range(cig):
                        for p in range(kh):
                            for q in range(kw):
                                s += w[o, ci, p, q] * xp[i, g * cig + ci, y * sh + p * dh,
                                                         xx * sw + q * dw]
                    out[i, o, y, xx] = s
    return out


def conv_transpose2d(x, w, b=None, *, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                     dilation=(1, 1), groups=1):
    """Scatter form: input pixel (y, x) adds x·w[c, o, p, q] at output (y·s + p·d − pad, …)."""
    n, ci, h, wd = x.shape
    _, cog, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    (oph, opw), (dh, dw) = output_padding, dilation
    cig = ci // groups
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wo = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    out = np.zeros((n, cog * groups, ho, wo))
    for i in range(n):
        for c in range(ci):
            g = c // cig
            for y in range(h):
                for xx in range(wd):
                    for o in range(cog):
                        for p in range(kh):
                            for q in range(kw):
                                oy, ox = y * sh + p * dh - ph, xx * sw + q * dw - pw
                                if 0 <= oy < ho and 0 <= ox < wo:
                                    out[i, g * cog + o, oy, ox] += x[i, c, y, xx] * w[c, o, p, q]
    if b is not None:
        for o in range(cog * groups):
            out[:, o] += b[o]
    return out


def max_pool2d(x, *, kernel, stride, padding=(0, 0, 0, 0), dilation=(1, 1), out_hw):
    """Max over the window cells inside the padded input; padding cells are −∞."""
    n, c, h, w = x.shape
    t, b, l, r = padding  # noqa: E741
    out = np.zeros((n, c) + tuple(out_hw))
    for i in range(n):
        for ch in range(c):
            for y in range(out_hw[0]):
                for xx in range(out_hw[1]):
                    best = -math.inf
                    for p in range(kernel[0]):
                        for q in range(kernel[1]):
                            sy = y * stride[0] + p * dilation[0] - t
                            sx = xx * stride[1] + q * dilation[1] - l
                            if 0 <= sy < h and 0 <= sx < w:
                                best = max(best, x[i, ch, sy, sx])
                    out[i, ch, y, xx] = best
    return out


def avg_pool2d(x, *, kernel, stride, padding=(0, 0, 0, 0), out_hw, count_include_pad=True):
    """Sum of the real cells in the window over the number of window cells inside the padded
    input (count_include_pad) or inside the real input (not)."""
    n, c, h, w = x.shape
    t, b, l, r = padding  # noqa: E741
    out = np.zeros((n, c) + tuple(out_hw))
    for i in range(n):
        for ch in range(c):
            for y in range(out_hw[0]):
                for xx in range(out_hw[1]):
                    total, padded, real = 0.0, 0, 0
                    for p in range(kernel[0]):
                        for q in range(kernel[1]):
                            sy, sx = y * stride[0] + p - t, xx * stride[1] + q - l
                            if -t <= sy < h + b and -l <= sx < w + r:
                                padded += 1
                            if 0 <= sy < h and 0 <= sx < w:
                                real += 1
                                total += x[i, ch, sy, sx]
                    out[i, ch, y, xx] = total / (padded if count_include_pad else real)
    return out


def lp_pool2d(x, *, p, kernel, stride, out_hw):
    n, c, h, w = x.shape
    out = np.zeros((n, c) + tuple(out_hw))
    for i in range(n):
        for ch in range(c):
            for y in range(out_hw[0]):
                for xx in range(out_hw[1]):
                    total = 0.0
                    for a in range(kernel[0]):
                        for q in range(kernel[1]):
                            sy, sx = y * stride[0] + a, xx * stride[1] + q
                            if sy < h and sx < w:
                                total += x[i, ch, sy, sx] ** p
                    out[i, ch, y, xx] = total ** (1.0 / p)
    return out


def subsample2d(x, coeff, bias, *, kernel, stride, out_hw):
    n, c, h, w = x.shape
    out = np.zeros((n, c) + tuple(out_hw))
    for i in range(n):
        for ch in range(c):
            for y in range(out_hw[0]):
                for xx in range(out_hw[1]):
                    cells = [x[i, ch, sy, sx]
                             for sy in range(y * stride[0], y * stride[0] + kernel[0])
                             for sx in range(xx * stride[1], xx * stride[1] + kernel[1])
                             if sy < h and sx < w]
                    out[i, ch, y, xx] = coeff[ch] * (sum(cells) / len(cells)) + bias[ch]
    return out


def adaptive_avg_pool2d(x, out_hw):
    n, c, h, w = x.shape
    oh, ow = out_hw
    out = np.zeros((n, c, oh, ow))
    for i in range(n):
        for ch in range(c):
            for y in range(oh):
                y0, y1 = (y * h) // oh, math.ceil((y + 1) * h / oh)
                for xx in range(ow):
                    x0, x1 = (xx * w) // ow, math.ceil((xx + 1) * w / ow)
                    total = sum(x[i, ch, a, q] for a in range(y0, y1) for q in range(x0, x1))
                    out[i, ch, y, xx] = total / ((y1 - y0) * (x1 - x0))
    return out


def local_response_norm(x, *, size, alpha, beta, k):
    n, c, h, w = x.shape
    out = np.zeros(x.shape)
    for i in range(n):
        for ch in range(c):
            lo, hi = ch - size // 2, ch + (size - 1) // 2
            for y in range(h):
                for xx in range(w):
                    s = sum(x[i, cc, y, xx] ** 2 for cc in range(max(lo, 0), min(hi, c - 1) + 1))
                    out[i, ch, y, xx] = x[i, ch, y, xx] / (k + alpha / size * s) ** beta
    return out


def batch_norm2d(x, gamma, beta, mean, var, *, eps):
    out = np.zeros(x.shape)
    n, c, h, w = x.shape
    for i in range(n):
        for ch in range(c):
            for y in range(h):
                for xx in range(w):
                    xhat = (x[i, ch, y, xx] - mean[ch]) / math.sqrt(var[ch] + eps)
                    out[i, ch, y, xx] = gamma[ch] * xhat + beta[ch]
    return out


def softmax(x, axis=1):
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    out = np.zeros(x.shape)
    for idx in np.ndindex(x.shape[:-1]):
        row = x[idx]
        exps = [math.exp(v - max(row)) for v in row]
        total = sum(exps)
        out[idx] = [e / total for e in exps]
    return np.moveaxis(out, -1, axis)
