"""The same network in PyTorch, built by hand from an archcalc Analysis and the same weights.

A second implementation for the executor: each layer kind maps to torch.nn.functional calls
written from PyTorch's documentation, not from archcalc's kernels. Used by
benchmarks/bench_executor.py (time and memory ratios) and tests/test_executor.py (layer-by-layer
agreement). torch is never a runtime dependency of archcalc.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np


def _tensor(torch, array, dtype):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=dtype)))


def _extra(n: int, pads: int, out: int, k_eff: int, s: int) -> int:
    """Trailing cells a ceil-mode window needs beyond the padded input."""
    return max(0, (out - 1) * s + k_eff - (n + pads))


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def layer_op(row, params: dict[str, np.ndarray], dtype=np.float32) -> Callable | None:
    """A function of the layer's torch inputs giving its output; None if no faithful map."""
    import torch
    import torch.nn.functional as F

    layer, kind = row.layer, row.kind
    p = {k: _tensor(torch, v, dtype) for k, v in params.items()}
    resolved = row.inferred.resolved

    def window_pads(kernel, stride, dilation=(1, 1)):
        t, b, l, r = resolved["padding"]  # noqa: E741
        out_h, out_w = resolved["out_hw"]
        _, h, w = row.input_shapes[0]
        b += _extra(h, t + b, out_h, dilation[0] * (kernel[0] - 1) + 1, stride[0])
        r += _extra(w, l + r, out_w, dilation[1] * (kernel[1] - 1) + 1, stride[1])
        return t, b, l, r

    if kind == "conv2d":
        k, s, d = _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.dilation)
        t, b, l, r = window_pads(k, s, d)  # noqa: E741
        w = p["weight"]
        if layer.connections is not None:
            w = w * _tensor(torch, layer.connection_mask(row.input_shapes[0][0]), dtype)
        mode = "replicate" if layer.padding_mode == "replicate" else "constant"
        if mode == "constant" and t == b and l == r:
            return lambda x: F.conv2d(x, w, p.get("bias"), s, (t, l), d, layer.groups)
        return lambda x: F.conv2d(F.pad(x, (l, r, t, b), mode=mode), w, p.get("bias"), s, 0, d,
                                  layer.groups)
    if kind == "conv_transpose2d":
        return lambda x: F.conv_transpose2d(
            x, p["weight"], p.get("bias"), _pair(layer.stride), _pair(layer.padding),
            _pair(layer.output_padding), layer.groups, _pair(layer.dilation))
    if kind == "max_pool2d":
        k, s, d = layer.window.kernel, layer.window.stride, layer.window.dilation
        t, b, l, r = window_pads(k, s, d)  # noqa: E741
        if t == b and l == r:
            return lambda x: F.max_pool2d(x, k, s, (t, l), d)
        return lambda x: F.max_pool2d(F.pad(x, (l, r, t, b), value=-float("inf")), k, s, 0, d)
    if kind == "avg_pool2d":
        k, s = layer.window.kernel, layer.window.stride
        if window_pads(k, s) != resolved["padding"] or resolved["padding"][::2] != \
                resolved["padding"][1::2]:
            return None  # ceil-mode or asymmetric windows: PyTorch's divisor rule differs
        t, _, l, _ = resolved["padding"]  # noqa: E741
        return lambda x: F.avg_pool2d(x, k, s, (t, l), count_include_pad=layer.count_include_pad)
    if kind == "lp_pool2d":
        k, s = layer.window.kernel, layer.window.stride
        if window_pads(k, s) != (0, 0, 0, 0):
            return None
        return lambda x: F.lp_pool2d(x, layer.norm_type, k, s)
    if kind == "subsample2d":
        k, s = layer.window.kernel, layer.window.stride
        if window_pads(k, s) != (0, 0, 0, 0):
            return None
        c = row.input_shapes[0][0]
        bias = p["bias"] if "bias" in p else torch.zeros(c, dtype=p["weight"].dtype)
        return lambda x: (F.avg_pool2d(x, k, s) * p["weight"].view(1, -1, 1, 1)
                          + bias.view(1, -1, 1, 1))
    if kind == "global_avg_pool2d":
        return lambda x: x.mean(dim=(2, 3), keepdim=True)
    if kind == "global_max_pool2d":
        return lambda x: x.amax(dim=(2, 3), keepdim=True)
    if kind == "adaptive_avg_pool2d":
        return lambda x: F.adaptive_avg_pool2d(x, tuple(row.output_shape[1:]))
    if kind == "flatten":
        return lambda x: torch.flatten(x, 1)
    if kind == "linear":
        return lambda x: F.linear(x, p["weight"], p.get("bias"))
    if kind == "euclidean_rbf":
        return lambda x: ((x[:, None, :] - p["weight"][None]) ** 2).sum(dim=2)
    if kind == "concat":
        return lambda *xs: torch.cat(xs, dim=1)
    if kind == "add":
        return lambda *xs: sum(xs[1:], xs[0])
    if kind == "batch_norm2d":
        return lambda x: F.batch_norm(x, p["running_mean"], p["running_var"], p.get("weight"),
                                      p.get("bias"), training=False, eps=layer.eps)
    if kind == "local_response_norm":
        return lambda x: F.local_response_norm(x, layer.size, layer.alpha, layer.beta, layer.k)
    if kind == "relu":
        return F.relu
    if kind == "leaky_relu":
        return lambda x: F.leaky_relu(x, layer.negative_slope)
    if kind == "sigmoid":
        return torch.sigmoid
    if kind == "tanh":
        return lambda x: layer.amplitude * torch.tanh(layer.slope * x)
    if kind == "softmax":
        return lambda x: torch.softmax(x, dim=1)
    if kind == "dropout":
        return lambda x: x
    return None


class TorchNet:
    """The whole network as torch ops; activations freed after their last use, as in the
    executor."""

    def __init__(self, analysis, weights: dict[str, np.ndarray], dtype=np.float32) -> None:
        self.analysis = analysis
        self.ops = []
        for row in analysis.layers:
            params = {t.name: weights[f"{row.name}.{t.name}"] for t in row.tensors}
            op = layer_op(row, params, dtype)
            if op is None:
                raise NotImplementedError(f"no PyTorch twin for layer '{row.name}' ({row.kind})")
            self.ops.append((row.name, row.inputs, op))

    def __call__(self, x, keep=()):
        import torch

        uses = Counter(s for _, inputs, _ in self.ops for s in set(inputs))
        outputs = set(self.analysis.outputs) | set(keep)
        values = {"input": x}
        with torch.inference_mode():
            for name, inputs, op in self.ops:
                values[name] = op(*[values[i] for i in inputs])
                for s in set(inputs):
                    uses[s] -= 1
                    if uses[s] == 0 and s not in outputs and s != "input":
                        del values[s]
        return {k: v for k, v in values.items() if k in outputs}
