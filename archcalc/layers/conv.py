"""Convolutions: conv2d (with groups, dilation and LeNet-style connection tables) and
conv_transpose2d."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Literal

from pydantic import model_validator

from ..errors import ShapeError
from ..geometry import AXES, ReceptiveField, fmt_int, fmt_num, to_pair
from .base import Context, Cost, Inferred, Layer, Shape, TensorSpec, numel
from .fields import (
    OptionalSize,
    Padding,
    PositiveInt,
    RoundingField,
    Size,
    SymmetricPadding,
)
from .window import Window, axis_work, infer_window, make_window, window_field, window_text


def _check_out_groups(groups: int, out_channels: int) -> None:
    """A field check of both convolutions: groups divides out_channels."""
    # "<field>: <what>. Fix: <hint>" lets the message point at the field (messages.py)
    if out_channels % groups:
        divisors = [d for d in range(1, min(out_channels, 10_000) + 1) if out_channels % d == 0]
        raise ValueError(
            f"groups: groups={groups} does not divide out_channels={out_channels} "
            f"({out_channels} / {groups} = {fmt_num(Fraction(out_channels, groups))}). "
            "Fix: choose groups among the divisors of out_channels"
            + (f": {', '.join(map(str, divisors))}" if len(divisors) <= 12 else "")
        )


def _check_in_groups(groups: int, in_channels: int, out_channels: int) -> None:
    """Once the input is known: groups divides in_channels too."""
    if in_channels % groups:
        raise ShapeError(
            f"groups={groups} does not divide in_channels={in_channels}",
            formula=f"{in_channels} / {groups} = {fmt_num(Fraction(in_channels, groups))}",
            fix=f"choose groups among the common divisors of {in_channels} and {out_channels}",
        )


class Conv2d(Layer):
    """2-D convolution.

    H' = (H − F_eff + P_top + P_bottom)/S + 1, F_eff = D·(F − 1) + 1 (likewise W');
    params = C'·(C/g)·F_h·F_w + C' (bias); MACs = H'·W'·C'·(F_h·F_w·C/g).
    With a connection table, output map o reads only the maps listed in ``connections[o]``:
    params = Σ_o |conn_o|·F_h·F_w + C', MACs = H'·W'·Σ_o |conn_o|·F_h·F_w.
    """

    type: Literal["conv2d"]
    out_channels: PositiveInt
    kernel_size: Size
    stride: Size = 1
    padding: Padding = 0
    dilation: Size = 1
    groups: PositiveInt = 1
    bias: bool = True
    padding_mode: Literal["zeros", "replicate"] = "zeros"
    connections: tuple[tuple[int, ...], ...] | None = None
    rounding: RoundingField = None
    trainable: bool = True

    family = "conv"
    examples = (
        # cs231n: 32×32×3, ten 5×5 filters, stride 1, pad 2 -> 32×32×10;
        # params (5·5·3 + 1)·10 = 760; MACs 32·32·10·(5·5·3) = 768,000;
        # FLOPs 2·768,000 + 32·32·10 bias adds = 1,546,240
        {"input": (3, 32, 32), "fields": {"out_channels": 10, "kernel_size": 5, "padding": 2},
         "shape": (10, 32, 32), "params": 760, "macs": 768_000, "flops": 1_546_240},
        # AlexNet conv1: (227 − 11)/4 + 1 = 55; (11·11·3 + 1)·96 = 34,944;
        # MACs 55·55·96·(11·11·3) = 105,415,200
        {"input": (3, 227, 227),
         "fields": {"out_channels": 96, "kernel_size": 11, "stride": 4},
         "shape": (96, 55, 55), "params": 34_944, "macs": 105_415_200},
        # depthwise 3×3 on 112×112×32: params 32·1·3·3 = 288 (no bias); MACs 112·112·32·9
        {"input": (32, 112, 112),
         "fields": {"out_channels": 32, "kernel_size": 3, "padding": 1, "groups": 32,
                    "bias": False},
         "shape": (32, 112, 112), "params": 288, "macs": 112 * 112 * 32 * 9},
        # LeNet-5 C3: 16 maps from 6 with the paper's table: 6 maps read 3 inputs, 9 read 4,
        # 1 reads 6 -> (6·3 + 9·4 + 6)·25 + 16 = 1,516 params; 10·10·60·25 = 150,000 MACs
        {"input": (6, 14, 14),
         "fields": {"out_channels": 16, "kernel_size": 5, "connections": [
             [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5],
             [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5],
             [0, 1, 2, 5], [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5]]},
         "shape": (16, 10, 10), "params": 1_516, "macs": 150_000},
        # dilation 2, 3×3 acts as 5×5: (32 − 5 + 2·2)/1 + 1 = 32
        {"input": (8, 32, 32),
         "fields": {"out_channels": 8, "kernel_size": 3, "padding": 2, "dilation": 2},
         "shape": (8, 32, 32), "params": 8 * 8 * 9 + 8, "macs": 32 * 32 * 8 * 8 * 9},
        # asymmetric padding: height (7 − 3 + 1 + 0)/1 + 1 = 6, width (7 − 3 + 0 + 2)/2 + 1 = 4
        {"input": (1, 7, 7),
         "fields": {"out_channels": 1, "kernel_size": 3, "stride": [1, 2],
                    "padding": [1, 0, 0, 2]},
         "shape": (1, 6, 4), "params": 10, "macs": 6 * 4 * 9},
    )

    @model_validator(mode="after")
    def _check_connections(self) -> Conv2d:
        # "<field>: <what>. Fix: <hint>" lets the message point at the field (messages.py)
        if self.connections is not None:
            if self.groups != 1:
                raise ValueError("connections: a connection table cannot be combined with "
                                 f"groups={self.groups}. Fix: remove groups; the table says "
                                 "which input maps each output map reads")
            if len(self.connections) != self.out_channels:
                raise ValueError(
                    f"connections: the connection table has {len(self.connections)} rows but "
                    f"out_channels is {self.out_channels}. Fix: give one row per output map"
                )
            for row, maps in enumerate(self.connections):
                if not maps or len(set(maps)) != len(maps):
                    raise ValueError(f"connections: row {row} must list distinct input maps, "
                                     f"got {list(maps)}. Fix: list each input map this output "
                                     "map reads once, e.g. [0, 1, 2]")
        _check_out_groups(self.groups, self.out_channels)
        return self

    @property
    def window(self):
        return make_window(self.kernel_size, self.stride, self.dilation)

    def infer(self, ins: list[Shape], ctx: Context) -> Inferred:
        c, _, _ = self.require_map(ins[0])
        _check_in_groups(self.groups, c, self.out_channels)
        if self.connections is not None:
            for row, maps in enumerate(self.connections):
                bad = [m for m in maps if not 0 <= m < c]
                if bad:
                    raise ShapeError(
                        f"connections row {row} names input map {bad[0]}, "
                        f"but the input has {c} maps (0..{c - 1})",
                        fix=f"use map indices 0..{c - 1}",
                    )
        return infer_window(ins[0], self.window, self.padding, self.rounding or ctx.rounding,
                            self.out_channels)

    def _fan_in_total(self, c: int) -> tuple[int, str]:
        """Σ over output maps of the input maps each reads, and how it adds up."""
        if self.connections is None:
            return self.out_channels * (c // self.groups), ""
        sizes = Counter(len(m) for m in self.connections)
        terms = " + ".join(f"{n}·{k}" for k, n in sorted(sizes.items()))
        return sum(len(m) for m in self.connections), f"({terms})"

    def tensors(self, ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c = ins[0][0]
        kh, kw = self.window.kernel
        per_group = c // self.groups
        links, links_text = self._fan_in_total(c)
        weights = links * kh * kw
        if self.connections is None:
            text = f"{kh}·{kw}·{per_group}·{self.out_channels} = {fmt_int(weights)}"
        else:
            text = f"{links_text}·{kh}·{kw} = {fmt_int(weights)}"
        specs = [TensorSpec("weight", (self.out_channels, per_group, kh, kw), "weight", text,
                            self.trainable, weights)]
        if self.bias:
            specs.append(TensorSpec("bias", (self.out_channels,), "bias",
                                    f"{self.out_channels}", self.trainable))
        return specs

    def cost(self, ins: list[Shape], out: Shape) -> Cost:
        c = ins[0][0]
        cout, h, w = out
        kh, kw = self.window.kernel
        if self.connections is None:
            macs = h * w * cout * kh * kw * (c // self.groups)
            group = f"/{self.groups}" if self.groups > 1 else ""
            formula = f"{h}·{w}·{cout}·({kh}·{kw}·{c}{group}) = {fmt_int(macs)}"
        else:
            links, links_text = self._fan_in_total(c)
            macs = h * w * links * kh * kw
            formula = f"{h}·{w}·{links_text}·{kh}·{kw} = {fmt_int(macs)}"
        bias_adds = numel(out) if self.bias else 0
        return Cost(macs, 2 * macs + bias_adds, macs_formula=formula,
                    flops_formula=f"2·MACs + {fmt_int(bias_adds)} bias adds")

    def receptive_field(self, fields: list[ReceptiveField], ins: list[Shape],
                        inferred: Inferred) -> ReceptiveField:
        return window_field(fields[0], self.window, inferred)

    def takes_winograd(self, ins: list[Shape], out: Shape, batch: int) -> bool:
        """Whether the executor runs this layer by Winograd F(2×2, 3×3) (kernels.uses_winograd)
        rather than im2col + GEMM."""
        from .. import kernels

        window = self.window
        return kernels.uses_winograd(ins[0][0], self.out_channels, window.kernel, window.stride,
                                     window.dilation, self.groups, out[1:], batch)

    def workspace(self, ins, out, *, batch, itemsize):
        """kernels.conv2d_workspace: Winograd's transformed weights and band of tiles where
        conv2d takes that path, else one im2col block (or a 1×1 kernel's strided input)."""
        from .. import kernels

        window = self.window
        return kernels.conv2d_workspace(ins[0][0], self.out_channels, window.kernel,
                                        window.stride, window.dilation, self.groups, out[1:],
                                        batch, itemsize)

    def connection_mask(self, in_channels: int):
        """(C', C, 1, 1) array of 0/1 saying which input maps feed each output map."""
        import numpy as np

        mask = np.zeros((self.out_channels, in_channels, 1, 1))
        for row, maps in enumerate(self.connections or ()):
            mask[row, list(maps)] = 1.0
        return mask

    def forward(self, xs, params, inferred):
        from .. import kernels

        x = xs[0]
        weight = params["weight"]
        if self.connections is not None:
            weight = weight * self.connection_mask(x.shape[1]).astype(weight.dtype)
        window = self.window
        return kernels.conv2d(
            x, weight, params.get("bias"), stride=window.stride,
            padding=inferred.resolved["explicit_padding"], dilation=window.dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
        )

    def label(self) -> str:
        details = [str(self.out_channels)]
        if self.groups > 1:
            details.append(f"groups {self.groups}")
        if self.connections is not None:
            details.append("table")
        return window_text("conv", self.window, *details)

    def to_onnx(self, ctx, inputs, inferred):
        """Conv (pads [top, left, bottom, right]); ceil rounding's extra trailing padding made
        explicit; replicate padding as Pad(mode=edge) first; a connection table as the dense
        weight with zeros where an output map does not read an input map."""
        from ..onnx_export import onnx_pads

        window = self.window
        pads = top, bottom, left, right = inferred.resolved["explicit_padding"]
        x = inputs[0]
        if self.padding_mode == "replicate" and any(pads):
            amounts = ctx.constant("pad amounts", [0, 0, top, left, 0, 0, bottom, right], "int64")
            x = ctx.node("Pad", [x, amounts], mode="edge")
            pads = (0, 0, 0, 0)
        mask = self.connection_mask(ctx.input_shapes[0][0]) if self.connections else None
        args = [x, ctx.weight("weight", mask=mask)]
        if self.bias:
            args.append(ctx.weight("bias"))
        return ctx.node("Conv", args, kernel_shape=list(window.kernel),
                        strides=list(window.stride), pads=onnx_pads(pads),
                        dilations=list(window.dilation), group=self.groups)


class ConvTranspose2d(Layer):
    """Transposed 2-D convolution (a convolution's gradient with respect to its input).

    H' = (H − 1)·S − 2P + D·(F − 1) + output_padding + 1 (likewise W');
    params = C·(C'/g)·F_h·F_w + C'; MACs = H·W·C·F_h·F_w·C'/g, counted over the *input*
    positions: every input value is multiplied into an F_h×F_w×C'/g patch once.
    """

    type: Literal["conv_transpose2d"]
    out_channels: PositiveInt
    kernel_size: Size
    stride: Size = 1
    padding: SymmetricPadding = 0
    output_padding: OptionalSize = 0
    dilation: Size = 1
    groups: PositiveInt = 1
    bias: bool = True
    trainable: bool = True

    family = "conv"
    examples = (
        # 2× upsampling: (7 − 1)·2 − 2·1 + 1·(4 − 1) + 0 + 1 = 14; params 16·8·4·4 + 8 = 2,056;
        # MACs over the input: 7·7·16·4·4·8 = 100,352
        {"input": (16, 7, 7),
         "fields": {"out_channels": 8, "kernel_size": 4, "stride": 2, "padding": 1},
         "shape": (8, 14, 14), "params": 2_056, "macs": 100_352},
        # output_padding resolves the ambiguity: (4 − 1)·2 − 0 + 2 + 1 + 1 = 10
        {"input": (4, 4, 4),
         "fields": {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 1},
         "shape": (2, 10, 10), "params": 4 * 2 * 9 + 2, "macs": 4 * 4 * 4 * 9 * 2},
    )

    @model_validator(mode="after")
    def _check_groups(self) -> ConvTranspose2d:
        _check_out_groups(self.groups, self.out_channels)
        return self

    @property
    def window(self) -> Window:
        return make_window(self.kernel_size, self.stride, self.dilation)

    def infer(self, ins: list[Shape], ctx: Context) -> Inferred:
        c, h, w = self.require_map(ins[0])
        _check_in_groups(self.groups, c, self.out_channels)
        window, p, op = self.window, to_pair(self.padding), to_pair(self.output_padding)
        k, s, d = window.kernel, window.stride, window.dilation
        sizes, texts = [], []
        for i, (n, axis) in enumerate(zip((h, w), AXES)):
            if op[i] >= max(s[i], d[i]):
                raise ShapeError(
                    f"output_padding {op[i]} must be smaller than the stride or the dilation",
                    formula=f"{op[i]} ≥ max({s[i]}, {d[i]})",
                    fix=f"output_padding ≤ {max(s[i], d[i]) - 1}",
                )
            value = (n - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1
            text = (f"({n} − 1)·{s[i]} − 2·{p[i]} + {d[i]}·({k[i]} − 1) + {op[i]} + 1 "
                    f"= {fmt_num(value)}")
            if value <= 0:
                raise ShapeError(f"output {axis} would be {fmt_num(value)}", formula=text,
                                 fix="less padding or a larger kernel or stride")
            sizes.append(value)
            texts.append(text)
        return Inferred((self.out_channels, *sizes), axis_work(*texts), {"padding": p})

    def tensors(self, ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c = ins[0][0]
        kh, kw = self.window.kernel
        per_group = self.out_channels // self.groups
        n = c * per_group * kh * kw
        specs = [TensorSpec("weight", (c, per_group, kh, kw), "weight",
                            f"{c}·{per_group}·{kh}·{kw} = {fmt_int(n)}", self.trainable)]
        if self.bias:
            specs.append(TensorSpec("bias", (self.out_channels,), "bias",
                                    f"{self.out_channels}", self.trainable))
        return specs

    def cost(self, ins: list[Shape], out: Shape) -> Cost:
        c, h, w = ins[0]
        kh, kw = self.window.kernel
        per_group = self.out_channels // self.groups
        macs = h * w * c * kh * kw * per_group
        bias_adds = numel(out) if self.bias else 0
        return Cost(macs, 2 * macs + bias_adds,
                    macs_formula=f"{h}·{w}·{c}·({kh}·{kw}·{per_group}) = {fmt_int(macs)} "
                                 "(over input positions)",
                    flops_formula=f"2·MACs + {fmt_int(bias_adds)} bias adds")

    def receptive_field(self, fields, ins, inferred):
        window = self.window
        return fields[0].upsample(window.kernel_eff, window.stride, inferred.resolved["padding"])

    def workspace(self, ins, out, *, batch, itemsize):
        """kernels.conv_transpose2d_workspace: the uncropped output by stride phase, one GEMM
        block of columns (and the gathered input of images side by side)."""
        from .. import kernels

        window = self.window
        return kernels.conv_transpose2d_workspace(
            ins[0][0], self.out_channels, window.kernel, window.stride, to_pair(self.padding),
            ins[0][1:], out[1:], batch, itemsize)

    def forward(self, xs, params, inferred):
        from .. import kernels

        window = self.window
        return kernels.conv_transpose2d(
            xs[0], params["weight"], params.get("bias"), stride=window.stride,
            padding=inferred.resolved["padding"], output_padding=to_pair(self.output_padding),
            dilation=window.dilation, groups=self.groups,
        )

    def label(self) -> str:
        return window_text("deconv", self.window, str(self.out_channels))

    def to_onnx(self, ctx, inputs, inferred):
        """ConvTranspose with the same pads, output_padding, dilations and groups.

        onnxruntime insists on output_padding < stride, while a dilated layer may have up to
        max(stride, dilation) − 1. Such a layer is written without output_padding: the
        trailing pad shrinks by it instead (output_padding only uncrops rows), and what
        exceeds the pad becomes rows of zeros (Pad) before the bias is added.
        """
        window, p, op = self.window, inferred.resolved["padding"], to_pair(self.output_padding)
        stride = window.stride
        attributes = {"kernel_shape": list(window.kernel), "strides": list(stride),
                      "dilations": list(window.dilation), "group": self.groups}
        ends = [max(p[i] - op[i], 0) for i in range(2)]
        extra = [max(op[i] - p[i], 0) for i in range(2)]
        if op[0] < stride[0] and op[1] < stride[1]:
            attributes.update(pads=[p[0], p[1], p[0], p[1]], output_padding=list(op))
        else:
            attributes["pads"] = [p[0], p[1], *ends]
        zero_rows = any(extra) and "output_padding" not in attributes
        args = [inputs[0], ctx.weight("weight")]
        if self.bias and not zero_rows:
            args.append(ctx.weight("bias"))
        y = ctx.node("ConvTranspose", args, **attributes)
        if zero_rows:
            y = ctx.node("Pad", [y, ctx.constant("pad amounts", [0, 0, 0, 0, 0, 0, *extra],
                                                 "int64")])
            if self.bias:
                y = ctx.node("Add", [y, ctx.weight("bias", shape=(self.out_channels, 1, 1))])
        return y
