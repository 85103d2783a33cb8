"""A planted bug that a precision entry must not cover: bfloat16 weight gradients doubled on long reductions.

`doubled_grad_weight` is the im2col reference with its results rounded once to the config dtype
(correct for every dtype), except that it doubles grad_weight for bfloat16 whenever the
weight-gradient reduction has at least DOUBLED_FROM terms. It declares the default arithmetic
(float32 accumulation), so the doubled gradients diverge; a user's own precision entry
(USER_ENTRY, bfloat16 accumulation) must not file them as known: with the worst-case bound as the
ceiling, it did (gamma(K, 2^-8) is infinite from K = 256).

Write USER_ENTRY to a file and pass it with `--known-divergences FILE` next to
`--impl tests.mutants_precision:doubled_grad_weight`; tests/test_ceilings.py does the same through
KnownDivergences directly.
"""

from __future__ import annotations

from conformance import ConvConfig, Implementation
from conformance.dtypes import to_storage
from conformance.registry import get_implementation
from conformance.tolerance import reduction_lengths

__all__ = ["DOUBLED_FROM", "USER_ENTRY", "DoubledGradWeight", "doubled_grad_weight"]

DOUBLED_FROM = 300  # weight-gradient reduction length from which the bug shows

USER_ENTRY = """
[[divergence]]
id = "USER-001"
implementations = ["doubled_grad_weight"]
summary = "our kernel accumulates bfloat16 weight gradients in bfloat16 (we believe)"
classification = "precision"
expected = "mismatch"
kind = "value"
checks = ["grad_weight"]
when = { dtype = "bfloat16" }
within_arithmetic = { accumulation = "dtype", output = "dtype" }
upstream = "our own kernel"
"""


class DoubledGradWeight(Implementation):
    """Correct (im2col, one rounding to the dtype) but for 2 x grad_weight in bfloat16 at K >= DOUBLED_FROM."""

    name = "doubled_grad_weight"

    def __init__(self, doubled_from: int = DOUBLED_FROM) -> None:
        self.doubled_from = doubled_from

    @staticmethod
    def _reference():
        return get_implementation("im2col")  # imported on first use (the references are moving packages)

    def is_doubled(self, config: ConvConfig) -> bool:
        return config.dtype == "bfloat16" and reduction_lengths(config)["grad_weight"] >= self.doubled_from

    def forward(self, config, x, w, b=None, device="cpu"):
        return to_storage(self._reference().forward(config, x, w, b), config.dtype)

    def vjp(self, config, x, w, b, grad_out, device="cpu"):
        grad_x, grad_w, grad_b = self._reference().vjp(config, x, w, b, grad_out)
        if self.is_doubled(config):
            grad_w = 2 * grad_w
        return tuple(None if g is None else to_storage(g, config.dtype) for g in (grad_x, grad_w, grad_b))


def doubled_grad_weight() -> DoubledGradWeight:
    """The planted kernel, for `--impl tests.mutants_precision:doubled_grad_weight`."""
    return DoubledGradWeight()
