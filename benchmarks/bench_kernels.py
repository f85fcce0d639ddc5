"""How fast is archcalc.kernels.conv2d compared with a plain float32 matmul, in the same process?

    .venv/bin/python benchmarks/bench_kernels.py [--runs 7] [--alternatives] [--torch] [--clock cpu]

Prints the large square ``np.matmul`` rate (GFLOP/s, median of runs) and, for a few VGG/ResNet
layer shapes at batch 1 and 8, the conv's achieved rate (2·MACs / median time) as a fraction of
it. ``--alternatives`` also times the conv strategies that kernels.py does not use (NHWC im2col,
shifted-GEMM accumulation), so the choice can be re-checked on another machine; ``--torch`` adds
PyTorch's conv2d for reference (timed last: its OpenMP threads spin and would slow OpenBLAS).
This is a script, not a test: the machine is shared and noisy, so read ratios, not absolutes.
On a busy machine, ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ... --clock cpu`` times process CPU
seconds of one thread, which other processes disturb far less than wall time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

from archcalc import kernels

# name, C_in, H (= W), C_out, kernel, stride, padding
SHAPES = [
    ("conv3x3 56×56×64→64 p1", 64, 56, 64, 3, 1, 1),
    ("conv3x3 28×28×128→128 p1", 128, 28, 128, 3, 1, 1),
    ("conv3x3 14×14×256→256 p1", 256, 14, 256, 3, 1, 1),
    ("conv1x1 14×14×256→1024", 256, 14, 1024, 1, 1, 0),
    ("conv7x7/2 224×224×3→64 p3", 3, 224, 64, 7, 2, 3),
]
MATMUL_N = 2048


CLOCK = time.perf_counter


def median_time(runs: int, fn: Callable[..., object], *args: object, **kwargs: object) -> float:
    """Median time of ``fn(*args, **kwargs)`` over ``runs`` calls, after one warm-up call."""
    fn(*args, **kwargs)  # thread pool, allocator, caches
    times = []
    for _ in range(runs):
        t0 = CLOCK()
        fn(*args, **kwargs)
        times.append(CLOCK() - t0)
    return statistics.median(times)


def matmul_gflops(runs: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    out = np.empty_like(a)
    return 2 * MATMUL_N**3 / median_time(runs, np.matmul, a, b, out=out) / 1e9


# ----------------------------------------------------------------------------- alternatives


def conv_nhwc(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """im2col in NHWC: one (N·H'·W' × kh·kw·C) matrix per chunk, times (kh·kw·C × C_out)."""
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    xp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), dtype=x.dtype)
    xp[:, pad : pad + h, pad : pad + wd] = x.transpose(0, 2, 3, 1)
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    s0, s1, s2, s3 = xp.strides
    view = as_strided(xp, (n, ho, wo, kh, kw, c), (s0, s1 * stride, s2 * stride, s1, s2, s3))
    wmat = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(kh * kw * c, co))
    out = np.empty((n, co, ho, wo), dtype=x.dtype)
    for i in range(n):
        cols = np.ascontiguousarray(view[i]).reshape(ho * wo, -1)
        out[i] = (cols @ wmat).reshape(ho, wo, co).transpose(2, 0, 1)
    return out


def conv_shifted(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """Stride 1 only: Σ_ij W[:, :, i, j] @ (x_pad flattened, shifted by i·W_p + j), on full-width
    rows (W_p columns, cropped to W' at the end); no im2col copy, kh·kw GEMMs and adds."""
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    hp, wp = h + 2 * pad, wd + 2 * pad
    ho, wo = hp - kh + 1, wp - kw + 1
    xp = np.zeros((n, c, hp + 1, wp), dtype=x.dtype)  # one spare row for the last shifts
    xp[:, :, pad : pad + h, pad : pad + wd] = x
    flat = xp.reshape(n, c, -1)
    taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1))
    length = ho * wp
    out = np.empty((n, co, ho, wo), dtype=x.dtype)
    acc = np.empty((co, length), dtype=x.dtype)
    tmp = np.empty_like(acc)
    for i in range(n):
        for t in range(kh * kw):
            off = (t // kw) * wp + t % kw
            np.matmul(taps[t // kw, t % kw], flat[i, :, off : off + length], out=tmp if t else acc)
            if t:
                acc += tmp
        out[i] = acc.reshape(co, ho, wp)[:, :, :wo]
    return out


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (median, ≥ 5)")
    parser.add_argument("--alternatives", action="store_true", help="also time NHWC / shifted")
    parser.add_argument("--torch", action="store_true", help="also time torch conv2d (last)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time (default) or this process's CPU time")
    args = parser.parse_args()
    runs = max(5, args.runs)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"clock: {args.clock}")

    ref = matmul_gflops(3 * runs)
    print(f"np.matmul {MATMUL_N}² float32: {ref:.1f} GFLOP/s (median of {3 * runs} runs)")
    rng = np.random.default_rng(1)
    cases = []
    for name, c, h, co, k, s, p in SHAPES:
        ho = (h + 2 * p - k) // s + 1
        for n in (1, 8):
            x = rng.standard_normal((n, c, h, h), dtype=np.float32)
            w = rng.standard_normal((co, c, k, k), dtype=np.float32)
            cases.append((name, n, x, w, s, p, 2 * n * co * ho * ho * c * k * k))

    print("conv2d rate (2·MACs / median time) and its fraction of the matmul rate:")
    header = f"{'layer':<28}{'N':>3}{'GFLOP/s':>9}{'kernels':>9}"
    if args.alternatives:
        header += f"{'nhwc':>7}{'shifted':>9}"
    print(header)
    rates = []
    for name, n, x, w, s, p, flop in cases:
        pad = (p, p, p, p)
        rate = flop / median_time(runs, kernels.conv2d, x, w, stride=s, padding=pad) / 1e9
        rates.append(rate)
        line = f"{name:<28}{n:>3}{rate:>9.1f}{rate / ref:>9.2f}"
        if args.alternatives:
            t = median_time(runs, conv_nhwc, x, w, s, p)
            line += f"{flop / t / 1e9 / ref:>7.2f}"
            if s == 1:
                t = median_time(runs, conv_shifted, x, w, s, p)
                line += f"{flop / t / 1e9 / ref:>9.2f}"
            else:
                line += f"{'-':>9}"
        print(line, flush=True)
    after = matmul_gflops(3 * runs)
    fractions = [r / ref for r in rates]
    print(f"np.matmul again at the end: {after:.1f} GFLOP/s; "
          f"median conv fraction {statistics.median(fractions):.2f}, min {min(fractions):.2f}")

    if args.torch:
        import torch

        print(f"torch {torch.__version__} conv2d with {torch.get_num_threads()} threads; "
              "time(kernels) / time(torch):")
        for (name, n, x, w, s, p, flop), rate in zip(cases, rates, strict=True):
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)
            with torch.no_grad():
                t = median_time(runs, torch.nn.functional.conv2d, xt, wt, stride=s, padding=p)
            print(f"{name:<28}{n:>3}  torch {flop / t / 1e9:7.1f} GFLOP/s  "
                  f"ratio {flop / t / 1e9 / rate:5.2f}")


if __name__ == "__main__":
    main()
