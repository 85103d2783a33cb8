"""Which regions of the configuration space an example touches, for the report's coverage table."""

from __future__ import annotations

from .config import ConvConfig

__all__ = ["FEATURES", "features_of"]

FEATURES = (
    "ndim=1", "ndim=2", "ndim=3",
    "transposed",
    "float64", "float32", "float16", "bfloat16",
    "batch=0", "batch>1",
    "groups>1", "depthwise",
    "stride>1", "dilation>1", "stride>1 and dilation>1",
    "asymmetric padding", "padding='same'", "padding='valid'", "zero padding",
    "output_padding>0",
    "kernel 1x1", "kernel larger than input",
    "output size 1", "unequal spatial sizes",
    "bias",
    "reduction >= 256",
)


def features_of(config: ConvConfig) -> list[str]:
    """The FEATURES this config has."""
    c = config
    found = [f"ndim={c.ndim}", c.dtype]
    checks = {
        "transposed": c.transposed,
        "batch=0": c.batch == 0,
        "batch>1": c.batch > 1,
        "groups>1": c.groups > 1,
        "depthwise": c.groups > 1 and c.groups == c.in_channels,
        "stride>1": any(s > 1 for s in c.stride),
        "dilation>1": any(d > 1 for d in c.dilation),
        "stride>1 and dilation>1": any(s > 1 for s in c.stride) and any(d > 1 for d in c.dilation),
        "asymmetric padding": c.is_asymmetric and not isinstance(c.padding, str),
        "padding='same'": c.padding == "same",
        "padding='valid'": c.padding == "valid",
        "zero padding": not any(lo or hi for lo, hi in c.resolved_padding),
        "output_padding>0": any(c.output_padding),
        "kernel 1x1": all(k == 1 for k in c.kernel),
        "kernel larger than input": any(k > n for k, n in zip(c.kernel, c.in_size)),
        "output size 1": any(n == 1 for n in c.out_size),
        "unequal spatial sizes": len(set(c.in_size)) > 1,
        "bias": c.bias,
        "reduction >= 256": c.reduction_length >= 256,
    }
    found.extend(name for name, present in checks.items() if present)
    return found
