"""Weights for the executor: deterministic initialisation, loading and saving as .npz.

Keys are ``"<layer>.<tensor>"`` — ``conv1.weight``, ``fc6.fc.bias``, ``bn1.running_var`` — one per
TensorSpec the analysis lists, with exactly its shape.

Initialisation (seeded, each tensor from its own stream so adding a layer leaves the others'
weights unchanged):

- a weight with ≥ 2 axes (conv, transposed conv, linear, RBF): He normal, std = √(2/fan_in), when
  the layer's output reaches a ReLU-family activation (through batch norm, pooling, dropout,
  add/concat or flatten); otherwise Glorot uniform, limit = √(6/(fan_in + fan_out)).
  fan_in = prod(shape[1:]), fan_out = shape[0]·prod(shape[2:]) (PyTorch's convention; for a
  transposed conv that is C'/g·F_h·F_w in and C·F_h·F_w out). With a LeNet connection table,
  fan_in counts only the connected maps of each output map, and the masked entries are 0;
- a per-channel scale with one axis (batch-norm γ, subsampling coefficient): 1;
- biases (β included): 0; running_mean: 0; running_var: 1.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ExecError, Location
from .messages import suggestion

if TYPE_CHECKING:
    from .analysis import Analysis, LayerStats
    from .executor import MemoryLimit
    from .layers import TensorSpec

#: layer families looked through when searching for the activation after a layer
TRANSPARENT_FAMILIES = frozenset({"norm", "regularization", "merge", "pool", "reshape"})


@dataclass(frozen=True)
class ExpectedTensor:
    """One tensor the network needs: its key, its layer and its spec."""

    key: str
    row: LayerStats
    spec: TensorSpec

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.spec.shape)


def expected_tensors(analysis: Analysis) -> dict[str, ExpectedTensor]:
    """Every tensor of the network keyed ``"<layer>.<tensor>"``, in layer order."""
    return {f"{row.name}.{spec.name}": ExpectedTensor(f"{row.name}.{spec.name}", row, spec)
            for row in analysis.layers for spec in row.tensors}


def weight_bytes(analysis: Analysis, itemsize: int) -> int:
    """Bytes of all tensors at full shape (masked entries are stored too)."""
    return sum(math.prod(t.shape) for t in expected_tensors(analysis).values()) * itemsize


def connection_mask(row: LayerStats) -> np.ndarray | None:
    """The (C', C, 1, 1) 0/1 table of a layer with a connection table, else None."""
    mask_of = getattr(row.layer, "connection_mask", None)
    if mask_of is None or getattr(row.layer, "connections", None) is None:
        return None
    return mask_of(row.input_shapes[0][0])


def layers_feeding_relu(analysis: Analysis) -> set[str]:
    """Layers whose output reaches a ReLU-family activation, looking through normalisation,
    pooling, dropout, merges and reshapes (one backward pass over the layers)."""
    feeds: set[str] = set()
    for row in reversed(analysis.layers):  # consumers come after their inputs
        through = row.layer.family in TRANSPARENT_FAMILIES and row.name in feeds
        if row.layer.rectifier or through:
            feeds.update(row.inputs)
    return feeds


def _stream(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def _init_tensor(tensor: ExpectedTensor, he: bool, seed: int, dtype: np.dtype) -> np.ndarray:
    spec, shape = tensor.spec, tensor.shape
    if spec.role == "buffer":
        return (np.ones if spec.name == "running_var" else np.zeros)(shape, dtype=dtype)
    if spec.role == "bias":
        return np.zeros(shape, dtype=dtype)
    if len(shape) == 1:
        return np.ones(shape, dtype=dtype)
    receptive = math.prod(shape[2:])
    mask = connection_mask(tensor.row)
    if mask is not None:  # fan-in of each output map: its connected maps only
        fan_in = (mask.sum(axis=1) * receptive).reshape((shape[0],) + (1,) * (len(shape) - 1))
    else:
        fan_in = np.float64(shape[1] * receptive)
    fan_out = shape[0] * receptive
    rng = _stream(seed, tensor.key)
    if he:
        values = rng.standard_normal(shape, dtype=dtype)
        values *= np.sqrt(2.0 / fan_in).astype(dtype)
    else:
        values = rng.random(shape, dtype=dtype)
        values *= dtype.type(2)
        values -= dtype.type(1)
        values *= np.sqrt(6.0 / (fan_in + fan_out)).astype(dtype)
    if mask is not None:
        values *= mask.astype(dtype)
    return values


def init_weights(analysis: Analysis, *, seed: int = 0,
                 dtype: np.dtype | type | str = np.float32,
                 max_memory: int | MemoryLimit | None = None) -> dict[str, np.ndarray]:
    """Deterministic weights for every tensor of ``analysis`` (rules in the module docstring).

    Refuses (ExecError) when they would not fit ``max_memory`` bytes (default: the executor's
    limit, min(8 GiB, half the available memory); a run passes the limit it read), before
    allocating anything.
    """
    from .executor import MemoryLimit, format_bytes

    dtype = _float_dtype(dtype)
    needed = weight_bytes(analysis, dtype.itemsize)
    limit = MemoryLimit.of(max_memory)
    if needed > limit.bytes:
        raise ExecError(f"refusing to initialise {format_bytes(needed)} of weights, more than "
                        f"{limit}",
                        formula=f"{needed // dtype.itemsize:,} values × {dtype.itemsize} bytes",
                        fix="use a smaller network, or raise the limit if the machine really "
                            "has the memory")
    weights: dict[str, np.ndarray] = {}
    he = layers_feeding_relu(analysis)
    for key, tensor in expected_tensors(analysis).items():
        weights[key] = _init_tensor(tensor, tensor.row.name in he, seed, dtype)
    return weights


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ExecError(f"dtype {dt} is not supported by the executor",
                        fix="use float32 or float64")
    return dt


def all_finite(array: np.ndarray) -> bool:
    """Whether every entry is finite. The sum of IEEE floats is finite only if every term is
    (inf + x = inf, inf − inf = NaN, NaN + x = NaN), so one fast reduction settles the usual
    case; only a non-finite sum (maybe an overflow of finite terms) is checked entry by entry."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(array)
    return bool(np.isfinite(total)) or bool(np.isfinite(array).all())


def check_weights(weights: Mapping[str, np.ndarray], analysis: Analysis, *,
                  source: str | None = None, finite: bool = True) -> None:
    """Every expected key present with the right shape, no unknown keys, real numbers, and
    (unless ``finite`` is False) finite ones (see ``check_finite``)."""
    expected = expected_tensors(analysis)
    where = Location(source) if source else None
    for key in weights:
        if key not in expected:
            raise ExecError(f"unknown weight '{key}': network '{analysis.name}' has no such tensor",
                            where=where, fix=suggestion(key, expected, "weight names"))
    for key, tensor in expected.items():
        if key not in weights:
            raise ExecError(
                f"weight '{key}' is missing (layer '{tensor.row.name}' needs a "
                f"{'×'.join(map(str, tensor.shape))} {tensor.spec.name})",
                where=where,
                fix="add it, or leave out --weights to initialise every tensor from --seed")
        array = weights[key]
        shape = tuple(getattr(array, "shape", ()))
        if shape != tensor.shape:
            raise ExecError(
                f"weight '{key}' has shape {'×'.join(map(str, shape)) or 'scalar'}, "
                f"layer '{tensor.row.name}' needs {'×'.join(map(str, tensor.shape))}",
                where=where, formula=tensor.spec.formula,
                fix="export the weights for this exact spec (same channels and kernel sizes)")
        kind = getattr(getattr(array, "dtype", None), "kind", None)
        if kind not in ("f", "i", "u"):
            raise ExecError(f"weight '{key}' has dtype {getattr(array, 'dtype', type(array))}, "
                            "not real numbers", where=where, fix="store float32 or float64 arrays")
    if finite:
        check_finite(weights, where)


def check_finite(weights: Mapping[str, np.ndarray], where: Location | None = None) -> None:
    """ExecError naming the first tensor that holds NaN or ±∞ (reading every weight once)."""
    for key, array in weights.items():
        if array.dtype.kind == "f" and not all_finite(array):
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise ExecError(f"weight '{key}' holds {bad:,} NaN or infinite values", where=where,
                            fix="replace them with finite numbers")


def load_weights(path: str | Path, analysis: Analysis) -> dict[str, np.ndarray]:
    """Weights from an .npz archive, checked against the analysis (see ``check_weights``)."""
    path = Path(path)
    where = Location(str(path))
    if not path.is_file():
        raise ExecError("no such weights file" if not path.exists() else "is not a file",
                        where=where, fix="give an .npz written by `archcalc run --save-weights`")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ExecError("is a single .npy array, not an .npz archive of named tensors",
                            where=where, fix="save with numpy.savez(path, **weights)")
        with archive:
            weights = {key: archive[key] for key in archive.files}
    except ExecError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ExecError(f"cannot read it as an .npz archive: {exc}", where=where,
                        fix="give an .npz written by numpy.savez or `--save-weights`") from None
    check_weights(weights, analysis, source=str(path))
    return weights


def save_arrays(path: str | Path, arrays: Mapping[str, np.ndarray], *,
                force: bool = False) -> Path:
    """Named arrays to an uncompressed .npz at exactly ``path``, via a temporary file (never
    over an existing file without ``force``)."""
    from .outputs import write_atomic

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.savez would append .npz to a name
            np.savez(handle, **dict(arrays))

    return write_atomic(path, writer=writer, force=force)


#: weights are saved as any named arrays are (the name the README shows)
save_weights = save_arrays
