"""Benchmark the NumPy executor on VGG-16 and ResNet-50 at batch 1 and 8.

    .venv/bin/python benchmarks/bench_executor.py [--nets vgg16,resnet50] [--batches 1,8]
        [--repeats 3] [--threads N] [--no-torch] [--json FILE]

For each network and batch, child processes build the same weights (archcalc.init_weights,
same seed) and the same input:

- time: one process runs archcalc.run and (when torch is installed) the network translated
  by hand to PyTorch (benchmarks/torch_twin.py, same thread count via torch.set_num_threads),
  alternately, one warm-up each and then ``repeats`` timed runs each, so drifting load on a
  shared machine hits both alike; per-layer times come from the progress callback;
  numpy.matmul's GFLOP/s on a 4096×4096 float32 product is sampled in the same process before
  each pair of runs (median of the samples);
- memory: a fresh process per framework (so neither's allocations count against the other)
  runs the forward pass twice and reads its peak resident size.

Reported: time per image (median of the runs), achieved GFLOP/s = 2·MACs (from the analysis) /
time, as a fraction of the matmul rate, for the conv layers (also split by the path conv2d
takes: im2col + GEMM, or Winograd F(2×2, 3×3), whose rate is effective: it counts the direct
algorithm's multiplications, 2.25× what it performs) and for the whole network; peak
resident memory during the forward passes (/proc/self/status VmHWM, reset through
/proc/self/clear_refs after the weights and input exist; also reported as the increase over
the resident size before the first pass); the outputs of both compared at atol = rtol = 1e-4,
and, since deep float32 networks with He weights reach activations in the thousands, also
after dividing both by the largest |value| of PyTorch's (the "scaled" check).
The machine is shared and noisy: read medians and ratios only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MATMUL_N = 4096
#: the memory guard's limit for the benchmark's runs: fixed, because the default (half the
#: memory available at the moment) moves with whatever else the shared machine runs
GUARD_LIMIT = 8 << 30


def load_analysis(name: str):
    from archcalc.analysis import analyze
    from archcalc.spec import bundled_names, load_spec

    if name in bundled_names():
        return analyze(load_spec(name)), f"bundled {name}"
    raise SystemExit(f"unknown network {name!r}")


# ----------------------------------------------------------------------------- memory


def _status(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- children


def _compared_layers(analysis) -> list[str]:
    """The network outputs plus the last layer with MACs (the logits before a softmax)."""
    names = list(analysis.outputs)
    with_macs = [row.name for row in analysis.layers if row.macs]
    if with_macs and with_macs[-1] not in names:
        names.append(with_macs[-1])
    return names


class MatmulRate:
    """numpy.matmul's GFLOP/s on a MATMUL_N² float32 product, sampled between network runs."""

    def __init__(self) -> None:
        import numpy as np

        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
        self.b = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
        self.out = np.matmul(self.a, self.b)
        self.rates: list[float] = []

    def sample(self) -> None:
        import numpy as np

        start = time.perf_counter()
        np.matmul(self.a, self.b, out=self.out)
        self.rates.append(2 * MATMUL_N**3 / (time.perf_counter() - start) / 1e9)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def _setup(args):
    import numpy as np

    from archcalc.weights import init_weights

    analysis, _ = load_analysis(args.net)
    weights = init_weights(analysis, seed=0, dtype=np.float32)
    x = np.random.default_rng(1).standard_normal((args.batch, *analysis.input_shape),
                                                 dtype=np.float32)
    return analysis, weights, x


def _torch_net(analysis, weights, threads):
    import torch

    sys.path.insert(0, str(HERE))
    from torch_twin import TorchNet

    torch.set_num_threads(threads)
    return TorchNet(analysis, weights)  # its tensors share the weights' memory


def _agreement(ours, theirs) -> dict:
    """Per compared layer: (allclose, max |Δ|, allclose after scaling by max |torch|)."""
    import numpy as np

    result = {}
    for name, a in ours.items():
        b = theirs[name]
        scale = max(float(np.abs(b).max()), 1e-30)
        result[name] = (bool(np.allclose(a, b, rtol=1e-4, atol=1e-4)),
                        float(np.abs(a - b).max()),
                        bool(np.allclose(a / scale, b / scale, rtol=1e-4, atol=1e-4)), scale)
    return result


def child_time(args) -> dict:
    """numpy and torch forward passes, alternating; the matmul rate measured first."""

    from archcalc.executor import run

    matmul = MatmulRate()
    analysis, weights, x = _setup(args)
    keep = _compared_layers(analysis)
    netw = None
    if args.torch:
        import torch

        netw = _torch_net(analysis, weights, args.threads)
        xt = torch.from_numpy(x)
    ours, theirs, layer_runs = [], [], []
    for i in range(args.repeats + 1):
        matmul.sample()
        layer_times: dict[str, float] = {}

        def progress(event, layer_times=layer_times):
            layer_times[event.row.name] = event.seconds

        # timed runs keep only the outputs, as `archcalc run` does: keeping every compared
        # layer alive would time the allocator, not the network
        start = time.perf_counter()
        run(analysis, x, weights, keep="outputs", progress=progress, max_memory=GUARD_LIMIT)
        elapsed = time.perf_counter() - start
        if i:  # the first run of each warms up
            ours.append(elapsed)
            layer_runs.append(layer_times)
        if netw is not None:
            start = time.perf_counter()
            netw(xt, keep=list(analysis.outputs))
            elapsed = time.perf_counter() - start
            if i:
                theirs.append(elapsed)
    out = run(analysis, x, weights, keep=keep, max_memory=GUARD_LIMIT)  # untimed: compare
    if netw is not None:
        tout = netw(xt, keep=keep)
    conv = [row for row in analysis.layers if row.kind == "conv2d"]
    winograd = [row for row in conv
                if row.layer.takes_winograd(list(row.input_shapes), row.output_shape, args.batch)]
    result = {"times": ours, "matmul_gflops": matmul.median, "matmul_samples": matmul.rates,
              "threads": _blas_threads(), "compared": keep,
              "conv_layers": len(conv), "winograd_layers": len(winograd)}
    for key, rows in [("conv", conv), ("winograd", winograd),
                      ("im2col", [row for row in conv if row not in winograd])]:
        macs = sum(row.macs for row in rows) * args.batch
        seconds = statistics.median(sum(times[row.name] for row in rows) for times in layer_runs)
        result[f"{key}_gflops"] = 2 * macs / seconds / 1e9 if seconds else None
    if netw is not None:
        import torch

        result.update(torch_times=theirs, torch_threads=torch.get_num_threads(),
                      agree=_agreement(out, {k: v.numpy() for k, v in tout.items()}))
    return result


def child_memory(args) -> dict:
    """Peak resident memory of two forward passes in a fresh process."""
    from archcalc.executor import run

    analysis, weights, x = _setup(args)
    keep = list(analysis.outputs)
    if args.child == "torch-memory":
        import torch

        netw = _torch_net(analysis, weights, args.threads)
        xt = torch.from_numpy(x)
        forward = lambda: netw(xt, keep=keep)  # noqa: E731
    else:
        forward = lambda: run(analysis, x, weights, keep=keep,  # noqa: E731
                              max_memory=GUARD_LIMIT)
    before = _status("VmRSS")
    resettable = reset_peak()
    for _ in range(2):
        forward()
    return {"rss_before": before, "peak_rss": _status("VmHWM"), "peak_reset": resettable}


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info

        return ",".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info())
    except ImportError:
        return f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"


def spawn(which: str, net: str, batch: int, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--child", which, "--net", net, "--batch", str(batch),
           "--repeats", str(args.repeats), "--threads", str(args.threads)]
    if args.torch:
        cmd.append("--torch")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{which} child failed for {net} batch {batch}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def bench(args) -> list[dict]:
    results = []
    for net in args.nets.split(","):
        analysis, origin = load_analysis(net)
        for batch in [int(b) for b in args.batches.split(",")]:
            timing = spawn("time", net, batch, args)
            memory = spawn("numpy-memory", net, batch, args)
            t = statistics.median(timing["times"])
            row = {"net": net, "origin": origin, "batch": batch, "macs": analysis.totals.macs,
                   "ms_per_image": 1000 * t / batch,
                   "gflops": 2 * analysis.totals.macs * batch / t / 1e9, **timing, **memory}
            row["net_fraction"] = row["gflops"] / timing["matmul_gflops"]
            for key in ("conv", "winograd", "im2col"):
                rate = timing[f"{key}_gflops"]
                row[f"{key}_fraction"] = rate / timing["matmul_gflops"] if rate else None
            if args.torch:
                theirs = spawn("torch-memory", net, batch, args)
                tt = statistics.median(timing["torch_times"])
                row.update(torch_memory=theirs, torch_ms_per_image=1000 * tt / batch,
                           time_ratio=t / tt, peak_ratio=memory["peak_rss"] / theirs["peak_rss"],
                           increase_ratio=(memory["peak_rss"] - memory["rss_before"])
                           / max(1, theirs["peak_rss"] - theirs["rss_before"]))
            results.append(row)
            print(_line(row), flush=True)
    return results


def _paths(r: dict) -> str:
    """The conv layers' rates by path: im2col + GEMM, and Winograd's effective rate (2·MACs of
    the direct algorithm per second, though Winograd multiplies 2.25× less)."""
    n_wino = r["winograd_layers"]
    parts = []
    if r["conv_layers"] > n_wino:
        parts.append(f"{r['conv_layers'] - n_wino} by im2col {r['im2col_fraction']:.0%}")
    if n_wino:
        parts.append(f"{n_wino} by Winograd {r['winograd_fraction']:.0%} effective")
    return ", ".join(parts)


def _line(r: dict) -> str:
    text = (f"{r['net']:>9} batch {r['batch']}: {r['ms_per_image']:8.1f} ms/image, "
            f"{r['gflops']:6.1f} GFLOP/s = {r['net_fraction']:.0%} of matmul "
            f"({r['matmul_gflops']:.1f}); conv layers {r['conv_fraction']:.0%} "
            f"({_paths(r)}); "
            f"peak RSS {_mib(r['peak_rss'])} (+{_mib(r['peak_rss'] - r['rss_before'])}); "
            f"BLAS threads: {r['threads']}")
    if "torch_times" in r:
        tm = r["torch_memory"]
        checks = "; ".join(
            f"{name} {'agree' if raw else 'differ'} (max |Δ| {worst:.1e} on values up to "
            f"{scale:.3g}), scaled {'agree' if scaled else 'DIFFER'}"
            for name, (raw, worst, scaled, scale) in r["agree"].items())
        text += (f"\n{'':>9}  torch {r['torch_ms_per_image']:8.1f} ms/image, "
                 f"{r['torch_threads']} threads -> time ×{r['time_ratio']:.2f}; peak RSS "
                 f"{_mib(tm['peak_rss'])} (+{_mib(tm['peak_rss'] - tm['rss_before'])}) -> "
                 f"memory ×{r['peak_ratio']:.2f} (increase ×{r['increase_ratio']:.2f})"
                 f"\n{'':>9}  outputs at atol = rtol = 1e-4: {checks}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", default="vgg16,resnet50")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", choices=["time", "numpy-memory", "torch-memory"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--torch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--net", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (child_time if args.child == "time" else child_memory)(args)
        print(json.dumps(result))
        return
    try:
        import torch  # noqa: F401

        args.torch = not args.no_torch
    except ImportError:
        args.torch = False
    print(f"threads: {args.threads}; medians of {args.repeats} runs after a warm-up")
    results = bench(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
