"""Pooling: max, average, Lp (the notes' L2-norm pooling), LeNet's trainable subsampling,
global and adaptive average/max pooling."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

from pydantic import Field

from ..geometry import ReceptiveField, Rounding, fmt_int, resolve_padding, to_pair
from .base import Context, Cost, Inferred, Layer, Shape, TensorSpec, numel
from .fields import Padding, RoundingField, Size
from .window import (
    Window,
    check_pool_padding,
    infer_window,
    make_window,
    window_field,
    window_text,
)


class _WindowPool(Layer):
    """Shared fields and arithmetic of the sliding-window pools.

    H' = (H − F_eff + P_top + P_bottom)/S + 1 (stride defaults to the kernel size);
    no parameters; channels unchanged.
    """

    type: str
    kernel_size: Size
    stride: Size | None = None
    padding: Padding = 0
    ceil_mode: bool = False
    rounding: RoundingField = None

    family = "pool"

    @property
    def window(self) -> Window:
        return make_window(self.kernel_size, self.stride)

    def effective_rounding(self, ctx: Context) -> Rounding:
        if self.rounding:
            return self.rounding
        return "ceil" if self.ceil_mode else ctx.rounding

    def infer(self, ins: list[Shape], ctx: Context) -> Inferred:
        c, h, w = self.require_map(ins[0])
        window = self.window  # the padding rule first: a size hint must not suggest breaking it
        check_pool_padding(window, resolve_padding(self.padding, window.kernel, window.stride,
                                                   window.dilation, (h, w)))
        return infer_window(ins[0], window, self.padding, self.effective_rounding(ctx), c)

    def tensors(self, ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return []

    def receptive_field(self, fields: list[ReceptiveField], ins: list[Shape],
                        inferred: Inferred) -> ReceptiveField:
        return window_field(fields[0], self.window, inferred)

    def _window_args(self, inferred: Inferred) -> dict:
        """The kernels' window arguments of an unpadded pool (LpPool2d, Subsample2d)."""
        window = self.window
        return {"kernel": window.kernel, "stride": window.stride,
                "out_hw": inferred.shape[1:]}

    def _pool_args(self, inferred: Inferred) -> dict:
        """With the padding as given: the kernels reach the ceil windows themselves, and the
        average's divisor must not count those extra cells as padding."""
        return {**self._window_args(inferred), "padding": inferred.resolved["padding"]}

    def _label(self, name: str) -> str:
        return window_text(name, self.window)

    def _onnx_window(self, ctx, inferred: Inferred) -> tuple[dict | None, tuple]:
        """How an ONNX pool can reproduce this window: (attributes, explicit padding).

        ``attributes`` (kernel_shape, strides, pads [top, left, bottom, right], ceil_mode
        when the size is above the floor one) when ONNX's size rule at this opset gives the
        analysed size and every pad is below the kernel (onnxruntime's rule); else None.
        Before opset 22, ONNX's ceil mode keeps a last window that starts in the trailing
        padding, which archcalc (like PyTorch and onnxruntime) drops.
        ``explicit`` is the (top, bottom, left, right) padding with ceil's extra trailing
        cells included, for a Pad node in front of an unpadded pool.
        """
        from ..onnx_export import ceil_size, floor_size, onnx_pads

        window, pads = self.window, inferred.resolved["padding"]
        out_hw = inferred.shape[1:]
        axes = list(enumerate(ctx.input_shapes[0][1:]))
        floor = tuple(floor_size(n, window.kernel_eff[i], window.stride[i],
                                 pads[2 * i] + pads[2 * i + 1]) for i, n in axes)
        ceil = tuple(ceil_size(n, window.kernel_eff[i], window.stride[i], pads[2 * i],
                               pads[2 * i + 1], drop_late_window=ctx.opset >= 22)
                     for i, n in axes)
        explicit = inferred.resolved["explicit_padding"]
        below_kernel = all(max(pads[2 * i], pads[2 * i + 1]) < window.kernel[i] for i, _ in axes)
        if out_hw not in (floor, ceil) or not below_kernel:
            return None, explicit
        attributes = {"kernel_shape": list(window.kernel), "strides": list(window.stride),
                      "pads": onnx_pads(pads)}
        if out_hw != floor:
            attributes["ceil_mode"] = 1
        return attributes, explicit

    def _onnx_average(self, ctx, x: str, inferred: Inferred, count_include_pad: bool) -> str:
        """AveragePool; a padding cell must not become a real one, so no Pad fallback."""
        attributes, _ = self._onnx_window(ctx, inferred)
        if attributes is None:
            ctx.require_opset(22, "a ceil-mode average whose last window would start in the "
                                  "padding (dropped)")
            ctx.fail("no ONNX AveragePool gives this size", fix="adjust padding or rounding")
        return ctx.node("AveragePool", [x], count_include_pad=int(count_include_pad),
                        **attributes)


class MaxPool2d(_WindowPool):
    """Max pooling: each output is the largest of its F_h×F_w window (padding counts as −∞).

    Comparisons = H'·W'·C·(F_h·F_w − 1); no MACs, no FLOPs.
    """

    type: Literal["max_pool2d"]
    dilation: Size = 1

    examples = (
        # AlexNet pool1: (55 − 3)/2 + 1 = 27, overlapping windows;
        # comparisons 27·27·96·(3·3 − 1) = 69,984·8 = 559,872, no FLOPs
        {"input": (96, 55, 55), "fields": {"kernel_size": 3, "stride": 2},
         "shape": (96, 27, 27), "params": 0, "macs": 0, "flops": 0, "comparisons": 559_872},
        # GoogLeNet pool on 112 with ceil: ⌈(112 − 3)/2⌉ + 1 = 56;
        # comparisons 56·56·64·8 = 200,704·8 = 1,605,632
        {"input": (64, 112, 112), "fields": {"kernel_size": 3, "stride": 2, "ceil_mode": True},
         "shape": (64, 56, 56), "params": 0, "macs": 0, "comparisons": 1_605_632},
        # the notes' 6×6 example: 2×2 stride 2 -> 3×3
        {"input": (1, 6, 6), "fields": {"kernel_size": 2, "stride": 2},
         "shape": (1, 3, 3), "params": 0, "macs": 0},
    )

    @property
    def window(self) -> Window:
        return make_window(self.kernel_size, self.stride, self.dilation)

    def cost(self, ins, out):
        n = numel(out)
        return Cost(0, 0, comparisons=n * (self.window.area - 1))

    def forward(self, xs, params, inferred):
        from .. import kernels

        return kernels.max_pool2d(xs[0], dilation=self.window.dilation,
                                  **self._pool_args(inferred))

    def label(self) -> str:
        return self._label("max pool")

    def to_onnx(self, ctx, inputs, inferred):
        """MaxPool (padding is −∞ in both). Where its pads cannot say it — a pad as large as
        the kernel, a ceil size ONNX computes differently, or a dilated window whose taps
        all fall in the padding (−∞ here, the lowest float in onnxruntime) — an explicit
        Pad with −∞ comes first, and the pool has no padding."""
        window = self.window
        attributes, explicit = self._onnx_window(ctx, inferred)
        if attributes is not None and not self._sees_only_padding(ctx, inferred):
            return ctx.node("MaxPool", inputs[:1], dilations=list(window.dilation),
                            **attributes)
        top, bottom, left, right = explicit
        amounts = ctx.constant("pad amounts", [0, 0, top, left, 0, 0, bottom, right], "int64")
        padded = ctx.node("Pad", [inputs[0], amounts, ctx.constant("padding value", -math.inf)])
        return ctx.node("MaxPool", [padded], kernel_shape=list(window.kernel),
                        strides=list(window.stride), dilations=list(window.dilation))

    def _sees_only_padding(self, ctx, inferred) -> bool:
        window, pads = self.window, inferred.resolved["padding"]
        for i, n in enumerate(ctx.input_shapes[0][1:]):
            for out in range(inferred.shape[1 + i]):
                start = out * window.stride[i] - pads[2 * i]
                if not any(0 <= start + window.dilation[i] * j < n
                           for j in range(window.kernel[i])):
                    return True
        return False


class AvgPool2d(_WindowPool):
    """Average pooling: mean of each F_h×F_w window.

    FLOPs = H'·W'·C·F_h·F_w (F_h·F_w − 1 adds and one divide per output); no MACs.
    """

    type: Literal["avg_pool2d"]
    count_include_pad: bool = True

    examples = (
        # GoogLeNet's head: 7×7 average pool on 7×7×1024 -> 1×1×1024;
        # FLOPs 1·1·1024·49 = 50,176 (48 adds and a divide per output)
        {"input": (1024, 7, 7), "fields": {"kernel_size": 7, "stride": 1},
         "shape": (1024, 1, 1), "params": 0, "macs": 0, "flops": 50_176, "comparisons": 0},
    )

    def cost(self, ins, out):
        return Cost(0, numel(out) * self.window.area,
                    flops_formula=f"{fmt_int(numel(out))}·{self.window.area}")

    def forward(self, xs, params, inferred):
        from .. import kernels

        return kernels.avg_pool2d(xs[0], count_include_pad=self.count_include_pad,
                                  **self._pool_args(inferred))

    def label(self) -> str:
        return self._label("avg pool")

    def to_onnx(self, ctx, inputs, inferred):
        """AveragePool with the same count_include_pad."""
        return self._onnx_average(ctx, inputs[0], inferred, self.count_include_pad)


class LpPool2d(_WindowPool):
    """Power-average (Lp) pooling: (Σ x^p)^(1/p) over each window; p = 2 is L2-norm pooling.

    p = 2: FLOPs = H'·W'·C·(2·F_h·F_w − 1) (squares and adds), one square root per output;
    other p: F_h·F_w powers and one root per output (transcendentals), F_h·F_w − 1 adds.
    """

    type: Literal["lp_pool2d"]
    norm_type: float = Field(2.0, gt=0)
    padding: Literal[0] = 0  # no padding, as PyTorch's LPPool2d

    examples = (
        {"input": (4, 8, 8), "fields": {"kernel_size": 2, "norm_type": 2},
         "shape": (4, 4, 4), "params": 0, "macs": 0},
    )

    def cost(self, ins, out):
        n, k = numel(out), self.window.area
        if self.norm_type == 2:
            return Cost(0, n * (2 * k - 1), transcendentals=n)
        return Cost(0, n * (k - 1), transcendentals=n * (k + 1))

    def forward(self, xs, params, inferred):
        from .. import kernels

        return kernels.lp_pool2d(xs[0], p=self.norm_type, **self._window_args(inferred))

    def label(self) -> str:
        return self._label(f"L{self.norm_type:g} pool")

    def to_onnx(self, ctx, inputs, inferred):
        """LpPool when p is an even integer (|x|^p = x^p); any other p as
        Pow(x, p) → window sum (a depthwise Conv with ones) → Pow(·, 1/p), since ONNX's LpPool
        takes |x| and an integer p."""
        import numpy as np

        from ..onnx_export import onnx_pads

        _, explicit = self._onnx_window(ctx, inferred)
        top, bottom, left, right = explicit
        window, p, x = self.window, self.norm_type, inputs[0]
        if p == int(p) and int(p) % 2 == 0:  # zeros add nothing: pad first, any opset
            if any(explicit):
                amounts = [0, 0, top, left, 0, 0, bottom, right]
                x = ctx.node("Pad", [x, ctx.constant("pad amounts", amounts, "int64")])
            return ctx.node("LpPool", [x], p=int(p), kernel_shape=list(window.kernel),
                            strides=list(window.stride))
        c = ctx.input_shapes[0][0]
        powered = ctx.node("Pow", [inputs[0], ctx.constant("exponent p", p)])
        ones = ctx.constant("window of ones", np.ones((c, 1, *window.kernel)))
        summed = ctx.node("Conv", [powered, ones], kernel_shape=list(window.kernel),
                          strides=list(window.stride), group=c,
                          pads=onnx_pads((top, bottom, left, right)))
        return ctx.node("Pow", [summed, ctx.constant("inverse exponent", 1.0 / p)])


class Subsample2d(_WindowPool):
    """LeNet-5's trainable subsampling: y = coefficient_c · mean(window) + bias_c per map.

    params = 2·C (one coefficient and one bias per map);
    FLOPs = H'·W'·C·(F_h·F_w + 1): the window sum, the scaled mean and the bias — LeCun's
    "connections" (S2: 14·14·6·(4 + 1) = 5,880).
    """

    type: Literal["subsample2d"]
    kernel_size: Size = 2
    padding: Literal[0] = 0  # LeNet's subsampling windows tile the map without padding
    bias: bool = True
    trainable: bool = True

    examples = (
        # LeNet-5 S2: 28×28×6 -> 14×14×6, 12 params; LeCun's 14·14·6·(4 + 1) = 5,880
        # connections
        {"input": (6, 28, 28), "fields": {}, "shape": (6, 14, 14), "params": 12, "macs": 0,
         "flops": 5_880},
    )

    def tensors(self, ins, out):
        c = ins[0][0]
        specs = [TensorSpec("weight", (c,), "weight", f"{c} coefficients", self.trainable)]
        if self.bias:
            specs.append(TensorSpec("bias", (c,), "bias", f"{c}", self.trainable))
        return specs

    def cost(self, ins, out):
        n, k = numel(out), self.window.area
        return Cost(0, n * (k + 1), flops_formula=f"{fmt_int(n)}·({k} + 1)")

    def forward(self, xs, params, inferred):
        from .. import kernels

        bias = params["bias"] if self.bias else 0 * params["weight"]
        return kernels.subsample2d(xs[0], params["weight"], bias, **self._window_args(inferred))

    def label(self) -> str:
        return self._label("subsample")

    def to_onnx(self, ctx, inputs, inferred):
        """AveragePool over the covered cells, then Mul by the per-map coefficient and Add the
        per-map bias (both stored as C×1×1 so they broadcast over H×W)."""
        c = ctx.input_shapes[0][0]
        mean = self._onnx_average(ctx, inputs[0], inferred, count_include_pad=False)
        y = ctx.node("Mul", [mean, ctx.weight("weight", shape=(c, 1, 1))])
        if self.bias:
            y = ctx.node("Add", [y, ctx.weight("bias", shape=(c, 1, 1))])
        return y


class _GlobalPool(Layer):
    """Shared shape rule of global pooling: C×H×W -> C×1×1, one window over the whole map."""

    type: str
    family = "pool"

    def infer(self, ins, ctx):
        c, h, w = self.require_map(ins[0])
        return Inferred((c, 1, 1), (f"{h}×{w} window over the whole map -> 1×1",))

    def tensors(self, ins, out):
        return []

    def receptive_field(self, fields, ins, inferred):
        _, h, w = ins[0]
        return fields[0].window((h, w), (h, w), (0, 0))


class GlobalAvgPool2d(_GlobalPool):
    """Global average pooling (NiN, GoogLeNet): the mean of each map. FLOPs = C·H·W."""

    type: Literal["global_avg_pool2d"]

    examples = ({"input": (1024, 7, 7), "fields": {}, "shape": (1024, 1, 1), "params": 0,
                 "macs": 0},)

    def cost(self, ins, out):
        return Cost(0, numel(ins[0]), flops_formula="one add or divide per input value")

    def forward(self, xs, params, inferred):
        return xs[0].mean(axis=(2, 3), keepdims=True)

    def label(self) -> str:
        return "global avg pool"

    def to_onnx(self, ctx, inputs, inferred):
        return ctx.node("GlobalAveragePool", inputs[:1])


class GlobalMaxPool2d(_GlobalPool):
    """Global max pooling: the largest value of each map. Comparisons = C·(H·W − 1)."""

    type: Literal["global_max_pool2d"]

    examples = ({"input": (512, 7, 7), "fields": {}, "shape": (512, 1, 1), "params": 0,
                 "macs": 0},)

    def cost(self, ins, out):
        c, h, w = ins[0]
        return Cost(0, 0, comparisons=c * (h * w - 1))

    def forward(self, xs, params, inferred):
        return xs[0].max(axis=(2, 3), keepdims=True)

    def label(self) -> str:
        return "global max pool"

    def to_onnx(self, ctx, inputs, inferred):
        return ctx.node("GlobalMaxPool", inputs[:1])


def adaptive_bins(n: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive bins: bin i spans [⌊i·n/out⌋, ⌈(i + 1)·n/out⌉)."""
    return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]


def adaptive_bins_total(n: int, out: int) -> int:
    """Σ of the bin widths without listing the bins: n + out − gcd(n, out).

    Σ_i ⌈(i + 1)·n/out⌉ − Σ_i ⌊i·n/out⌋ is n plus one for each i + 1 in 1..out where
    (i + 1)·n/out is not whole, and out − gcd(n, out) of them are not.
    """
    return n + out - math.gcd(n, out)


def adaptive_bins_widest(n: int, out: int) -> int:
    """The widest bin without listing the bins: ⌈(n + out − gcd(n, out))/out⌉ (bin i is
    ⌈f + n/out⌉ wide, where the fractional start f reaches (out − gcd)/out at most)."""
    return -(-(n + out - math.gcd(n, out)) // out)


def _regular_bins(bins: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(size, step) when every bin has one size and consecutive bins one step, else None."""
    sizes = {b - a for a, b in bins}
    steps = {b[0] - a[0] for a, b in zip(bins, bins[1:])} or {bins[0][1] - bins[0][0]}
    if len(sizes) != 1 or len(steps) != 1 or min(steps) < 1:
        return None
    return sizes.pop(), steps.pop()


class AdaptiveAvgPool2d(Layer):
    """Adaptive average pooling to a fixed output size (torchvision's VGG/AlexNet heads).

    Bin i covers [⌊i·H/H'⌋, ⌈(i + 1)·H/H'⌉); FLOPs = Σ over outputs of the bin area, × C.
    """

    type: Literal["adaptive_avg_pool2d"]
    output_size: Size

    family = "pool"
    examples = (
        # torchvision VGG on a 7×7 map: identity-sized bins
        {"input": (512, 7, 7), "fields": {"output_size": 7}, "shape": (512, 7, 7),
         "params": 0, "macs": 0},
        # AlexNet (torchvision) 6×6 from 13×13 would not divide: bins overlap
        {"input": (256, 13, 13), "fields": {"output_size": 6}, "shape": (256, 6, 6),
         "params": 0, "macs": 0},
    )

    def infer(self, ins, ctx):
        c, h, w = self.require_map(ins[0])
        oh, ow = to_pair(self.output_size)
        return Inferred((c, oh, ow), (f"{h}×{w} split into {oh}×{ow} bins",))

    def tensors(self, ins, out):
        return []

    def cost(self, ins, out):
        c, h, w = ins[0]
        oh, ow = out[1:]
        rows, cols = adaptive_bins_total(h, oh), adaptive_bins_total(w, ow)
        return Cost(0, c * rows * cols)

    def receptive_field(self, fields, ins, inferred):
        _, h, w = ins[0]
        oh, ow = inferred.shape[1:]
        biggest = (adaptive_bins_widest(h, oh), adaptive_bins_widest(w, ow))
        return fields[0].window(biggest, (Fraction(h, oh), Fraction(w, ow)), (0, 0))

    def forward(self, xs, params, inferred):
        from .. import kernels

        return kernels.adaptive_avg_pool2d(xs[0], inferred.shape[1:])

    def label(self) -> str:
        oh, ow = to_pair(self.output_size)
        return f"adaptive avg pool → {oh}×{ow}"

    def to_onnx(self, ctx, inputs, inferred):
        """AveragePool when each axis' bins have one size and one step (e.g. 13 -> 6: size 3,
        step 2); otherwise the exact bin means as MatMul(rows, x) then MatMul(·, columnsᵀ)
        with averaging matrices R[i, j] = 1/|bin i| for j in bin i (the executor's own,
        kernels._adaptive_matrix)."""
        import numpy as np

        from ..kernels import _adaptive_matrix

        _, h, w = ctx.input_shapes[0]
        oh, ow = inferred.shape[1:]
        regular = [_regular_bins(adaptive_bins(n, out)) for n, out in ((h, oh), (w, ow))]
        if all(regular):
            (kh, sh), (kw, sw) = regular
            return ctx.node("AveragePool", inputs[:1], kernel_shape=[kh, kw], strides=[sh, sw])

        rows_matrix = _adaptive_matrix(h, oh, np.float64)
        rows = ctx.node("MatMul", [ctx.constant("row averaging matrix", rows_matrix), inputs[0]])
        return ctx.node("MatMul", [rows, ctx.constant("column averaging matrix",
                                                      _adaptive_matrix(w, ow, np.float64).T)])

