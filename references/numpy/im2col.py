"""The im2col reference: unfold patches into a column matrix, then one GEMM per group.

Ordinary convolution (PyTorch layout, cross-correlation):

    cols[n, g, (c, t), o] = x_pad[n, g*C_in/g + c, o*s + t*d]        (im2col)
    y[n, g, co, o]        = sum_{(c, t)} W[g, co, (c, t)] cols[n, g, (c, t), o]   (GEMM)

Its adjoint w.r.t. x folds columns back into the padded input, adding overlapping taps (col2im).
Transposed convolution is that adjoint: a GEMM with W^T into columns, then col2im (as Caffe's
deconvolution layer does). Gradients:

- ordinary:   grad_x = col2im(W^T g);        grad_W = g cols^T (summed over n)
- transposed: grad_x = W^T-shaped GEMM on im2col(g);  grad_W = x im2col(g)^T

A padding mode (reflect, replicate, circular) fills the pad with copies of input elements: padded
position q of a dim of size n reads input index i = q - lo mapped back into [0, n) by the mode
(`padded_indices`). im2col gathers every column entry straight from x through that map, and col2im
folds each column back through the same map, so an input element receives the gradient of every
padded position that copies it. Unbatched calls (C, *spatial) run as a batch of one.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from conformance.config import ConvConfig

from ._arrays import ArrayReference, as_float64, check_call, namespace, scatter_add, to_host, with_batch_axis, without_batch_axis

__all__ = ["Im2colReference", "im2col", "col2im", "padded_indices"]


def padded_indices(n, lo, hi, mode):
    """The input index that each padded position q = 0 .. n+lo+hi-1 of one dim copies (PyTorch's modes).

    With i = q - lo (the position relative to the input):
    - reflect:   i < 0 -> -i;  i >= n -> 2(n-1) - i   (the edge element is not repeated; needs lo, hi < n)
    - replicate: i clipped to [0, n-1]
    - circular:  i mod n                              (PyTorch needs lo, hi <= n)
    """
    i = np.arange(n + lo + hi) - lo
    if mode == "reflect":
        return np.where(i < 0, -i, np.where(i >= n, 2 * (n - 1) - i, i))
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return np.mod(i, n)
    raise ValueError(f"padding_mode={mode!r} copies no input element; padded_indices needs "
                     f"'reflect', 'replicate' or 'circular'")


def _tap_sources(xp, tap, count, stride, dilation, sources):
    """Open-mesh input indices (one array per spatial dim) that tap t reads for the count output positions."""
    per_dim = [source[t * d + s * np.arange(n)] for t, n, s, d, source in zip(tap, count, stride, dilation, sources)]
    return tuple(xp.asarray(index) for index in np.ix_(*per_dim))


def _tap_positions(tap, count, stride, dilation):
    return tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, n, s, d in zip(tap, count, stride, dilation))


def im2col(xp, x, kernel, stride, dilation, padding, out_size, mode="zeros"):
    """x: (N, C, *in) -> cols: (N, C * prod(kernel), prod(out_size)); row index = c * prod(kernel) + tap.

    mode: PyTorch's padding_mode; a copying mode reads each entry from x through padded_indices.
    """
    batch, channels = x.shape[:2]
    taps = list(itertools.product(*(range(k) for k in kernel)))
    cols = xp.empty((batch, channels, len(taps), math.prod(out_size)))
    if mode == "zeros":
        x_pad = xp.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in padding])
    else:
        sources = [padded_indices(n, lo, hi, mode) for n, (lo, hi) in zip(x.shape[2:], padding)]
    for index, tap in enumerate(taps):
        if mode == "zeros":
            patch = x_pad[(slice(None), slice(None)) + _tap_positions(tap, out_size, stride, dilation)]
        else:
            patch = x[(slice(None), slice(None)) + _tap_sources(xp, tap, out_size, stride, dilation, sources)]
        cols[:, :, index, :] = patch.reshape(batch, channels, math.prod(out_size))
    return cols.reshape(batch, channels * len(taps), math.prod(out_size))


def col2im(xp, cols, channels, kernel, stride, dilation, padding, in_size, out_size, mode="zeros"):
    """Adjoint of im2col: (N, C * prod(kernel), prod(out_size)) -> (N, C, *in_size), overlaps added.

    A copying mode adds each column entry to the input element it was read from (padded_indices).
    """
    batch = cols.shape[0]
    taps = list(itertools.product(*(range(k) for k in kernel)))
    cols = cols.reshape(batch, channels, len(taps), *out_size)
    if mode != "zeros":
        sources = [padded_indices(n, lo, hi, mode) for n, (lo, hi) in zip(in_size, padding)]
        x = xp.zeros((batch, channels, *in_size))
        for index, tap in enumerate(taps):
            where = (slice(None), slice(None)) + _tap_sources(xp, tap, out_size, stride, dilation, sources)
            scatter_add(xp, x, where, cols[:, :, index])
        return x
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_size, padding))
    x_pad = xp.zeros((batch, channels, *padded))
    for index, tap in enumerate(taps):
        x_pad[(slice(None), slice(None)) + _tap_positions(tap, out_size, stride, dilation)] += cols[:, :, index]
    return x_pad[(slice(None), slice(None)) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_size, padding))]


def _gemm_rows(w, groups):
    """w: (C_a, C_b/groups, *kernel) -> (groups, C_a/groups, C_b/groups * prod(kernel))."""
    return w.reshape(groups, w.shape[0] // groups, math.prod(w.shape[1:]))


class Im2colReference(ArrayReference):
    """im2col + GEMM (col2im for adjoints), float64, on NumPy (cpu) or CuPy (cuda)."""

    name = "im2col"


    def _geometry(self, config):
        return config.kernel, config.stride, config.dilation, config.resolved_padding

    def _conv(self, xp, x, w, config, in_size, out_size):
        """Ordinary convolution of x (spatial in_size) with w (C_out, C_in/g, *k) to out_size."""
        groups = config.groups
        batch, channels = x.shape[:2]
        cols = im2col(xp, x, *self._geometry(config), out_size, config.padding_mode)
        cols = cols.reshape(batch, groups, cols.shape[1] // groups, cols.shape[-1])  # (N, g, C_in/g * K, P)
        rows = _gemm_rows(w, groups)                                      # (g, C_out/g, C_in/g * K)
        y = rows @ cols                                                   # (N, g, C_out/g, P): one GEMM per group
        return y.reshape(batch, w.shape[0], *out_size)

    def _conv_input_adjoint(self, xp, g, w, config, in_size, out_size):
        """Adjoint of _conv w.r.t. its input: col2im(W^T g)."""
        groups = config.groups
        batch = g.shape[0]
        in_channels = w.shape[1] * groups
        rows = _gemm_rows(w, groups)
        g_groups = g.reshape(batch, groups, w.shape[0] // groups, math.prod(out_size))
        cols = rows.swapaxes(-1, -2) @ g_groups                           # (N, g, C_in/g * K, P)
        cols = cols.reshape(batch, rows.shape[-1] * groups, math.prod(out_size))
        return col2im(xp, cols, in_channels, *self._geometry(config), in_size, out_size, config.padding_mode)

    def _conv_weight_adjoint(self, xp, x, g, config, out_size):
        """d<_conv(x, w), g>/dw = g cols^T, summed over the batch."""
        groups = config.groups
        batch, channels = x.shape[:2]
        cols = im2col(xp, x, *self._geometry(config), out_size, config.padding_mode)
        cols = cols.reshape(batch, groups, cols.shape[1] // groups, cols.shape[-1])
        g_groups = g.reshape(batch, groups, g.shape[1] // groups, math.prod(out_size))
        grad = (g_groups @ cols.swapaxes(-1, -2)).sum(axis=0)             # (g, C_out/g, C_in/g * K)
        return grad.reshape(g.shape[1], channels // groups, *config.kernel)

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu"):
        check_call(config, x, w, b)
        caller = config
        config, (x,) = with_batch_axis(caller, x)
        xp = namespace(device)
        x, w = as_float64(xp, x), as_float64(xp, w)
        if config.transposed:
            y = self._conv_input_adjoint(xp, x, w, config, config.out_size, config.in_size)
        else:
            y = self._conv(xp, x, w, config, config.in_size, config.out_size)
        if config.bias and b is not None:
            y = y + as_float64(xp, b).reshape((1, -1) + (1,) * config.ndim)
        return to_host(without_batch_axis(caller, y))

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        check_call(config, x, w, b)
        caller = config
        config, (x, grad_out) = with_batch_axis(caller, x, grad_out)
        xp = namespace(device)
        x, w, g = as_float64(xp, x), as_float64(xp, w), as_float64(xp, grad_out)
        if config.transposed:
            grad_x = self._conv(xp, g, w, config, config.out_size, config.in_size)
            grad_w = self._conv_weight_adjoint(xp, g, x, config, config.in_size)
        else:
            grad_x = self._conv_input_adjoint(xp, g, w, config, config.in_size, config.out_size)
            grad_w = self._conv_weight_adjoint(xp, x, g, config, config.out_size)
        grad_b = g.sum(axis=(0, *range(2, g.ndim))) if config.bias else None
        return to_host(without_batch_axis(caller, grad_x)), to_host(grad_w), to_host(grad_b)
