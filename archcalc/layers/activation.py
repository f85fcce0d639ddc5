"""Elementwise layers: activations and dropout. Shape unchanged, no parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Cost, Inferred, Layer, TensorSpec, numel


class _Elementwise(Layer):
    """Shared rule: output shape = input shape, no tensors, receptive field unchanged."""

    type: str
    family = "activation"

    def infer(self, ins, ctx):
        return Inferred(ins[0])

    def tensors(self, ins, out) -> list[TensorSpec]:
        return []


class ReLU(_Elementwise):
    """max(0, x): one comparison per value."""

    type: Literal["relu"]
    rectifier = True
    inplace: bool = False  # accepted for PyTorch familiarity; no effect on counts

    # AlexNet's relu1: 96·55·55 = 290,400 comparisons
    examples = ({"input": (96, 55, 55), "fields": {}, "shape": (96, 55, 55), "params": 0,
                 "macs": 0, "flops": 0, "comparisons": 290_400},)

    def cost(self, ins, out):
        return Cost(0, 0, comparisons=numel(out))

    def forward(self, xs, params, inferred):
        import numpy as np

        return np.maximum(xs[0], 0)

    def label(self) -> str:
        return "ReLU"

    def to_onnx(self, ctx, inputs, inferred):
        return ctx.node("Relu", inputs[:1])


class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope·x: one comparison and one multiply per value."""

    type: Literal["leaky_relu"]
    rectifier = True
    negative_slope: float = 0.01

    examples = ({"input": (8,), "fields": {}, "shape": (8,), "params": 0, "macs": 0},)

    def cost(self, ins, out):
        return Cost(0, numel(out), comparisons=numel(out))

    def forward(self, xs, params, inferred):
        import numpy as np

        x = xs[0]
        return np.where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def label(self) -> str:
        return f"LeakyReLU {self.negative_slope:g}"

    def to_onnx(self, ctx, inputs, inferred):
        return ctx.node("LeakyRelu", inputs[:1], alpha=self.negative_slope)


class Sigmoid(_Elementwise):
    """1/(1 + e^(−x)): one exp, an add and a divide per value."""

    type: Literal["sigmoid"]

    # 6·28·28 = 4,704 values: 4,704 exps, 2·4,704 = 9,408 adds and divides
    examples = ({"input": (6, 28, 28), "fields": {}, "shape": (6, 28, 28), "params": 0,
                 "macs": 0, "flops": 9_408, "transcendentals": 4_704},)

    def cost(self, ins, out):
        return Cost(0, 2 * numel(out), transcendentals=numel(out))

    def forward(self, xs, params, inferred):
        import numpy as np

        x = xs[0]
        return 0.5 * (np.tanh(0.5 * x) + 1)  # stable form of 1/(1 + e^(−x))

    def label(self) -> str:
        return "sigmoid"

    def to_onnx(self, ctx, inputs, inferred):
        return ctx.node("Sigmoid", inputs[:1])


class Tanh(_Elementwise):
    """amplitude·tanh(slope·x); LeCun 1998 uses amplitude 1.7159, slope 2/3.

    One tanh per value, plus two multiplies when scaled.
    """

    type: Literal["tanh"]
    amplitude: float = 1.0
    slope: float = 1.0

    examples = ({"input": (120,), "fields": {"amplitude": 1.7159, "slope": 0.6667},
                 "shape": (120,), "params": 0, "macs": 0},)

    def cost(self, ins, out):
        scaled = (self.amplitude != 1.0) + (self.slope != 1.0)
        return Cost(0, scaled * numel(out), transcendentals=numel(out))

    def forward(self, xs, params, inferred):
        import numpy as np

        x = xs[0]
        t = x.dtype.type
        return t(self.amplitude) * np.tanh(t(self.slope) * x)

    def label(self) -> str:
        if self.amplitude == 1.0 and self.slope == 1.0:
            return "tanh"
        return f"{self.amplitude:g}·tanh({self.slope:.3g}x)"

    def to_onnx(self, ctx, inputs, inferred):
        """Mul by slope → Tanh → Mul by amplitude (each Mul only when ≠ 1)."""
        x = inputs[0]
        if self.slope != 1.0:
            x = ctx.node("Mul", [x, ctx.constant("slope", self.slope)])
        y = ctx.node("Tanh", [x])
        if self.amplitude != 1.0:
            y = ctx.node("Mul", [y, ctx.constant("amplitude", self.amplitude)])
        return y


class Softmax(_Elementwise):
    """e^(x_i)/Σ_j e^(x_j) over the channels: per value one exp, an add to the sum and a
    divide, and one comparison towards the maximum subtracted first (for stability)."""

    type: Literal["softmax"]

    # ImageNet's 1000 classes: 1,000 exps, 2·1,000 adds and divides, 1,000 comparisons
    examples = ({"input": (1000,), "fields": {}, "shape": (1000,), "params": 0, "macs": 0,
                 "flops": 2_000, "comparisons": 1_000, "transcendentals": 1_000},)

    def cost(self, ins, out):
        return Cost(0, 2 * numel(out), comparisons=numel(out), transcendentals=numel(out))

    def forward(self, xs, params, inferred):
        from .. import kernels

        return kernels.softmax(xs[0], axis=1)

    def label(self) -> str:
        return "softmax"

    def to_onnx(self, ctx, inputs, inferred):
        """Softmax over axis 1, the channels (opset ≥ 13 normalises that one axis only)."""
        return ctx.node("Softmax", inputs[:1], axis=1)


class Dropout(_Elementwise):
    """Randomly zeroes a fraction p of values while training; the identity at inference,
    which is what archcalc counts and executes (no cost)."""

    type: Literal["dropout"]
    p: float = Field(0.5, ge=0.0, le=1.0)

    family = "regularization"
    examples = ({"input": (4096,), "fields": {"p": 0.5}, "shape": (4096,), "params": 0,
                 "macs": 0},)

    def cost(self, ins, out):
        return Cost(0, 0, macs_formula="0 (identity at inference)")

    def forward(self, xs, params, inferred):
        return xs[0]

    def label(self) -> str:
        return f"dropout {self.p:g}"

    def to_onnx(self, ctx, inputs, inferred):
        """Identity: dropout does nothing at inference."""
        return ctx.node("Identity", inputs[:1])
