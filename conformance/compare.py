"""Compare one result with the float64 oracle: a verdict (pass / mismatch / error) with statistics.

The tolerance is conformance.tolerance.error_bound, element by element. A result is a `shape`
mismatch when its shape differs from the expected one, `nonfinite` when it has NaN or Inf where the
oracle has a finite value (an infinity is accepted where the exact value overflows the output
format), `value` when any element's error exceeds its bound, and `dtype` when the values are within
the bound but some are not representable in the output format the implementation declared (a
"bfloat16" result that was never rounded to bfloat16, a float32 result computed and returned in
float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arithmetic import Arithmetic
from .dtypes import LARGEST_FINITE, round_to_dtype
from .tolerance import error_bound

__all__ = ["Verdict", "compare", "bitwise_difference", "HEATMAP_MAX_SIDE"]

HEATMAP_MAX_SIDE = 48


@dataclass
class Verdict:
    status: str                      # "pass" | "mismatch" | "error"
    kind: str | None = None          # "shape" | "value" | "nonfinite" for a mismatch
    stats: dict[str, Any] = field(default_factory=dict)
    heatmap: dict[str, Any] | None = None
    problem: str = ""                # one line: what was seen against what was expected

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def _as_float_array(result: Any) -> np.ndarray | None:
    if isinstance(result, np.ndarray) and result.dtype.kind == "f":
        return result.astype(np.float64)
    try:
        array = np.asarray(result)
    except Exception:
        return None
    if array.dtype.kind not in "fiu" or array.dtype == object:
        return None
    return array.astype(np.float64)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def compare(
    name: str,
    result: Any,
    expected: np.ndarray,
    abs_expected: np.ndarray,
    terms: int,
    arithmetic: Arithmetic,
    partial_roundings: int = 0,
) -> Verdict:
    """Compare `result` (any array-like) for the check `name` ("forward", "grad_weight"...).

    partial_roundings: see conformance.tolerance.error_bound."""
    shape_expected = list(expected.shape)
    if result is None:
        return Verdict("mismatch", "shape", {"shape_seen": None, "shape_expected": shape_expected},
                       problem=f"{name} is None, expected an array of shape {tuple(expected.shape)}")
    array = _as_float_array(result)
    if array is None:
        return Verdict("error", None, {"shape_expected": shape_expected},
                       problem=f"{name} is a {type(result).__name__}, expected a float ndarray of shape "
                               f"{tuple(expected.shape)}")
    if array.shape != expected.shape:
        return Verdict("mismatch", "shape", {"shape_seen": list(array.shape), "shape_expected": shape_expected},
                       problem=f"{name} has shape {tuple(array.shape)}, expected {tuple(expected.shape)}")

    bound = error_bound(abs_expected, expected, terms, arithmetic, partial_roundings)
    overflows = np.abs(expected) > LARGEST_FINITE[arithmetic.output]
    finite = np.isfinite(array)
    # An infinity of the right sign is the correctly rounded result of a value beyond the format's range.
    accepted_inf = overflows & np.isinf(array) & (np.sign(array) == np.sign(expected))
    nonfinite = ~finite & ~accepted_inf
    with np.errstate(invalid="ignore"):
        error = np.where(finite, np.abs(array - expected), np.inf)
    error = np.where(accepted_inf, 0.0, error)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, error / bound, np.where(error > 0, np.inf, 0.0))
    beyond = ratio > 1.0
    n_elements = int(array.size)
    n_beyond = int(beyond.sum())
    stats: dict[str, Any] = {
        "max_abs_error": float(error.max()) if n_elements else 0.0,
        "max_error_in_bounds": float(ratio.max()) if n_elements else 0.0,
        "n_beyond": n_beyond,
        "n_elements": n_elements,
        "share_beyond": n_beyond / n_elements if n_elements else 0.0,
        "nonfinite": bool(nonfinite.any()),
        "shape_seen": list(array.shape),
        "shape_expected": shape_expected,
    }
    if n_elements:
        worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        stats.update(
            worst_index=[int(i) for i in worst],
            worst_value=float(array[worst]),
            worst_expected=float(expected[worst]),
            worst_bound=float(bound[worst]),
        )
    for key in ("max_abs_error", "max_error_in_bounds"):
        if math.isinf(stats[key]):
            stats[key] = float("inf")
    if nonfinite.any():
        where = [int(i) for i in np.argwhere(nonfinite)[0]]
        return Verdict("mismatch", "nonfinite", stats, _heatmap(ratio),
                       problem=f"{name}{where} = {array[tuple(where)]}, expected {_fmt(expected[tuple(where)])} "
                               f"({int(nonfinite.sum())} non-finite elements where the oracle is finite)")
    if n_beyond:
        index = stats["worst_index"]
        return Verdict("mismatch", "value", stats, _heatmap(ratio),
                       problem=f"{name}{index} = {_fmt(stats['worst_value'])}, expected {_fmt(stats['worst_expected'])} "
                               f"(error {abs(stats['worst_value'] - stats['worst_expected']):.3g} = "
                               f"{stats['max_error_in_bounds']:.3g} x bound "
                               f"{stats['worst_bound']:.3g}; {n_beyond} of {n_elements} elements beyond)")
    unrounded = finite & (round_to_dtype(np.where(finite, array, 0.0), arithmetic.output) != array)
    if unrounded.any():
        where = tuple(int(i) for i in np.argwhere(unrounded)[0])
        n_unrounded = int(unrounded.sum())
        stats["n_not_in_format"] = n_unrounded
        return Verdict("mismatch", "dtype", stats, None,
                       problem=f"{name}{list(where)} = {float(array[where])!r} is not a {arithmetic.output} value "
                               f"({n_unrounded} of {n_elements} elements are not; result not in {arithmetic.output}): "
                               f"round results to the declared output format "
                               f"(bfloat16 travels as float32 arrays holding bfloat16 values)")
    return Verdict("pass", None, stats)


def _heatmap(ratio: np.ndarray) -> dict[str, Any] | None:
    """Max of error/bound over every axis but the last two (batch, channels, leading spatial dims)."""
    if ratio.ndim < 3 or ratio.size == 0:
        return None
    grid = ratio.reshape(-1, *ratio.shape[-2:]).max(axis=0) if ratio.ndim > 2 else ratio
    if ratio.ndim == 3:  # 1-d spatial: (N, C, W) -> one row
        grid = ratio.max(axis=(0, 1))[None, :]
    rows, cols = grid.shape
    step_r = -(-rows // HEATMAP_MAX_SIDE)
    step_c = -(-cols // HEATMAP_MAX_SIDE)
    if step_r > 1 or step_c > 1:
        padded = np.full((-(-rows // step_r) * step_r, -(-cols // step_c) * step_c), 0.0)
        padded[:rows, :cols] = grid
        grid = padded.reshape(padded.shape[0] // step_r, step_r, padded.shape[1] // step_c, step_c).max(axis=(1, 3))
    values = [[(float(v) if np.isfinite(v) else 1e308) for v in row] for row in grid]
    axes = "W" if ratio.ndim == 3 else "H x W"
    return {"shape": list(grid.shape), "values": values, "axes": axes, "downsampled": [step_r, step_c]}


def bitwise_difference(name: str, first: Any, second: Any) -> Verdict | None:
    """None when two results of the same call are bitwise identical (NaNs with the same bits too),
    else a mismatch saying where they differ."""
    if first is None and second is None:
        return None
    a, b = np.asarray(first), np.asarray(second)
    if a.shape != b.shape or a.dtype != b.dtype:
        return Verdict("mismatch", "value", {"shape_seen": list(b.shape), "shape_expected": list(a.shape)},
                       problem=f"{name}: the second identical call returned {b.dtype}{list(b.shape)}, "
                               f"the first {a.dtype}{list(a.shape)}")
    if np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes():
        return None
    bits = f"u{a.dtype.itemsize}"
    differs = np.ascontiguousarray(a).view(bits) != np.ascontiguousarray(b).view(bits)
    where = tuple(int(i) for i in np.argwhere(differs)[0])
    delta = np.abs(a.astype(np.float64) - b.astype(np.float64))
    stats = {"n_beyond": int(differs.sum()), "n_elements": int(a.size), "max_abs_error": float(np.nanmax(delta)),
             "worst_index": list(where), "worst_value": float(b[where]), "worst_expected": float(a[where])}
    return Verdict("mismatch", "value", stats,
                   problem=f"{name}{list(where)} = {float(b[where])!r} on the second identical call, "
                           f"{float(a[where])!r} on the first ({stats['n_beyond']} of {a.size} elements differ bitwise, "
                           f"largest difference {stats['max_abs_error']:.3g})")
