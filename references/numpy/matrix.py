"""The matrix reference: the convolution as an explicit sparse matrix, transposed convolution as its transpose.

An ordinary convolution is linear in x, so per sample y = M x + b with x flattened to (C_in * P_in)
and y to (C_out * P_out). M has one nonzero per (co, ci in group(co), tap t, output position o)
whose input position p = o*s + t*d - lo falls inside the input:

    M[co*P_out + o, ci*P_in + p] = w[co, ci - group_start, t]

A transposed convolution is y = M^T x (+ b) for the ordinary convolution M that maps the transposed
output back to its input (same stride, padding, dilation, groups; weight layout (C_in, C_out/g, *k)
is exactly that ordinary convolution's (C_out', C_in'/g, *k)). Gradients:

- y = M x:    grad_x = M^T g;   grad_w[j] = sum over the nonzeros holding w_j of g[row] x[col]
- y = M^T x:  grad_x = M g;     grad_w[j] = sum over the nonzeros holding w_j of x[row] g[col]

A padding mode (reflect, replicate, circular) is one more linear map: the 0/1 matrix P from input
positions to padded positions (P[q, p] = 1 when padded position q copies input p). Then M = C P with
C the convolution of the padded input without padding, so M^T = P^T C^T is the exact adjoint: an
input element receives the gradient of every padded position that copies it. grad_w reads the
padded input P x.

M is stored sparse (CSR), so the cost follows the number of nonzeros. Unbatched calls
(C, *spatial) run as a batch of one.
"""

from __future__ import annotations

import math

import numpy as np

from conformance.config import ConvConfig

from ._arrays import ArrayReference, as_float64, check_call, namespace, to_host, with_batch_axis, without_batch_axis

__all__ = ["MatrixReference", "convolution_matrix_entries", "padded_copies", "padding_operator"]


def padded_copies(n, lo, hi, mode):
    """The input index copied into each padded position of one dim, block by block: lo pad, input, hi pad.

    Pad position j counts outwards from the input (j = 0 touches it) on either side:
    - reflect:   before j -> j + 1,     after j -> n - 2 - j   (the mirror skips the edge element)
    - replicate: before j -> 0,         after j -> n - 1
    - circular:  before j -> n - 1 - j, after j -> j           (the far end wraps round)
    """
    before, after = np.arange(lo)[::-1], np.arange(hi)  # j of each pad position, left to right
    if mode == "reflect":
        before, after = before + 1, n - 2 - after
    elif mode == "replicate":
        before, after = np.zeros(lo, dtype=np.int64), np.full(hi, n - 1)
    elif mode == "circular":
        before, after = n - 1 - before, after
    else:
        raise ValueError(f"padding_mode={mode!r} copies no input element; padded_copies needs "
                         f"'reflect', 'replicate' or 'circular'")
    return np.concatenate([before, np.arange(n), after]).astype(np.int64)


def padding_operator(sparse, channels, in_size, padding, mode, xp=np):
    """P: (channels * prod(padded), channels * prod(in_size)), 0/1, row-major (c, *spatial) on both sides.

    P = I_channels kron P_0 kron P_1 ..., with P_d[q, padded_copies(...)[q]] = 1 for one dim d.
    sparse: scipy.sparse (xp numpy) or cupyx.scipy.sparse (xp cupy).
    """
    operator = sparse.identity(channels, format="csr")
    for n, (lo, hi) in zip(in_size, padding):
        source = xp.asarray(padded_copies(n, lo, hi, mode))
        rows = xp.arange(source.size)
        per_dim = sparse.csr_matrix((xp.ones(source.size), (rows, source)), shape=(source.size, n))
        operator = sparse.kron(operator, per_dim, format="csr")
    return operator


def _spatial_entries(in_size, out_size, kernel, stride, dilation, padding):
    """(o_lin, t_lin, p_lin): every (output position, tap, input position) with p inside the input."""
    per_dim = []
    for n_in, n_out, k, s, d, (lo, _) in zip(in_size, out_size, kernel, stride, dilation, padding):
        o, t = np.meshgrid(np.arange(n_out), np.arange(k), indexing="ij")
        p = o * s + t * d - lo
        inside = (p >= 0) & (p < n_in)
        per_dim.append((o[inside], t[inside], p[inside]))
    o_lin = np.zeros(1, dtype=np.int64)
    t_lin = np.zeros(1, dtype=np.int64)
    p_lin = np.zeros(1, dtype=np.int64)
    for (o, t, p), n_in, n_out, k in zip(per_dim, in_size, out_size, kernel):
        # Cartesian product with the entries of this dim, row-major linear indices.
        o_lin = (o_lin[:, None] * n_out + o[None, :]).ravel()
        t_lin = (t_lin[:, None] * k + t[None, :]).ravel()
        p_lin = (p_lin[:, None] * n_in + p[None, :]).ravel()
    return o_lin, t_lin, p_lin


def convolution_matrix_entries(in_channels, out_channels, groups, in_size, out_size, kernel, stride, dilation, padding):
    """COO entries of M for an ordinary convolution: (rows, cols, weight_index) as int64 arrays.

    weight_index is the flat index into w of shape (C_out, C_in/groups, *kernel).
    """
    o_lin, t_lin, p_lin = _spatial_entries(in_size, out_size, kernel, stride, dilation, padding)
    in_per_group = in_channels // groups
    out_per_group = out_channels // groups
    taps = math.prod(kernel)
    co, ci_local = (a.ravel() for a in np.meshgrid(np.arange(out_channels), np.arange(in_per_group), indexing="ij"))
    ci = (co // out_per_group) * in_per_group + ci_local
    rows = (co[:, None] * math.prod(out_size) + o_lin[None, :]).ravel()
    cols = (ci[:, None] * math.prod(in_size) + p_lin[None, :]).ravel()
    weight_index = ((co * in_per_group + ci_local)[:, None] * taps + t_lin[None, :]).ravel()
    return rows, cols, weight_index


class MatrixReference(ArrayReference):
    """y = M x with M an explicit sparse matrix (scipy.sparse / cupyx.scipy.sparse), float64."""

    name = "matrix"


    @staticmethod
    def _sparse(device):
        if device == "cuda":
            import cupyx.scipy.sparse as sparse
        else:
            import scipy.sparse as sparse
        return sparse

    def _matrix(self, xp, config: ConvConfig, w):
        """M of the ordinary convolution behind config, with (rows, cols, weight_index) kept for grad_w.

        With a padding mode, (rows, cols) index C (cols a padded position), and P comes back as the
        fifth item (None for zero padding) so that grad_w can read the padded input P x.
        """
        if config.transposed:
            # The ordinary convolution from the transposed output space back to its input space.
            geometry = (config.out_channels, config.in_channels, config.out_size, config.in_size)
        else:
            geometry = (config.in_channels, config.out_channels, config.in_size, config.out_size)
        in_channels, out_channels, in_size, out_size = geometry
        sparse = self._sparse("cuda" if xp is not np else "cpu")
        padding, copies = config.resolved_padding, None
        if config.padding_mode != "zeros":
            copies = padding_operator(sparse, in_channels, in_size, padding, config.padding_mode, xp)
            in_size = tuple(n + lo + hi for n, (lo, hi) in zip(in_size, padding))
            padding = ((0, 0),) * config.ndim
        rows, cols, weight_index = convolution_matrix_entries(
            in_channels, out_channels, config.groups, in_size, out_size,
            config.kernel, config.stride, config.dilation, padding,
        )
        shape = (out_channels * math.prod(out_size), in_channels * math.prod(in_size))
        rows_x, cols_x, index_x = xp.asarray(rows), xp.asarray(cols), xp.asarray(weight_index)
        values = w.ravel()[index_x]
        matrix = sparse.csr_matrix((values, (rows_x, cols_x)), shape=shape)
        if copies is not None:
            matrix = matrix @ copies  # M = C P
        return matrix, rows_x, cols_x, index_x, copies

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu"):
        check_call(config, x, w, b)
        caller = config
        config, (x,) = with_batch_axis(caller, x)
        xp = namespace(device)
        x, w = as_float64(xp, x), as_float64(xp, w)
        matrix = self._matrix(xp, config, w)[0]
        columns = x.reshape(config.batch, math.prod(x.shape[1:])).T     # one column per sample
        y = (matrix.T @ columns) if config.transposed else (matrix @ columns)
        y = xp.asarray(y).T.reshape(config.output_shape)
        if config.bias and b is not None:
            y = y + as_float64(xp, b).reshape((1, -1) + (1,) * config.ndim)
        return to_host(without_batch_axis(caller, y))

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        check_call(config, x, w, b)
        caller = config
        config, (x, grad_out) = with_batch_axis(caller, x, grad_out)
        xp = namespace(device)
        x, w, g = as_float64(xp, x), as_float64(xp, w), as_float64(xp, grad_out)
        matrix, rows, cols, weight_index, copies = self._matrix(xp, config, w)
        x_columns = x.reshape(config.batch, math.prod(x.shape[1:])).T
        g_columns = g.reshape(config.batch, math.prod(g.shape[1:])).T
        if config.transposed:
            grad_x = matrix @ g_columns
            pair_products = (x_columns[rows] * g_columns[cols]).sum(axis=1)
        else:
            grad_x = matrix.T @ g_columns
            if copies is not None:
                x_columns = xp.asarray(copies @ x_columns)  # the padded input: C's columns index it
            pair_products = (g_columns[rows] * x_columns[cols]).sum(axis=1)
        grad_x = xp.asarray(grad_x).T.reshape(config.input_shape)
        grad_w = xp.bincount(weight_index, weights=pair_products, minlength=math.prod(config.weight_shape))
        grad_w = grad_w.reshape(config.weight_shape)
        grad_b = g.sum(axis=(0, *range(2, g.ndim))) if config.bias else None
        return to_host(without_batch_axis(caller, grad_x)), to_host(grad_w), to_host(grad_b)
