"""The four dtypes of a ConvConfig in NumPy terms: rounding, storage and unit roundoff.

NumPy has no bfloat16, so bfloat16 data travels as float32 arrays whose values are exactly
representable in bfloat16 (rounded to nearest, ties to even, from float64 via float32).
Implementations convert to their own bfloat16 type inside.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "UNIT_ROUNDOFF",
    "SMALLEST_SUBNORMAL",
    "LARGEST_FINITE",
    "storage_dtype",
    "round_to_dtype",
    "to_storage",
]

# u = 2**-p for a format with p significand bits (Higham, Table 2.1). TF32 keeps 10 explicit bits, but
# tensor cores fed float32 registers drop the low 13 bits (truncation, no cvt.rna rounding): the
# operand error is up to one TF32 ulp, 2**-10 relative, not half of it. Measured on an H200: torch
# conv_transpose3d with a 1x1x1 kernel (one product) was off by 1.4e-3 relative, beyond 2 * 2**-11.
UNIT_ROUNDOFF = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "tfloat32": 2.0**-10,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
}

SMALLEST_SUBNORMAL = {
    "float64": 2.0**-1074,
    "float32": 2.0**-149,
    "tfloat32": 2.0**-149,
    "float16": 2.0**-24,
    "bfloat16": 2.0**-133,
}

LARGEST_FINITE = {
    "float64": float(np.finfo(np.float64).max),
    "float32": float(np.finfo(np.float32).max),
    "tfloat32": float(np.finfo(np.float32).max),
    "float16": 65504.0,
    "bfloat16": float(np.float32(3.3895313892515355e38)),
}

_STORAGE = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bfloat16": np.float32}


def storage_dtype(dtype: str) -> np.dtype:
    """The NumPy dtype that carries data of `dtype` (float32 for bfloat16)."""
    try:
        return np.dtype(_STORAGE[dtype])
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(_STORAGE)}") from None


def _round_float32_to_bfloat16(values: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    # Round to nearest, ties to even, on the 16 bits that bfloat16 drops.
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16) << 16
    out = rounded.astype(np.uint32).view(np.float32)
    # NaN must stay NaN (the carry could turn a NaN payload into inf).
    return np.where(np.isnan(values), np.float32(np.nan), out)


def round_to_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    """Round float64 `values` once to `dtype`, returned as float64 (exactly representable values)."""
    values = np.asarray(values, dtype=np.float64)
    if dtype == "float64":
        return values.copy()
    if dtype == "bfloat16":
        # float64 -> float32 -> bfloat16 can double-round; go through float32 only when exact enough:
        # round the float64 value to 8 significant bits directly via frexp to avoid double rounding.
        mantissa, exponent = np.frexp(values)
        scaled = np.ldexp(mantissa, 8)
        rounded = np.ldexp(np.round(scaled), exponent - 8)  # np.round is ties-to-even
        # Subnormal and overflow handling through float32 (bfloat16 shares float32's exponent range).
        with np.errstate(over="ignore"):
            as32 = rounded.astype(np.float32)
        return _round_float32_to_bfloat16(as32).astype(np.float64)
    with np.errstate(over="ignore"):
        return values.astype(storage_dtype(dtype)).astype(np.float64)


def to_storage(values: np.ndarray, dtype: str) -> np.ndarray:
    """Round float64 `values` to `dtype` and return them in that dtype's NumPy storage type."""
    return round_to_dtype(values, dtype).astype(storage_dtype(dtype))
