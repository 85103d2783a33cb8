"""The tolerance: a floating-point error bound per element, not an rtol/atol table.

A computed convolution output y_hat = fl(sum_j x_j w_j (+ b)) differs from the exact sum y by at
most gamma(K, u) * sum_j |x_j| |w_j|, whatever the order of summation, where K is the number of
terms, u the unit roundoff of the accumulator and gamma(K, u) = K u / (1 - K u) (Higham, Accuracy
and Stability of Numerical Algorithms, 2nd ed., §3.1, eq. 3.5). The sums of absolute values are
obtained exactly by running the float64 oracle on |x|, |w|, |b| (and |grad_out| for gradients, each
with its own reduction length K). We compare against a float64 oracle that has its own error, so we
add gamma(K, 2^-53); operands rounded before multiplying (TF32) add 2 u_op per product; storing the
result in the output format adds u_out |y|, plus half the smallest subnormal of that format for
results that underflow. So, per element,

    bound = (gamma(K, u_acc) + gamma(K, 2^-53) + 2 u_op + u_op^2 + r u_out) * (|x| * |w|)  +  u_out |y|  +  eta_out

where r counts the partial results of a composed derivative that are rounded to the output format
before being added (r = 0 for one convolution; a forward-mode derivative conv(dx, w) + conv(x, dw) + db
is three ops in every framework measured, r = 3: see conformance.checks).

Inputs are rounded to the config dtype once, before any implementation sees them, so input rounding
is not part of the bound. Nothing here grows with the array size, only with the reduction length.
"""

from __future__ import annotations

import math

import numpy as np

from .arithmetic import Arithmetic
from .config import ConvConfig
from .dtypes import SMALLEST_SUBNORMAL, UNIT_ROUNDOFF

__all__ = ["gamma", "reduction_lengths", "error_bound", "padding_fold_roundings"]


_ORACLE_UNIT_ROUNDOFF = UNIT_ROUNDOFF["float64"]


def gamma(terms: int, unit_roundoff: float) -> float:
    """Higham's gamma_n = n u / (1 - n u); infinite once n u >= 1 (no bound exists)."""
    product = terms * unit_roundoff
    return math.inf if product >= 1 else product / (1 - product)


def reduction_lengths(config: ConvConfig) -> dict[str, int]:
    """The most terms summed into one element of each check's result (a bias adds one term)."""
    out_positions = math.prod(config.out_size)
    in_positions = math.prod(config.in_size)
    out_per_group = config.out_channels // config.groups
    if config.transposed:
        grad_input = out_per_group * math.prod(config.kernel)
        grad_weight = config.batch * in_positions
    else:
        # A padding mode copies an input element into up to padding_copies padded positions, and its
        # gradient sums the gradient of every copy.
        grad_input = out_per_group * config.taps_on_lattice * config.padding_copies
        grad_weight = config.batch * out_positions
    return {
        "forward": config.reduction_length + (1 if config.bias else 0),
        "grad_input": grad_input,
        "grad_weight": grad_weight,
        "grad_bias": config.batch * out_positions,
    }


def padding_fold_roundings(config: ConvConfig) -> int:
    """Roundings to the output format in the input gradient of a padding mode (0 for zero padding).

    A padding mode is its own op before the convolution in every framework (F.pad, jnp.pad, tf.pad),
    so the gradient of the padded input is stored in the output format (one rounding), and the pad's
    backward adds the gradient of each copy of an element in that format (one more per extra copy).
    """
    return 0 if config.padding_mode == "zeros" else config.padding_copies


def error_bound(abs_result: np.ndarray, exact: np.ndarray, terms: int, arithmetic: Arithmetic,
                partial_roundings: int = 0) -> np.ndarray:
    """Per-element bound on |computed - oracle| (see the module docstring).

    - abs_result: the oracle run on absolute values (sum |x| |w| per element), float64.
    - exact: the oracle's result, float64.
    - terms: the reduction length K of this check.
    - arithmetic: what the implementation declared it used.
    - partial_roundings: for a result that is a sum of separately computed convolutions (a JVP is
      conv(dx, w) + conv(x, dw) + db), how many partial results are rounded to the output format
      before they are added; each adds at most u_out times its magnitude, itself at most the sum
      of absolute values.
    """
    u_acc = UNIT_ROUNDOFF[arithmetic.accumulation]
    u_op = UNIT_ROUNDOFF[arithmetic.operands] if arithmetic.operands else 0.0
    u_out = UNIT_ROUNDOFF[arithmetic.output]
    terms = max(int(terms), 1)
    factor = (gamma(terms, u_acc) + gamma(terms, _ORACLE_UNIT_ROUNDOFF) + 2 * u_op + u_op * u_op
              + partial_roundings * u_out)
    eta = SMALLEST_SUBNORMAL[arithmetic.output] / 2
    return factor * np.abs(abs_result) + u_out * np.abs(exact) + eta
