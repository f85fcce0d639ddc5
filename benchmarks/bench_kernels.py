"""How fast is archcalc.kernels.conv2d compared with a plain float32 matmul, in the same process?

    .venv/bin/python benchmarks/bench_kernels.py [--runs 7] [--alternatives] [--torch] [--clock cpu]

Prints the large square ``np.matmul`` rate (GFLOP/s) and, for a few VGG/ResNet layer shapes at
batch 1 and 8, conv2d's achieved rate (2·MACs / time) as a fraction of it: the ratio of medians
over the runs and, beside it, the ratio of the best runs (what an idle machine would show).
For the layers conv2d runs by Winograd F(2×2, 3×3) ("path" W) that rate is an effective one:
2·MACs counts the direct algorithm's multiplications, 2.25× what Winograd performs; the "im2col"
column times the same layer on the im2col + GEMM path, as a fraction of matmul's rate.
``--alternatives`` also times the conv strategies kernels.py does not use (NHWC im2col,
shifted-GEMM accumulation), so the choice can be re-checked on another machine; ``--torch`` adds
PyTorch's conv2d for reference (timed last: its OpenMP threads spin and would slow OpenBLAS).
This is a script, not a test. On a busy machine wall times swing by 2-10× (two-thread OpenBLAS
stalls when a core is taken); ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ... --clock cpu`` times
one thread's CPU seconds instead, which other processes disturb far less.
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
    ("conv3x3 224×224×64→64 p1", 64, 224, 64, 3, 1, 1),
    ("conv3x3 56×56×64→64 p1", 64, 56, 64, 3, 1, 1),
    ("conv3x3 56×56×256→256 p1", 256, 56, 256, 3, 1, 1),
    ("conv3x3 28×28×128→128 p1", 128, 28, 128, 3, 1, 1),
    ("conv3x3 14×14×256→256 p1", 256, 14, 256, 3, 1, 1),
    ("conv3x3 14×14×512→512 p1", 512, 14, 512, 3, 1, 1),
    ("conv3x3 7×7×512→512 p1", 512, 7, 512, 3, 1, 1),
    ("conv1x1 14×14×256→1024", 256, 14, 1024, 1, 1, 0),
    ("conv7x7/2 224×224×3→64 p3", 3, 224, 64, 7, 2, 3),
]
MATMUL_N = 2048
CLOCK = time.perf_counter


def timings(runs: int, fn: Callable[..., object], *args: object, **kwargs: object) -> list[float]:
    """Times of ``runs`` calls of ``fn(*args, **kwargs)``, after one warm-up call."""
    fn(*args, **kwargs)  # thread pool, allocator, caches
    times = []
    for _ in range(runs):
        t0 = CLOCK()
        fn(*args, **kwargs)
        times.append(CLOCK() - t0)
    return times


def rates(flop: float, times: list[float]) -> tuple[float, float]:
    """(median, best) GFLOP/s."""
    return flop / statistics.median(times) / 1e9, flop / min(times) / 1e9


def matmul_rates(runs: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    out = np.empty_like(a)
    return rates(2 * MATMUL_N**3, timings(runs, np.matmul, a, b, out=out))


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
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (at least 5)")
    parser.add_argument("--alternatives", action="store_true", help="also time NHWC / shifted")
    parser.add_argument("--torch", action="store_true", help="also time torch conv2d (last)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time (default) or this process's CPU time")
    args = parser.parse_args()
    runs = max(5, args.runs)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    mm_med, mm_best = matmul_rates(3 * runs)
    print(f"clock {args.clock}; np.matmul {MATMUL_N}² float32: {mm_med:.1f} GFLOP/s median, "
          f"{mm_best:.1f} best of {3 * runs}")
    rng = np.random.default_rng(1)
    cases = []
    for name, c, h, co, k, s, p in SHAPES:
        ho = (h + 2 * p - k) // s + 1
        for n in (1, 8):
            x = rng.standard_normal((n, c, h, h), dtype=np.float32)
            w = rng.standard_normal((co, c, k, k), dtype=np.float32)
            cases.append((name, n, x, w, s, p, ho, 2 * n * co * ho * ho * c * k * k))

    print("conv2d GFLOP/s (median) and as a fraction of matmul's: median/median, best/best")
    header = f"{'layer':<28}{'N':>3}{'path':>5}{'GFLOP/s':>9}{'median':>8}{'best':>6}{'im2col':>8}"
    if args.alternatives:
        header += f"{'nhwc':>8}{'shifted':>9}  (median)"
    print(header)
    ours = []
    for name, n, x, w, s, p, ho, flop in cases:
        med, best = rates(flop, timings(runs, kernels.conv2d, x, w, stride=s, padding=(p,) * 4))
        ours.append(med)
        winograd = kernels.uses_winograd(x.shape[1], w.shape[0], w.shape[2:], (s, s), (1, 1), 1,
                                         (ho, ho), n)
        line = (f"{name:<28}{n:>3}{'W' if winograd else 'G':>5}{med:>9.1f}{med / mm_med:>8.2f}"
                f"{best / mm_best:>6.2f}")
        if winograd:
            med_gemm, _ = rates(flop, timings(runs, kernels._conv_gemm, kernels.pad2d(x, (p,) * 4),
                                              w, 1, (s, s), (1, 1), (ho, ho)))
            line += f"{med_gemm / mm_med:>8.2f}"
        else:
            line += f"{'-':>8}"
        if args.alternatives:
            med_alt, _ = rates(flop, timings(runs, conv_nhwc, x, w, s, p))
            line += f"{med_alt / mm_med:>8.2f}"
            if s == 1:
                med_alt, _ = rates(flop, timings(runs, conv_shifted, x, w, s, p))
                line += f"{med_alt / mm_med:>9.2f}"
            else:
                line += f"{'-':>9}"
        print(line, flush=True)
    after, _ = matmul_rates(3 * runs)
    fractions = [r / mm_med for r in ours]
    print(f"np.matmul again at the end: {after:.1f} GFLOP/s median; "
          f"conv fractions: median {statistics.median(fractions):.2f}, min {min(fractions):.2f}")

    if args.torch:
        import torch

        print(f"torch {torch.__version__} conv2d, {torch.get_num_threads()} threads; "
              "time(kernels) / time(torch), medians:")
        for (name, n, x, w, s, p, _, flop), rate in zip(cases, ours, strict=True):
            xt, wt = torch.from_numpy(x), torch.from_numpy(w)
            with torch.no_grad():
                med, _ = rates(flop, timings(runs, torch.nn.functional.conv2d, xt, wt, stride=s,
                                             padding=p))
            print(f"{name:<28}{n:>3}  torch {med:7.1f} GFLOP/s  ratio {med / rate:5.2f}")


if __name__ == "__main__":
    main()
