"""One convolution call, described in PyTorch's conventions, and the rules that make it valid.

Conventions (PyTorch's):
- cross-correlation, no kernel flip;
- x: (N, C_in, *in_size);
- w: (C_out, C_in/groups, *kernel) for ordinary convolution,
     (C_in, C_out/groups, *kernel) for transposed convolution;
- b: (C_out,);
- padding: one (lo, hi) pair per spatial dim (asymmetric allowed), or "same" / "valid".

Output size per spatial dim (d = dilation, k = kernel, s = stride, p = lo + hi):
- ordinary:   floor((in + p - d*(k-1) - 1) / s) + 1
- transposed: (in - 1)*s - p + d*(k-1) + output_padding + 1

Decisions where the frameworks differ:
- "same" requires stride 1 in every dim (PyTorch's rule; TensorFlow and JAX accept stride > 1 but
  then "same" means output = ceil(in / stride), a different padding rule). The odd extra pad of
  "same" goes at the end (hi side), as PyTorch, TensorFlow and JAX all do.
- "same" is defined for ordinary convolution only; "valid" (no padding) is accepted for both.
- batch may be 0 (an empty batch is a valid call in PyTorch); every other size must be positive.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Union

__all__ = [
    "DTYPES",
    "ConvConfig",
    "InvalidConfig",
    "PaddingSpec",
]

DTYPES = ("float64", "float32", "float16", "bfloat16")

PaddingSpec = Union[str, tuple[tuple[int, int], ...]]

_TUPLE_FIELDS = ("in_size", "kernel", "stride", "dilation", "output_padding")


class InvalidConfig(ValueError):
    """A ConvConfig that breaks a rule: the message names the field, the value and the rule."""


def _as_int_tuple(name: str, value: Any, ndim: int, default: int | None) -> tuple[int, ...]:
    if value is None:
        if default is None:
            raise InvalidConfig(f"{name} is required: give a tuple of {ndim} ints")
        return (default,) * ndim
    if isinstance(value, bool):
        raise InvalidConfig(f"{name}={value!r} must be an int or a tuple of {ndim} ints, not a bool")
    if isinstance(value, int):
        return (value,) * ndim
    try:
        items = tuple(value)
    except TypeError:
        raise InvalidConfig(f"{name}={value!r} must be an int or a tuple of {ndim} ints") from None
    if len(items) != ndim:
        raise InvalidConfig(
            f"{name}={items!r} has length {len(items)}, expected ndim={ndim}; give one value per spatial dim"
        )
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            if hasattr(item, "__index__") and not isinstance(item, bool):
                continue
            raise InvalidConfig(f"{name}={items!r} must contain ints, got {item!r}")
    return tuple(int(item) for item in items)


def _normalise_padding(value: Any, ndim: int) -> PaddingSpec:
    if value is None:
        return ((0, 0),) * ndim
    if isinstance(value, str):
        lowered = value.lower()
        if lowered not in ("same", "valid"):
            raise InvalidConfig(f"padding={value!r} must be 'same', 'valid' or (lo, hi) pairs")
        return lowered
    if isinstance(value, bool):
        raise InvalidConfig(f"padding={value!r} must be 'same', 'valid', an int or (lo, hi) pairs")
    if isinstance(value, int):
        return ((value, value),) * ndim
    try:
        items = tuple(value)
    except TypeError:
        raise InvalidConfig(f"padding={value!r} must be 'same', 'valid', an int or (lo, hi) pairs") from None
    if len(items) != ndim:
        raise InvalidConfig(
            f"padding={items!r} has length {len(items)}, expected ndim={ndim}; give one (lo, hi) pair per spatial dim"
        )
    pairs = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            pairs.append((int(item), int(item)))
            continue
        try:
            lo, hi = item
        except (TypeError, ValueError):
            raise InvalidConfig(f"padding={items!r}: {item!r} is not an int or a (lo, hi) pair") from None
        if isinstance(lo, bool) or isinstance(hi, bool) or not hasattr(lo, "__index__") or not hasattr(hi, "__index__"):
            raise InvalidConfig(f"padding={items!r}: {item!r} must hold two ints")
        pairs.append((int(lo), int(hi)))
    return tuple(pairs)


def _fmt(values: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in values)


@dataclass(frozen=True)
class ConvConfig:
    """One convolution call in PyTorch conventions (see the module docstring).

    - ndim: number of spatial dims, 1, 2 or 3.
    - transposed: ordinary (False) or transposed (True) convolution.
    - batch, in_channels, out_channels, groups: ints; groups divides both channel counts.
    - in_size, kernel, stride, dilation, output_padding: tuples of ndim ints (an int is broadcast).
    - padding: (lo, hi) pairs per dim, an int or a tuple of ints (symmetric), or "same" / "valid".
    - bias: whether a bias (C_out,) is added.
    - dtype: "float64", "float32", "float16" or "bfloat16".

    >>> ConvConfig(ndim=2, in_channels=3, out_channels=4, in_size=(5, 6), kernel=3).output_shape
    (1, 4, 3, 4)
    """

    ndim: int
    transposed: bool = False
    batch: int = 1
    in_channels: int = 1
    out_channels: int = 1
    groups: int = 1
    in_size: tuple[int, ...] = None  # type: ignore[assignment]
    kernel: tuple[int, ...] = None  # type: ignore[assignment]
    stride: tuple[int, ...] = None  # type: ignore[assignment]
    dilation: tuple[int, ...] = None  # type: ignore[assignment]
    output_padding: tuple[int, ...] = None  # type: ignore[assignment]
    padding: PaddingSpec = None  # type: ignore[assignment]
    bias: bool = False
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if isinstance(self.ndim, bool) or not isinstance(self.ndim, int) or self.ndim not in (1, 2, 3):
            raise InvalidConfig(f"ndim={self.ndim!r} must be 1, 2 or 3 (the number of spatial dims)")
        ndim = self.ndim
        defaults = {"in_size": None, "kernel": None, "stride": 1, "dilation": 1, "output_padding": 0}
        for name in _TUPLE_FIELDS:
            object.__setattr__(self, name, _as_int_tuple(name, getattr(self, name), ndim, defaults[name]))
        object.__setattr__(self, "padding", _normalise_padding(self.padding, ndim))
        for name in ("batch", "in_channels", "out_channels", "groups"):
            value = getattr(self, name)
            if isinstance(value, bool) or not hasattr(value, "__index__"):
                raise InvalidConfig(f"{name}={value!r} must be an int")
            object.__setattr__(self, name, int(value))
        for name in ("transposed", "bias"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                if value in (0, 1):
                    object.__setattr__(self, name, bool(value))
                else:
                    raise InvalidConfig(f"{name}={value!r} must be True or False")
        self._validate()

    # ---- validation -------------------------------------------------------------------------

    def _validate(self) -> None:
        if self.dtype not in DTYPES:
            raise InvalidConfig(f"dtype={self.dtype!r} is not one of {DTYPES}")
        if self.batch < 0:
            raise InvalidConfig(f"batch={self.batch} must be >= 0")
        for name in ("in_channels", "out_channels", "groups"):
            if getattr(self, name) < 1:
                raise InvalidConfig(f"{name}={getattr(self, name)} must be >= 1")
        for name in ("in_size", "kernel", "stride", "dilation"):
            values = getattr(self, name)
            for dim, value in enumerate(values):
                if value < 1:
                    raise InvalidConfig(f"{name}={values} must be >= 1 in every dim; dim {dim} is {value}")
        if any(v < 0 for v in self.output_padding):
            raise InvalidConfig(f"output_padding={self.output_padding} must be >= 0 in every dim")
        for name in ("in_channels", "out_channels"):
            if getattr(self, name) % self.groups:
                raise InvalidConfig(
                    f"groups={self.groups} does not divide {name}={getattr(self, name)}; "
                    f"choose groups among the common divisors of in_channels and out_channels"
                )
        if isinstance(self.padding, str):
            if self.padding == "same" and self.transposed:
                raise InvalidConfig(
                    "padding='same' is defined for ordinary convolution only; give explicit (lo, hi) pairs "
                    "for a transposed convolution"
                )
            if self.padding == "same" and any(s != 1 for s in self.stride):
                raise InvalidConfig(
                    f"padding='same' requires stride 1 in every dim (PyTorch's rule), got stride={self.stride}; "
                    f"use explicit (lo, hi) pairs or stride 1"
                )
        else:
            for dim, (lo, hi) in enumerate(self.padding):
                if lo < 0 or hi < 0:
                    raise InvalidConfig(
                        f"padding={self.padding} must be >= 0; dim {dim} has ({lo}, {hi}). "
                        f"Crop the input instead of padding negatively"
                    )
        if self.transposed:
            for dim, (op, s, d) in enumerate(zip(self.output_padding, self.stride, self.dilation)):
                if op >= max(s, d):
                    raise InvalidConfig(
                        f"output_padding={self.output_padding} must be smaller than max(stride, dilation)="
                        f"{tuple(max(a, b) for a, b in zip(self.stride, self.dilation))} in dim {dim}; "
                        f"lower output_padding or raise stride"
                    )
        elif any(self.output_padding):
            raise InvalidConfig(
                f"output_padding={self.output_padding} applies to transposed convolution only; "
                f"set it to 0 or transposed=True"
            )
        for dim, size in enumerate(self.out_size):
            if size < 1:
                raise InvalidConfig(
                    f"output size {self.out_size} is not positive in dim {dim} (in_size={self.in_size}, "
                    f"kernel={self.kernel}, stride={self.stride}, dilation={self.dilation}, "
                    f"padding={self.resolved_padding}); enlarge in_size or padding, or shrink kernel or dilation"
                )

    # ---- derived properties -------------------------------------------------------------------

    @property
    def resolved_padding(self) -> tuple[tuple[int, int], ...]:
        """Explicit (lo, hi) pairs; for "same" the odd extra pad goes at the end (hi)."""
        if self.padding == "valid":
            return ((0, 0),) * self.ndim
        if self.padding == "same":
            pairs = []
            for k, d in zip(self.kernel, self.dilation):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        return self.padding  # type: ignore[return-value]

    @property
    def out_size(self) -> tuple[int, ...]:
        """Spatial size of the output."""
        sizes = []
        for n, k, s, d, (lo, hi), op in zip(
            self.in_size, self.kernel, self.stride, self.dilation, self.resolved_padding, self.output_padding
        ):
            if self.transposed:
                sizes.append((n - 1) * s - lo - hi + d * (k - 1) + op + 1)
            else:
                sizes.append((n + lo + hi - d * (k - 1) - 1) // s + 1)
        return tuple(sizes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *self.in_size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        """(C_out,) when the config has a bias, else None."""
        return (self.out_channels,) if self.bias else None

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, *self.out_size)

    @property
    def reduction_length(self) -> int:
        """The most terms any output element's dot product sums (bias not counted).

        Ordinary: C_in/groups * prod(kernel). Transposed: an output position receives a kernel tap
        only when tap*dilation lands on the stride lattice, i.e. at most ceil(k / (s / gcd(s, d)))
        taps per dim, times C_in/groups.
        """
        per_group = self.in_channels // self.groups
        if not self.transposed:
            return per_group * math.prod(self.kernel)
        taps = 1
        for k, s, d in zip(self.kernel, self.stride, self.dilation):
            period = s // math.gcd(s, d)
            taps *= -(-k // period)
        return per_group * taps

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the forward pass (every weight tap, padding included)."""
        if self.transposed:
            return (
                self.batch * self.in_channels * math.prod(self.in_size)
                * (self.out_channels // self.groups) * math.prod(self.kernel)
            )
        return (
            self.batch * self.out_channels * math.prod(self.out_size)
            * (self.in_channels // self.groups) * math.prod(self.kernel)
        )

    @property
    def op_name(self) -> str:
        return f"conv{'_transpose' if self.transposed else ''}{self.ndim}d"

    @property
    def is_asymmetric(self) -> bool:
        return any(lo != hi for lo, hi in self.resolved_padding)

    # ---- serialisation --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict with exactly the constructor's field names."""
        data = dataclasses.asdict(self)
        for name in _TUPLE_FIELDS:
            data[name] = list(data[name])
        if not isinstance(self.padding, str):
            data["padding"] = [list(pair) for pair in self.padding]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ConvConfig":
        """Inverse of to_dict; unknown keys are an InvalidConfig naming them."""
        if not isinstance(data, dict):
            raise InvalidConfig(f"a config must be a JSON object (dict), got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidConfig(f"unknown config field(s) {unknown}; known fields are {sorted(known)}")
        if "ndim" not in data:
            raise InvalidConfig("config field 'ndim' is missing")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ConvConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidConfig(f"config is not valid JSON ({err}): {text[:200]!r}") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "ConvConfig":
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        parts = [
            f"N={self.batch}",
            f"C={self.in_channels}->{self.out_channels}",
        ]
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        parts.append(f"in={_fmt(self.in_size)}")
        parts.append(f"k={_fmt(self.kernel)}")
        if any(s != 1 for s in self.stride):
            parts.append(f"stride={_fmt(self.stride)}")
        if isinstance(self.padding, str):
            parts.append(f"pad={self.padding}")
        elif any(lo or hi for lo, hi in self.padding):
            parts.append("pad=" + "x".join(f"({lo},{hi})" for lo, hi in self.padding))
        if any(d != 1 for d in self.dilation):
            parts.append(f"dilation={_fmt(self.dilation)}")
        if any(self.output_padding):
            parts.append(f"out_pad={_fmt(self.output_padding)}")
        parts.append("bias" if self.bias else "no bias")
        parts.append(self.dtype)
        return f"{self.op_name}({', '.join(parts)})"
