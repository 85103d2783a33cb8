"""The float64 oracle: a reference run on the example's rounded values, and on their absolute values.

The absolute-value run gives sum |x| |w| per element, which the error bound needs (conformance.tolerance).
The oracle is the im2col reference (the fastest); im2col itself is checked against the naive one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ConvConfig
from .registry import get_implementation
from .strategies import ConvTensors

__all__ = ["OracleResult", "compute_oracle", "oracle_name_for"]


@dataclass
class OracleResult:
    """Expected values and abs-value sums per check ("forward", "grad_input", "grad_weight", "grad_bias")."""

    expected: dict[str, np.ndarray]
    abs_sums: dict[str, np.ndarray]
    oracle: str


def oracle_name_for(implementation: str) -> str:
    """The reference that judges `implementation` (never itself)."""
    return "naive" if implementation == "im2col" else "im2col"


def compute_oracle(config: ConvConfig, tensors: ConvTensors, kind: str, oracle: str = "im2col") -> OracleResult:
    """kind: "forward" or "gradient"."""
    reference = get_implementation(oracle)
    x, w, b, g = tensors.x, tensors.w, tensors.b, tensors.grad_out
    abs_b = None if b is None else np.abs(b)
    if kind == "forward":
        expected = {"forward": reference.forward(config, x, w, b)}
        abs_sums = {"forward": reference.forward(config, np.abs(x), np.abs(w), abs_b)}
    else:
        names = ("grad_input", "grad_weight", "grad_bias")
        grads = reference.vjp(config, x, w, b, g)
        abs_grads = reference.vjp(config, np.abs(x), np.abs(w), abs_b, np.abs(g))
        expected = {n: v for n, v in zip(names, grads) if v is not None}
        abs_sums = {n: v for n, v in zip(names, abs_grads) if v is not None}
    return OracleResult(expected, abs_sums, oracle)
