"""How a config's convolution is spelled to the frameworks' calls: plain arithmetic on ConvConfig.

Framework-free (no torch, no jax imported): the adapters (references.torch.functional,
references.jax.lax) make their calls with these, and conformance.standalone writes the same
calls into its scripts, so a script calls the library exactly as the adapter does.
"""

from __future__ import annotations

import math

from .config import ConvConfig

__all__ = ["torch_padding_args", "dimension_numbers", "transposed_padding", "same_pairs", "string_padding"]


# ---- the libraries' own padding strings ----------------------------------------------------------


def same_pairs(in_size, kernel, stride, dilation, lower: bool = False) -> tuple[tuple[int, int], ...]:
    """TF's / ONNX's / lax's 'SAME' as (lo, hi) pairs, for any stride: ceil(n / s) outputs, so a total
    pad of max((ceil(n/s) - 1) s + d(k-1) + 1 - n, 0), its odd position at the end (SAME_UPPER) or, with
    `lower`, at the start (SAME_LOWER)."""
    pairs = []
    for n, k, s, d in zip(in_size, kernel, stride, dilation):
        total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
        small, large = total // 2, total - total // 2
        pairs.append((large, small) if lower else (small, large))
    return tuple(pairs)


def string_padding(config: ConvConfig, strings: tuple[str, ...] = ("SAME", "SAME_LOWER")) -> str | None:
    """The library's own padding string that an ordinary zero-padded call's explicit pairs spell, or None.

    "SAME" (SAME_UPPER) or "SAME_LOWER", whichever of `strings` the library has, when the pairs are
    exactly its pairs for this call (any stride) and not all zero. A user who wants Keras's
    `strides=2, padding='same'` writes the string, so the adapters call the string for these pairs:
    the library's own padding rule, forward and derivatives, is then the call under test.
    """
    if config.transposed or isinstance(config.padding, str) or config.padding_mode != "zeros":
        return None
    pairs = tuple(tuple(p) for p in config.padding)
    if not any(lo or hi for lo, hi in pairs):
        return None
    for name, lower in (("SAME", False), ("SAME_LOWER", True)):
        if name in strings and pairs == same_pairs(config.in_size, config.kernel, config.stride, config.dilation, lower):
            return name
    return None


# ---- torch.nn.functional -------------------------------------------------------------------------


def torch_padding_args(config: ConvConfig):
    """How to express config.padding to F.conv*: (pre_pad for F.pad or None, padding arg, crop).

    - ordinary, "same"/"valid": the string goes to F.convNd itself (so torch's own path is tested);
    - symmetric pairs: the API's per-dim ints;
    - ordinary, asymmetric: padding min(lo, hi) per dim to F.conv*, and F.pad (its argument lists the
      last dim first) for the non-negative rest, so that a negative side reaches torch's own check
      ("negative padding is not supported") instead of F.pad, which would crop;
    - transposed, asymmetric: padding min(lo, hi) per dim, then crop (per dim, (from_lo, from_hi)).
    """
    if isinstance(config.padding, str):
        if not config.transposed:
            return None, config.padding, None
        return None, 0, None  # "valid" (ConvConfig forbids "same" for transposed)
    pairs = config.padding
    if all(lo == hi for lo, hi in pairs):
        return None, tuple(lo for lo, _ in pairs), None
    if not config.transposed:
        symmetric = tuple(min(lo, hi) for lo, hi in pairs)
        flat = [side - p for (lo_hi, p) in zip(reversed(pairs), reversed(symmetric)) for side in lo_hi]
        return flat, symmetric, None
    # Transposed padding p removes p positions from each end of the full (unpadded) output, and
    # output_padding extends the full output at the end before that removal. Computing with the
    # smaller side on both ends and then removing the remaining (lo - p, hi - p) gives exactly
    # full[lo : len - hi], output_padding included.
    symmetric = tuple(min(lo, hi) for lo, hi in pairs)
    crop = tuple((lo - p, hi - p) for (lo, hi), p in zip(pairs, symmetric))
    return None, symmetric, crop


# ---- jax.lax (XLA) -------------------------------------------------------------------------------


def dimension_numbers(ndim: int) -> tuple[str, str, str]:
    """PyTorch's channels-first layouts in XLA's letters: ('NCHW', 'OIHW', 'NCHW') for ndim 2."""
    spatial = "HWD"[:ndim]
    return ("NC" + spatial, "OI" + spatial, "NC" + spatial)


def transposed_padding(config: ConvConfig) -> tuple[tuple[int, int], ...]:
    """Padding of the lhs-dilated stride-1 convolution equal to config's transposed convolution.

    The full (unpadded) transposed output needs d*(k-1) zeros on both sides of the dilated input;
    PyTorch's padding removes (lo, hi) from it and output_padding adds zeros at the end. Values
    can be negative (lo > d*(k-1)): they crop, as lax.conv_transpose does for such padding.
    """
    return tuple(
        (d * (k - 1) - lo, d * (k - 1) - hi + op)
        for k, d, (lo, hi), op in zip(config.kernel, config.dilation, config.resolved_padding, config.output_padding)
    )
