"""Hypothesis strategies for valid convolution calls and the tensors they take.

Configs are drawn constructively: each piece is drawn within the range that keeps the call valid
given the pieces drawn before it (padding before input size, input size before output_padding...),
so no example is rejected. A size budget (MACs and elements) keeps every example cheap; when a draw
exceeds it, batch, spatial extent and channels are reduced deterministically, which shrinks in the
same direction as Hypothesis does.

Everything shrinks towards the simplest call: one sample, one channel, groups 1, 1x1 kernel,
stride 1, dilation 1, no padding, no bias, float64, data seed 0, the "normal" value profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .config import DTYPES, ConvConfig
from .dtypes import round_to_dtype, storage_dtype

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

OP_FAMILIES = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
VALUE_PROFILES = ("normal", "small_int", "mixed")

DEFAULT_MAX_MACS = 60_000
DEFAULT_MAX_ELEMENTS = 20_000


def op_family(op: str) -> tuple[int, bool]:
    """'conv_transpose2d' -> (2, True)."""
    if op not in OP_FAMILIES:
        raise InvalidArgument(f"op={op!r} is not one of {OP_FAMILIES}")
    return int(op[-2]), "transpose" in op


def _elements(config: ConvConfig) -> int:
    return math.prod(config.input_shape) + math.prod(config.weight_shape) + math.prod(config.output_shape)


@st.composite
def _draw_config(draw, ndims, transposed_choices, dtypes, max_groups, max_channels_per_group,
                 max_kernel, max_stride, max_dilation, max_padding, max_macs, max_elements):
    ndim = draw(st.sampled_from(ndims))
    transposed = draw(st.sampled_from(transposed_choices))
    dtype = draw(st.sampled_from(dtypes))
    groups = draw(st.integers(1, max_groups))
    in_per_group = draw(st.integers(1, max_channels_per_group))
    out_per_group = draw(st.integers(1, max_channels_per_group))
    # Square layers (C_in == C_out) are common and hide layout bugs that transpose the weight's
    # channel axes: draw them on purpose, 1 in 4.
    if draw(st.integers(0, 3)) == 3:
        out_per_group = in_per_group
    # An empty batch is a valid call that frameworks get wrong; 1 draw in 20, never a shrink target.
    # (Both drawn always, so the empty batch is never a shorter choice sequence than batch 1.)
    empty_batch = draw(st.integers(0, 19)) == 19
    batch = draw(st.integers(1, 4))
    batch = 0 if empty_batch else batch
    kernel_cap = max_kernel if ndim < 3 else min(max_kernel, 3)
    kernel = tuple(draw(st.integers(1, kernel_cap)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, max_dilation)) for _ in range(ndim))
    modes = ["explicit", "valid"] if transposed else ["explicit", "same", "valid"]
    mode = draw(st.sampled_from(modes))
    # Every piece is drawn whatever the mode, so no mode has a shorter choice sequence than
    # explicit zero padding: that keeps explicit padding the shrink target.
    stride = tuple(draw(st.integers(1, max_stride)) for _ in range(ndim))
    if mode == "same":
        stride = (1,) * ndim

    in_size, padding, output_padding = [], [], []
    for k, s, d in zip(kernel, stride, dilation):
        span = d * (k - 1)  # extent of the dilated kernel minus one
        if transposed:
            size = 1 + draw(st.integers(0, 10))
            op = draw(st.integers(0, max(s, d) - 1))
            room = (size - 1) * s + span + op  # lo + hi may not exceed this (output size >= 1)
            lo = draw(st.integers(0, min(max_padding, room)))
            hi = draw(st.integers(0, min(max_padding, room - lo)))
            output_padding.append(op)
        else:
            lo = draw(st.integers(0, max_padding))
            hi = draw(st.integers(0, max_padding))
            if mode != "explicit":
                lo = hi = 0
            smallest = 1 if mode == "same" else max(1, span + 1 - lo - hi)
            size = smallest + draw(st.integers(0, 10))
            output_padding.append(0)
        if mode != "explicit":
            lo = hi = 0
        in_size.append(size)
        padding.append((lo, hi))

    fields = dict(
        ndim=ndim, transposed=transposed, batch=batch, in_channels=groups * in_per_group,
        out_channels=groups * out_per_group, groups=groups, in_size=tuple(in_size), kernel=kernel,
        stride=stride, dilation=dilation, output_padding=tuple(output_padding),
        padding=mode if mode != "explicit" else tuple(padding), bias=draw(st.booleans()), dtype=dtype,
    )
    return _fit_budget(fields, max_macs, max_elements)


def _smallest_in_size(fields, dim) -> int:
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
        return 1
    return max(1, span + 1 - lo - hi)


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
    max_groups: int = 4,
    max_channels_per_group: int = 40,
    max_kernel: int = 5,
    max_stride: int = 4,
    max_dilation: int = 3,
    max_padding: int = 3,
    max_macs: int = DEFAULT_MAX_MACS,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> st.SearchStrategy[ConvConfig]:
    """Valid ConvConfigs.

    - ndims: spatial dims to draw from (default 1, 2, 3); transposed: only one kind (default both);
      op: an op family such as "conv_transpose2d" (sets ndims and transposed).
    - dtypes: dtypes to draw from (default all four, float64 first).
    - max_groups, max_channels_per_group, max_kernel, max_stride, max_dilation, max_padding: ranges.
    - max_macs, max_elements: the size budget of one call (forward MACs; x + w + y elements).

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
    for name, value in (("max_groups", max_groups), ("max_channels_per_group", max_channels_per_group),
                        ("max_kernel", max_kernel), ("max_stride", max_stride), ("max_dilation", max_dilation)):
        if value < 1:
            raise InvalidArgument(f"{name}={value} must be >= 1")
    if max_padding < 0:
        raise InvalidArgument(f"max_padding={max_padding} must be >= 0")
    transposed_choices = (False, True) if transposed is None else (bool(transposed),)
    return _draw_config(ndims, transposed_choices, dtypes, max_groups, max_channels_per_group,
                        max_kernel, max_stride, max_dilation, max_padding, max_macs, max_elements)


# ---- tensors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvTensors:
    """x, w, b (None without bias) and grad_out, float64 arrays holding values exact in the config dtype."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray | None
    grad_out: np.ndarray

    def in_storage(self, dtype: str) -> "ConvTensors":
        """The same values in the dtype's NumPy storage type (what implementations receive)."""
        cast = storage_dtype(dtype)
        return ConvTensors(
            self.x.astype(cast), self.w.astype(cast), None if self.b is None else self.b.astype(cast),
            self.grad_out.astype(cast),
        )


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


def make_tensors(config: ConvConfig, seed: int, profile: str = "normal") -> ConvTensors:
    """Deterministic tensors for `config` from `seed`, drawn in float64 and rounded once to config.dtype."""
    rng = np.random.default_rng(seed)
    x = _values(rng, config.input_shape, profile, config.dtype)
    w = _values(rng, config.weight_shape, profile, config.dtype)
    b = _values(rng, config.bias_shape, profile, config.dtype) if config.bias else None
    grad_out = _values(rng, config.output_shape, profile, config.dtype)
    return ConvTensors(x, w, b, grad_out)


@dataclass(frozen=True)
class ConvCase:
    """One example: a config, the seed of its data and the value profile."""

    config: ConvConfig
    data_seed: int
    value_profile: str

    def tensors(self) -> ConvTensors:
        return make_tensors(self.config, self.data_seed, self.value_profile)

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
