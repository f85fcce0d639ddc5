"""Fuzzing: mutated valid specs and random YAML documents either analyse or fail cleanly.

The only acceptable outcomes for any input text are a successful analysis (and a JSON report
of it, and its expect: claims checked) or an ArchcalcError that says where (at least the
file) — never another exception, never a hang. The generators take a ``random.Random`` so
that benchmarks/fuzz_long.py can run them for a much longer budget than CI does here.
"""

from __future__ import annotations

import copy
import random
import string
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcalc.analysis import analyze, fold
from archcalc.errors import ArchcalcError
from archcalc.expectations import check_expectations
from archcalc.layers import REGISTRY
from archcalc.report import render
from archcalc.spec import parse_spec

FILE = "fuzz.yaml"
SECONDS = 3  # per input, far above the milliseconds each takes: a bound on hangs, not speed
SPECS = Path(__file__).resolve().parent.parent / "specs"

RESIDUAL = """\
name: tiny_resnet
input: [3, 32, 32]
rounding: floor
params: {width: 16, deep: true}
blocks:
  basic:
    params: {out: ~, stride: 1, project: false}
    layers:
      - {type: conv2d, name: conv1, out_channels: $out, kernel_size: 3, stride: $stride,
         padding: 1, bias: false}
      - {type: batch_norm2d, name: bn1}
      - {type: relu, name: relu1}
      - {type: conv2d, name: conv2, out_channels: $out, kernel_size: 3, padding: 1}
      - {type: conv2d, name: down, inputs: [input], out_channels: $out, kernel_size: 1,
         stride: $stride, if: $project}
      - {type: add, name: add, inputs: [conv2, down]}
      - {type: relu, name: relu}
layers:
  - {type: conv2d, name: stem, out_channels: $width, kernel_size: 3, padding: 1}
  - {block: basic, name: stage1, repeat: 2, args: {out: $width}}
  - {block: basic, name: stage2, repeat: 2, args: {out: 32}, first: {stride: 2, project: true},
     if: $deep}
  - {type: global_avg_pool2d, name: gap}
  - {type: flatten, name: flat}
  - {type: linear, name: fc, out_features: 10}
"""

INCEPTION = """\
name: tiny_inception
input: [16, 28, 28]
blocks:
  inception:
    params: [a, b, c]
    layers:
      - {type: conv2d, name: b1, inputs: [input], out_channels: $a, kernel_size: 1}
      - {type: conv2d, name: b2, inputs: [input], out_channels: $b, kernel_size: 3, padding: 1}
      - {type: max_pool2d, name: pool, inputs: [input], kernel_size: 3, stride: 1, padding: 1}
      - {type: conv2d, name: b3, inputs: [pool], out_channels: $c, kernel_size: 1}
      - {type: concat, name: join, inputs: [b1, b2, b3]}
layers:
  - {block: inception, name: mixed1, args: {a: 8, b: 8, c: 4}}
  - {type: max_pool2d, name: pool, kernel_size: 3, stride: 2, ceil_mode: true}
  - {block: inception, name: mixed2, args: {a: 16, b: 8, c: 8}}
  - {type: conv2d, name: aux, inputs: [mixed1], out_channels: 4, kernel_size: 1}
  - {type: adaptive_avg_pool2d, name: head, inputs: [mixed2], output_size: [2, 3]}
outputs: [aux]
"""

ODDS_AND_ENDS = """\
name: odds_and_ends
input: {channels: 4, height: 9, width: 9}
layers:
  - {type: conv_transpose2d, name: up, out_channels: 6, kernel_size: 4, stride: 2, padding: 1,
     output_padding: 1}
  - {type: avg_pool2d, name: avg, kernel_size: [3, 2], stride: [1, 1], padding: [1, 0]}
  - {type: conv2d, name: dil, out_channels: 6, kernel_size: 3, dilation: 2, padding: same,
     groups: 3}
  - {type: lp_pool2d, name: lp, kernel_size: 2, rounding: ceil}
  - {type: local_response_norm, name: lrn, size: 3, alpha: 1e-4}
  - {type: leaky_relu, name: leaky, negative_slope: 0.2}
  - {type: global_max_pool2d, name: gmp}
  - {type: flatten, name: flat}
  - {type: dropout, name: drop, p: 0.25}
  - {type: linear, name: fc, out_features: 3, bias: false}
  - {type: sigmoid, name: out}
expect:
  totals: {params: {value: 1, tolerance: 0.5, source: fuzz}}
"""


def seed_texts() -> list[str]:
    return [(SPECS / "vgg16.yaml").read_text(), (SPECS / "lenet5.yaml").read_text(),
            RESIDUAL, INCEPTION, ODDS_AND_ENDS]


SEEDS = seed_texts()
SEED_DATA = [yaml.safe_load(text) for text in SEEDS]
KINDS = sorted(REGISTRY)
#: YAML core tags, which a scalar may carry (a mismatch is an error, never a traceback)
CORE_TAGS = ["int", "str", "float", "bool", "null", "map", "seq", "merge", "timestamp"]
WORDS = ["input", "conv1", "fc8", "stage1", "stage1.1", "relu", "$width", "$out", "$nope", "same",
         "valid", "exact", "floor", "ceil", "", " ", "on", "no", "1e-5", "~", "type", "block",
         "layers", "*a", "&a", "224x224x3", *KINDS]


# --- inputs -------------------------------------------------------------------------------------


def random_scalar(rng: random.Random) -> Any:
    choice = rng.randrange(10)
    if choice == 0:
        return rng.choice([0, -1, 1, 2, 3, 7, 10**6, 10**9, 10**12, 10**30, -(10**9)])
    if choice == 1:
        return rng.randint(-5, 300)
    if choice == 2:
        return rng.choice([0.5, -0.0, 1e-5, 1e300, float("inf"), float("nan"), 2.5, 1.0])
    if choice == 3:
        return rng.choice(WORDS)
    if choice == 4:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(8)))
    if choice == 5:
        return rng.choice([True, False, None])
    if choice == 6:
        return [random_scalar(rng) for _ in range(rng.randrange(5))]
    if choice == 7:
        return {rng.choice(WORDS) or "k": random_scalar(rng) for _ in range(rng.randrange(3))}
    if choice == 8:
        return [rng.randint(0, 8) for _ in range(rng.choice([1, 2, 3, 4]))]
    return rng.choice(KINDS)


def _containers(value: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every dict and list inside ``value``."""
    found = []
    if isinstance(value, (dict, list)):
        found.append(path)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            found.extend(_containers(child, (*path, key)))
    return found


def _at(value: Any, path: tuple) -> Any:
    for key in path:
        value = value[key]
    return value


def mutate_data(data: dict, rng: random.Random) -> dict:
    """One to four structural edits of a spec's data: delete, duplicate, swap, retype, replace
    values (0, negative, huge, text, lists, None, booleans), drop layers, rename inputs."""
    data = copy.deepcopy(data)
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        paths = _containers(data)
        # mostly inside layers and blocks, where the analysis does its work
        target = _at(data, rng.choices(paths, weights=[1 + 3 * len(p) for p in paths])[0])
        if not target:
            continue
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = rng.choice(keys)
        op = rng.randrange(10)
        if op in (0, 9) and isinstance(target[key], int) \
                and not isinstance(target[key], bool):  # a nearby, plausible number
            target[key] = max(1, target[key] + rng.randint(-3, 3))
        elif op == 0:  # delete a key or an item (drops a layer when it is one)
            del target[key]
        elif op == 1:  # replace the value
            target[key] = random_scalar(rng)
        elif op == 2 and len(keys) > 1:  # swap two values
            other = rng.choice(keys)
            target[key], target[other] = target[other], target[key]
        elif op == 3 and isinstance(target, dict):  # rename a key
            target[rng.choice(WORDS) or "x"] = target.pop(key)
        elif op == 4 and isinstance(target, list):  # duplicate an item (a layer, a name)
            target.insert(key, copy.deepcopy(target[key]))
        elif op == 5 and isinstance(target, dict) and "type" in target:  # change the kind
            target["type"] = rng.choice(KINDS)
        elif op == 6 and isinstance(target, dict):  # rename an input reference
            target["inputs"] = [rng.choice(WORDS) for _ in range(rng.randint(0, 3))]
        elif op == 7 and isinstance(target[key], (int, float)) and not isinstance(target[key],
                                                                                  bool):
            target[key] = rng.choice([0, -target[key], target[key] * 10**rng.randint(1, 12),
                                      target[key] + 1, target[key] + 2, max(1, target[key] - 1),
                                      2 * target[key], str(target[key])])
        else:
            target[key] = copy.deepcopy(_at(data, rng.choice(paths)))  # a value from elsewhere
    return data


def corrupt_text(text: str, rng: random.Random) -> str:
    """Random edits of the YAML text itself: bytes, truncation, duplicated and swapped lines,
    tabs, brackets, anchors and aliases."""
    for _ in range(rng.randint(1, 5)):
        op = rng.randrange(8)
        at = rng.randrange(len(text) + 1)
        if op == 0:
            text = text[:at]
        elif op == 1:
            text = text[:at] + text[at + rng.randint(1, 20):]
        elif op == 2:
            text = text[:at] + rng.choice(["\t", "[", "]", "{", "}", ":", "-", "'", '"', "&a ",
                                           "*a", "!!python/name:os.system ", "\x00", "\x07",
                                           "\u2028", "#", "---\n", "<<: ", "? ", "|\n",
                                           *(f"!!{t} " for t in CORE_TAGS)]) + text[at:]
        elif op == 3:
            text = text[:at] + chr(rng.randrange(1, 0x3000)) + text[at + 1:]
        else:
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if op == 4:
                lines.insert(i, lines[j])  # duplicate a line: duplicate keys, repeated layers
            elif op == 5:
                lines[i], lines[j] = lines[j], lines[i]
            elif op == 6:
                lines[i] = " " * rng.randrange(6) + lines[i].lstrip()
            else:
                del lines[i]
            text = "\n".join(lines)
    return text


def random_document(rng: random.Random, depth: int = 0) -> Any:
    """A random YAML-shaped value, biased towards the spec language's own keys."""
    if depth > 4 or rng.random() < 0.3:
        return random_scalar(rng)
    if rng.random() < 0.5:
        keys = ["name", "input", "layers", "blocks", "params", "outputs", "rounding", "expect",
                "type", "block", "inputs", "repeat", "args", "first", "if", *WORDS]
        return {rng.choice(keys) or "k": random_document(rng, depth + 1)
                for _ in range(rng.randrange(6))}
    return [random_document(rng, depth + 1) for _ in range(rng.randrange(6))]


def mutated_data_text(rng: random.Random) -> str:
    data = mutate_data(rng.choice(SEED_DATA), rng)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def corrupted_seed_text(rng: random.Random) -> str:
    return corrupt_text(rng.choice(SEEDS), rng)


def random_document_text(rng: random.Random) -> str:
    if rng.random() < 0.2:  # not even YAML-shaped
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(200)))
    document = random_document(rng)
    if isinstance(document, dict) and rng.random() < 0.7:  # mostly close to a real spec
        document.setdefault("name", "n")
        document.setdefault("input", [rng.randint(1, 4), rng.randint(1, 40), rng.randint(1, 40)])
        document.setdefault("layers", [{"type": rng.choice(KINDS)} for _ in range(3)])
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


GENERATORS = {"mutated spec": mutated_data_text, "corrupted text": corrupted_seed_text,
              "random document": random_document_text}


# --- the property ---------------------------------------------------------------------------


def failure(text: str) -> ArchcalcError | None:
    """None when ``text`` analyses, else its ArchcalcError (which must name the file);
    any other exception escapes and fails the caller."""
    try:
        analysis = analyze(parse_spec(text, file=FILE))
        render(analysis, "json")
        fold(analysis, 0)
        check_expectations(analysis, source_text=text)
    except ArchcalcError as exc:
        assert exc.where.file == FILE, f"an error without its file: {exc.message}"
        assert exc.message.startswith(FILE), exc.message
        return exc
    return None


def outcome(text: str) -> str:
    """'ok', or the ArchcalcError class name."""
    error = failure(text)
    return "ok" if error is None else type(error).__name__


def check(text: str) -> str:
    started = time.perf_counter()
    result = outcome(text)
    elapsed = time.perf_counter() - started
    assert elapsed < SECONDS, f"{elapsed:.1f} s for one input"
    return result


FUZZ = settings(max_examples=500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def test_seeds_are_valid():
    assert all(check(text) == "ok" for text in SEEDS)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_specs(rng):
    check(mutated_data_text(rng))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_corrupted_spec_text(rng):
    check(corrupted_seed_text(rng))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_random_documents(rng):
    check(random_document_text(rng))


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=300))
def test_arbitrary_text(text):
    check(text)
