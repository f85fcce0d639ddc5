"""Normalisation: batch norm (inference form) and AlexNet's local response normalisation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Cost, Inferred, Layer, TensorSpec, numel
from .fields import PositiveInt


class BatchNorm2d(Layer):
    """y = γ·(x − μ)/√(σ² + ε) + β per channel.

    params = 2·C (γ, β), trainable; buffers = 2·C (running μ and σ², not parameters).
    At inference it folds to one multiply and one add per value: FLOPs = 2·C·H·W.
    """

    type: Literal["batch_norm2d"]
    eps: float = Field(1e-5, gt=0)
    momentum: float = 0.1
    affine: bool = True
    trainable: bool = True

    family = "norm"
    examples = (
        # 64 channels: γ and β = 128 params, running mean/var = 128 buffers
        {"input": (64, 112, 112), "fields": {}, "shape": (64, 112, 112), "params": 128,
         "macs": 0},
    )

    def infer(self, ins, ctx):
        self.require_map(ins[0])
        return Inferred(ins[0])

    def tensors(self, ins, out):
        c = ins[0][0]
        specs = []
        if self.affine:
            specs += [TensorSpec("weight", (c,), "weight", f"{c} (γ)", self.trainable),
                      TensorSpec("bias", (c,), "bias", f"{c} (β)", self.trainable)]
        specs += [TensorSpec("running_mean", (c,), "buffer", f"{c} (μ)", False),
                  TensorSpec("running_var", (c,), "buffer", f"{c} (σ²)", False)]
        return specs

    def cost(self, ins, out):
        return Cost(0, 2 * numel(out), flops_formula="a multiply and an add per value")

    def forward(self, xs, params, inferred):
        import numpy as np

        from .. import kernels

        c = xs[0].shape[1]
        gamma = params.get("weight", np.ones(c, xs[0].dtype))
        beta = params.get("bias", np.zeros(c, xs[0].dtype))
        return kernels.batch_norm2d(xs[0], gamma, beta, params["running_mean"],
                                    params["running_var"], eps=self.eps)

    def label(self) -> str:
        return "batch norm"

    def to_onnx(self, ctx, inputs, inferred):
        """BatchNormalization in inference mode (running statistics); without affine, γ = 1
        and β = 0 are added as constants."""
        c = ctx.input_shapes[0][0]
        if self.affine:
            scale, shift = ctx.weight("weight"), ctx.weight("bias")
        else:
            scale = ctx.constant("unit scale", [1.0] * c)
            shift = ctx.constant("zero shift", [0.0] * c)
        return ctx.node("BatchNormalization", [inputs[0], scale, shift,
                                               ctx.weight("running_mean"),
                                               ctx.weight("running_var")], epsilon=self.eps)


class LocalResponseNorm(Layer):
    """AlexNet's LRN across channels: b_c = a_c / (k + α/n · Σ_{c'} a_{c'}²)^β,
    the sum over n = ``size`` neighbouring channels centred on c.

    Per value: n squares and n − 1 adds, the scale and offset, a power and a divide:
    FLOPs = C·H·W·(2n + 2), one transcendental (the power) per value.
    """

    type: Literal["local_response_norm"]
    size: PositiveInt = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    family = "norm"
    examples = (
        # AlexNet's LRN after conv1: 96·55·55 = 290,400 values, each 2·5 + 2 = 12 FLOPs
        # (3,484,800) and one power
        {"input": (96, 55, 55), "fields": {"size": 5, "k": 2.0},
         "shape": (96, 55, 55), "params": 0, "macs": 0, "flops": 3_484_800,
         "transcendentals": 290_400},
    )

    def infer(self, ins, ctx):
        self.require_map(ins[0])
        return Inferred(ins[0])

    def tensors(self, ins, out):
        return []

    def cost(self, ins, out):
        n = numel(out)
        return Cost(0, n * (2 * self.size + 2), transcendentals=n,
                    flops_formula=f"{n:,}·(2·{self.size} + 2)")

    def forward(self, xs, params, inferred):
        from .. import kernels

        return kernels.local_response_norm(xs[0], size=self.size, alpha=self.alpha,
                                           beta=self.beta, k=self.k)

    def label(self) -> str:
        return f"LRN {self.size}"

    def to_onnx(self, ctx, inputs, inferred):
        """LRN for an odd size: ONNX also divides alpha by size, and its window
        c − ⌊(n − 1)/2⌋ … c + ⌈(n − 1)/2⌉ is archcalc's (PyTorch's) c − ⌊n/2⌋ … c + ⌊(n − 1)/2⌋.
        An even size leans the other way (and onnxruntime refuses it), so it is written out as
        PyTorch computes it: x² → AveragePool over (n, 1, 1) on an N×1×C×H×W view, padded
        ⌊n/2⌋ before and ⌊(n − 1)/2⌋ after (= Σ/n) → ·α + k → ^β → x / ·."""
        if self.size % 2:
            return ctx.node("LRN", inputs[:1], size=self.size, alpha=self.alpha, beta=self.beta,
                            bias=self.k)
        x = inputs[0]
        axis = ctx.constant("channel view axis", [1], "int64")
        squares = ctx.node("Unsqueeze", [ctx.node("Mul", [x, x]), axis])
        before, after = self.size // 2, (self.size - 1) // 2
        mean = ctx.node("AveragePool", [squares], kernel_shape=[self.size, 1, 1],
                        pads=[before, 0, 0, after, 0, 0], count_include_pad=1)
        scaled = ctx.node("Mul", [ctx.node("Squeeze", [mean, axis]),
                                  ctx.constant("alpha", self.alpha)])
        shifted = ctx.node("Add", [scaled, ctx.constant("k", self.k)])
        return ctx.node("Div", [x, ctx.node("Pow", [shifted, ctx.constant("beta", self.beta)])])
