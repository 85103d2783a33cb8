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
- batch may be 0 (an empty batch is a valid call in PyTorch), and so may in_channels for an ordinary
  convolution; every other size must be positive. Measured on torch 2.13: out_channels 0 is
  refused ("expected weight to be at least 1 at dimension 0"), transposed convolution refuses
  in_channels 0 too, a spatial size 0 is refused ("Only zero batch or zero channel inputs are
  supported"), and F.pad's reflect and replicate modes refuse zero channels.
- padding_mode (PyTorch's nn.Conv*d): the input is padded by the mode with resolved_padding, then
  convolved without padding; ordinary convolution only ("Only 'zeros' padding mode is supported for
  ConvTranspose2d"). Measured limits: reflect needs each pad < the input size ("Padding size should
  be less than the corresponding input dimension"), circular each pad <= the input size ("Padding
  value causes wrapping around more than once"), replicate has none.
- batched=False: x is (C_in, *in_size) and the result (C_out, *out_size), as PyTorch accepts for
  every op family; batch is then 1.
- memory_format: the strides of the arrays an implementation receives (conformance.layouts).
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, Union

from .vocabulary import op_name

__all__ = [
    "AXES",
    "Axis",
    "DTYPES",
    "MEMORY_FORMATS",
    "PADDING_MODES",
    "ConvConfig",
    "InvalidConfig",
    "PaddingSpec",
]

DTYPES = ("float64", "float32", "float16", "bfloat16")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
MEMORY_FORMATS = ("contiguous", "channels_last", "strided")

PaddingSpec = Union[str, tuple[tuple[int, int], ...]]

_TUPLE_FIELDS = ("in_size", "kernel", "stride", "dilation", "output_padding")


class InvalidConfig(ValueError):
    """A ConvConfig that breaks a rule: the message names the field, the value and the rule."""


_UNCHECKED = threading.local()  # set by ConvConfig.unchecked while it builds one
_UNCHECKED.active = False


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
    - padding_mode: "zeros", "reflect", "replicate" or "circular" (ordinary convolution only).
    - memory_format: "contiguous", "channels_last" or "strided": the layout of the arrays handed over.
    - batched: False for an unbatched call, x (C_in, *in_size); batch is then 1.

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
    padding_mode: str = "zeros"
    memory_format: str = "contiguous"
    batched: bool = True

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
        for name in ("transposed", "bias", "batched"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                if value in (0, 1):
                    object.__setattr__(self, name, bool(value))
                else:
                    raise InvalidConfig(f"{name}={value!r} must be True or False")
        if not getattr(_UNCHECKED, "active", False):
            self._validate()

    @classmethod
    def unchecked(cls, **fields: Any) -> "ConvConfig":
        """A config built without its validity rules: an invalid call, on purpose (check kind "invalid").

        Types and shapes are still normalised; `broken_rules()` says what is wrong with it.
        """
        _UNCHECKED.active = True
        try:
            return cls(**fields)
        finally:
            _UNCHECKED.active = False

    def broken_rules(self) -> list[str]:
        """The messages of every validity rule this config breaks (empty for a valid config)."""
        problems = []
        for axis in AXES:
            for rule in axis.rules:
                try:
                    problem = rule(self)
                except (ArithmeticError, ValueError) as err:  # a rule that needs an earlier one to hold
                    problem = f"{axis.field}: {type(err).__name__}: {err}"
                if problem:
                    problems.append(problem)
        return problems

    # ---- validation -------------------------------------------------------------------------

    def _validate(self) -> None:
        """The first broken rule of any axis (AXES, in order) as an InvalidConfig."""
        for axis in AXES:
            for rule in axis.rules:
                problem = rule(self)
                if problem:
                    raise InvalidConfig(problem)

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
        """(N, C_in, *in_size), or (C_in, *in_size) unbatched."""
        return (self.batch, self.in_channels, *self.in_size) if self.batched else (self.in_channels, *self.in_size)

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
        """(N, C_out, *out_size), or (C_out, *out_size) unbatched."""
        return (self.batch, self.out_channels, *self.out_size) if self.batched else (self.out_channels, *self.out_size)

    @property
    def padding_copies(self) -> int:
        """Most positions of the padded input that one input element fills: 1 for zero padding.

        reflect and circular copy an element at most once into each side (their pads are limited
        by the input size); replicate copies an edge element into every pad position of its side.
        The gradient of the input adds the gradient of every copy, so this multiplies its terms.
        """
        if self.padding_mode == "zeros":
            return 1
        copies = 1
        for n, (lo, hi) in zip(self.in_size, self.resolved_padding):
            if self.padding_mode == "replicate":
                copies *= 1 + (lo + hi if n == 1 else max(lo, hi))
            else:
                copies *= 1 + (lo > 0) + (hi > 0)
        return copies

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
        return per_group * self.taps_on_lattice

    @property
    def taps_on_lattice(self) -> int:
        """Most kernel taps that land on one position of the stride lattice: tap*dilation must be a
        multiple of the stride, which holds for every (s / gcd(s, d))-th tap, so at most
        ceil(k / (s / gcd(s, d))) taps per dim."""
        taps = 1
        for k, s, d in zip(self.kernel, self.stride, self.dilation):
            taps *= -(-k // (s // math.gcd(s, d)))
        return taps

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
        return op_name(self.ndim, self.transposed)

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
        parts = [part for axis in AXES if (part := axis.describe(self))]
        return f"{self.op_name}({', '.join(parts)})"


# ---- the axes --------------------------------------------------------------------------------------
# Each field of ConvConfig is declared once here, with together: its validity rules (each returns
# None or the message of an InvalidConfig), its part of str(config), its coverage features for the
# report, and, for an axis the strategies draw generically, the values to draw (the first is the
# default and the shrink target, drawn `default_weight` times as often as each other value).
# Axes whose values depend on each other (sizes, kernel, stride,
# padding...) are drawn by the constructive strategy in conformance.strategies (`values` None).
# A new axis: a field on ConvConfig plus one Axis here; to_dict() and from_dict() follow the fields.


@dataclass(frozen=True)
class Axis:
    """One axis of the configuration space (one field of ConvConfig, or two that read as one)."""

    field: str
    describe: Callable[["ConvConfig"], str | None] = lambda c: None
    rules: tuple[Callable[["ConvConfig"], str | None], ...] = ()
    features: tuple[tuple[str, Callable[["ConvConfig"], bool]], ...] = ()
    values: tuple[Any, ...] | None = None
    default_weight: int = 1  # the default (values[0]) is drawn default_weight times as often as each other value


def _each_dim(name: str, test: Callable[[int], bool], wanted: str):
    def rule(c: "ConvConfig") -> str | None:
        values = getattr(c, name)
        for dim, value in enumerate(values):
            if not test(value):
                return f"{name}={values} must be {wanted} in every dim; dim {dim} is {value}"
        return None
    return rule


def _at_least_one(name: str):
    return lambda c: f"{name}={getattr(c, name)} must be >= 1" if getattr(c, name) < 1 else None


def _groups_divide(c: "ConvConfig") -> str | None:
    for name in ("in_channels", "out_channels"):
        if getattr(c, name) % c.groups:
            return (f"groups={c.groups} does not divide {name}={getattr(c, name)}; "
                    f"choose groups among the common divisors of in_channels and out_channels")
    return None


def _padding_rule(c: "ConvConfig") -> str | None:
    if c.padding == "same" and c.transposed:
        return ("padding='same' is defined for ordinary convolution only; give explicit (lo, hi) pairs "
                "for a transposed convolution")
    if c.padding == "same" and any(s != 1 for s in c.stride):
        return (f"padding='same' requires stride 1 in every dim (PyTorch's rule), got stride={c.stride}; "
                f"use explicit (lo, hi) pairs or stride 1")
    if not isinstance(c.padding, str):
        for dim, (lo, hi) in enumerate(c.padding):
            if lo < 0 or hi < 0:
                return (f"padding={c.padding} must be >= 0; dim {dim} has ({lo}, {hi}). "
                        f"Crop the input instead of padding negatively")
    return None


def _output_padding_rule(c: "ConvConfig") -> str | None:
    if c.transposed:
        for dim, (op, s, d) in enumerate(zip(c.output_padding, c.stride, c.dilation)):
            if op >= max(s, d):
                return (f"output_padding={c.output_padding} must be smaller than max(stride, dilation)="
                        f"{tuple(max(a, b) for a, b in zip(c.stride, c.dilation))} in dim {dim}; "
                        f"lower output_padding or raise stride")
    elif any(c.output_padding):
        return (f"output_padding={c.output_padding} applies to transposed convolution only; "
                f"set it to 0 or transposed=True")
    return None


def _output_size_rule(c: "ConvConfig") -> str | None:
    for dim, size in enumerate(c.out_size):
        if size < 1:
            return (f"output size {c.out_size} is not positive in dim {dim} (in_size={c.in_size}, "
                    f"kernel={c.kernel}, stride={c.stride}, dilation={c.dilation}, "
                    f"padding={c.resolved_padding}); enlarge in_size or padding, or shrink kernel or dilation")
    return None


def _channels_rule(c: "ConvConfig") -> str | None:
    if c.out_channels < 1:
        return (f"out_channels={c.out_channels} must be >= 1: PyTorch refuses an empty weight "
                f"(\"expected weight to be at least 1 at dimension 0\")")
    if c.in_channels < 0:
        return f"in_channels={c.in_channels} must be >= 0"
    if c.in_channels == 0 and c.transposed:
        return ("in_channels=0 is accepted for ordinary convolution only: PyTorch's transposed convolution "
                "refuses the empty weight (C_in=0, C_out/groups, *kernel); use in_channels >= 1")
    if c.in_channels == 0 and c.padding_mode in ("reflect", "replicate"):
        return (f"in_channels=0 with padding_mode={c.padding_mode!r}: PyTorch's F.pad refuses zero channels in "
                f"that mode; use padding_mode 'zeros' or 'circular', or in_channels >= 1")
    return None


def _padding_mode_rule(c: "ConvConfig") -> str | None:
    if c.padding_mode not in PADDING_MODES:
        return f"padding_mode={c.padding_mode!r} is not one of {PADDING_MODES}"
    if c.padding_mode == "zeros":
        return None
    if c.transposed:
        return (f"padding_mode={c.padding_mode!r} applies to ordinary convolution only (PyTorch: \"Only 'zeros' "
                f"padding mode is supported for ConvTranspose\"); use padding_mode='zeros'")
    for dim, (n, (lo, hi)) in enumerate(zip(c.in_size, c.resolved_padding)):
        if c.padding_mode == "reflect" and max(lo, hi) >= n:
            return (f"padding_mode='reflect' needs each pad < the input size: dim {dim} has padding ({lo}, {hi}) "
                    f"and in_size {n}; pad less or enlarge the input")
        if c.padding_mode == "circular" and max(lo, hi) > n:
            return (f"padding_mode='circular' needs each pad <= the input size (it wraps around at most once): "
                    f"dim {dim} has padding ({lo}, {hi}) and in_size {n}; pad less or enlarge the input")
    return None


def _batched_rule(c: "ConvConfig") -> str | None:
    if not c.batched and c.batch != 1:
        return (f"batched=False has no batch dimension, so batch must be 1, got batch={c.batch}; "
                f"set batch=1 or batched=True")
    return None


def _padding_part(c: "ConvConfig") -> str | None:
    if isinstance(c.padding, str):
        return f"pad={c.padding}"
    if any(lo or hi for lo, hi in c.padding):
        return "pad=" + "x".join(f"({lo},{hi})" for lo, hi in c.padding)
    return None


AXES: tuple[Axis, ...] = (
    Axis("ndim", features=tuple((f"ndim={n}", lambda c, n=n: c.ndim == n) for n in (1, 2, 3))),
    Axis("transposed", features=(("transposed", lambda c: c.transposed),)),
    Axis("batch", describe=lambda c: f"N={c.batch}" if c.batched else None,
         rules=(lambda c: f"batch={c.batch} must be >= 0" if c.batch < 0 else None,),
         features=(("batch=0", lambda c: c.batch == 0), ("batch>1", lambda c: c.batch > 1))),
    Axis("batched", describe=lambda c: None if c.batched else "unbatched", rules=(_batched_rule,),
         values=(True, False), default_weight=3, features=(("unbatched", lambda c: not c.batched),)),
    Axis("in_channels", describe=lambda c: f"C={c.in_channels}->{c.out_channels}", rules=(_channels_rule,),
         features=(("in_channels=0", lambda c: c.in_channels == 0),)),
    Axis("groups", describe=lambda c: f"groups={c.groups}" if c.groups != 1 else None,
         rules=(_at_least_one("groups"), _groups_divide),
         features=(("groups>1", lambda c: c.groups > 1),
                   ("depthwise", lambda c: c.groups > 1 and c.groups == c.in_channels))),
    Axis("in_size", describe=lambda c: f"in={_fmt(c.in_size)}", rules=(_each_dim("in_size", lambda v: v >= 1, ">= 1"),),
         features=(("unequal spatial sizes", lambda c: len(set(c.in_size)) > 1),)),
    Axis("kernel", describe=lambda c: f"k={_fmt(c.kernel)}", rules=(_each_dim("kernel", lambda v: v >= 1, ">= 1"),),
         features=(("kernel 1x1", lambda c: all(k == 1 for k in c.kernel)),
                   ("kernel larger than input", lambda c: any(k > n for k, n in zip(c.kernel, c.in_size))),
                   ("reduction >= 256", lambda c: c.reduction_length >= 256))),
    Axis("stride", describe=lambda c: f"stride={_fmt(c.stride)}" if any(s != 1 for s in c.stride) else None,
         rules=(_each_dim("stride", lambda v: v >= 1, ">= 1"),),
         features=(("stride>1", lambda c: any(s > 1 for s in c.stride)),)),
    Axis("padding_mode", describe=lambda c: None if c.padding_mode == "zeros" else f"mode={c.padding_mode}",
         rules=(_padding_mode_rule,),
         features=tuple((f"padding_mode={m}", lambda c, m=m: c.padding_mode == m) for m in PADDING_MODES)),
    Axis("padding", describe=_padding_part, rules=(_padding_rule,),
         features=(("asymmetric padding", lambda c: c.is_asymmetric and not isinstance(c.padding, str)),
                   ("padding='same'", lambda c: c.padding == "same"),
                   ("padding='valid'", lambda c: c.padding == "valid"),
                   ("zero padding", lambda c: not any(lo or hi for lo, hi in c.resolved_padding)))),
    Axis("dilation", describe=lambda c: f"dilation={_fmt(c.dilation)}" if any(d != 1 for d in c.dilation) else None,
         rules=(_each_dim("dilation", lambda v: v >= 1, ">= 1"),),
         features=(("dilation>1", lambda c: any(d > 1 for d in c.dilation)),
                   ("stride>1 and dilation>1", lambda c: any(s > 1 for s in c.stride) and any(d > 1 for d in c.dilation)))),
    Axis("output_padding", describe=lambda c: f"out_pad={_fmt(c.output_padding)}" if any(c.output_padding) else None,
         rules=(_each_dim("output_padding", lambda v: v >= 0, ">= 0"), _output_padding_rule, _output_size_rule),
         features=(("output_padding>0", lambda c: any(c.output_padding)),
                   ("output size 1", lambda c: any(n == 1 for n in c.out_size)))),
    Axis("bias", describe=lambda c: "bias" if c.bias else "no bias", values=(False, True),
         features=(("bias", lambda c: c.bias),)),
    Axis("memory_format", describe=lambda c: None if c.memory_format == "contiguous" else c.memory_format,
         rules=(lambda c: None if c.memory_format in MEMORY_FORMATS
                else f"memory_format={c.memory_format!r} is not one of {MEMORY_FORMATS}",),
         values=MEMORY_FORMATS, default_weight=2,
         features=tuple((f"memory_format={m}", lambda c, m=m: c.memory_format == m) for m in MEMORY_FORMATS)),
    Axis("dtype", describe=lambda c: c.dtype,
         rules=(lambda c: None if c.dtype in DTYPES else f"dtype={c.dtype!r} is not one of {DTYPES}",),
         features=tuple((dtype, lambda c, dtype=dtype: c.dtype == dtype) for dtype in DTYPES)),
)
