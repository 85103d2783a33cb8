"""The harness's vocabulary, each fact stated once: op families, devices, statuses, result names.

Everything else imports these names; nothing else lists them.

- An op family is (name, ndim, transposed): "conv_transpose2d" is (2, True).
- A status is the verdict of one check; FAILING_STATUSES make a test fail.
- A result name is one array a check kind compares ("forward", "grad_input", ...); check kinds
  themselves (which method they call, which results they produce) are declared in
  conformance.checks.
- A mismatch kind says how a result disagreed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "OpFamily",
    "OP_FAMILIES",
    "OP_NAMES",
    "op_family",
    "op_name",
    "DEVICES",
    "STATUSES",
    "FAILING_STATUSES",
    "NOT_INSTALLED",
    "PASS",
    "MISMATCH",
    "ERROR",
    "CRASH",
    "TIMEOUT",
    "UNSUPPORTED",
    "KNOWN",
    "MISMATCH_KINDS",
    "RESULT_LABELS",
]


@dataclass(frozen=True)
class OpFamily:
    """One op family: conv{ndim}d or conv_transpose{ndim}d."""

    ndim: int
    transposed: bool

    @property
    def name(self) -> str:
        return op_name(self.ndim, self.transposed)

    def __str__(self) -> str:
        return self.name


def op_name(ndim: int, transposed: bool) -> str:
    """(2, True) -> "conv_transpose2d"."""
    return f"conv{'_transpose' if transposed else ''}{ndim}d"


OP_FAMILIES: tuple[OpFamily, ...] = tuple(OpFamily(n, t) for t in (False, True) for n in (1, 2, 3))
OP_NAMES: tuple[str, ...] = tuple(f.name for f in OP_FAMILIES)
_BY_NAME = {f.name: f for f in OP_FAMILIES}


def op_family(name: str) -> OpFamily:
    """"conv_transpose2d" -> OpFamily(ndim=2, transposed=True); ValueError naming the choices."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"op {name!r} is not one of {', '.join(OP_NAMES)}") from None


DEVICES = ("cpu", "cuda")

PASS, MISMATCH, ERROR, CRASH, TIMEOUT, UNSUPPORTED, KNOWN = (
    "pass", "mismatch", "error", "crash", "timeout", "unsupported", "known")
STATUSES = (PASS, MISMATCH, ERROR, CRASH, TIMEOUT, UNSUPPORTED, KNOWN)
FAILING_STATUSES = (MISMATCH, ERROR, CRASH, TIMEOUT)
# The consensus verdict (not a status) of an implementation whose framework is missing on this machine.
NOT_INSTALLED = "not installed"

# How a result disagreed with the oracle (the `kind` of a mismatch record).
# - shape: wrong shape (or no array); nonfinite: NaN/Inf where the oracle is finite;
# - value: an element beyond its error bound;
# - dtype: a value that is not representable in the output format the implementation declared;
# - accepted: an invalid call returned a result instead of raising.
MISMATCH_KINDS = ("shape", "nonfinite", "value", "dtype", "accepted")

# Human labels of the results check kinds produce, and of "whole call" events (an exception or a
# crash hits the call, not one of its results: the record's check is then the check kind's name).
RESULT_LABELS = {
    "forward": "forward",
    "grad_input": "grad w.r.t. input",
    "grad_weight": "grad w.r.t. weight",
    "grad_bias": "grad w.r.t. bias",
    "gradient": "gradient (the whole VJP call)",
    "jvp": "forward-mode derivative (JVP)",
    "double_vjp_input": "double backward w.r.t. input",
    "double_vjp_weight": "double backward w.r.t. weight",
    "double_vjp_grad_out": "double backward w.r.t. grad_out",
    "double_vjp": "double backward (the whole call)",
    "determinism": "bitwise repeatability",
    "invalid_call": "invalid call raises",
    "invalid": "invalid call (the whole call)",
}
