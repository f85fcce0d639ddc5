"""The sliding-window arithmetic shared by convolutions and pooling layers."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError
from ..geometry import (
    AXES,
    Padding4,
    Pair,
    ReceptiveField,
    Rounding,
    effective_kernel,
    resolve_padding,
    to_pair,
    window_output,
)
from .base import Inferred, Shape


@dataclass(frozen=True)
class Window:
    """A window's hyperparameters with sizes resolved to (h, w) pairs."""

    kernel: Pair
    stride: Pair
    dilation: Pair = (1, 1)

    @property
    def kernel_eff(self) -> Pair:
        return (effective_kernel(self.kernel[0], self.dilation[0]),
                effective_kernel(self.kernel[1], self.dilation[1]))

    @property
    def area(self) -> int:
        return self.kernel[0] * self.kernel[1]


def make_window(kernel, stride=None, dilation=1) -> Window:
    k = to_pair(kernel)
    return Window(k, to_pair(stride) if stride is not None else k, to_pair(dilation))


def _pair_text(pair: Pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def window_text(name: str, window: Window, *details: str) -> str:
    """A diagram label: 'conv 3×3/2, 64' — kernel, stride (one number when both axes agree),
    the kind's details, then the dilation when there is one ('dilation 2', 'dilation 2×1')."""
    kh, kw = window.kernel
    parts = [f"{name} {kh}×{kw}/{_pair_text(window.stride)}", *details]
    if window.dilation != (1, 1):
        parts.append(f"dilation {_pair_text(window.dilation)}")
    return ", ".join(parts)


def infer_window(
    shape: Shape, window: Window, padding, rounding: Rounding, channels: int
) -> Inferred:
    """Output (C', H', W') of a sliding window over a C×H×W map, each axis worked out.

    ``resolved`` carries the (top, bottom, left, right) padding as given (``padding``), the
    same with the extra trailing cells ceil rounding needs so a floor-rounding kernel gives
    H'×W' (``explicit_padding``, what the executor and ONNX apply), and ``out_hw``.
    """
    _, h, w = shape
    pads: Padding4 = resolve_padding(padding, window.kernel, window.stride, window.dilation, (h, w))
    sizes = []
    for i, (n, axis) in enumerate(zip((h, w), AXES)):
        sizes.append(
            window_output(
                n, window.kernel[i], window.stride[i], pads[2 * i], pads[2 * i + 1],
                dilation=window.dilation[i], rounding=rounding, axis=axis,
            )
        )
    out_hw = (sizes[0].value, sizes[1].value)
    extra = [trailing_extra(n, out_hw[i], window.kernel_eff[i], window.stride[i],
                            pads[2 * i] + pads[2 * i + 1]) for i, n in enumerate((h, w))]
    explicit = (pads[0], pads[1] + extra[0], pads[2], pads[3] + extra[1])
    return Inferred((channels, *out_hw), axis_work(sizes[0].text, sizes[1].text),
                    {"padding": pads, "explicit_padding": explicit, "out_hw": out_hw})


def axis_work(height: str, width: str) -> tuple[str, ...]:
    """The worked arithmetic of both axes, said once when they are the same."""
    if height == width:
        return (f"height = width: {height}",)
    return (f"height: {height}", f"width: {width}")


def window_field(rf: ReceptiveField, window: Window, inferred: Inferred) -> ReceptiveField:
    pads = inferred.resolved["padding"]
    return rf.window(window.kernel_eff, window.stride, (pads[0], pads[2]))


def check_pool_padding(window: Window, padding: Padding4) -> None:
    """PyTorch's rule: padding at most half the (effective) kernel, so no window is all padding."""
    for i, axis in enumerate(AXES):
        half = window.kernel_eff[i] // 2
        worst = max(padding[2 * i], padding[2 * i + 1])
        if worst > half:
            raise ShapeError(
                f"{axis} padding {worst} is more than half the kernel {window.kernel_eff[i]}",
                formula=f"{worst} > {window.kernel_eff[i]}//2 = {half}",
                fix=f"padding ≤ {half}",
            )


def trailing_extra(n: int, out: int, kernel_eff: int, stride: int, pad_total: int) -> int:
    """Extra trailing padding a floor-rounding kernel needs to give ``out`` outputs (ceil mode)."""
    return max(0, (out - 1) * stride + kernel_eff - (n + pad_total))
