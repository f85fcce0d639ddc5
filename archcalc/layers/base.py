"""What every layer kind provides, and the registry that makes ``type:`` names to classes.

A layer kind is one pydantic class: its fields are the spec's fields, and its methods give the
output shape (with the worked arithmetic), its tensors (parameters and buffers), its cost, its
receptive field, its diagram label and its NumPy forward pass. Generic code calls these methods
and never asks which kind it holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import ShapeError
from ..geometry import ReceptiveField, Rounding, merge_fields

if TYPE_CHECKING:
    import numpy as np

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (N,) for vectors; batch excluded

REGISTRY: dict[str, type[Layer]] = {}

REQUIRED_METHODS = ("infer", "tensors", "cost", "forward", "label")


@dataclass(frozen=True)
class TensorSpec:
    """One parameter or buffer tensor of a layer.

    ``count`` is how many of its entries are free parameters: the whole tensor except where a
    connection table masks entries out.
    """

    name: str  # 'weight', 'bias', 'running_mean', ...
    shape: Shape
    role: Literal["weight", "bias", "buffer"]
    formula: str
    trainable: bool = True
    count: int | None = None

    @property
    def size(self) -> int:
        return self.count if self.count is not None else math.prod(self.shape)


@dataclass(frozen=True)
class Cost:
    """Work per example. MACs are multiply–accumulates of conv/linear (bias adds excluded);
    FLOPs are all floating-point arithmetic (2 per MAC, plus bias adds, pooling sums,
    normalisation); comparisons (max, ReLU) and transcendentals (exp, pow, sqrt, tanh) are
    counted apart."""

    macs: int
    flops: int
    comparisons: int = 0
    transcendentals: int = 0
    macs_formula: str = "0 (no multiply–accumulates)"
    flops_formula: str = ""


@dataclass(frozen=True)
class Inferred:
    """Output shape plus the worked arithmetic behind it, one line per derived quantity."""

    shape: Shape
    work: tuple[str, ...] = ()
    resolved: dict[str, Any] = field(default_factory=dict)  # e.g. {'padding': (t, b, l, r)}


@dataclass(frozen=True)
class Context:
    """What a layer needs besides its own fields: the network's default rounding and the
    names of the layers feeding it (for messages)."""

    rounding: Rounding = "exact"
    input_names: tuple[str, ...] = ()


def numel(shape: Shape) -> int:
    return math.prod(shape)


def shape_text(shape: Shape, *, chw: bool = False) -> str:
    """(96, 55, 55) -> '55×55×96' (H×W×C, the lecture notes' order) or '96×55×55' with chw."""
    if len(shape) == 3 and not chw:
        c, h, w = shape
        return f"{h}×{w}×{c}"
    return "×".join(str(d) for d in shape)


class Layer(BaseModel):
    """Base of every layer kind. Subclasses set ``type`` as a Literal and ``family``."""

    # defer_build: a kind's validator is built on first use, so start-up pays only for the kinds
    # a spec uses
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    type: str
    name: str | None = None
    inputs: tuple[str, ...] | None = None

    family: ClassVar[str] = "other"
    #: a ReLU-like activation: layers feeding it get He initialisation in the executor
    rectifier: ClassVar[bool] = False
    #: an output whose smallest value wins (a penalty per class, like LeNet's RBF units):
    #: `archcalc run --top-k` ranks it ascending
    smallest_wins: ClassVar[bool] = False
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    #: worked examples checked by tests/test_layers.py: input shape(s), fields, and the
    #: expected shape, params and macs, optionally flops, comparisons and transcendentals
    examples: ClassVar[tuple[dict, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        kind_field = cls.model_fields.get("type")
        literal_args = getattr(kind_field.annotation, "__args__", ()) if kind_field else ()
        if len(literal_args) != 1:
            return  # an abstract intermediate class
        kind = literal_args[0]
        missing = [m for m in REQUIRED_METHODS if getattr(cls, m) is getattr(Layer, m)]
        if missing:
            raise TypeError(f"layer kind '{kind}' does not define {', '.join(missing)}")
        REGISTRY[kind] = cls

    @classmethod
    def kind(cls) -> str:
        return cls.model_fields["type"].annotation.__args__[0]

    # --- the questions every kind answers -------------------------------------------------

    def infer(self, ins: list[Shape], ctx: Context) -> Inferred:
        """Output shape for these input shapes; raise ShapeError with the arithmetic if none."""
        raise NotImplementedError

    def tensors(self, ins: list[Shape], out: Shape) -> list[TensorSpec]:
        """Parameters and buffers this layer owns for these shapes."""
        raise NotImplementedError

    def cost(self, ins: list[Shape], out: Shape) -> Cost:
        """Work for one example; every kind says so explicitly, zero included."""
        raise NotImplementedError

    def receptive_field(
        self, fields: list[ReceptiveField], ins: list[Shape], inferred: Inferred
    ) -> ReceptiveField:
        """Default: pointwise (unchanged), or the union of the inputs' fields at a merge."""
        return fields[0] if len(fields) == 1 else merge_fields(fields)

    def forward(self, xs: list[np.ndarray], params: dict[str, np.ndarray],
                inferred: Inferred) -> np.ndarray:
        """NumPy forward pass on batch-first arrays."""
        raise NotImplementedError

    def label(self) -> str:
        """Short hyperparameter text for diagrams, e.g. 'conv 3×3/1, 64'."""
        raise NotImplementedError

    def workspace(self, ins: list[Shape], out: Shape, *, batch: int, itemsize: int) -> int:
        """Elements of the temporaries the forward pass allocates besides its output (the
        executor's memory guard counts them); ``itemsize`` is bytes per value (the kernels
        size their blocks in bytes). Most kinds need none."""
        return 0

    def to_onnx(self, ctx, inputs: list[str], inferred: Inferred) -> str:
        """Add this layer's ONNX operators through ``ctx`` (archcalc.onnx_export.LayerBuilder)
        and return the name of its output tensor. Kinds without a faithful mapping refuse."""
        ctx.fail(f"{self.type} has no faithful ONNX mapping",
                 fix="leave this layer out of the exported spec, or export a variant without it")

    # --- helpers for subclasses ---------------------------------------------------------------

    def require_map(self, shape: Shape, what: str = "input") -> tuple[int, int, int]:
        if len(shape) != 3:
            raise ShapeError(
                f"needs a C×H×W feature map as {what}, got a vector of {shape[0]:,}",
                fix="place this layer before the flatten, or remove the flatten",
            )
        return shape  # type: ignore[return-value]

    def require_vector(self, shape: Shape) -> int:
        if len(shape) != 1:
            raise ShapeError(
                f"needs a flat vector as input, got a feature map {shape_text(shape)}",
                formula=f"{' · '.join(str(d) for d in shape)} = {numel(shape):,} values",
                fix="add `- type: flatten` before this layer (or a global pooling layer)",
            )
        return shape[0]

