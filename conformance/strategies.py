"""Hypothesis strategies for valid convolution calls and the tensors they take.

Configs are drawn constructively: each piece is drawn within the range that keeps the call valid
given the pieces drawn before it (padding before input size, input size before output_padding...),
so no example is rejected. A size budget (MACs and elements) keeps every example cheap; when a draw
exceeds it, batch, spatial extent and channels are reduced deterministically, which shrinks in the
same direction as Hypothesis does. The ranges and the budget are conformance.bounds' box (the
nightly profile's reaches past it in a share of its draws).

Everything shrinks towards the simplest call: one sample, one channel, groups 1, 1x1 kernel,
stride 1, dilation 1, no padding, no bias, float64, data seed 0, the "normal" value profile.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .bounds import DEFAULT_BOUNDS, DrawBounds, call_elements, mode_smallest_size, smallest_in_size
from .call_forms import same_pairs
from .capabilities import FEATURES
from .config import AXES, DTYPES, ConvConfig
from .dtypes import round_to_dtype, storage_dtype
from .invalid_rules import INVALID_RULES
from .layouts import ROLES, in_layout
from .vocabulary import OP_NAMES
from .vocabulary import op_family as _op_family

__all__ = [
    "VALUE_PROFILES",
    "ConvCase",
    "ConvTensors",
    "conv_configs",
    "conv_cases",
    "make_tensors",
    "OP_FAMILIES",
    "op_family",
]

OP_FAMILIES = OP_NAMES  # the op family names, as conformance.vocabulary states them
VALUE_PROFILES = ("normal", "small_int", "mixed")

DEFAULT_MAX_MACS = DEFAULT_BOUNDS.usual.max_macs  # conformance.bounds states the box
DEFAULT_MAX_ELEMENTS = DEFAULT_BOUNDS.usual.max_elements


def op_family(op: str) -> tuple[int, bool]:
    """'conv_transpose2d' -> (2, True)."""
    try:
        family = _op_family(op)
    except ValueError as err:
        raise InvalidArgument(str(err)) from None
    return family.ndim, family.transposed


# A config draws ~30 numbers. Building a strategy for each costs more than drawing from it (~8 us
# each, measured here), so the draws reuse one strategy per range; a strategy is immutable, and the
# same strategy draws (and shrinks) the same values whether it is built once or every time.
@functools.lru_cache(maxsize=None)
def _integers(low: int, high: int):
    return st.integers(low, high)


@functools.lru_cache(maxsize=None)
def _indices(n: int):
    """An index in range(n), drawn near uniformly (st.integers leans towards its lower end)."""
    return st.sampled_from(range(n))


_SAMPLED: dict[tuple, st.SearchStrategy] = {}


def _one_of(values: tuple):
    # Keyed by type too: (True,) == (1,) as tuples, and an lru_cache handed ndims=(1,) the strategy
    # built for transposed_choices=(True,) (ndim=True), after an earlier draw asked for that first.
    key = tuple((type(v), v) for v in values)
    if key not in _SAMPLED:
        _SAMPLED[key] = st.sampled_from(values)
    return _SAMPLED[key]


_elements = call_elements


def _bounded(draw, low: int, usual: int, wide: int | None, one_in: int, cap: int | None = None) -> int:
    """A value in [low, usual], or, 1 draw in `one_in`, in (usual, wide]: the nightly's share of large
    values (conformance.bounds); at most `cap` either way. Without a wider range it is exactly
    draw(_integers(low, min(usual, cap))), and the choice shrinks to the usual range. The choice is
    drawn whether or not `cap` leaves room past `usual`, so that no call has a shorter choice sequence
    (a simpler one, to Hypothesis) for its cap alone."""
    usual_high = usual if cap is None else min(cap, usual)
    if wide is None or wide <= usual:
        return draw(_integers(low, usual_high))
    wide_high = wide if cap is None else min(cap, wide)
    if draw(_indices(one_in)) == one_in - 1 and wide_high > usual_high:
        return draw(_integers(max(low, usual_high + 1), wide_high))
    return draw(_integers(low, usual_high))


_PADDING_MODES = ("zeros",) * 3 + ("reflect", "replicate", "circular")  # zeros half the time


def _excluded_zero_depth(fields: dict, excluded: frozenset) -> bool:
    """Whether a declared zero-depth gap ("in_channels=0", "in_channels=0 and undilated", ...) covers
    these fields, so that the draw keeps its channels instead."""
    config = ConvConfig.unchecked(**fields)
    return any(FEATURES[feature](config) for feature in excluded if feature.startswith("in_channels=0"))


def _allowed(values: tuple, excluded: frozenset, feature) -> tuple:
    """`values` without those whose feature (feature(value), a conformance.capabilities name) is excluded."""
    return tuple(v for v in values if feature(v) not in excluded)


# An axis drawn generically (conformance.config.AXES) whose values are capabilities' features.
_VALUE_FEATURES = {"batched": lambda v: None if v else "unbatched",
                   "memory_format": lambda v: f"memory_format={v}"}


@st.composite
def _draw_config(draw, ndims, transposed_choices, dtypes, bounds: DrawBounds, region=None):
    usual, wide, one_in = bounds.usual, bounds.wide, bounds.wide_one_in

    def bounded(low: int, name: str, cap: int | None = None) -> int:
        """A value of bound `name` of the boxes (at most `cap`), drawn by _bounded."""
        return _bounded(draw, low, getattr(usual, name), wide and getattr(wide, name), one_in, cap)

    ndim = draw(_one_of(tuple(ndims)))
    transposed = draw(_one_of(tuple(transposed_choices)))
    dtype = draw(_one_of(tuple(dtypes)))
    # The features this implementation does not run (conformance.capabilities): each piece below is
    # drawn without them. With nothing excluded every draw is the same as without a region.
    excluded = region.excludes(dtype) if region is not None else frozenset()
    groups = bounded(1, "max_groups", 1 if "groups>1" in excluded else None)
    in_per_group = bounded(1, "max_channels_per_group")
    out_per_group = bounded(1, "max_channels_per_group")
    # Square layers (C_in == C_out) are common and hide layout bugs that transpose the weight's
    # channel axes: draw them on purpose, 1 in 4.
    if draw(_integers(0, 3)) == 3:
        out_per_group = in_per_group
    # An empty batch is a valid call that frameworks get wrong; 1 draw in 20, never a shrink target.
    # (Both drawn always, so the empty batch is never a shorter choice sequence than batch 1.)
    empty_batch = draw(_integers(0, 19)) == 19
    batch = bounded(1, "max_batch")
    batch = 0 if empty_batch and "batch=0" not in excluded else batch
    # Zero input channels: an empty call PyTorch accepts for ordinary convolution; 1 draw in 20.
    # (sampled_from draws its indices near uniformly; st.integers puts ~40% of its draws on the lower
    # bound, which made the last values of a range rare in a derandomized ci run.)
    empty_channels = draw(_indices(20)) == 19 and not transposed and "in_channels=0" not in excluded
    # Padding modes (ordinary convolution only): zeros half the time, shrinking towards it.
    padding_modes = _allowed(_PADDING_MODES, excluded, lambda m: f"padding_mode={m}")
    mode_index = draw(_indices(len(padding_modes)))
    padding_mode = padding_modes[mode_index] if not transposed else "zeros"
    if empty_channels and padding_mode in ("reflect", "replicate"):
        # F.pad refuses zero channels in those modes (a validity rule)
        padding_mode = "circular" if "padding_mode=circular" not in excluded else "zeros"
    kernel = tuple(_bounded(draw, 1, usual.kernel_cap(ndim), wide and wide.kernel_cap(ndim), one_in)
                   for _ in range(ndim))
    dilation = tuple(bounded(1, "max_dilation", 1 if "dilation>1" in excluded else None) for _ in range(ndim))
    modes = ("explicit", "valid") if transposed else ("explicit", "same", "valid")
    modes = _allowed(modes, excluded, lambda m: f"padding={m!r}")
    mode = draw(_one_of(modes))
    if padding_mode != "zeros" and mode == "valid" and "explicit" in modes:
        mode = "explicit"  # a padding mode acts only on padding: with 'valid' it would be a zeros call
    symmetric = "asymmetric padding" in excluded
    # explicit pairs of zeros only
    no_padding = "explicit padding" in excluded or (
        "dilation>1 and explicit padding" in excluded and any(d > 1 for d in dilation)) or (
        "groups>1 and explicit padding" in excluded and groups > 1)
    # Every piece is drawn whatever the mode, so no mode has a shorter choice sequence than
    # explicit zero padding: that keeps explicit padding the shrink target.
    stride = tuple(bounded(1, "max_stride") for _ in range(ndim))
    if mode == "same":
        stride = (1,) * ndim
        if "padding='same' and dilation>1" in excluded:
            dilation = (1,) * ndim
    if "stride>1 and dilation>1" in excluded and any(d > 1 for d in dilation):
        stride = (1,) * ndim

    in_size, padding, output_padding = [], [], []
    drawn_pairs = []  # an ordinary call's (lo, hi) as drawn, before the mode's adjustments
    for k, s, d in zip(kernel, stride, dilation):
        span = d * (k - 1)  # extent of the dilated kernel minus one
        if transposed:
            size = 1 + bounded(0, "size_slack")
            op = draw(_integers(0, (s if "output_padding>=stride" in excluded else max(s, d)) - 1))
            room = (size - 1) * s + span + op  # lo + hi may not exceed this (output size >= 1)
            lo = bounded(0, "max_padding", room)
            hi = bounded(0, "max_padding", room - lo)
            if symmetric:
                lo = hi = min(lo, hi)
            if no_padding or mode != "explicit":
                lo = hi = 0
            if "output_padding-hi>=stride" in excluded and op - hi >= s:
                op = hi + s - 1  # output_padding reaches at most stride - 1 past hi
                lo = min(lo, (size - 1) * s + span + op - hi)  # and the output keeps a size >= 1
            output_padding.append(op)
        else:
            lo = bounded(0, "max_padding")
            hi = bounded(0, "max_padding")
            drawn_pairs.append((lo, hi))
            if symmetric:
                lo = hi = min(lo, hi)
            if no_padding:
                lo = hi = 0
            if mode != "explicit":
                lo = hi = 0
            elif padding_mode != "zeros" and lo == hi == 0 and not no_padding:
                lo, hi = (1, 1) if symmetric else (0, 1)  # a padding mode acts only on padding: give it some
            smallest = 1 if mode == "same" else max(1, span + 1 - lo - hi)
            pads = (span // 2, span - span // 2) if mode == "same" else (lo, hi)
            smallest = max(smallest, _mode_smallest_size(padding_mode, *pads))
            size = smallest + bounded(0, "size_slack")
            output_padding.append(0)
        if mode != "explicit":
            lo = hi = 0
        in_size.append(size)
        padding.append((lo, hi))
    # Explicit pairs that are TF's / ONNX's / lax's 'SAME' (SAME_UPPER, or SAME_LOWER) for this call,
    # any stride: the adapters call their library's string for them (conformance.call_forms.string_padding),
    # so Keras's strides=2, padding="same" is a call under test. Chosen by what the first dim's pads drew,
    # (top, top) for upper and (top, top - 1) for lower, 1 explicit draw in 16 each in the usual box: no
    # draw of its own, so every other example of a derandomized run stays the one it was.
    top = usual.max_padding
    same_like = {(top, top): False, (top, top - 1): True}.get(drawn_pairs[0]) if drawn_pairs and top else None
    if same_like is not None and mode == "explicit" and padding_mode == "zeros" and not no_padding:
        pairs = same_pairs(in_size, kernel, stride, dilation, lower=same_like)
        if not symmetric or all(lo == hi for lo, hi in pairs):
            padding = list(pairs)

    fields = dict(
        ndim=ndim, transposed=transposed, batch=batch, in_channels=groups * in_per_group,
        out_channels=groups * out_per_group, groups=groups, in_size=tuple(in_size), kernel=kernel,
        stride=stride, dilation=dilation, output_padding=tuple(output_padding),
        padding=mode if mode != "explicit" else tuple(padding), dtype=dtype, padding_mode=padding_mode,
    )
    if empty_channels and not _excluded_zero_depth({**fields, "in_channels": 0}, excluded):
        fields["in_channels"] = 0
    # Axes declared with their values (conformance.config.AXES) are drawn generically; the first
    # value is the default and the shrink target.
    for axis in AXES:
        if axis.values is not None:
            feature = _VALUE_FEATURES.get(axis.field)
            values = _allowed(axis.values, excluded, feature) if feature else axis.values
            index = draw(_indices(axis.default_weight + len(values) - 1))
            fields[axis.field] = values[max(0, index - axis.default_weight + 1)]
    if not fields["batched"]:
        fields["batch"] = 1  # an unbatched call has no batch dim
    # The budget: the wide one 1 draw in `one_in`, and wherever the smallest call with the wide
    # kernel, dilation and padding drawn does not fit the usual one.
    large = wide is not None and draw(_indices(one_in)) == one_in - 1
    budget = wide if large else usual
    try:
        config = _fit_budget(dict(fields), budget.max_macs, budget.max_elements)
    except InvalidArgument:
        if wide is None or large:
            raise
        config = _fit_budget(fields, wide.max_macs, wide.max_elements)
    return _without_grouping(config, excluded)


_GROUPED_NOT_DEPTHWISE = ("groups>1 and not depthwise", "groups>1 and not depthwise and explicit padding")


def _without_grouping(config: ConvConfig, excluded: frozenset) -> ConvConfig:
    """A grouped call made depthwise (one input channel per group) where that is all the region keeps,
    or else ungrouped; any other call as drawn (so draws without these gaps are unchanged)."""
    for feature in _GROUPED_NOT_DEPTHWISE:
        if feature in excluded and FEATURES[feature](config):
            depthwise = config.replace(in_channels=config.groups) if config.in_channels else config
            return depthwise if not FEATURES[feature](depthwise) else config.replace(groups=1)
    return config


_mode_smallest_size = mode_smallest_size  # conformance.bounds states both
_smallest_in_size = smallest_in_size


def _fit_budget(fields, max_macs, max_elements) -> ConvConfig:
    """Shrink batch, spatial extent and channels (halving the largest) until the call fits the budget."""
    config = ConvConfig(**fields)
    while config.macs > max_macs or _elements(config) > max_elements:
        groups = fields["groups"]
        candidates = {
            "batch": (fields["batch"], min(1, fields["batch"])),
            "in_per_group": (fields["in_channels"] // groups, 1),
            "out_per_group": (fields["out_channels"] // groups, 1),
            "groups": (groups, 1),
        }
        for dim in range(fields["ndim"]):
            candidates[f"in_size{dim}"] = (fields["in_size"][dim], _smallest_in_size(fields, dim))
        name, (value, floor) = max(candidates.items(), key=lambda item: item[1][0] / max(item[1][1], 1))
        if value <= floor:
            raise InvalidArgument(
                f"max_macs={max_macs} / max_elements={max_elements} is too small for the smallest call "
                f"with kernel={fields['kernel']} and dilation={fields['dilation']}; raise the budget"
            )
        reduced = max(floor, value // 2)
        if name.startswith("in_size"):
            dim = int(name[len("in_size"):])
            sizes = list(fields["in_size"])
            sizes[dim] = reduced
            fields["in_size"] = tuple(sizes)
        elif name == "batch":
            fields["batch"] = reduced
        elif name == "groups":
            fields["in_channels"] = fields["in_channels"] // groups * reduced
            fields["out_channels"] = fields["out_channels"] // groups * reduced
            fields["groups"] = reduced
        elif name == "in_per_group":
            fields["in_channels"] = reduced * groups
        else:
            fields["out_channels"] = reduced * groups
        config = ConvConfig(**fields)
    return config


def conv_configs(
    *,
    ndims: tuple[int, ...] | None = None,
    transposed: bool | None = None,
    op: str | None = None,
    dtypes: tuple[str, ...] | None = None,
    max_groups: int | None = None,
    max_channels_per_group: int | None = None,
    max_kernel: int | None = None,
    max_stride: int | None = None,
    max_dilation: int | None = None,
    max_padding: int | None = None,
    max_macs: int | None = None,
    max_elements: int | None = None,
    region=None,
    bounds: DrawBounds | None = None,
) -> st.SearchStrategy[ConvConfig]:
    """Valid ConvConfigs.

    - ndims: spatial dims to draw from (default 1, 2, 3); transposed: only one kind (default both);
      op: an op family such as "conv_transpose2d" (sets ndims and transposed).
    - dtypes: dtypes to draw from (default all four, float64 first).
    - bounds: a conformance.bounds.DrawBounds, the box to draw from (default DEFAULT_BOUNDS, the
      box of every profile but the nightly; NIGHTLY_BOUNDS adds a share of draws past it).
    - max_groups, max_channels_per_group, max_kernel, max_stride, max_dilation, max_padding: ranges,
      and max_macs, max_elements: the size budget of one call (forward MACs; x + w + y elements);
      each one given replaces that bound of bounds.usual.
    - region: a conformance.capabilities.Region: draw only calls outside its gaps (what one
      implementation runs for one op family, device and check kind).

    >>> conv_configs(op="conv2d", dtypes=("float32",)).example()  # doctest: +SKIP
    ConvConfig(ndim=2, ...)

    Shrinks towards conv1d(N=1, C=1->1, in=1, k=1, no bias, float64).
    """
    if op is not None:
        op_ndim, op_transposed = op_family(op)
        if ndims is not None and tuple(ndims) != (op_ndim,):
            raise InvalidArgument(f"op={op!r} fixes ndims=({op_ndim},), but ndims={ndims!r} was given")
        if transposed is not None and transposed != op_transposed:
            raise InvalidArgument(f"op={op!r} fixes transposed={op_transposed}, but transposed={transposed!r}")
        ndims, transposed = (op_ndim,), op_transposed
    ndims = tuple(ndims) if ndims is not None else (1, 2, 3)
    if not ndims or any(n not in (1, 2, 3) for n in ndims):
        raise InvalidArgument(f"ndims={ndims!r} must be a non-empty subset of (1, 2, 3)")
    dtypes = tuple(dtypes) if dtypes is not None else DTYPES
    unknown = [d for d in dtypes if d not in DTYPES]
    if not dtypes or unknown:
        raise InvalidArgument(f"dtypes={dtypes!r}: {unknown or 'empty'}; choose from {DTYPES}")
    bounds = bounds if bounds is not None else DEFAULT_BOUNDS
    if not isinstance(bounds, DrawBounds):
        raise InvalidArgument(f"bounds={bounds!r} must be a conformance.bounds.DrawBounds")
    overrides = {name: value for name, value in (
        ("max_groups", max_groups), ("max_channels_per_group", max_channels_per_group), ("max_kernel", max_kernel),
        ("max_stride", max_stride), ("max_dilation", max_dilation), ("max_padding", max_padding),
        ("max_macs", max_macs), ("max_elements", max_elements)) if value is not None}
    for name, value in overrides.items():
        low = 0 if name == "max_padding" else 1
        if value < low:
            raise InvalidArgument(f"{name}={value} must be >= {low}")
    if overrides:
        try:
            bounds = dataclasses.replace(bounds, usual=dataclasses.replace(bounds.usual, **overrides))
        except ValueError as err:
            raise InvalidArgument(f"{', '.join(f'{k}={v}' for k, v in overrides.items())}: {err}") from None
    transposed_choices = (False, True) if transposed is None else (bool(transposed),)
    return _draw_config(ndims, transposed_choices, dtypes, bounds, region)


# ---- tensors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvTensors:
    """The arrays of one example, float64 holding values exact in the config dtype.

    - x, w, b (None without bias), grad_out: the call and the cotangent of its output;
    - dx, dw, db: tangents of x, w, b (forward mode, check kind "jvp");
    - ggx, ggw, ggb: cotangents of grad_x, grad_w, grad_b (double backward, "double_vjp").
    Each has the shape of the array it goes with.
    """

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    grad_out: np.ndarray
    dx: np.ndarray | None = None
    dw: np.ndarray | None = None
    db: np.ndarray | None = None
    ggx: np.ndarray | None = None
    ggw: np.ndarray | None = None
    ggb: np.ndarray | None = None

    def _map(self, function) -> "ConvTensors":
        return ConvTensors(**{f.name: None if getattr(self, f.name) is None else function(getattr(self, f.name))
                              for f in dataclasses.fields(self)})

    def absolute(self) -> "ConvTensors":
        """Every array's absolute values: the oracle's input for the sums of absolute values."""
        return self._map(np.abs)

    def in_storage(self, dtype: str) -> "ConvTensors":
        """The same values in the dtype's NumPy storage type."""
        cast = storage_dtype(dtype)
        return self._map(lambda array: array.astype(cast))

    def in_layout(self, config: ConvConfig) -> "ConvTensors":
        """The same arrays with the strides of config.memory_format (conformance.layouts).

        What implementations receive: `in_storage(dtype).in_layout(config)`.
        """
        return ConvTensors(**{
            f.name: in_layout(getattr(self, f.name), config.memory_format, ROLES[f.name], config.batched)
            for f in dataclasses.fields(self)})


def _values(rng: np.random.Generator, shape, profile: str, dtype: str) -> np.ndarray:
    if profile == "normal":
        values = rng.standard_normal(shape)
    elif profile == "small_int":
        # Exact in every dtype, and so are short sums of their products: exact comparisons possible.
        values = rng.integers(-3, 4, size=shape).astype(np.float64)
    elif profile == "mixed":
        # Magnitudes spread over several binades; half formats get a narrower spread to stay finite.
        spread = 4 if dtype == "float16" else 12
        values = rng.standard_normal(shape) * np.exp2(rng.integers(-spread, spread + 1, size=shape))
    else:
        raise ValueError(f"unknown value profile {profile!r}; expected one of {VALUE_PROFILES}")
    return round_to_dtype(values, dtype)


def make_tensors(config: ConvConfig, seed: int, profile: str = "normal", tangents: bool = True) -> ConvTensors:
    """Deterministic tensors for `config` from `seed`, drawn in float64 and rounded once to config.dtype.

    tangents=False leaves out dx, dw, db, ggx, ggw, ggb (None): only the check kinds that read them
    (CheckKind.tangents) pay for drawing them. x, w, b and grad_out are the same either way.
    """
    rng = np.random.default_rng(seed)
    x = _values(rng, config.input_shape, profile, config.dtype)
    w = _values(rng, config.weight_shape, profile, config.dtype)
    b = _values(rng, config.bias_shape, profile, config.dtype) if config.bias else None
    grad_out = _values(rng, config.output_shape, profile, config.dtype)
    if not tangents:
        return ConvTensors(x, w, b, grad_out)
    # Drawn after the first four, so that those stay what they were for the same seed.
    extra = {}
    for name, like in (("dx", x), ("dw", w), ("db", b), ("ggx", x), ("ggw", w), ("ggb", b)):
        extra[name] = None if like is None else _values(rng, like.shape, profile, config.dtype)
    return ConvTensors(x, w, b, grad_out, **extra)


@dataclass(frozen=True)
class ConvCase:
    """One example: a config, the seed of its data and the value profile."""

    config: ConvConfig
    data_seed: int
    value_profile: str

    def tensors(self, tangents: bool = True) -> ConvTensors:
        return make_tensors(self.config, self.data_seed, self.value_profile, tangents)

    def __str__(self) -> str:
        return f"{self.config} [data seed {self.data_seed}, {self.value_profile} values]"


def conv_cases(configs: st.SearchStrategy[ConvConfig] | None = None, **config_options) -> st.SearchStrategy[ConvCase]:
    """ConvCases: a config from `configs` (or conv_configs(**config_options)), a data seed and a value profile.

    Shrinks towards the simplest config, data seed 0 and "normal" values.
    """
    if configs is None:
        configs = conv_configs(**config_options)
    elif config_options:
        raise InvalidArgument("give either a configs strategy or conv_configs options, not both")
    return st.builds(
        ConvCase,
        config=configs,
        data_seed=st.integers(0, 2**32 - 1),
        value_profile=st.sampled_from(VALUE_PROFILES),
    )


# ---- invalid calls ---------------------------------------------------------------------------------
# Each one breaks one rule of conformance.invalid_rules.INVALID_RULES in a valid drawn config.


@dataclass(frozen=True)
class InvalidCase:
    """An invalid call: a config that breaks `rule` (or a weight of the wrong shape), and its data."""

    config: ConvConfig
    rule: str
    weight_shape: tuple[int, ...]
    data_seed: int
    value_profile: str

    def tensors(self, tangents: bool = True) -> ConvTensors:
        """x, w (of weight_shape) and b: an invalid call has no derivatives, whatever `tangents` asks."""
        rng = np.random.default_rng(self.data_seed)
        c = self.config
        x = _values(rng, c.input_shape, self.value_profile, c.dtype)
        w = _values(rng, self.weight_shape, self.value_profile, c.dtype)
        b = _values(rng, (c.out_channels,), self.value_profile, c.dtype) if c.bias else None
        return ConvTensors(x, w, b, None)

    def __str__(self) -> str:
        return f"{self.config} [breaks: {self.rule}; weight {self.weight_shape}]"


def _fields(config: ConvConfig) -> dict:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _broken(valid: ConvConfig, rule: str) -> ConvConfig:
    breaker = INVALID_RULES[rule][1]
    return valid if breaker is None else ConvConfig.unchecked(**breaker(_fields(valid)))


def _expressible(config: ConvConfig, region) -> bool:
    """False when the broken call has a feature the API has no form of (an adapter gap of `region`)."""
    return region is None or not any(FEATURES[f](config) for f in region.unexpressible(config.dtype))


@st.composite
def _draw_invalid(draw, configs, rules, region=None):
    valid = draw(configs)
    broken = {name: _broken(valid, name) for name in rules if INVALID_RULES[name][0](valid)}
    applicable = [name for name, config in broken.items() if _expressible(config, region)]
    assume(applicable)  # every rule of this valid call needs a feature the API does not have
    rule = draw(st.sampled_from(applicable))
    config = broken[rule]
    if INVALID_RULES[rule][1] is None:
        shape = list(valid.weight_shape)
        # One input channel too many: axis 1 (C_in/groups) of an ordinary weight, axis 0 (C_in) of a
        # transposed one. (A transposed weight's axis 1 is C_out/groups, which frameworks infer from it.)
        shape[0 if valid.transposed else 1] += 1
        weight_shape = tuple(shape)
    else:
        weight_shape = (config.out_channels if not config.transposed else config.in_channels,
                        (config.in_channels if not config.transposed else config.out_channels) // max(config.groups, 1),
                        *config.kernel)
    return InvalidCase(config, rule, weight_shape, draw(st.integers(0, 2**32 - 1)), "normal")


def invalid_cases(*, op: str, dtypes: tuple[str, ...] | None = None, rules: tuple[str, ...] | None = None,
                  region=None, bounds: DrawBounds | None = None) -> st.SearchStrategy[InvalidCase]:
    """Calls that break exactly one validity rule (INVALID_RULES), built with ConvConfig.unchecked.

    - op: the op family; dtypes, region, bounds: as conv_configs (the valid call each one breaks);
      rules: a subset of INVALID_RULES (default all).
    Shrinks towards the first rule on the simplest valid config.
    """
    rules = tuple(rules) if rules is not None else tuple(INVALID_RULES)
    unknown = [r for r in rules if r not in INVALID_RULES]
    if unknown or not rules:
        raise InvalidArgument(f"rules={rules!r}: {unknown or 'empty'}; choose from {tuple(INVALID_RULES)}")
    return _draw_invalid(conv_configs(op=op, dtypes=dtypes, region=region, bounds=bounds), rules, region)
