"""What an implementation runs, declared as data: the region of the config space its examples come from.

An implementation declares its *gaps* (`Implementation.gaps`): each a `Gap` that names one feature of
a call (`FEATURES`) it does not run, the check kinds, dtypes, op families and devices it concerns,
the reason, and who refuses it:

- refused_by="framework": the library's own call raises on it, and `message` is a regular expression
  for its text. One witness call per such gap (`witness_config`) runs beside every test and checks
  that the library still refuses it: a witness that runs is the finding "declared unsupported, but
  the framework runs it". A library refusal (`FrameworkRefusal`) of a call *inside* the region is
  the finding "declared supported, but the framework refuses it".
- refused_by="adapter": the library's API has no form of it (Keras has no padding_mode argument),
  so there is no call to make.

The strategies draw each implementation's examples outside every gap that applies (conformance.
strategies.conv_configs(region=...)), so each example of a test is a call that runs. `supports()`
stays for the rare rest that cannot be said as a feature; its refusals count as unsupported.

Semantic axes that a kernel may simply not have are opt-in (`OPT_IN_AXES`): an `--impl` plugin is
drawn zero padding and batched inputs only, unless it lists the axis in `Implementation.opt_in`, so a
plugin written before an axis existed is never drawn calls it has no concept of. Robustness axes
that only change the layout of the same call (memory_format, empty calls) are drawn for everyone.
Every built-in implementation opts in to every axis.

    class MyConv(Implementation):
        opt_in = ("padding_mode",)             # draw reflect / replicate / circular too
        gaps = (Gap("transposed", "mykernel: no transposed convolution yet"),)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Callable

from .config import DTYPES, ConvConfig
from .definitions import Definition
from .machine import MACHINE_CONDITIONS, machine_condition
from .vocabulary import OP_NAMES, op_family

__all__ = ["FEATURES", "INVALID_ONLY_FEATURES", "OP_FEATURES", "OPT_IN_AXES", "REFUSED_BY", "Capabilities", "FrameworkRefusal", "Gap",
           "Region", "TRANSPOSED_OPS", "capabilities_of", "is_depthwise", "no_padding_modes", "witness_config", "witness_example"]


class FrameworkRefusal(NotImplementedError):
    """Raised by an adapter when the library itself refuses a valid call (its text is the message).

    Outside the declared region it confirms a gap; inside it is a finding. A plain NotImplementedError
    (a method a plugin does not have) stays "unsupported", never a finding.
    """


def _pairs(c: ConvConfig):
    return c.padding if not isinstance(c.padding, str) else ()


def _any(values, test) -> bool:
    return any(test(v) for v in values)


def is_depthwise(c: ConvConfig) -> bool:
    """A depthwise call as depthwise kernels take it (tf.nn.depthwise_conv2d): 2-d ordinary, groups =
    C_in > 1, C_out a multiple of C_in, one stride for both dims, and not stride > 1 with dilation > 1."""
    return (c.ndim == 2 and not c.transposed and c.groups > 1 and c.groups == c.in_channels
            and c.out_channels % c.in_channels == 0 and len(set(c.stride)) == 1
            and not (_any(c.stride, lambda s: s > 1) and _any(c.dilation, lambda d: d > 1)))


# Each feature is a predicate on a config; the strategies know how to draw without each one
# (conformance.strategies._draw_config reads `Region.excludes`).
FEATURES: dict[str, Callable[[ConvConfig], bool]] = {
    "*": lambda c: True,  # every call: a whole check kind, op family or dtype
    "transposed": lambda c: c.transposed,
    "ndim=1": lambda c: c.ndim == 1,
    "ndim=2": lambda c: c.ndim == 2,
    "ndim=3": lambda c: c.ndim == 3,
    "padding_mode=reflect": lambda c: c.padding_mode == "reflect",
    "padding_mode=replicate": lambda c: c.padding_mode == "replicate",
    "padding_mode=circular": lambda c: c.padding_mode == "circular",
    "unbatched": lambda c: not c.batched,
    "memory_format=channels_last": lambda c: c.memory_format == "channels_last",
    "memory_format=strided": lambda c: c.memory_format == "strided",
    "batch=0": lambda c: c.batch == 0,
    "in_channels=0": lambda c: c.in_channels == 0,
    # tf.nn.convolution's dilated path divides by the depth first (KD-018); the undilated ones reach a kernel
    "in_channels=0 and undilated": lambda c: c.in_channels == 0 and all(d == 1 for d in c.dilation),
    # TF's tf.nn.conv2d takes dilation in its kernel (explicit pairs, or stride with dilation), where
    # tf.nn.convolution goes by space-to-batch: the kernel, not Python, then meets the zero depth.
    "in_channels=0 and (undilated or 2-d explicit pairs or strided)": lambda c: c.in_channels == 0 and (
        all(d == 1 for d in c.dilation) or (c.ndim == 2 and (_any(_pairs(c), lambda p: p != (0, 0))
                                                           or _any(c.stride, lambda s: s > 1)))),
    "groups>1": lambda c: c.groups > 1,
    "dilation>1": lambda c: _any(c.dilation, lambda d: d > 1),
    "stride>1 and dilation>1": lambda c: _any(c.stride, lambda s: s > 1) and _any(c.dilation, lambda d: d > 1),
    "asymmetric padding": lambda c: _any(_pairs(c), lambda p: p[0] != p[1]),
    "explicit padding": lambda c: _any(_pairs(c), lambda p: p != (0, 0)),
    "dilation>1 and explicit padding": lambda c: _any(c.dilation, lambda d: d > 1) and _any(_pairs(c), lambda p: p != (0, 0)),
    "groups>1 and explicit padding": lambda c: c.groups > 1 and _any(_pairs(c), lambda p: p != (0, 0)),
    # grouped calls other than depthwise ones (is_depthwise), with or without explicit padding
    "groups>1 and not depthwise": lambda c: c.groups > 1 and not is_depthwise(c),
    "groups>1 and not depthwise and explicit padding": lambda c: c.groups > 1 and not is_depthwise(c) and _any(
        _pairs(c), lambda p: p != (0, 0)),
    "padding='same'": lambda c: c.padding == "same",
    "padding='valid'": lambda c: c.padding == "valid",
    "padding='same' and dilation>1": lambda c: c.padding == "same" and _any(c.dilation, lambda d: d > 1),
    "output_padding>=stride": lambda c: _any(zip(c.output_padding, c.stride), lambda p: p[0] >= p[1]),
    # an invalid call only (no valid config has it): output_padding past PyTorch's limit. An API with no
    # output_padding argument (lax.conv_transpose takes explicit padding) declares it an adapter gap,
    # so the invalid call "output_padding < max(stride, dilation)" is not drawn for it (issue #36).
    "output_padding>=max(stride, dilation)": lambda c: c.transposed and _any(
        zip(c.output_padding, c.stride, c.dilation), lambda t: t[0] >= max(t[1], t[2])),
    # an invalid call only: a negative pad, for an adapter whose library has no call that takes one
    "padding<0": lambda c: _any(_pairs(c), lambda p: min(p) < 0),
    # conv_transpose with "VALID" reaches at most stride - 1 past the full size (TensorFlow's size check)
    "output_padding-hi>=stride": lambda c: c.transposed and _any(
        zip(c.output_padding, c.resolved_padding, c.stride), lambda t: t[0] - t[1][1] >= t[2]),
}
# Features that pick whole op families: a gap with one of them removes the op family's tests.
OP_FEATURES = ("*", "transposed", "ndim=1", "ndim=2", "ndim=3")
# Features only an invalid call has: declared by an adapter whose API has no form of that mistake
# (no witness: there is no valid call with it), they keep the invalid call from being drawn for it.
INVALID_ONLY_FEATURES = ("output_padding>=max(stride, dilation)", "padding<0")

# Semantic axes a kernel may not have: drawn for an implementation only when it opts in.
OPT_IN_AXES: dict[str, tuple[str, ...]] = {
    "padding_mode": ("padding_mode=reflect", "padding_mode=replicate", "padding_mode=circular"),
    "unbatched": ("unbatched",),
}

REFUSED_BY = ("framework", "adapter")


@dataclass(frozen=True)
class Gap:
    """One declared gap: calls with `feature` are not run (for the given checks, dtypes, ops, devices).

    - feature: a key of FEATURES ("*": every call);
    - reason: shown wherever the gap is counted, e.g. "tensorflow: no padding_mode 'replicate' ...";
    - refused_by: "framework" (the library's call raises; `message` is a regular expression for its
      text, searched case-insensitively) or "adapter" (the library has no form of it);
    - checks, dtypes, ops, devices: where it applies; empty means everywhere;
    - machine: a condition of conformance.machine.MACHINE_CONDITIONS ("tf_eigen"): the gap holds only
      for the dtypes it holds for on this machine (a kernel that exists only on some instruction
      sets); empty: on every machine.
    """

    feature: str
    reason: str
    refused_by: str = "adapter"
    message: str = ""
    checks: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    machine: str = ""

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise ValueError(f"Gap feature {self.feature!r} is not one of {sorted(FEATURES)}")
        if self.refused_by not in REFUSED_BY:
            raise ValueError(f"Gap {self.feature!r}: refused_by={self.refused_by!r} must be one of {REFUSED_BY}")
        if self.refused_by == "framework" and not self.message:
            raise ValueError(f"Gap {self.feature!r} refused by the framework needs `message`, a pattern of its error")
        for name, allowed in (("dtypes", DTYPES), ("ops", OP_NAMES)):
            unknown = [v for v in getattr(self, name) if v not in allowed]
            if unknown:
                raise ValueError(f"Gap {self.feature!r}: {name} {unknown} are not among {allowed}")
        if self.machine and self.machine not in MACHINE_CONDITIONS:
            raise ValueError(f"Gap {self.feature!r}: machine={self.machine!r} is not one of {sorted(MACHINE_CONDITIONS)}")

    def applies(self, op: str, device: str, check: str, dtype: str | None = None) -> bool:
        return ((not self.ops or op in self.ops) and (not self.devices or device in self.devices)
                and (not self.checks or check in self.checks)
                and (dtype is None or self.holds_for(dtype)))

    def holds_for(self, dtype: str) -> bool:
        """Whether the gap concerns `dtype`: one of its `dtypes` (all when empty), and on this machine
        one its `machine` condition holds for."""
        return (not self.dtypes or dtype in self.dtypes) and (not self.machine or machine_condition(self.machine, dtype))

    def covers(self, config: ConvConfig, device: str, check: str) -> bool:
        """Whether this gap keeps `config` from running (check kind `check`, on `device`)."""
        return self.applies(config.op_name, device, check, config.dtype) and FEATURES[self.feature](config)

    def matches(self, text: str) -> bool:
        """Whether an error text is this gap's refusal."""
        return bool(self.message) and re.search(self.message, text, re.IGNORECASE) is not None

    def where(self) -> str:
        """Where it applies, in words: "gradient, jvp; conv2d; float64" ("everywhere" when unrestricted)."""
        parts = [", ".join(values) for values in (self.checks, self.ops, self.dtypes, self.devices) if values]
        if self.machine:
            parts.append(MACHINE_CONDITIONS[self.machine][0])
        return "; ".join(parts) or "everywhere"

    def summary(self) -> dict[str, str]:
        """The gap as ImplementationRecord.gaps carries it and both capability tables (README, report) show it."""
        return {"feature": self.feature, "where": self.where(), "refused_by": self.refused_by,
                "message": self.message, "reason": self.reason, "witness": witness_example(self)}


TRANSPOSED_OPS = tuple(op for op in OP_NAMES if op_family(op).transposed)


def no_padding_modes(reason: str, *, ops: tuple[str, ...] = ()) -> tuple[Gap, ...]:
    """Adapter gaps for every padding mode but zeros, on `ops` (all when empty): the API has no
    padding_mode argument there. For transposed ops this is what makes the invalid call "padding_mode
    applies to ordinary convolution only" unsupported where the API cannot express it (an adapter
    must not pad by a mode a user's call could not ask for, and then be judged as accepting it)."""
    return tuple(Gap(feature, reason, ops=ops) for feature in OPT_IN_AXES["padding_mode"])


def witness_example(gap: Gap) -> str:
    """The `example` name of a gap's witness call in its CheckRecord (phase "explicit")."""
    return f"declared gap: {gap.feature} ({gap.where()})"


@dataclass(frozen=True)
class Region:
    """The calls an implementation runs for one op family, device and check kind (what the strategies draw)."""

    gaps: tuple[Gap, ...] = ()

    def excludes(self, dtype: str) -> frozenset[str]:
        """The features no example in `dtype` may have ("*": no example at all)."""
        return frozenset(g.feature for g in self.gaps if g.holds_for(dtype))

    def unexpressible(self, dtype: str) -> frozenset[str]:
        """The features of calls the API has no form of (adapter gaps): an invalid call with one is not drawn."""
        return frozenset(g.feature for g in self.gaps if g.refused_by == "adapter" and g.holds_for(dtype))

    def open_dtypes(self, dtypes: tuple[str, ...]) -> tuple[str, ...]:
        """The dtypes of `dtypes` with any call left to draw."""
        return tuple(d for d in dtypes if "*" not in self.excludes(d))

    def closing_reason(self, dtypes: tuple[str, ...]) -> str | None:
        """Why nothing is left to draw in `dtypes` (the reasons of the gaps that close them), or None."""
        if self.open_dtypes(dtypes):
            return None
        reasons = dict.fromkeys(g.reason for g in self.gaps if g.feature == "*")
        return "; ".join(reasons) or "no call left to draw"


def _op_level(gap: Gap, op: str) -> Gap | None:
    """A gap on a whole op family, as seen from `op`: every call ("*") when it picks the op, else none."""
    family = op_family(op)
    picks = {"*": True, "transposed": family.transposed, "ndim=1": family.ndim == 1,
             "ndim=2": family.ndim == 2, "ndim=3": family.ndim == 3}[gap.feature]
    return dataclasses.replace(gap, feature="*") if picks else None


@dataclass(frozen=True)
class Capabilities:
    """An implementation's gaps, the axes it opted in to, and the invalid calls it defines
    (conformance.definitions), read with `capabilities_of(impl)`."""

    gaps: tuple[Gap, ...] = ()
    opt_in: tuple[str, ...] = tuple(OPT_IN_AXES)
    name: str = ""
    definitions: tuple[Definition, ...] = ()

    def __post_init__(self) -> None:
        unknown = [a for a in self.opt_in if a not in OPT_IN_AXES]
        if unknown:
            raise ValueError(f"{self.name or 'implementation'}: opt_in {unknown} are not among the opt-in axes "
                             f"{tuple(OPT_IN_AXES)}")
        wrong = [g for g in self.gaps if not isinstance(g, Gap)]
        if wrong:
            raise ValueError(f"{self.name or 'implementation'}: gaps must be conformance.Gap records, got {wrong[0]!r}")
        wrong = [d for d in self.definitions if not isinstance(d, Definition)]
        if wrong:
            raise ValueError(f"{self.name or 'implementation'}: defines must be conformance.Definition records, "
                             f"got {wrong[0]!r}")
        unknown = [f for d in self.definitions for f in d.unless if f not in FEATURES]
        if unknown:
            raise ValueError(f"{self.name or 'implementation'}: Definition unless={unknown[0]!r} is not one of "
                             f"{sorted(FEATURES)}")

    def all_gaps(self) -> tuple[Gap, ...]:
        """The declared gaps, then one per value of an opt-in axis not opted in to."""
        missing = tuple(
            Gap(feature, f"{feature} not drawn (the axis {axis!r} is opt-in: add {axis!r} to opt_in to test it)")
            for axis, features in OPT_IN_AXES.items() if axis not in self.opt_in for feature in features)
        return tuple(self.gaps) + missing

    def region(self, op: str, device: str, check: str) -> Region:
        found = []
        for gap in self.all_gaps():
            if not gap.applies(op, device, check):
                continue
            if gap.feature in OP_FEATURES:
                gap = _op_level(gap, op)
                if gap is None:
                    continue
            found.append(gap)
        return Region(tuple(found))

    def gap_for(self, config: ConvConfig, device: str, check: str, *, refused_by: tuple[str, ...] = REFUSED_BY):
        """The first gap (of those refused_by) that keeps `config` from running, or None."""
        return next((g for g in self.all_gaps() if g.refused_by in refused_by and g.covers(config, device, check)),
                    None)

    def definition_for(self, config: ConvConfig, rule: str | None) -> Definition | None:
        """The declared definition of an invalid call that breaks `rule`, or None (it must raise)."""
        return next((d for d in self.definitions
                     if d.applies(config, rule) and not any(FEATURES[f](config) for f in d.unless)), None)

    def framework_gaps(self, op: str, device: str, check: str) -> tuple[Gap, ...]:
        """The gaps the library refuses, for one op family, device and check kind: those a witness checks."""
        return tuple(g for g in self.region(op, device, check).gaps if g.refused_by == "framework")


def capabilities_of(impl) -> Capabilities:
    """An implementation's declaration: its `gaps`, `opt_in` and `defines` (class attributes or instance ones)."""
    return Capabilities(gaps=tuple(getattr(impl, "gaps", ()) or ()), opt_in=tuple(getattr(impl, "opt_in", ()) or ()),
                        name=str(getattr(impl, "name", "")), definitions=tuple(getattr(impl, "defines", ()) or ()))


# ---- witnesses: the smallest call with a feature --------------------------------------------------


def _base(op: str, dtype: str) -> dict:
    family = op_family(op)
    n = family.ndim
    return dict(ndim=n, transposed=family.transposed, batch=1, in_channels=2, out_channels=2, groups=1,
                in_size=(5,) * n, kernel=(2,) * n, stride=(1,) * n, dilation=(1,) * n, output_padding=(0,) * n,
                padding=((0, 0),) * n, dtype=dtype)


def _first_dim(values, value):
    return (value, *values[1:])


_WITNESSES: dict[str, Callable[[dict], dict]] = {
    "*": lambda f: f,
    "padding_mode=reflect": lambda f: dict(f, padding=((1, 1),) * f["ndim"], padding_mode="reflect"),
    "padding_mode=replicate": lambda f: dict(f, padding=((1, 1),) * f["ndim"], padding_mode="replicate"),
    "padding_mode=circular": lambda f: dict(f, padding=((1, 1),) * f["ndim"], padding_mode="circular"),
    "unbatched": lambda f: dict(f, batched=False),
    "memory_format=channels_last": lambda f: dict(f, memory_format="channels_last"),
    "memory_format=strided": lambda f: dict(f, memory_format="strided"),
    "batch=0": lambda f: dict(f, batch=0),
    "in_channels=0": lambda f: dict(f, in_channels=0),
    "in_channels=0 and undilated": lambda f: dict(f, in_channels=0),
    "in_channels=0 and (undilated or 2-d explicit pairs or strided)": lambda f: dict(f, in_channels=0),
    "groups>1": lambda f: dict(f, groups=2),
    "dilation>1": lambda f: dict(f, dilation=_first_dim(f["dilation"], 2)),
    "stride>1 and dilation>1": lambda f: dict(f, stride=_first_dim(f["stride"], 2),
                                              dilation=_first_dim(f["dilation"], 2)),
    "asymmetric padding": lambda f: dict(f, padding=_first_dim(f["padding"], (0, 1))),
    "explicit padding": lambda f: dict(f, padding=((1, 1),) * f["ndim"]),
    "dilation>1 and explicit padding": lambda f: dict(f, dilation=_first_dim(f["dilation"], 2),
                                                      padding=((1, 1),) * f["ndim"]),
    "groups>1 and explicit padding": lambda f: dict(f, groups=2, padding=((1, 1),) * f["ndim"]),
    # 4 -> 4 channels in 2 groups: grouped, and not depthwise (a group has two input channels)
    "groups>1 and not depthwise": lambda f: dict(f, groups=2, in_channels=4, out_channels=4),
    "groups>1 and not depthwise and explicit padding": lambda f: dict(f, groups=2, in_channels=4, out_channels=4,
                                                                      padding=((1, 1),) * f["ndim"]),
    "padding='same'": lambda f: dict(f, padding="same"),
    "padding='valid'": lambda f: dict(f, padding="valid"),
    "padding='same' and dilation>1": lambda f: dict(f, padding="same", dilation=_first_dim(f["dilation"], 2)),
    "output_padding>=stride": lambda f: dict(f, dilation=_first_dim(f["dilation"], 2),
                                             output_padding=_first_dim(f["output_padding"], 1)),
    "output_padding-hi>=stride": lambda f: dict(f, dilation=_first_dim(f["dilation"], 2),
                                                output_padding=_first_dim(f["output_padding"], 1)),
}


def witness_config(gap: Gap, op: str, dtype: str) -> ConvConfig | None:
    """The smallest valid call of op family `op` in `dtype` that has the gap's feature, or None
    (a feature the op family cannot have, such as output_padding for an ordinary convolution)."""
    from .config import InvalidConfig

    fields = _WITNESSES.get(gap.feature, lambda f: f)(_base(op, dtype))
    try:
        config = ConvConfig(**fields)
    except InvalidConfig:
        return None
    return config if FEATURES[gap.feature](config) else None
