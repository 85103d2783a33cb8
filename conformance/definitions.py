"""Calls that PyTorch's rules refuse and a library defines on purpose, declared as data.

The invalid-call check (check kind "invalid") hands an implementation a call that breaks one of
PyTorch's validity rules (conformance.invalid_rules.INVALID_RULES) and expects it to raise. Some
libraries define some of those calls: TensorFlow's and ONNX's 'SAME' with a stride > 1 (the output
is ceil(in / stride) long), lax's negative padding (a crop), TensorFlow's groups read off the weight.
An implementation declares each rule it defines differently, once, beside its gaps:

    class MyConv(Implementation):
        defines = (Definition("'same' needs stride 1", "same_upper", "mylib: padding='SAME' as ONNX's SAME_UPPER"),)

A call that breaks that rule is then checked against the definition instead: the *reading* named
(a key of READINGS) computes, with the float64 references, what the library's definition gives, and
the call's result must match it within the forward bound (conformance.tolerance). A result that
does not is a finding like any forward mismatch; a refusal is the finding "declared defined, but
refused". Where a reading says that the definition refuses the call too (None: the weight fits no
grouping), or the call it computes is one of the implementation's declared framework gaps (TF's
'SAME' with stride 2 and dilation 2 is the gap "stride>1 and dilation>1"), the call must raise as
before; where the references cannot compute it (NotComputable), the call is unsupported, with the
reason.

Each reading is a short function of the definition it names, written from a valid call the
references compute, so a reader checks it against the library's documentation:

- same_upper / same_lower: 'same' with any stride as TensorFlow and ONNX define it: the output has
  ceil(in / stride) elements, the total pad max((out - 1) * stride + dilation * (kernel - 1) + 1 - in, 0)
  is split in two with the odd element at the end (upper) or at the start (lower);
- crop: a negative pad removes that many input elements (ordinary convolution; more than the input
  has is refused), or adds that many output elements that no input reaches (transposed convolution:
  its padding removes outputs);
- empty_output: a dilated kernel longer than the padded input gives an output of length 0;
- extended_output: a transposed convolution's output_padding of any size adds that many elements at
  the end, past those the padding removed (those beyond the full output get only the bias);
  tf_output_shape: the same, as far as tf.nn.conv_transpose's size check lets it (output_padding less
  than stride past the padding's high side; beyond it refused);
- groups_from_weight: the grouping is C_in / the weight's input depth (TensorFlow has no groups
  argument); a weight depth that does not divide C_in, or a C_out that the grouping does not divide,
  is refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .call_forms import same_pairs
from .config import ConvConfig
from .invalid_rules import INVALID_RULES
from .vocabulary import OP_NAMES

__all__ = ["DEFINED", "Defined", "Definition", "NotComputable", "READINGS", "same_upper_pairs"]

DEFINED = "defined: "  # a defined call's CheckRecord.detail: DEFINED + the reading's name (the error-parity table reads it)

Forward = Callable[[ConvConfig, np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


class NotComputable(ValueError):
    """The references cannot compute a reading of this call (the valid call it needs is not one)."""


@dataclass(frozen=True)
class Defined:
    """What a definition gives: the float64 output, the most terms summed into one element, and the
    call it was computed as (a valid call; for an empty output, the call itself)."""

    output: np.ndarray
    terms: int
    call: ConvConfig


def _fields(config: ConvConfig, **changes) -> dict:
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    fields.update(changes)
    return fields


def _valid(config: ConvConfig, **changes) -> ConvConfig:
    """The valid call a reading is computed from; NotComputable when it is not one."""
    candidate = ConvConfig.unchecked(**_fields(config, **changes))
    problems = candidate.broken_rules()
    if problems:
        raise NotComputable(f"the reading needs the call {candidate}, which the references refuse: {problems[0]}")
    return candidate


def _batched(config: ConvConfig, x):
    return x if config.batched else x[None]


def _unbatched(config: ConvConfig, y):
    return y if config.batched else y[0]


def _with_bias(config: ConvConfig, y, b):
    if b is None or not config.bias:
        return y
    shape = (1, -1) + (1,) * config.ndim if config.batched else (-1,) + (1,) * config.ndim
    return y + np.asarray(b, dtype=np.float64).reshape(shape)


def _empty(config: ConvConfig, out_size) -> Defined:
    shape = ((config.batch,) if config.batched else ()) + (config.out_channels, *(max(n, 0) for n in out_size))
    return Defined(np.zeros(shape), 1, config)


def _ordinary_out_size(config: ConvConfig, pairs) -> tuple[int, ...]:
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, d, (lo, hi) in zip(config.in_size, config.kernel, config.stride, config.dilation, pairs))


def _same_pairs(config: ConvConfig, lower: bool) -> tuple[tuple[int, int], ...]:
    return same_pairs(config.in_size, config.kernel, config.stride, config.dilation, lower)


def same_upper_pairs(config: ConvConfig) -> tuple[tuple[int, int], ...]:
    """The padding as (lo, hi) pairs, 'same' read as TensorFlow's / ONNX's / lax's SAME_UPPER: PyTorch's
    pairs for stride 1, their definition for a larger stride. What an adapter pads by itself (a padding
    mode other than zeros, as tf.pad / jnp.pad / ONNX Pad before the convolution) takes these, so that its
    'same' is its library's."""
    return _same_pairs(config, lower=False) if config.padding == "same" else config.resolved_padding


def _same(lower: bool):
    def read(config, weight_shape, x, w, b, forward):
        call = _valid(config, padding=_same_pairs(config, lower))
        return Defined(forward(call, x, w, b), call.reduction_length, call)
    return read


def _transposed_window(config, x, w, b, forward, lo_hi):
    """A transposed call whose output is the full output less (lo, hi) per dim, any sign: the valid call
    with the nonnegative parts, then zeros for the negative ones (outputs no input reaches), then the bias."""
    kept = tuple((max(lo, 0), max(hi, 0)) for lo, hi in lo_hi)
    call = _valid(config, padding=kept, output_padding=(0,) * config.ndim)
    y = _batched(config, forward(call, x, w, None))  # without the bias: it is added to the new outputs too
    widths = [(0, 0), (0, 0)] + [(max(-lo, 0), max(-hi, 0)) for lo, hi in lo_hi]
    y = _unbatched(config, np.pad(y, widths))
    return Defined(_with_bias(config, y, b), call.reduction_length, call)


def _crop(config, weight_shape, x, w, b, forward):
    pairs = config.resolved_padding
    if config.transposed:
        return _transposed_window(config, x, w, b, forward,
                                  tuple((lo, hi - op) for (lo, hi), op in zip(pairs, config.output_padding)))
    if any(n + lo + hi < 0 for n, (lo, hi) in zip(config.in_size, pairs)):
        return None  # a crop of more elements than the input has: refused
    out_size = _ordinary_out_size(config, pairs)
    if any(n <= 0 for n in out_size):
        return _empty(config, out_size)
    crop = (slice(None),) * (2 if config.batched else 1) + tuple(
        slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(config.in_size, pairs))
    cropped = np.asarray(x)[crop]
    in_size = tuple(cropped.shape[-config.ndim:])
    call = _valid(config, in_size=in_size, padding=tuple((max(lo, 0), max(hi, 0)) for lo, hi in pairs))
    return Defined(forward(call, cropped, w, b), call.reduction_length, call)


def _empty_output(config, weight_shape, x, w, b, forward):
    out_size = _ordinary_out_size(config, config.resolved_padding)
    if all(n > 0 for n in out_size):
        raise NotComputable(f"the output of {config} is not empty: {out_size}")
    return _empty(config, out_size)


def _tf_empty_output(config, weight_shape, x, w, b, forward, unstrided=False):
    """TF's shape functions (GetWindowedOutputSize): (padded + stride - dilated kernel) / stride outputs,
    C++'s division (towards zero), refused when negative; so a kernel longer than the padded input by
    by less than twice the stride gives no output (stride 1: one longer), a longer one is refused."""
    out_size = []
    for n, k, s, d, (lo, hi) in zip(config.in_size, config.kernel, config.stride, config.dilation,
                                    config.resolved_padding):
        step = 1 if unstrided else s
        q = n + lo + hi + step - (d * (k - 1) + 1)
        size = q // step if q >= 0 else -(-q // step)
        if size < 0:
            return None  # "Computed output size would be negative"
        out_size.append(-(-size // s) if unstrided else size)  # every s-th output, from the first
    if all(n > 0 for n in out_size):
        raise NotComputable(f"the output of {config} is not empty: {tuple(out_size)}")
    return _empty(config, tuple(out_size))


def _tf_empty_output_unstrided(config, weight_shape, x, w, b, forward):
    """tf_empty_output of the stride-1 call, subsampled by the stride afterwards (an empty output stays empty)."""
    return _tf_empty_output(config, weight_shape, x, w, b, forward, unstrided=True)


def _extended_output(config, weight_shape, x, w, b, forward):
    return _transposed_window(config, x, w, b, forward,
                              tuple((lo, hi - op) for (lo, hi), op in zip(config.resolved_padding, config.output_padding)))


def _tf_output_shape(config, weight_shape, x, w, b, forward):
    if any(op - hi >= s for op, (_, hi), s in zip(config.output_padding, config.resolved_padding, config.stride)):
        return None  # "Size of out_backprop doesn't match computed": no 'VALID' convolution has this input size
    return _extended_output(config, weight_shape, x, w, b, forward)


def _groups_from_weight(config, weight_shape, x, w, b, forward):
    if len(weight_shape) != config.ndim + 2:
        return None  # a filter of the wrong rank: refused
    out_channels, depth = weight_shape[0], weight_shape[1]
    if depth == 0 or config.in_channels % depth:
        return None  # the input's depth is no multiple of the filter's: refused
    groups = config.in_channels // depth
    if groups == 0 or out_channels % groups:
        return None  # the output depth is no multiple of the grouping: refused
    # the kernel, too, is the filter's
    call = _valid(config, groups=groups, out_channels=out_channels, kernel=tuple(weight_shape[2:]))
    return Defined(forward(call, x, w, b), call.reduction_length, call)


@dataclass(frozen=True)
class Reading:
    """One definition of calls a rule refuses: the rules it reads, in words, and its computation.

    read(config, weight_shape, x, w, b, forward) -> Defined, or None where the definition refuses the
    call too; forward(config, x, w, b) is a float64 reference's forward of a valid call.
    """

    rules: tuple[str, ...]
    meaning: str
    read: Callable[..., "Defined | None"]
    transposed: tuple[bool, ...] = (False, True)


READINGS: dict[str, Reading] = {
    "same_upper": Reading(("'same' needs stride 1",), "'same' with any stride, as TensorFlow/ONNX SAME_UPPER: "
                          "ceil(in / stride) outputs, the odd pad at the end", _same(False), (False,)),
    "same_lower": Reading(("'same' needs stride 1",), "'same' with any stride, as ONNX SAME_LOWER: "
                          "ceil(in / stride) outputs, the odd pad at the start", _same(True), (False,)),
    "crop": Reading(("padding >= 0",), "a negative pad crops: it removes input elements (ordinary) or adds "
                    "output elements no input reaches (transposed)", _crop),
    "empty_output": Reading(("dilated kernel fits the padded input",), "a kernel longer than the padded input "
                            "gives an empty output", _empty_output, (False,)),
    "tf_empty_output": Reading(("dilated kernel fits the padded input",), "a kernel longer than the padded "
                               "input gives (padded + stride - kernel) / stride outputs, rounded towards zero: "
                               "none while that is 0, refused below", _tf_empty_output, (False,)),
    "tf_empty_output_unstrided": Reading(("dilated kernel fits the padded input",), "tf_empty_output of the "
                                         "stride-1 call, the stride applied after: none where the kernel is one "
                                         "longer, refused beyond", _tf_empty_output_unstrided, (False,)),
    "extended_output": Reading(("output_padding < max(stride, dilation)",), "output_padding of any size adds "
                               "outputs at the end (those no input reaches get the bias)", _extended_output, (True,)),
    "tf_output_shape": Reading(("output_padding < max(stride, dilation)",), "output_padding of any size below "
                               "stride past the high padding adds outputs at the end; beyond, refused",
                               _tf_output_shape, (True,)),
    "groups_from_weight": Reading(("weight shape matches the channels", "groups must divide the channels"),
                                  "the grouping is C_in / the weight's input depth (no groups argument)",
                                  _groups_from_weight, (False,)),
}


@dataclass(frozen=True)
class Definition:
    """A rule of INVALID_RULES that an implementation defines differently, and how (a key of READINGS).

    - rule: the rule's name, as records and known-divergence entries name it;
    - reading: the definition, a key of READINGS;
    - reason: where the library says so, e.g. "tf.nn.conv2d: padding='SAME' for any stride";
    - ops, dtypes, padding_modes: where it applies (empty: everywhere);
    - unless: features (conformance.capabilities.FEATURES) of calls it does not define: any one of them
      passes the definition over (to a later one, or to a refusal), e.g. ("dilation>1",) where ONNX's
      SAME_UPPER refuses a dilation.
    """

    rule: str
    reading: str
    reason: str
    ops: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    padding_modes: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rule not in INVALID_RULES:
            raise ValueError(f"Definition rule {self.rule!r} is not one of {sorted(INVALID_RULES)}")
        reading = READINGS.get(self.reading)
        if reading is None:
            raise ValueError(f"Definition of {self.rule!r}: reading {self.reading!r} is not one of {sorted(READINGS)}")
        if self.rule not in reading.rules:
            raise ValueError(f"Definition of {self.rule!r}: the reading {self.reading!r} reads {list(reading.rules)}, "
                             f"not this rule; choose one of "
                             f"{sorted(n for n, r in READINGS.items() if self.rule in r.rules)}")
        unknown = [op for op in self.ops if op not in OP_NAMES]
        if unknown:
            raise ValueError(f"Definition of {self.rule!r}: ops {unknown} are not among {OP_NAMES}")

    def applies(self, config: ConvConfig, rule: str | None) -> bool:
        """Whether it defines this call (`unless` is read by conformance.capabilities, which has the features)."""
        return (rule == self.rule and (not self.ops or config.op_name in self.ops)
                and (not self.dtypes or config.dtype in self.dtypes)
                and (not self.padding_modes or config.padding_mode in self.padding_modes)
                and config.transposed in READINGS[self.reading].transposed)

    def read(self, config: ConvConfig, weight_shape, x, w, b, forward: Forward) -> Defined | None:
        """What the definition gives for this call (float64 arrays in), or None where it refuses it."""
        as64 = [None if a is None else np.asarray(a, dtype=np.float64) for a in (x, w, b)]
        return READINGS[self.reading].read(config, tuple(weight_shape), *as64, forward)

    def summary(self) -> dict[str, str]:
        """The definition as the capability tables show it."""
        return {"rule": self.rule, "reading": self.reading, "meaning": READINGS[self.reading].meaning,
                "reason": self.reason, "where": ", ".join(self.ops + self.dtypes + self.padding_modes) or "everywhere",
                "unless": ", ".join(self.unless)}
