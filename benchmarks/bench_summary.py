"""How fast is `archcalc summary`? Ratios against baselines measured in the same run.

1. Wall time of `archcalc summary vgg16` (the console script, output discarded) against
   `python -c "import yaml, pydantic, rich.table, click"` — the floor set by the libraries
   archcalc builds on.
2. The engine (load_spec + analyze, in process) on generated chains of 1,000 to 10,000
   layers: time per layer should stay flat if the engine is linear.

Run: .venv/bin/python benchmarks/bench_summary.py [--runs N] [--no-gc]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chain_spec(layers: int) -> str:
    """A conv/relu chain of ``layers`` layers on a small map, written without blocks."""
    lines = ["name: chain", "input: [8, 16, 16]", "layers:"]
    for i in range(layers // 2):
        lines.append(f"  - {{type: conv2d, name: c{i}, out_channels: 8, kernel_size: 3, "
                     "padding: 1}")
        lines.append(f"  - {{type: relu, name: r{i}}}")
    return "\n".join(lines) + "\n"


def engine_time(layers: int, runs: int, collect: bool = True) -> float:
    """Median seconds to load and analyse a chain of ``layers``; ``collect=False`` turns
    Python's garbage collector off while timing."""
    from archcalc.analysis import analyze
    from archcalc.spec import load_spec

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chain.yaml"
        path.write_text(chain_spec(layers))
        times = []
        for _ in range(runs):
            if not collect:
                gc.disable()
            try:
                start = time.perf_counter()
                analyze(load_spec(path))
                times.append(time.perf_counter() - start)
            finally:
                gc.enable()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-gc", action="store_true",
                        help="time the engine with the garbage collector off")
    args = parser.parse_args()
    python = sys.executable
    script = str(Path(python).with_name("archcalc"))

    baseline = wall([python, "-c", "import yaml, pydantic, rich.table, click"], args.runs)
    summary = wall([script, "summary", "vgg16"], args.runs)
    bare = wall([python, "-c", "pass"], args.runs)
    print(f"python -c pass                          {bare * 1000:7.1f} ms (median of {args.runs})")
    print(f"import yaml, pydantic, rich.table, click {baseline * 1000:6.1f} ms")
    print(f"archcalc summary vgg16                  {summary * 1000:7.1f} ms")
    print(f"ratio summary / imports                 {summary / baseline:7.2f}×")

    print("\nengine (load_spec + analyze) on generated chains:")
    per_layer = {}
    for n in (1_000, 2_500, 5_000, 10_000):
        seconds = engine_time(n, max(3, args.runs // 2), collect=not args.no_gc)
        per_layer[n] = seconds / n
        print(f"  {n:6,} layers  {seconds * 1000:8.1f} ms  {per_layer[n] * 1e6:6.1f} µs/layer")
    print(f"per-layer cost 10,000 vs 1,000 layers: {per_layer[10_000] / per_layer[1_000]:.2f}× "
          "(1.0 = linear)")


if __name__ == "__main__":
    main()
