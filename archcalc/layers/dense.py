"""Layers on flat vectors: flatten, linear (fully connected) and LeNet-5's Euclidean RBF output."""

from __future__ import annotations

from typing import Literal

from ..geometry import fmt_int
from .base import Cost, Inferred, Layer, TensorSpec, numel
from .fields import PositiveInt


class Flatten(Layer):
    """C×H×W -> a vector of C·H·W values (row-major, channels first as in PyTorch). Free."""

    type: Literal["flatten"]

    family = "reshape"
    examples = (
        # VGG-16 pool5: 7·7·512 = 25,088
        {"input": (512, 7, 7), "fields": {}, "shape": (25_088,), "params": 0, "macs": 0},
    )

    def infer(self, ins, ctx):
        n = numel(ins[0])
        dims = "·".join(str(d) for d in ins[0])
        return Inferred((n,), (f"{dims} = {fmt_int(n)}",))

    def tensors(self, ins, out):
        return []

    def cost(self, ins, out):
        return Cost(0, 0, macs_formula="0 (a reshape)")

    def receptive_field(self, fields, ins, inferred):
        if len(ins[0]) != 3:
            return fields[0]
        _, h, w = ins[0]  # every output value together sees the whole map
        return fields[0].window((h, w), (h, w), (0, 0))

    def forward(self, xs, params, inferred):
        return xs[0].reshape(xs[0].shape[0], -1)

    def label(self) -> str:
        return "flatten"

    def to_onnx(self, ctx, inputs, inferred):
        return ctx.node("Flatten", inputs[:1], axis=1)


class Linear(Layer):
    """Fully connected: y = W·x + b. params = in·out + out; MACs = in·out."""

    type: Literal["linear"]
    out_features: PositiveInt
    bias: bool = True
    trainable: bool = True

    family = "dense"
    examples = (
        # VGG-16 fc6, from the notes: 512·7·7·4096 = 102,760,448 weights + 4,096 biases
        {"input": (25_088,), "fields": {"out_features": 4096}, "shape": (4096,),
         "params": 102_760_448 + 4096, "macs": 102_760_448},
        # fc8: 4096·1000 = 4,096,000 weights
        {"input": (4096,), "fields": {"out_features": 1000, "bias": False}, "shape": (1000,),
         "params": 4_096_000, "macs": 4_096_000},
    )

    def infer(self, ins, ctx):
        n = self.require_vector(ins[0])
        return Inferred((self.out_features,), (f"{fmt_int(n)} -> {fmt_int(self.out_features)}",))

    def tensors(self, ins, out):
        n = ins[0][0]
        specs = [TensorSpec("weight", (self.out_features, n), "weight",
                            f"{n}·{self.out_features} = {fmt_int(n * self.out_features)}",
                            self.trainable)]
        if self.bias:
            specs.append(TensorSpec("bias", (self.out_features,), "bias",
                                    f"{self.out_features}", self.trainable))
        return specs

    def cost(self, ins, out):
        n = ins[0][0]
        macs = n * self.out_features
        bias_adds = self.out_features if self.bias else 0
        return Cost(macs, 2 * macs + bias_adds,
                    macs_formula=f"{n}·{self.out_features} = {fmt_int(macs)}",
                    flops_formula=f"2·MACs + {bias_adds} bias adds")

    def forward(self, xs, params, inferred):
        y = xs[0] @ params["weight"].T
        if self.bias:
            y = y + params["bias"]
        return y

    def label(self) -> str:
        return f"fc {self.out_features}"

    def to_onnx(self, ctx, inputs, inferred):
        """Gemm: x·Wᵀ + b (transB = 1: W stays out×in as the executor stores it)."""
        args = [inputs[0], ctx.weight("weight")]
        if self.bias:
            args.append(ctx.weight("bias"))
        return ctx.node("Gemm", args, transB=1)


class EuclideanRBF(Layer):
    """LeNet-5's output layer: y_i = Σ_j (x_j − w_ij)², one radial basis unit per class.

    Its weights are fixed codes in the paper (not trained): params = in·out, non-trainable.
    MACs = in·out (each squared difference accumulated); FLOPs = 3·in·out.
    """

    type: Literal["euclidean_rbf"]
    out_features: PositiveInt
    trainable: bool = False

    family = "dense"
    smallest_wins = True
    examples = (
        # LeNet-5 output: 84·10 = 840 fixed weights
        {"input": (84,), "fields": {"out_features": 10}, "shape": (10,), "params": 840,
         "macs": 840},
    )

    def infer(self, ins, ctx):
        n = self.require_vector(ins[0])
        return Inferred((self.out_features,), (f"{fmt_int(n)} -> {self.out_features} units",))

    def tensors(self, ins, out):
        n = ins[0][0]
        return [TensorSpec("weight", (self.out_features, n), "weight",
                           f"{n}·{self.out_features} = {fmt_int(n * self.out_features)}",
                           self.trainable)]

    def cost(self, ins, out):
        macs = ins[0][0] * self.out_features
        return Cost(macs, 3 * macs, macs_formula=f"{ins[0][0]}·{self.out_features} = {macs:,}")

    def workspace(self, ins, out, *, batch, itemsize):
        """The (x − w) differences and their squares: 2·N·in·out values."""
        return 2 * batch * ins[0][0] * self.out_features

    def forward(self, xs, params, inferred):
        x, w = xs[0], params["weight"]
        return ((x[:, None, :] - w[None, :, :]) ** 2).sum(axis=2)

    def label(self) -> str:
        return f"RBF {self.out_features}"

    def to_onnx(self, ctx, inputs, inferred):
        """The squared distances as written: Unsqueeze x to N×1×in, Sub W (out×in, broadcast
        to N×out×in), Mul by itself, ReduceSum over the last axis."""
        x = ctx.node("Unsqueeze", [inputs[0], ctx.constant("unsqueeze axes", [1], "int64")])
        diff = ctx.node("Sub", [x, ctx.weight("weight")])
        squares = ctx.node("Mul", [diff, diff])
        return ctx.node("ReduceSum", [squares, ctx.constant("sum axes", [2], "int64")],
                        keepdims=0)
