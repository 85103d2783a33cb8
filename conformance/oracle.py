"""The float64 oracle: a reference run on the example's rounded values, and on their absolute values.

The absolute-value run gives sum |x| |w| per element, which the error bound needs (conformance.tolerance).
What to compute is the check kind's declaration (conformance.checks.CheckKind.expected); the
oracle is the im2col reference (the fastest), and im2col itself is checked against the naive one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import CheckKind
from .config import ConvConfig
from .registry import get_implementation
from .strategies import ConvTensors

__all__ = ["OracleResult", "compute_oracle", "oracle_name_for"]


@dataclass
class OracleResult:
    """Expected values and abs-value sums per result ("forward", "grad_input", ...)."""

    expected: dict[str, np.ndarray]
    abs_sums: dict[str, np.ndarray]
    oracle: str


def oracle_name_for(implementation: str) -> str:
    """The reference that judges `implementation` (never itself)."""
    return "naive" if implementation == "im2col" else "im2col"


def compute_oracle(config: ConvConfig, tensors: ConvTensors, kind: CheckKind, oracle: str = "im2col") -> OracleResult:
    """The expected results of check kind `kind` on `tensors`, and the same on their absolute values."""
    reference = get_implementation(oracle)
    wanted = kind.results_for(config)
    expected = kind.expected(reference, config, tensors)
    abs_sums = kind.expected(reference, config, tensors.absolute())
    return OracleResult({r: expected[r] for r in wanted}, {r: abs_sums[r] for r in wanted}, oracle)
