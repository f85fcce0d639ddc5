"""Layers that join branches: channel concatenation (Inception) and addition (ResNet)."""

from __future__ import annotations

from typing import Literal

from ..errors import ShapeError
from .base import Cost, Inferred, Layer, TensorSpec, numel, shape_text


def _listing(names: tuple[str, ...], shapes: list[tuple[int, ...]]) -> str:
    if len(names) != len(shapes):
        names = tuple(f"input {i + 1}" for i in range(len(shapes)))
    return ", ".join(f"'{n}' {shape_text(s)}" for n, s in zip(names, shapes))


class Concat(Layer):
    """Stack inputs along the channels: C' = Σ C_i; every input's H×W must match. Free."""

    type: Literal["concat"]

    family = "merge"
    min_inputs = 2
    max_inputs = None
    examples = (
        # GoogLeNet inception (3a): 64 + 128 + 32 + 32 = 256 maps of 28×28
        {"inputs": [(64, 28, 28), (128, 28, 28), (32, 28, 28), (32, 28, 28)], "fields": {},
         "shape": (256, 28, 28), "params": 0, "macs": 0},
    )

    def infer(self, ins, ctx):
        ranks = {len(s) for s in ins}
        spatial = {s[1:] for s in ins}
        if len(ranks) > 1 or len(spatial) > 1:
            raise ShapeError(
                "inputs differ in spatial size: " + _listing(ctx.input_names, ins),
                fix="concat needs equal H×W; adjust padding/stride on the branches so the sizes "
                    "agree",
            )
        channels = sum(s[0] for s in ins)
        work = " + ".join(str(s[0]) for s in ins) + f" = {channels} channels"
        return Inferred((channels, *ins[0][1:]), (work,))

    def tensors(self, ins, out) -> list[TensorSpec]:
        return []

    def cost(self, ins, out):
        return Cost(0, 0, macs_formula="0 (a copy)")

    def forward(self, xs, params, inferred):
        import numpy as np

        return np.concatenate(xs, axis=1)

    def label(self) -> str:
        return "concat"

    def to_onnx(self, ctx, inputs, inferred):
        return ctx.node("Concat", inputs, axis=1)


class Add(Layer):
    """Elementwise sum of k inputs of identical shape (residual connections).

    FLOPs = (k − 1)·C·H·W.
    """

    type: Literal["add"]

    family = "merge"
    min_inputs = 2
    max_inputs = None
    examples = (
        {"inputs": [(256, 56, 56), (256, 56, 56)], "fields": {}, "shape": (256, 56, 56),
         "params": 0, "macs": 0},
    )

    def infer(self, ins, ctx):
        if len(set(ins)) > 1:
            raise ShapeError(
                "inputs differ in shape: " + _listing(ctx.input_names, ins),
                fix="add needs identical shapes; project the shortcut with a 1×1 conv "
                    "(stride and out_channels to match)",
            )
        return Inferred(ins[0])

    def tensors(self, ins, out) -> list[TensorSpec]:
        return []

    def cost(self, ins, out):
        return Cost(0, (len(ins) - 1) * numel(out))

    def forward(self, xs, params, inferred):
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total

    def label(self) -> str:
        return "add"

    def to_onnx(self, ctx, inputs, inferred):
        """Add for two inputs, Sum for more."""
        return ctx.node("Add" if len(inputs) == 2 else "Sum", inputs)
