"""The naive reference: the sums of the definition, vectorised over batch and channels, looping over taps.

For ordinary convolution (cross-correlation, PyTorch layout), with x_pad the input padded by
(lo, hi) per spatial dim, with zeros or by the padding mode (reflect, replicate, circular):

    y[n, co, o] = b[co] + sum_{ci in group(co)} sum_{t} x_pad[n, ci, o*s + t*d] * w[co, ci - group_start, t]

Each kernel tap t contributes one strided window of x_pad (the textbook corr2d, generalised).
Transposed convolution is the adjoint (w.r.t. its input) of the ordinary convolution that maps the
transposed output back to its input, so both directions are written from three sums:

- `correlate`              the sum above (gather);
- `correlate_input_adjoint` the same sum read backwards: scatter each g[n, co, o] into x_pad;
- `correlate_weight_adjoint` the sum over n and o for one tap: d y / d w.

A padding mode fills the pad with copies of input elements (NumPy's np.pad modes: PyTorch's reflect
is NumPy's 'reflect', replicate is 'edge', circular is 'wrap' while each pad <= the input size), so
the gradient of x_pad folds back onto x: each input element receives the gradient of every padded
position that copies it (`fold_padded_gradient`, a scatter-add through `padded_source_indices`).
Unbatched calls (C, *spatial) run as a batch of one.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from conformance.config import ConvConfig

from ._arrays import ArrayReference, as_float64, check_call, namespace, scatter_add, to_host, with_batch_axis, without_batch_axis

__all__ = [
    "NUMPY_PAD_MODES",
    "NaiveReference",
    "correlate",
    "correlate_input_adjoint",
    "correlate_weight_adjoint",
    "fold_padded_gradient",
    "pad_by_mode",
    "padded_source_indices",
]

NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
"""PyTorch's padding_mode -> the np.pad mode that fills the pad the same way."""


def _window(tap, count, stride, dilation):
    """Indices t*d, t*d + s, ..., t*d + s*(count-1) of one tap, as slices (one per spatial dim)."""
    return tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, n, s, d in zip(tap, count, stride, dilation))


def pad_by_mode(xp, x, padding, mode="zeros"):
    """x: (N, C, *in) padded by (lo, hi) per spatial dim as PyTorch's padding_mode `mode` does."""
    widths = [(0, 0), (0, 0)] + [tuple(pair) for pair in padding]
    return xp.pad(x, widths, mode=NUMPY_PAD_MODES[mode])


def padded_source_indices(n, lo, hi, mode):
    """For each of the n + lo + hi padded positions of one dim, the input index it copies (a copying mode).

    The same np.pad that pads the input, applied to the indices 0..n-1 themselves.
    """
    if mode == "zeros":
        raise ValueError("padding_mode='zeros' copies no input element into the pad; crop instead of folding")
    return np.pad(np.arange(n), (lo, hi), mode=NUMPY_PAD_MODES[mode])


def fold_padded_gradient(xp, grad_pad, in_size, padding, mode="zeros"):
    """The adjoint of pad_by_mode: (N, C, *padded) -> (N, C, *in_size).

    zeros: crop the pad away. A copying mode: every padded position adds its gradient to the input
    element it copies, one spatial dim at a time (padding pads each dim independently).
    """
    if mode == "zeros":
        return grad_pad[(slice(None),) * 2 + tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_size, padding))]
    folded = grad_pad
    for dim, (n, (lo, hi)) in enumerate(zip(in_size, padding)):
        source = xp.asarray(padded_source_indices(n, lo, hi, mode))
        shape = list(folded.shape)
        shape[2 + dim] = n
        target = xp.zeros(shape)
        scatter_add(xp, target, (slice(None),) * (2 + dim) + (source,), folded)
        folded = target
    return folded


def correlate(xp, x, w, groups, stride, dilation, padding, out_size, mode="zeros"):
    """y[n, co, o] = sum_{ci in group(co), t} x_pad[n, ci, o*s + t*d] * w[co, ci_local, t].

    x: (N, C_in, *in); w: (C_out, C_in/groups, *kernel); returns (N, C_out, *out_size).
    """
    batch, in_channels = x.shape[:2]
    out_channels, in_per_group = w.shape[:2]
    kernel = w.shape[2:]
    x_groups = pad_by_mode(xp, x, padding, mode)
    x_groups = x_groups.reshape(batch, groups, in_per_group, *x_groups.shape[2:])
    w_groups = w.reshape(groups, out_channels // groups, in_per_group, *kernel)
    y = xp.zeros((batch, groups, out_channels // groups, *out_size))
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = x_groups[(slice(None),) * 3 + _window(tap, out_size, stride, dilation)]
        y += xp.einsum("ngc...,gdc->ngd...", window, w_groups[(slice(None),) * 3 + tap])
    return y.reshape(batch, out_channels, *out_size)


def correlate_input_adjoint(xp, g, w, groups, stride, dilation, padding, in_size, mode="zeros"):
    """x_grad[n, ci, p] = sum over (co, t, o) with o*s + t*d - lo == p of g[n, co, o] * w[co, ci_local, t].

    With a copying padding mode, p ranges over the padded positions, then folds back onto the input.

    g: (N, C_out, *out); w: (C_out, C_in/groups, *kernel); returns (N, C_in, *in_size).
    """
    batch = g.shape[0]
    out_channels, in_per_group = w.shape[:2]
    kernel = w.shape[2:]
    out_size = g.shape[2:]
    padded_size = tuple(n + lo + hi for n, (lo, hi) in zip(in_size, padding))
    g_groups = g.reshape(batch, groups, out_channels // groups, *out_size)
    w_groups = w.reshape(groups, out_channels // groups, in_per_group, *kernel)
    x_pad_grad = xp.zeros((batch, groups, in_per_group, *padded_size))
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = (slice(None),) * 3 + _window(tap, out_size, stride, dilation)
        x_pad_grad[window] += xp.einsum("ngd...,gdc->ngc...", g_groups, w_groups[(slice(None),) * 3 + tap])
    x_pad_grad = x_pad_grad.reshape(batch, groups * in_per_group, *padded_size)
    return fold_padded_gradient(xp, x_pad_grad, in_size, padding, mode)


def correlate_weight_adjoint(xp, x, g, groups, stride, dilation, padding, kernel, mode="zeros"):
    """w_grad[co, ci_local, t] = sum_{n, o} g[n, co, o] * x_pad[n, ci, o*s + t*d].

    x: (N, C_in, *in); g: (N, C_out, *out); returns (C_out, C_in/groups, *kernel).
    """
    batch, in_channels = x.shape[:2]
    out_channels = g.shape[1]
    out_size = g.shape[2:]
    in_per_group = in_channels // groups
    x_groups = pad_by_mode(xp, x, padding, mode)
    x_groups = x_groups.reshape(batch, groups, in_per_group, *x_groups.shape[2:])
    # Spatial positions flattened to one axis p: einsum cannot sum over an ellipsis.
    positions = math.prod(out_size)
    g_groups = g.reshape(batch, groups, out_channels // groups, positions)
    w_grad = xp.zeros((groups, out_channels // groups, in_per_group, *kernel))
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = x_groups[(slice(None),) * 3 + _window(tap, out_size, stride, dilation)]
        window = window.reshape(batch, groups, in_per_group, positions)
        w_grad[(slice(None),) * 3 + tap] = xp.einsum("ngcp,ngdp->gdc", window, g_groups)
    return w_grad.reshape(out_channels, in_per_group, *kernel)


def _add_bias(xp, y, b):
    if b is None:
        return y
    return y + b.reshape((1, -1) + (1,) * (y.ndim - 2))


class NaiveReference(ArrayReference):
    """The definition's sums, in float64, on NumPy (cpu) or CuPy (cuda)."""

    name = "naive"


    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu"):
        check_call(config, x, w, b)
        call, (x,) = with_batch_axis(config, x)
        xp = namespace(device)
        x, w, b = as_float64(xp, x), as_float64(xp, w), as_float64(xp, b) if config.bias else None
        args = (call.groups, call.stride, call.dilation, call.resolved_padding)
        if call.transposed:
            y = correlate_input_adjoint(xp, x, w, *args, call.out_size)
        else:
            y = correlate(xp, x, w, *args, call.out_size, call.padding_mode)
        return to_host(without_batch_axis(config, _add_bias(xp, y, b)))

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        check_call(config, x, w, b)
        call, (x, grad_out) = with_batch_axis(config, x, grad_out)
        xp = namespace(device)
        x, w, g = as_float64(xp, x), as_float64(xp, w), as_float64(xp, grad_out)
        args = (call.groups, call.stride, call.dilation, call.resolved_padding)
        if call.transposed:
            # y = A^T x with A the ordinary correlation from the output space back to the input space.
            grad_x = correlate(xp, g, w, *args, call.in_size)
            grad_w = correlate_weight_adjoint(xp, g, x, *args, call.kernel)
        else:
            grad_x = correlate_input_adjoint(xp, g, w, *args, call.in_size, call.padding_mode)
            grad_w = correlate_weight_adjoint(xp, x, g, *args, call.kernel, call.padding_mode)
        grad_b = g.sum(axis=(0, *range(2, g.ndim))) if call.bias else None
        return to_host(without_batch_axis(config, grad_x)), to_host(grad_w), to_host(grad_b)
