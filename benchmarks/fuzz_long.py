"""A long fuzzing run: the generators of tests/test_fuzz.py for a larger budget than CI's.

    .venv/bin/python benchmarks/fuzz_long.py [--inputs 20000] [--seed 0]

Every input must either analyse or raise an ArchcalcError that names the file; anything else
(a traceback) stops the run and prints the input that caused it, saved for a bug report.
Prints how many inputs were tried, the outcomes per generator, the slowest input's time, and
the most common messages (with names and numbers blanked), so new kinds stand out.
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_fuzz import GENERATORS, failure  # noqa: E402

from archcalc.errors import ArchcalcError  # noqa: E402


def message_kind(error: ArchcalcError) -> str:
    """What an error says, without its location, with quoted names and numbers blanked."""
    what = re.sub(r"'[^']*'", "'…'", error.what)
    return re.sub(r"-?\d[\d,._]*", "N", what)[:90]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default="fuzz_failure.yaml",
                        help="where to write an input that escaped as a traceback")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    names = list(GENERATORS)
    counts: dict[str, collections.Counter] = {name: collections.Counter() for name in names}
    kinds: collections.Counter = collections.Counter()
    slowest, slowest_text = 0.0, ""
    started = time.perf_counter()
    for i in range(args.inputs):
        name = names[i % len(names)]
        text = GENERATORS[name](rng)
        t0 = time.perf_counter()
        try:
            error = failure(text)
        except Exception:  # a traceback the user would see (Ctrl-C still stops the run)
            Path(args.save).write_text(text, encoding="utf-8", errors="surrogateescape")
            print(f"input {i + 1} ({name}) escaped; saved to {args.save}:")
            traceback.print_exc()
            return 1
        elapsed = time.perf_counter() - t0
        if elapsed > slowest:
            slowest, slowest_text = elapsed, text
        counts[name]["ok" if error is None else type(error).__name__] += 1
        if error is not None:
            kinds[message_kind(error)] += 1
    total = time.perf_counter() - started

    print(f"inputs tried: {args.inputs:,} (seed {args.seed}) in {total:.1f} s, "
          f"{1000 * total / args.inputs:.1f} ms per input; slowest {1000 * slowest:.0f} ms")
    outcomes = sorted({key for c in counts.values() for key in c})
    width = max(len(o) for o in outcomes)
    print(f"{'outcome':<{width}}  " + "  ".join(f"{n:>16}" for n in names) + f"  {'total':>8}")
    for key in outcomes:
        row = [counts[n][key] for n in names]
        print(f"{key:<{width}}  " + "  ".join(f"{v:>16,}" for v in row) + f"  {sum(row):>8,}")
    print("\nmost common messages (names and numbers blanked):")
    for kind, n in kinds.most_common(25):
        print(f"  {n:>5}  {kind}")
    if slowest > 1:
        Path("fuzz_slowest.yaml").write_text(slowest_text, encoding="utf-8",
                                              errors="surrogateescape")
        print(f"\nslowest input ({slowest:.1f} s) saved to fuzz_slowest.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
