"""Benchmark the NumPy executor on VGG-16 and ResNet-50 at batch 1 and 8.

    .venv/bin/python benchmarks/bench_executor.py [--nets vgg16,resnet50] [--batches 1,8]
        [--repeats 3] [--threads N] [--no-torch] [--json FILE]

For each network and batch, two fresh child processes (so neither's memory or caches affect
the other) build the same weights (archcalc.init_weights, same seed) and the same input:

- numpy: archcalc.run, one warm-up then ``repeats`` timed runs; per-layer times from the
  progress callback; numpy.matmul's GFLOP/s on a 4096×4096 float32 product, measured in the
  same process just before (median of 3);
- torch (when torch is installed): the network translated by hand from the analysis
  (benchmarks/torch_twin.py), same thread count (torch.set_num_threads), one warm-up, then
  ``repeats`` timed runs.

Reported: time per image (median of the runs), achieved GFLOP/s = 2·MACs (from the analysis) /
time, as a fraction of the matmul rate, for the conv layers and for the whole network; peak
resident memory during the forward passes (/proc/self/status VmHWM, reset through
/proc/self/clear_refs after the weights and input exist; also reported as the increase over
the resident size before the first pass); the outputs of both compared at atol = rtol = 1e-4.
The machine is shared and noisy: read medians and ratios only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MATMUL_N = 4096

#: ResNet-50 v1.5 (torchvision: the stride-2 sits on the 3×3 conv), used when the model zoo
#: does not bundle `resnet50`.
RESNET50 = """
name: resnet50
input: [3, 224, 224]
rounding: floor
blocks:
  bottleneck:
    params: {mid: ~, out: ~, stride: 1, proj: false}
    layers:
      - {type: conv2d, name: conv1, out_channels: $mid, kernel_size: 1, bias: false}
      - {type: batch_norm2d, name: bn1}
      - {type: relu, name: relu1}
      - {type: conv2d, name: conv2, out_channels: $mid, kernel_size: 3, stride: $stride,
         padding: 1, bias: false}
      - {type: batch_norm2d, name: bn2}
      - {type: relu, name: relu2}
      - {type: conv2d, name: conv3, out_channels: $out, kernel_size: 1, bias: false}
      - {type: batch_norm2d, name: bn3}
      - {type: conv2d, name: down, inputs: [input], out_channels: $out, kernel_size: 1,
         stride: $stride, bias: false, if: $proj}
      - {type: batch_norm2d, name: down_bn, if: $proj}
      - {type: add, name: add, inputs: [bn3, down_bn]}
      - {type: relu, name: relu}
layers:
  - {type: conv2d, name: conv1, out_channels: 64, kernel_size: 7, stride: 2, padding: 3,
     bias: false}
  - {type: batch_norm2d, name: bn1}
  - {type: relu, name: relu}
  - {type: max_pool2d, name: pool, kernel_size: 3, stride: 2, padding: 1}
  - {block: bottleneck, name: layer1, repeat: 3, args: {mid: 64, out: 256},
     first: {proj: true}}
  - {block: bottleneck, name: layer2, repeat: 4, args: {mid: 128, out: 512},
     first: {stride: 2, proj: true}}
  - {block: bottleneck, name: layer3, repeat: 6, args: {mid: 256, out: 1024},
     first: {stride: 2, proj: true}}
  - {block: bottleneck, name: layer4, repeat: 3, args: {mid: 512, out: 2048},
     first: {stride: 2, proj: true}}
  - {type: global_avg_pool2d, name: avgpool}
  - {type: flatten, name: flatten}
  - {type: linear, name: fc, out_features: 1000}
"""


def load_analysis(name: str):
    from archcalc.analysis import analyze
    from archcalc.spec import bundled_names, load_spec, parse_spec

    if name in bundled_names():
        return analyze(load_spec(name)), f"bundled {name}"
    if name == "resnet50":
        return analyze(parse_spec(RESNET50, file="bench:resnet50")), "benchmark's ResNet-50 v1.5"
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


def child_numpy(args) -> dict:
    import numpy as np

    from archcalc.executor import run
    from archcalc.weights import init_weights

    analysis, _ = load_analysis(args.net)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    np.matmul(a, b)
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        np.matmul(a, b)
        rates.append(2 * MATMUL_N**3 / (time.perf_counter() - start) / 1e9)
    del a, b
    weights = init_weights(analysis, seed=0, dtype=np.float32)
    x = np.random.default_rng(1).standard_normal((args.batch, *analysis.input_shape),
                                                 dtype=np.float32)
    keep = _compared_layers(analysis)
    before = _status("VmRSS")
    resettable = reset_peak()
    runs = []
    for i in range(args.repeats + 1):
        layer_times: dict[str, float] = {}

        def progress(event, layer_times=layer_times):
            layer_times[event.row.name] = event.seconds

        start = time.perf_counter()
        out = run(analysis, x, weights, keep=keep, progress=progress)
        total = time.perf_counter() - start
        if i:  # the first run warms up
            runs.append((total, layer_times))
    peak = _status("VmHWM")
    median = statistics.median(t for t, _ in runs)
    total, layer_times = min(runs, key=lambda r: abs(r[0] - median))
    conv = [row for row in analysis.layers if row.kind == "conv2d"]
    conv_macs = sum(row.macs for row in conv) * args.batch
    conv_time = sum(layer_times[row.name] for row in conv)
    out_dir = Path(args.out)
    for name in keep:
        np.save(out_dir / f"numpy.{name}.npy", out[name])
    return {"times": [t for t, _ in runs], "matmul_gflops": statistics.median(rates),
            "conv_gflops": 2 * conv_macs / conv_time / 1e9 if conv_time else None,
            "rss_before": before, "peak_rss": peak, "peak_reset": resettable,
            "threads": _blas_threads(), "compared": keep}


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info

        return {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
    except ImportError:
        return {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


def child_torch(args) -> dict:
    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from torch_twin import TorchNet

    from archcalc.weights import init_weights

    torch.set_num_threads(args.threads)
    analysis, _ = load_analysis(args.net)
    weights = init_weights(analysis, seed=0, dtype=np.float32)
    netw = TorchNet(analysis, weights)
    del weights  # the twin holds its own tensors (views of the same memory where possible)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal(
        (args.batch, *analysis.input_shape), dtype=np.float32))
    keep = _compared_layers(analysis)
    before = _status("VmRSS")
    resettable = reset_peak()
    times = []
    for i in range(args.repeats + 1):
        start = time.perf_counter()
        out = netw(x, keep=keep)
        if i:
            times.append(time.perf_counter() - start)
    peak = _status("VmHWM")
    for name in keep:
        np.save(Path(args.out) / f"torch.{name}.npy", out[name].numpy())
    return {"times": times, "rss_before": before, "peak_rss": peak, "peak_reset": resettable,
            "threads": torch.get_num_threads(), "version": torch.__version__}


def spawn(which: str, net: str, batch: int, args, out_dir: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, "--child", which, "--net", net, "--batch", str(batch),
           "--repeats", str(args.repeats), "--threads", str(args.threads), "--out", out_dir]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{which} child failed for {net} batch {batch}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def bench(args) -> list[dict]:
    import numpy as np

    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
    results = []
    for net in args.nets.split(","):
        analysis, origin = load_analysis(net)
        for batch in [int(b) for b in args.batches.split(",")]:
            with tempfile.TemporaryDirectory() as out_dir:
                ours = spawn("numpy", net, batch, args, out_dir)
                theirs = spawn("torch", net, batch, args, out_dir) if have_torch else None
                agree = None
                if theirs:
                    agree = {}
                    for name in ours["compared"]:
                        a = np.load(Path(out_dir) / f"numpy.{name}.npy")
                        b = np.load(Path(out_dir) / f"torch.{name}.npy")
                        agree[name] = (bool(np.allclose(a, b, rtol=1e-4, atol=1e-4)),
                                       float(np.abs(a - b).max()))
            t = statistics.median(ours["times"])
            row = {"net": net, "origin": origin, "batch": batch,
                   "macs": analysis.totals.macs, "ms_per_image": 1000 * t / batch,
                   "gflops": 2 * analysis.totals.macs * batch / t / 1e9, **ours}
            row["net_fraction"] = row["gflops"] / ours["matmul_gflops"]
            row["conv_fraction"] = (ours["conv_gflops"] / ours["matmul_gflops"]
                                    if ours["conv_gflops"] else None)
            if theirs:
                tt = statistics.median(theirs["times"])
                row.update(torch=theirs, torch_ms_per_image=1000 * tt / batch,
                           time_ratio=t / tt, peak_ratio=ours["peak_rss"] / theirs["peak_rss"],
                           increase_ratio=(ours["peak_rss"] - ours["rss_before"])
                           / max(1, theirs["peak_rss"] - theirs["rss_before"]),
                           agree=agree)
            results.append(row)
            print(_line(row), flush=True)
    return results


def _line(r: dict) -> str:
    text = (f"{r['net']:>9} batch {r['batch']}: {r['ms_per_image']:8.1f} ms/image, "
            f"{r['gflops']:6.1f} GFLOP/s = {r['net_fraction']:.0%} of matmul "
            f"({r['matmul_gflops']:.1f}); conv layers {r['conv_fraction']:.0%}; "
            f"peak RSS {_mib(r['peak_rss'])} (+{_mib(r['peak_rss'] - r['rss_before'])})")
    if "torch" in r:
        ok = all(v[0] for v in r["agree"].values())
        worst = max(v[1] for v in r["agree"].values())
        text += (f"\n{'':>9}  torch {r['torch_ms_per_image']:8.1f} ms/image -> time ×"
                 f"{r['time_ratio']:.2f}, peak RSS {_mib(r['torch']['peak_rss'])} "
                 f"(+{_mib(r['torch']['peak_rss'] - r['torch']['rss_before'])}) -> memory ×"
                 f"{r['peak_ratio']:.2f} (increase ×{r['increase_ratio']:.2f}); outputs "
                 f"{'agree' if ok else 'DIFFER'} (max |Δ| {worst:.1e}); threads numpy "
                 f"{r['threads']} torch {r['torch']['threads']}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", default="vgg16,resnet50")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--net", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (child_numpy if args.child == "numpy" else child_torch)(args)
        print(json.dumps(result))
        return
    print(f"threads: {args.threads}; medians of {args.repeats} runs after a warm-up")
    results = bench(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
