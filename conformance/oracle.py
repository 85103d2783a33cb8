"""The float64 oracle: a reference run on the example's rounded values, and on their absolute values.

The absolute-value run gives sum |x| |w| per element, which the error bound needs (conformance.tolerance).
What to compute is the check kind's declaration (conformance.checks.CheckKind.expected); the
oracle is the im2col reference (the fastest), and im2col itself is checked against the naive one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .checks import CheckKind
from .config import ConvConfig
from .registry import get_implementation
from .strategies import ConvTensors

__all__ = ["OracleResult", "OracleCache", "compute_oracle", "oracle_name_for"]


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


class OracleCache:
    """The oracles of recent examples, by (case, check kind, oracle reference): least recently used out.

    The ci profile draws the same examples for every implementation with the same op family, check
    kind and dtypes (derandomized), and a process runs one implementation's tests after another's:
    about three examples in four meet an oracle already computed in the same process (measured on a
    default run's records). An oracle depends only on the case (config, data seed, value profile:
    its tensors are made from them), the check kind and the reference, so a cached one is the one
    that would be computed. The arrays are never handed to an implementation (it gets its own
    tensors, made afresh), and an oracle over max_elements elements is not kept.
    """

    def __init__(self, size: int = 512, max_elements: int = 200_000) -> None:
        self.size, self.max_elements = size, max_elements
        self._entries: OrderedDict = OrderedDict()

    def get(self, case, kind: CheckKind, oracle: str, compute) -> OracleResult:
        """The oracle of (case, kind, oracle), from the cache or from compute() (then kept)."""
        key = (type(case), case, kind.name, oracle)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        result = compute()
        if sum(a.size for arrays in (result.expected, result.abs_sums) for a in arrays.values()
               if a is not None) <= self.max_elements:
            self._entries[key] = result
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return result
