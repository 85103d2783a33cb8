"""The box conv_configs draws from, as data: DEFAULT_BOUNDS (every profile but the nightly) and
NIGHTLY_BOUNDS (the same box, plus a share of draws from a wider one).

A DrawBounds holds the usual Box and, optionally, a wide Box: each bounded value of a draw (a
kernel extent, a stride, a dilation, a pad, the input size's slack, the channels, the batch, the
size budget) comes from past the usual box 1 draw in `wide_one_in`, and from the usual box
otherwise. So most nightly draws stay as small as today's, shrinking still leads to the usual box
(and, within it, to the minimal call), and the large and extreme values keep a measured share.

`outside(config, bounds)` says which bound a config breaks (None when conv_configs can draw it):
benchmarks/peer_reach.py measures with it which of the peers' own test calls a profile can reach.
Pure Python: no Hypothesis, no framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from .config import ConvConfig

__all__ = ["Box", "DrawBounds", "DEFAULT_BOUNDS", "NIGHTLY_BOUNDS", "outside", "call_elements",
           "smallest_in_size", "mode_smallest_size"]


@dataclass(frozen=True)
class Box:
    """Upper bounds of one draw (the lower bounds are the smallest valid values: 1, or 0 for pads).

    - max_batch, max_groups, max_channels_per_group: N, groups and C_in/groups, C_out/groups.
    - max_kernel (1-d and 2-d), max_kernel_3d: each kernel extent.
    - max_stride, max_dilation, max_padding: each per-dim value (max_padding: each of lo and hi).
    - size_slack: an input extent is at most its smallest valid size plus this.
    - max_macs, max_elements: the size budget of one call (forward MACs; x + w + y elements).
    """

    max_batch: int = 4
    max_groups: int = 4
    max_channels_per_group: int = 40
    max_kernel: int = 5
    max_kernel_3d: int = 3
    max_stride: int = 4
    max_dilation: int = 3
    max_padding: int = 3
    size_slack: int = 10
    max_macs: int = 60_000
    max_elements: int = 20_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            low = 0 if f.name in ("max_padding", "size_slack") else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{f.name}={value!r} must be an int >= {low}")

    def kernel_cap(self, ndim: int) -> int:
        return self.max_kernel if ndim < 3 else min(self.max_kernel, self.max_kernel_3d)


@dataclass(frozen=True)
class DrawBounds:
    """The usual Box, and the wide Box that a share of draws (1 in `wide_one_in`, per value) reach.

    Without `wide`, conv_configs draws exactly as it did before bounds were data.
    """

    usual: Box = Box()
    wide: Box | None = None
    wide_one_in: int = 8

    def __post_init__(self) -> None:
        if self.wide is not None:
            smaller = [f.name for f in fields(Box) if getattr(self.wide, f.name) < getattr(self.usual, f.name)]
            if smaller:
                raise ValueError(f"wide box is smaller than the usual one in {smaller}; widen them or drop wide")
        if self.wide_one_in < 2:
            raise ValueError(f"wide_one_in={self.wide_one_in} must be >= 2 (1 would draw every value wide)")

    @property
    def outer(self) -> Box:
        """The box every draw stays inside."""
        return self.wide if self.wide is not None else self.usual


DEFAULT_BOUNDS = DrawBounds()

# Sized on the peers' own test calls (benchmarks/peer_reach.py: the share each profile can draw)
# and on the cost of a nightly example (benchmarks/nightly_bounds.py); benchmarks/README.md has both.
NIGHTLY_BOUNDS = DrawBounds(
    usual=Box(),
    wide=Box(max_batch=10, max_groups=8, max_channels_per_group=256, max_kernel=9, max_kernel_3d=9, max_stride=4,
             max_dilation=5, max_padding=13, size_slack=40, max_macs=4_000_000, max_elements=500_000),
    wide_one_in=8,
)


def call_elements(config: ConvConfig) -> int:
    """x + w + y elements of a call (the second half of the size budget)."""
    return math.prod(config.input_shape) + math.prod(config.weight_shape) + math.prod(config.output_shape)


def mode_smallest_size(padding_mode: str, lo: int, hi: int) -> int:
    """The smallest input size a padding mode allows for pads (lo, hi) (conformance.config's rules)."""
    if padding_mode == "reflect":
        return max(lo, hi) + 1
    if padding_mode == "circular":
        return max(lo, hi, 1)
    return 1


def smallest_in_size(fields: dict, dim: int) -> int:
    """The smallest valid input extent of dim `dim` for the other fields of a config (a dict of them)."""
    k, s, d = fields["kernel"][dim], fields["stride"][dim], fields["dilation"][dim]
    span = d * (k - 1)
    if isinstance(fields["padding"], str):
        lo = hi = 0
    else:
        lo, hi = fields["padding"][dim]
    if fields["transposed"]:
        op = fields["output_padding"][dim]
        return max(1, -(-(lo + hi - span - op) // s) + 1)
    if fields["padding"] == "same":
        lo, hi = span // 2, span - span // 2
        return mode_smallest_size(fields.get("padding_mode", "zeros"), lo, hi)
    return max(1, span + 1 - lo - hi, mode_smallest_size(fields.get("padding_mode", "zeros"), lo, hi))


def outside(config: ConvConfig, bounds: DrawBounds = DEFAULT_BOUNDS) -> str | None:
    """The first bound of `bounds` (its outer box) that `config` breaks, as "name=value > limit";
    None when conv_configs(bounds=bounds) can draw it."""
    box = bounds.outer
    c = config
    groups = max(c.groups, 1)
    checks = [
        ("batch", c.batch if c.batched else 1, box.max_batch),
        ("groups", c.groups, box.max_groups),
        ("in_channels/groups", c.in_channels // groups, box.max_channels_per_group),
        ("out_channels/groups", c.out_channels // groups, box.max_channels_per_group),
        ("kernel", max(c.kernel), box.kernel_cap(c.ndim)),
        ("stride", max(c.stride), box.max_stride),
        ("dilation", max(c.dilation), box.max_dilation),
    ]
    if not isinstance(c.padding, str):
        checks.append(("padding", max(max(pair) for pair in c.padding), box.max_padding))
    field_values = {f.name: getattr(c, f.name) for f in fields(c)}
    for dim, size in enumerate(c.in_size):
        smallest = 1 if c.transposed else smallest_in_size(field_values, dim)
        checks.append((f"in_size[{dim}] - smallest valid {smallest}", size - smallest, box.size_slack))
    checks += [("macs", c.macs, box.max_macs), ("elements", call_elements(c), box.max_elements)]
    for name, value, limit in checks:
        if value > limit:
            return f"{name}={value} > {limit}"
    return None
