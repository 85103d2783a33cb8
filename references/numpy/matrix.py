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

M is stored sparse (CSR), so the cost follows the number of nonzeros.
"""

from __future__ import annotations

import math

import numpy as np

from conformance.config import ConvConfig

from ._arrays import ArrayReference, as_float64, check_call, namespace, to_host

__all__ = ["MatrixReference", "convolution_matrix_entries"]


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
        """M of the ordinary convolution behind config, with (rows, cols, weight_index) kept for grad_w."""
        if config.transposed:
            # The ordinary convolution from the transposed output space back to its input space.
            geometry = (config.out_channels, config.in_channels, config.out_size, config.in_size)
        else:
            geometry = (config.in_channels, config.out_channels, config.in_size, config.out_size)
        in_channels, out_channels, in_size, out_size = geometry
        rows, cols, weight_index = convolution_matrix_entries(
            in_channels, out_channels, config.groups, in_size, out_size,
            config.kernel, config.stride, config.dilation, config.resolved_padding,
        )
        shape = (out_channels * math.prod(out_size), in_channels * math.prod(in_size))
        rows_x, cols_x, index_x = xp.asarray(rows), xp.asarray(cols), xp.asarray(weight_index)
        values = w.ravel()[index_x]
        matrix = self._sparse("cuda" if xp is not np else "cpu").csr_matrix((values, (rows_x, cols_x)), shape=shape)
        return matrix, rows_x, cols_x, index_x

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu"):
        check_call(config, x, w, b)
        xp = namespace(device)
        x, w = as_float64(xp, x), as_float64(xp, w)
        matrix, _, _, _ = self._matrix(xp, config, w)
        columns = x.reshape(config.batch, math.prod(x.shape[1:])).T     # one column per sample
        y = (matrix.T @ columns) if config.transposed else (matrix @ columns)
        y = xp.asarray(y).T.reshape(config.output_shape)
        if config.bias and b is not None:
            y = y + as_float64(xp, b).reshape((1, -1) + (1,) * config.ndim)
        return to_host(y)

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        check_call(config, x, w, b)
        xp = namespace(device)
        x, w, g = as_float64(xp, x), as_float64(xp, w), as_float64(xp, grad_out)
        matrix, rows, cols, weight_index = self._matrix(xp, config, w)
        x_columns = x.reshape(config.batch, math.prod(x.shape[1:])).T
        g_columns = g.reshape(config.batch, math.prod(g.shape[1:])).T
        if config.transposed:
            grad_x = matrix @ g_columns
            pair_products = (x_columns[rows] * g_columns[cols]).sum(axis=1)
        else:
            grad_x = matrix.T @ g_columns
            pair_products = (g_columns[rows] * x_columns[cols]).sum(axis=1)
        grad_x = xp.asarray(grad_x).T.reshape(config.input_shape)
        grad_w = xp.bincount(weight_index, weights=pair_products, minlength=math.prod(config.weight_shape))
        grad_w = grad_w.reshape(config.weight_shape)
        grad_b = g.sum(axis=(0, *range(2, g.ndim))) if config.bias else None
        return to_host(grad_x), to_host(grad_w), to_host(grad_b)
