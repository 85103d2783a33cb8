"""The ceiling of a precision entry: when a half-format arithmetic explains a diverging result.

A known divergence of classification "precision" names the arithmetic measured for it
(`within_arithmetic`, e.g. half-format accumulation). A diverging result is recorded as that known
divergence only when its error is one that arithmetic produces. The worst-case bound of
conformance/tolerance.py cannot say so: gamma(K, u) = K u / (1 - K u) is infinite once K u >= 1
(bfloat16 accumulation, u = 2^-8, from K = 256 terms) and larger than the result well before, so
a kernel that doubled its weight gradient was "known". Per element, with y the exact value,
A = sum |x| |w| (the oracle on absolute values), K the reduction length and u the entry's
accumulation unit roundoff, a result is explained when every element is, by one of:

1. the probabilistic bound: |error| <= min(gamma(K, u), gamma~(K, lambda), 1/2) A (+ the output
   rounding, oracle, operand and subnormal terms of tolerance.py). gamma~(K, lambda) =
   exp(lambda sqrt(K) u + K u^2 / (1 - u)) - 1 holds with probability >= 1 - 2 K exp(-lambda^2
   (1 - u)^2 / 2) for rounding errors that are independent with mean zero (Higham and Mary, "A
   new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5), 2019,
   Theorems 2.4 and 3.1); lambda is chosen per K so that this fails with probability at most
   FALSE_ALARM = 1e-9 per element (lambda = 6.9 at K = 10, 7.4 at K = 300, 7.8 at K = 10^4).
   An error of half the absolute sum is never rounding (the cap of 1/2).
2. stagnation, a loss toward zero on a sum without cancellation (|y| = A, all terms of one sign):
   rounding errors are then biased, outside the model of 1, and a long sum in a half format
   stops growing. Summing non-negative terms in any order, every partial sum is at most the
   computed result r, so the loss is at most (K - 1) u |r| + u A (Higham, Accuracy and
   Stability, eq. 4.3, plus the rounding of the products), and never beyond the worst case.
   A zeroed sum is therefore always caught, a halved one while K u < 1.

and, over the elements that stagnation does not explain, the error is not comparable to the
result: ||error||_2 <= GROSS_SHARE ||y||_2 + u ||A||_2, GROSS_SHARE = 1/2. This gross-error guard
is what catches a doubled long cancelling sum, where the per-element bounds exceed |y| itself;
the u ||A|| floor (one rounding of the absolute sums) keeps a result whose few elements all cancel
to nearly zero from tripping it.

Measured (torch 2.13 CPU, tensorflow-cpu 2.21; "rule 1" = the largest |error| / rule-1 ceiling,
"guard" = ||error|| / (GROSS_SHARE ||y|| + u ||A||); tests/test_ceilings.py has the tables):
- the real divergences, torch and TF called directly on the reproducers' calls and on longer
  reductions (18 cases, K = 6 ... 9,248, 6 of them with gamma(K, u) infinite): rule 1 <= 0.33,
  guard <= 0.11, all explained. TF's bfloat16 bias gradient of 9,248 positive terms returns 256
  for 4,576 (94.5 % lost): rule 2 explains it.
- the adapters on strategy-drawn float16/bfloat16 calls (normal, small-integer, mixed, positive
  data): 566 diverging torch checks (KD-002, KD-003) and 11,454 TF ones (KD-006/007/008, K up
  to 8,640): all explained; rule 1 <= 0.68, guard <= 0.21. The planted doubled gradient on the
  same draws: 208 diverging examples with K >= 300, none explained (the worst-case bound: all 208).
- genuine half accumulation, simulated in the worst realistic order (one term at a time, every
  partial sum rounded), on 10,000 strategy-drawn checks, K <= 6,000: all explained; rule 1 <= 0.13
  where the probabilistic bound is the smaller (<= 0.70 where the worst case is), guard <= 0.19.
  One-element results are where the guard's floor matters: 2 of 256,000 simulated one-element
  sums (K = 2 ... 1,000, both at K = 64) trip it.
- planted bugs: a bfloat16 weight gradient doubled at K = 300 ... 4,096 (tests/mutants_precision.py;
  normal, small-integer, mixed, positive data): guard 1.44 ... 1.99, rule 1 = 2.0 on positive
  data; the worst-case bound accepted all 16. A negated channel or largest element (K = 24):
  rule 1 = 12 ... 126; the last kernel tap dropped (K = 24, 72): 4.5 ... 10; a zeroed 9,248-term
  positive sum: 2.0; garbage / a negated result at K = 1,024, where gamma is infinite: 2.1 / guard 3.4.

Limits, by construction: a bug smaller than the rounding noise of the declared arithmetic (one
dropped term among hundreds in bfloat16) passes; the guard tells a doubled cancelling sum from a
rounded one only while ||y|| > 2 u ||A||, i.e. up to K = (pi / (4 u))^2 = 40,000 terms of random
data in bfloat16 (the suite draws K <= 20,000); beyond that genuine results carry no correct digit
either (TF's bfloat16 bias gradient of 10^6 terms is off by 0.6 ||y||, of small integers 1.45 ||y||)
and are reported, not filed. On a long sum without cancellation, a bug that loses part of the sum
passes while it loses no more than stagnation can (rule 2: r >= y / (1 + K u)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .dtypes import LARGEST_FINITE, SMALLEST_SUBNORMAL, UNIT_ROUNDOFF
from .tolerance import gamma

__all__ = [
    "FALSE_ALARM",
    "GROSS_SHARE",
    "CeilingVerdict",
    "ceiling_verdict",
    "within_ceiling",
    "probabilistic_gamma",
    "resolve_arithmetic",
]

FALSE_ALARM = 1e-9   # per element: the chance that rule 1 fails on an honest result, under its model
GROSS_SHARE = 0.5    # an error norm above this share of the result's norm is never precision
_ORACLE_UNIT_ROUNDOFF = UNIT_ROUNDOFF["float64"]
_FIELDS = ("accumulation", "output", "operands")


def probabilistic_gamma(terms: int, unit_roundoff: float, false_alarm: float = FALSE_ALARM) -> float:
    """Higham and Mary's gamma~_K(lambda), lambda chosen so that 2 K exp(-lambda^2 (1-u)^2 / 2) = false_alarm."""
    terms = max(int(terms), 1)
    lam = math.sqrt(2 * math.log(2 * terms / false_alarm)) / (1 - unit_roundoff)
    exponent = lam * math.sqrt(terms) * unit_roundoff + terms * unit_roundoff**2 / (1 - unit_roundoff)
    return math.inf if exponent > 700 else math.expm1(exponent)


def resolve_arithmetic(fields: dict[str, Any], dtype: str) -> dict[str, str | None]:
    """An entry's within_arithmetic with "dtype" replaced by `dtype`; raises ValueError on a bad field."""
    unknown = sorted(set(fields) - set(_FIELDS) - {"note"})
    if unknown:
        raise ValueError(f"within_arithmetic has unknown field(s) {unknown}; use {', '.join(_FIELDS)}")
    resolved: dict[str, str | None] = {}
    for name in _FIELDS:
        value = fields.get(name, "dtype" if name != "operands" else None)
        if value == "dtype":
            value = dtype
        if value is not None and value not in UNIT_ROUNDOFF:
            raise ValueError(f"within_arithmetic {name}={value!r} is not a format; use \"dtype\" or one of "
                             f"{sorted(UNIT_ROUNDOFF)}")
        resolved[name] = value
    return resolved


@dataclass(frozen=True)
class CeilingVerdict:
    """Whether a result is explained by an arithmetic, and by how much it misses when not.

    - explained: every element within rule 1 or 2 and the guard holds (see the module docstring);
    - worst_ratio: largest |error| / rule-1 ceiling over the elements rule 2 does not explain;
    - gross_ratio: ||error|| / (GROSS_SHARE ||y|| + u ||A||) over the same elements (> 1: gross);
    - reason: one line for a result that is not explained, "" otherwise.
    """

    explained: bool
    worst_ratio: float = 0.0
    gross_ratio: float = 0.0
    reason: str = ""


def _as_array(result: Any) -> np.ndarray | None:
    try:
        array = np.asarray(result)
    except Exception:
        return None
    if array.dtype == object or array.dtype.kind not in "fiu":
        return None
    return array.astype(np.float64)


def ceiling_verdict(fields: dict, *, check: str, result, expected, abs_expected, terms: int,
                    config) -> CeilingVerdict:
    """The verdict behind `within_ceiling` (same arguments), with the ratios it was decided on."""
    if result is None:
        return CeilingVerdict(False, math.inf, math.inf, f"{check}: no result")
    r = _as_array(result)
    y = np.asarray(expected, dtype=np.float64)
    a = np.abs(np.asarray(abs_expected, dtype=np.float64))
    if r is None or r.shape != y.shape:
        return CeilingVerdict(False, math.inf, math.inf, f"{check}: not an array of shape {y.shape}")
    arithmetic = resolve_arithmetic(fields, config.dtype)
    u_acc = UNIT_ROUNDOFF[arithmetic["accumulation"]]
    u_out = UNIT_ROUNDOFF[arithmetic["output"]]
    u_op = UNIT_ROUNDOFF[arithmetic["operands"]] if arithmetic["operands"] else 0.0
    terms = max(int(terms), 1)
    worst = gamma(terms, u_acc)
    extras = gamma(terms, _ORACLE_UNIT_ROUNDOFF) + 2 * u_op + u_op * u_op
    rounding = u_out * np.abs(y) + SMALLEST_SUBNORMAL[arithmetic["output"]] / 2

    # Non-finite values: an overflow of the output format (compare's rule), or of a partial sum.
    finite = np.isfinite(r)
    overflow = ((np.abs(y) > LARGEST_FINITE[arithmetic["output"]]) & np.isinf(r) & (np.sign(r) == np.sign(y))) | (
        a > LARGEST_FINITE[arithmetic["accumulation"]])
    if (~finite & ~overflow).any():
        where = tuple(int(i) for i in np.argwhere(~finite & ~overflow)[0])
        return CeilingVerdict(False, math.inf, math.inf,
                              f"{check}{list(where)} = {r[where]} where the exact value {y[where]:.6g} is finite")
    usable = finite
    error = np.where(usable, np.abs(r - y), 0.0)

    # Rule 1: the probabilistic bound, capped by the worst case and by half the absolute sum.
    factor = min(worst, probabilistic_gamma(terms, u_acc), GROSS_SHARE) + extras
    ceiling = factor * a + rounding
    # Rule 2: a loss toward zero on a sum without cancellation (stagnation).
    no_cancellation = np.abs(y) >= a * (1 - 2 * gamma(terms, _ORACLE_UNIT_ROUNDOFF))
    toward_zero = (np.sign(r) * np.sign(y) >= 0) & (np.abs(r) < np.abs(y))
    with np.errstate(invalid="ignore", over="ignore"):
        loss_cap = np.minimum((terms - 1) * u_acc * np.abs(r) + u_acc * a, worst * a) + extras * a + rounding
    stagnation = usable & no_cancellation & toward_zero & (error <= loss_cap)

    judged = usable & ~stagnation
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(ceiling > 0, error / ceiling, np.where(error > 0, np.inf, 0.0))
    worst_ratio = float(ratios[judged].max()) if judged.any() else 0.0
    scale = GROSS_SHARE * float(np.linalg.norm(y[judged])) + u_acc * float(np.linalg.norm(a[judged]))
    size = float(np.linalg.norm(error[judged]))
    gross_ratio = size / scale if scale > 0 else (math.inf if size > 0 else 0.0)

    if worst_ratio > 1:
        index = np.unravel_index(int(np.argmax(np.where(judged, ratios, -1.0))), ratios.shape)
        where = [int(i) for i in index]
        return CeilingVerdict(False, worst_ratio, gross_ratio,
                              f"{check}{where} = {r[index]:.6g}, expected {y[index]:.6g}: error "
                              f"{error[index]:.3g} = {worst_ratio:.3g} x the ceiling of {arithmetic['accumulation']} "
                              f"accumulation over {terms} terms")
    if gross_ratio > 1:
        return CeilingVerdict(False, worst_ratio, gross_ratio,
                              f"{check}: error norm {size:.3g} is {size / max(float(np.linalg.norm(y[judged])), 1e-300):.3g}"
                              f" x the result's norm: not rounding ({arithmetic['accumulation']} accumulation, "
                              f"{terms} terms)")
    return CeilingVerdict(True, worst_ratio, gross_ratio)


def within_ceiling(fields: dict, *, check: str, result, expected, abs_expected, terms: int, config) -> bool:
    """True when `result` is explained by the arithmetic `fields` (a known entry's within_arithmetic,
    "dtype" standing for config.dtype): the ceiling of a precision entry.

    - fields: {"accumulation": ..., "output": ..., "operands": ...}, each a format name or "dtype"
      (accumulation and output default to "dtype", operands to None: products exact);
    - check: "forward", "grad_input", "grad_weight" or "grad_bias" (named in messages);
    - result: the implementation's array for that check, any float dtype;
    - expected, abs_expected: the float64 oracle on the values and on their absolute values;
    - terms: the reduction length of that check (conformance.tolerance.reduction_lengths);
    - config: the ConvConfig.

    Example: within_ceiling({"accumulation": "dtype", "output": "dtype"}, check="grad_weight",
    result=2 * y, expected=y, abs_expected=a, terms=400, config=bfloat16_config) is False.
    """
    return ceiling_verdict(fields, check=check, result=result, expected=expected, abs_expected=abs_expected,
                           terms=terms, config=config).explained
