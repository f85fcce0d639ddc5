"""run(analysis, x, weights) -> activations: the NumPy forward pass, checked against the analysis.

Each layer's ``forward`` runs in the analysis' (topological) order on batch-first arrays. After
every layer the executor compares what it computed with what ``analyze`` predicted — the output
shape (batch excluded) and the number of free parameters in the tensors it used (connection
tables masked) — and raises ExecError naming the layer on any disagreement: that is a bug in
archcalc, never the user's. An activation is freed after its last consumer unless kept.

Before anything is allocated, ``estimate_memory`` bounds the peak from the analysis and
``check_memory`` refuses a run that would not fit (see ``MemoryEstimate``).
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import ArchcalcError, ExecError, Location
from .layers.base import numel, shape_text
from .messages import suggestion
from .report import format_bytes
from .weights import (
    all_finite,
    check_finite,
    check_weights,
    connection_mask,
    init_weights,
    weight_bytes,
)

if TYPE_CHECKING:
    from .analysis import Analysis, LayerStats

Keep = Literal["all", "outputs"] | Iterable[str]

GIB = 1 << 30
#: the default limit: the smaller of this and half the memory available now
DEFAULT_LIMIT = 8 * GIB


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class LayerRun:
    """What ``progress`` receives after each layer: the row, its output and its time."""

    index: int
    total: int
    row: LayerStats
    output: np.ndarray
    seconds: float


def run(analysis: Analysis, x: np.ndarray, weights: Mapping[str, np.ndarray] | None = None, *,
        keep: Keep = "all", progress: Callable[[LayerRun], None] | None = None,
        seed: int = 0, max_memory: int | MemoryLimit | None = None) -> dict[str, np.ndarray]:
    """Run the network on ``x`` ((N, C, H, W), or (C, H, W) for one example) and return the
    activations of the kept layers by name: ``keep`` is "all", "outputs" (the network's
    outputs) or a list of layer names. The dtype (float32 or float64) follows ``x``.

    ``weights`` maps ``"<layer>.<tensor>"`` to arrays (see archcalc.weights); None initialises
    them from ``seed``. Their names, shapes and dtypes are checked before the run; whether they
    are finite only if an output is not (one sum per output instead of a pass over every
    weight, ~7 % of a VGG-16 or ResNet-50 forward pass), and then the first tensor holding NaN
    or ±∞ is named. ``max_memory`` (bytes) overrides the default limit of the memory guard,
    which is read once and applies to the weights and the whole run.
    """
    x = as_batch(analysis, x)
    kept = kept_names(analysis, keep)
    estimate = estimate_memory(analysis, batch=x.shape[0], dtype=x.dtype, keep=kept)
    limit = MemoryLimit.of(max_memory)
    check_memory(estimate, limit)
    if weights is None:
        weights = init_weights(analysis, seed=seed, dtype=x.dtype, max_memory=limit)
    else:
        check_weights(weights, analysis, finite=False)
    return run_checked(analysis, x, weights, kept=kept, estimate=estimate, progress=progress)


def run_checked(analysis: Analysis, x: np.ndarray, weights: Mapping[str, np.ndarray], *,
                kept: list[str], estimate: MemoryEstimate,
                progress: Callable[[LayerRun], None] | None = None) -> dict[str, np.ndarray]:
    """``run`` after its checks, for a caller that made them itself: ``x`` from ``as_batch``,
    ``weights`` from ``check_weights`` or ``init_weights``, ``kept`` from ``kept_names`` and
    ``estimate`` passed by ``check_memory``. Each layer is still checked against the analysis,
    and the weights' finiteness when an output is not finite."""
    values: dict[str, np.ndarray] = {"input": x}
    uses = Counter(source for row in analysis.layers for source in set(row.inputs))
    kept_set, outputs = set(kept), set(analysis.outputs)
    outputs_finite = True
    total = len(analysis.layers)
    for index, row in enumerate(analysis.layers):
        params = layer_params(row, weights, x.dtype)
        check_param_count(row, params)
        xs = [values[name] for name in row.inputs]
        start = time.perf_counter()
        y = _forward(row, xs, params, estimate)
        seconds = time.perf_counter() - start
        check_output(row, y, x.shape[0], x.dtype)
        if row.name in outputs:
            outputs_finite = outputs_finite and all_finite(y)
        values[row.name] = y
        if progress is not None:
            progress(LayerRun(index, total, row, y, seconds))
        for source in set(row.inputs):
            uses[source] -= 1
            if uses[source] == 0 and source not in kept_set and source != "input":
                del values[source]
        if uses[row.name] == 0 and row.name not in kept_set:
            del values[row.name]
    if not outputs_finite:  # bad weights, or finite ones overflowing (no error then)
        check_finite(weights)
    return {name: values[name] for name in kept}


def _forward(row: LayerStats, xs: list[np.ndarray], params: dict[str, np.ndarray],
             estimate: MemoryEstimate) -> np.ndarray:
    try:
        return row.layer.forward(xs, params, row.inferred)
    except ArchcalcError as exc:
        raise exc.located(row.node.where) from None
    except MemoryError:
        raise ExecError("ran out of memory", where=row.node.where,
                        formula=f"estimated peak {format_bytes(estimate.total)}",
                        fix="use a smaller --batch, --dtype float32, or keep fewer activations"
                        ) from None
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ExecError(f"the forward pass failed ({type(exc).__name__}: {exc}); "
                        "this is a bug in archcalc", where=row.node.where,
                        fix="please report it with the spec") from exc


def batch_shape(analysis: Analysis, shape: tuple[int, ...],
                where: Location | None = None) -> tuple[int, ...]:
    """``shape`` as (N, C, H, W) for the spec's C×H×W input (C×H×W alone is one example), or
    ExecError at ``where``; nothing read but the shape, so a file can be checked unread."""
    expected = tuple(analysis.input_shape)
    shape = tuple(shape)
    if shape == expected:
        shape = (1, *expected)
    if len(shape) != len(expected) + 1 or shape[1:] != expected:
        raise ExecError(
            f"input has shape {'×'.join(map(str, shape))}, the network takes "
            f"{'×'.join(map(str, expected))} (one example) or N×{'×'.join(map(str, expected))} "
            "(a batch)", where=where,
            fix=f"give an array of shape ({', '.join(map(str, expected))}) or "
                f"(N, {', '.join(map(str, expected))})")
    if shape[0] < 1:
        raise ExecError("the input batch is empty (N = 0)", where=where,
                        fix="give at least one example")
    return shape


def as_batch(analysis: Analysis, x, where: Location | None = None) -> np.ndarray:
    """``x`` as an (N, C, H, W) float32/float64 array matching the spec's input and holding
    only finite values, or ExecError (at ``where``, e.g. the file it came from)."""
    if not isinstance(x, np.ndarray):
        raise ExecError(f"the input must be a NumPy array, got {type(x).__name__}", where=where,
                        fix="pass np.asarray(x, dtype=np.float32)")
    x = x.reshape(batch_shape(analysis, x.shape, where))
    if x.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ExecError(f"input dtype {x.dtype} is not supported", where=where,
                        fix="convert it with x.astype(np.float32) (or float64)")
    if not all_finite(x):
        finite = np.isfinite(x)
        bad = np.argwhere(~finite)[0]
        raise ExecError(f"the input holds {x.size - int(finite.sum()):,} NaN or infinite "
                        f"values, the first at index {tuple(int(i) for i in bad)}", where=where,
                        fix="replace them with finite numbers")
    return x


def kept_names(analysis: Analysis, keep: Keep) -> list[str]:
    """The layer names ``keep`` selects, in layer order; unknown names get a did-you-mean."""
    order = [row.name for row in analysis.layers]
    if isinstance(keep, str):
        if keep == "all":
            return order
        if keep == "outputs":
            return list(analysis.outputs)
        keep = [keep]
    wanted = list(dict.fromkeys(keep))
    for name in wanted:
        if name not in analysis.by_name:
            raise ExecError(f"no layer named '{name}' to keep",
                            fix=suggestion(name, order, "layer names"))
    return [name for name in order if name in set(wanted)]


def layer_params(row: LayerStats, weights: Mapping[str, np.ndarray],
                 dtype: np.dtype) -> dict[str, np.ndarray]:
    """This layer's tensors by TensorSpec name, cast to the run's dtype (no copy when equal)."""
    return {t.name: np.asarray(weights[f"{row.name}.{t.name}"], dtype=dtype)
            for t in row.tensors}


def free_parameters(row: LayerStats, params: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """(free parameters, buffer entries) in the arrays a layer runs with; a connection table's
    masked weights are not free."""
    mask = connection_mask(row)
    free = buffers = 0
    for spec in row.tensors:
        array = params[spec.name]
        if spec.role == "buffer":
            buffers += array.size
        elif spec.role == "weight" and mask is not None:
            free += int(np.broadcast_to(mask, array.shape).sum())
        else:
            free += array.size
    return free, buffers


def check_param_count(row: LayerStats, params: Mapping[str, np.ndarray]) -> None:
    free, buffers = free_parameters(row, params)
    if (free, buffers) != (row.params, row.buffers):
        raise ExecError(
            f"the executor's tensors hold {free:,} free parameters and {buffers:,} buffer "
            f"entries, the analysis counts {row.params:,} and {row.buffers:,}; "
            "this is a bug in archcalc", where=row.node.where,
            formula="; ".join(t.formula for t in row.tensors if t.formula) or None,
            fix="please report it with the spec")


def check_output(row: LayerStats, y, batch: int, dtype: np.dtype) -> None:
    """The executed output must be an array of the analysed shape (batch excluded) and dtype."""
    if not isinstance(y, np.ndarray):
        raise ExecError(f"the forward pass returned {type(y).__name__}, not an array; "
                        "this is a bug in archcalc", where=row.node.where,
                        fix="please report it with the spec")
    expected = (batch, *row.output_shape)
    if y.shape != expected:
        got = shape_text(tuple(y.shape[1:])) if y.ndim > 1 else str(y.shape)
        raise ExecError(
            f"executed output {got} (batch {y.shape[0] if y.ndim else '?'}) differs from the "
            f"analysed {shape_text(row.output_shape)} (batch {batch}); this is a bug in archcalc",
            where=row.node.where, formula="; ".join(row.inferred.work) or None,
            fix="please report it with the spec")
    if y.dtype != dtype:
        raise ExecError(f"the forward pass returned {y.dtype} for a {dtype} run; "
                        "this is a bug in archcalc", where=row.node.where,
                        fix="please report it with the spec")


# ----------------------------------------------------------------------------- memory guard


@dataclass(frozen=True)
class MemoryEstimate:
    """An upper estimate of the run's peak memory, in bytes.

    peak = weights + max over layers (activations alive while it runs + its workspace), where
    an activation lives from its layer until its last consumer (to the end when kept; the input
    throughout), and a layer's workspace is 2·(inputs + output) for padded copies and
    elementwise temporaries, plus what the layer kind says it allocates (its ``workspace``:
    for a convolution kernels.conv2d_workspace, for a transposed one
    kernels.conv_transpose2d_workspace, for an RBF layer its difference tensor).
    """

    batch: int
    itemsize: int
    weights: int
    activations: int
    workspace: int
    peak_layer: str

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.workspace

    def breakdown(self) -> str:
        return (f"weights {format_bytes(self.weights)} + activations alive at "
                f"'{self.peak_layer}' {format_bytes(self.activations)} + its workspace "
                f"{format_bytes(self.workspace)} = {format_bytes(self.total)} "
                f"(batch {self.batch}, {self.itemsize} bytes per value)")


def _workspace(row: LayerStats, batch: int, itemsize: int) -> int:
    """Elements of the largest temporary a layer allocates (the layer kind says)."""
    return row.layer.workspace(list(row.input_shapes), row.output_shape, batch=batch,
                               itemsize=itemsize)


def estimate_memory(analysis: Analysis, *, batch: int = 1, dtype=np.float32,
                    keep: Keep = "all") -> MemoryEstimate:
    """Peak bytes of a run (see MemoryEstimate); exact integers, nothing allocated."""
    itemsize = np.dtype(dtype).itemsize
    kept = set(kept_names(analysis, keep))
    last_use: dict[str, int] = {}
    for index, row in enumerate(analysis.layers):
        for source in row.inputs:
            last_use[source] = index
    size = {row.name: numel(row.output_shape) for row in analysis.layers}
    size["input"] = numel(analysis.input_shape)
    alive = size["input"]  # the caller's input stays alive throughout
    best = (-1, 0, 0, "")
    for index, row in enumerate(analysis.layers):
        alive += size[row.name]
        inputs = sum(size[name] for name in row.inputs)
        work = 2 * (inputs + size[row.name]) * batch + _workspace(row, batch, itemsize)
        during = alive * batch + work
        if during > best[0]:
            best = (during, alive * batch, work, row.name)
        for source in set(row.inputs):
            if last_use.get(source) == index and source not in kept and source != "input":
                alive -= size[source]
        if row.name not in last_use and row.name not in kept:
            alive -= size[row.name]
    weights = weight_bytes(analysis, itemsize)
    return MemoryEstimate(batch, itemsize, weights, best[1] * itemsize, best[2] * itemsize,
                          best[3])


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where unknown)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_limit() -> int:
    """min(8 GiB, half the memory available now)."""
    free = available_memory()
    return DEFAULT_LIMIT if free is None else min(DEFAULT_LIMIT, free // 2)


@dataclass(frozen=True)
class MemoryLimit:
    """The memory guard's limit in bytes, read once per run (the available memory moves, and
    drops by what the run itself allocates), and whether the caller gave it."""

    bytes: int
    given: bool

    @classmethod
    def of(cls, max_memory: int | MemoryLimit | None) -> MemoryLimit:
        """``max_memory`` bytes as given (--max-memory), or ``default_limit()`` read now."""
        if isinstance(max_memory, MemoryLimit):
            return max_memory
        if max_memory is None:
            return cls(default_limit(), False)
        return cls(max_memory, True)

    def __str__(self) -> str:
        origin = ("--max-memory" if self.given
                  else "the default limit, min(8 GiB, half the free memory)")
        return f"{origin} of {format_bytes(self.bytes)}"


def check_memory(estimate: MemoryEstimate, limit: int | MemoryLimit | None = None) -> None:
    """Refuse (ExecError) when the estimate exceeds ``limit`` (see ``MemoryLimit.of``)."""
    limit = MemoryLimit.of(limit)
    if estimate.total <= limit.bytes:
        return
    raise ExecError(
        f"refusing to run: the estimated peak memory {format_bytes(estimate.total)} exceeds "
        f"{limit}",
        formula=estimate.breakdown(),
        fix="use a smaller --batch or input, keep fewer activations, or raise --max-memory "
            "if the machine really has the memory")


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)


def parse_bytes(text: str | int) -> int:
    """'4GiB' -> 4·2³⁰, '512MiB', '1.5GB' -> 1.5·10⁹, '2G' -> 2·10⁹, '1000' -> bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        if not match:
            raise ExecError(f"cannot read {text!r} as a memory size",
                            fix="write e.g. 4GiB, 512MiB, 2GB or a number of bytes")
        value = math.floor(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])
    if value <= 0:
        raise ExecError(f"a memory size must be positive, got {text!r}", fix="write e.g. 4GiB")
    return value
