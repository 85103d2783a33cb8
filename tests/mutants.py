"""Planted-bug implementations: plausible mistakes a kernel author makes, for `--impl` and the mutation score.

Each mutant wraps the naive reference and gets one thing wrong. Use as
`pytest --impl tests.mutants:swapped_padding` (any name in MUTANTS), or `tests.mutants:correct` for
a correct implementation plugged in the same way (it must never be flagged).
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from conformance import ConvConfig, Implementation
from conformance.capabilities import OPT_IN_AXES
from conformance.dtypes import to_storage
from references.numpy.naive import NaiveReference

from .mutants_axes import AXIS_MUTANTS

__all__ = ["MUTANTS", "Mutant"]

_naive = NaiveReference()


class Mutant(Implementation):
    """The naive reference with one planted bug; results are returned in the config's storage dtype.

    It opts in to every semantic axis (as the reference it wraps has them all), so a bug on one of
    them is drawn and caught as a plugin that opts in would be.
    """

    opt_in = tuple(OPT_IN_AXES)

    def __init__(self, name, *, config_change=None, forward_change=None, vjp_change=None, jvp_change=None,
                 double_vjp_change=None, validates=True, description=""):
        self.name = name
        self.description = description
        self._config_change = config_change or (lambda c: c)
        self._forward_change = forward_change or (lambda c, y, x, w, b: y)
        self._vjp_change = vjp_change or (lambda c, grads, x, w, b, g: grads)
        self._jvp_change = jvp_change or (lambda c, dy, args: dy)
        self._double_vjp_change = double_vjp_change or (lambda c, bars, args: bars)
        self._validates = validates

    def forward(self, config, x, w, b=None, device="cpu"):
        if not self._validates and config.broken_rules():
            return _garbage_for_invalid(config)
        seen = self._config_change(config)
        y = _naive.forward(seen, x, w, b)
        y = self._forward_change(config, y, x, w, b)
        return to_storage(np.asarray(y, np.float64), config.dtype)

    def vjp(self, config, x, w, b, grad_out, device="cpu"):
        seen = self._config_change(config)
        grads = _naive.vjp(seen, x, w, b, grad_out)
        grads = self._vjp_change(config, grads, x, w, b, grad_out)
        return tuple(None if g is None else to_storage(np.asarray(g, np.float64), config.dtype) for g in grads)

    def jvp(self, config, x, w, b, dx, dw, db, device="cpu"):
        args = (x, w, b, dx, dw, db)
        dy = self._jvp_change(config, _naive.jvp(config, *args), args)
        return to_storage(np.asarray(dy, np.float64), config.dtype)

    def double_vjp(self, config, x, w, b, grad_out, ggx, ggw, ggb, device="cpu"):
        args = (x, w, b, grad_out, ggx, ggw, ggb)
        bars = self._double_vjp_change(config, _naive.double_vjp(config, *args), args)
        return tuple(to_storage(np.asarray(t, np.float64), config.dtype) for t in bars)


def _swap_padding(c: ConvConfig) -> ConvConfig:
    return c.replace(padding=tuple((hi, lo) for lo, hi in c.resolved_padding))


def _flip_kernel_forward(c, y, x, w, b):
    flipped = np.flip(np.asarray(w, dtype=np.float64), axis=tuple(range(2, 2 + c.ndim)))
    return _naive.forward(c, x, flipped, b)


def _missing_bias(c, y, x, w, b):
    if not c.bias:
        return y
    return y - np.asarray(b, dtype=np.float64).reshape((-1,) + (1,) * c.ndim)


def _one_wrong_sign(c, y, x, w, b):
    y = np.array(y, dtype=np.float64)
    if y.size:
        flat = y.reshape(-1)
        flat[flat.size // 2] = -flat[flat.size // 2]
    return y


def _tap_off_by_one(c, y, x, w, b):
    """Drops the last kernel tap of the last spatial dim (a loop bound written as k - 1)."""
    if c.kernel[-1] == 1:
        return y
    w = np.array(w, dtype=np.float64)
    w[..., -1] = 0.0
    return _naive.forward(c, x, w, b)


def _half_accumulation(c, y, x, w, b):
    """Accumulates in the storage format of a half dtype, tap by tap, instead of float32."""
    if c.dtype not in ("float16",):
        return y
    x16, w16 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    total = np.zeros(c.output_shape, dtype=np.float16)
    # One rounding per input channel slice: a cheap model of a float16 accumulator.
    for ci in range(w16.shape[1]):
        w_part = np.zeros_like(w16)
        w_part[:, ci] = w16[:, ci]
        part = _naive.forward(c.replace(bias=False), x16, w_part, None)
        total = (total.astype(np.float64) + part).astype(np.float16)
    if c.bias:
        total = (total.astype(np.float64) + np.asarray(b, np.float64).reshape((-1,) + (1,) * c.ndim))
    return total


def _grad_weight_scaled(c, grads, x, w, b, g):
    gx, gw, gb = grads
    return gx, np.asarray(gw) * (1 + 1e-3), gb


def _grad_input_no_stride(c, grads, x, w, b, g):
    """grad_input computed as if stride were 1 wherever that still gives the right shape."""
    if all(s == 1 for s in c.stride) or c.transposed:
        return grads
    gx, gw, gb = grads
    gx = np.array(gx)
    gx[..., ::2] *= 0.5
    return gx, gw, gb


def _output_padding_zeroed(c, y, x, w, b):
    """Fills the output_padding region with zeros instead of the taps that land there."""
    if not c.transposed or not any(c.output_padding):
        return y
    y = np.array(y)
    for dim, op in enumerate(c.output_padding):
        if op:
            index = [slice(None)] * y.ndim
            index[2 + dim] = slice(y.shape[2 + dim] - op, None)
            y[tuple(index)] = 0.0
    return y


def _groups_shuffled(c, y, x, w, b):
    """Pairs each output group with the wrong input group (channel blocks rotated by one group)."""
    if c.groups == 1:
        return y
    x = np.asarray(x, np.float64)
    per_group = c.in_channels // c.groups
    rotated = np.roll(x, per_group, axis=1)
    return _naive.forward(c, rotated, w, b)


def _dilation_ignored(c: ConvConfig) -> ConvConfig:
    if all(d == 1 for d in c.dilation) or c.transposed:
        return c
    # Same output size is needed for a plausible silent bug: only when it stays valid and the same.
    try:
        candidate = c.replace(dilation=(1,) * c.ndim)
    except ValueError:
        return c
    return candidate if candidate.out_size == c.out_size else c


def _dilation_forward(c, y, x, w, b):
    seen = _dilation_ignored(c)
    return y if seen is c else _naive.forward(seen, x, w, b)


def _transposed_weight_layout(c, y, x, w, b):
    """Reads a transposed weight (C_in, C_out/g, k) as if it were (C_out/g, C_in, k) when square."""
    if not c.transposed or c.groups != 1 or c.in_channels != c.out_channels:
        return y
    w = np.swapaxes(np.asarray(w, np.float64), 0, 1)
    return _naive.forward(c, x, w, b)


def _crash_on_stride_3(c, y, x, w, b):
    if max(c.stride) >= 3:  # stride 3 or more (the ci profile reaches stride 4 sooner than 3 in conv1d)
        os.kill(os.getpid(), signal.SIGABRT)
    return y


def _crash_on_stride_3_wrong_on_stride_2(c, y, x, w, b):
    """Two bugs in one region: aborts at stride >= 3, and returns the output doubled at stride 2."""
    y = _crash_on_stride_3(c, y, x, w, b)
    return y * 2 if max(c.stride) == 2 else y


def _raise_on_stride_2_or_3(c, y, x, w, b):
    """Two different errors: 'stride 3 unsupported' at stride 3, an IndexError at stride 2."""
    if max(c.stride) == 3:
        raise RuntimeError("planted: stride 3 is unsupported")
    if max(c.stride) == 2:
        raise IndexError("planted: index 7 is out of bounds")
    return y


def _hang_on_dilation_3(c, y, x, w, b):
    if 3 in c.dilation:
        time.sleep(3600)
    return y


def _jvp_without_bias_tangent(c, dy, args):
    db = args[5]
    return dy if db is None else dy - np.asarray(db, np.float64).reshape((-1,) + (1,) * c.ndim)


def _jvp_weight_tangent_negated(c, dy, args):
    x, w, b, dx, dw, db = args
    return dy - 2 * np.asarray(_naive.forward(c, x, dw), np.float64)


def _double_vjp_weight_from_input(c, bars, args):
    x, w, b, g, ggx, ggw, ggb = args
    # w_bar computed from x instead of the cotangent ggx: a plausible mix-up of the two inputs
    return bars[0], _naive.vjp(c, x, w, None, g)[1], bars[2]


def _garbage_for_invalid(c):
    """What a kernel that skips a validity check returns: an array of whatever shape the formula gives."""
    shape = [max(n, 0) for n in (c.batch, c.out_channels)]
    for n, k, s, d, (lo, hi), op in zip(c.in_size, c.kernel, c.stride, c.dilation,
                                         ((0, 0),) * c.ndim if isinstance(c.padding, str) else c.padding,
                                         c.output_padding):
        s = max(s, 1)
        size = (n - 1) * s - lo - hi + d * (k - 1) + op + 1 if c.transposed else (n + lo + hi - d * (k - 1) - 1) // s + 1
        shape.append(max(size, 0))
    return np.zeros(shape, dtype=np.float64)


class _NotRepeatable(Mutant):
    """Correct to within a few ulps, but the last bits change from one call to the next (an atomic-add kernel)."""

    def __init__(self):
        super().__init__("not_repeatable", description="results differ in the last bit between identical calls")
        self._calls = 0

    def forward(self, config, x, w, b=None, device="cpu"):
        y = super().forward(config, x, w, b, device)
        self._calls += 1
        if self._calls % 2 and y.size:
            flat = y.reshape(-1).copy()
            flat[0] = np.nextafter(flat[0], np.inf, dtype=flat.dtype)
            y = flat.reshape(y.shape)
        return y


MUTANTS = {
    "swapped_padding": dict(config_change=_swap_padding, description="asymmetric padding applied (hi, lo)"),
    "flipped_kernel": dict(forward_change=_flip_kernel_forward, description="true convolution (kernel flipped)"),
    "missing_bias": dict(forward_change=_missing_bias, description="bias not added"),
    "one_wrong_sign": dict(forward_change=_one_wrong_sign, description="one output element negated"),
    "tap_off_by_one": dict(forward_change=_tap_off_by_one, description="last kernel tap skipped"),
    "half_accumulation": dict(forward_change=_half_accumulation, description="float16 accumulated in float16"),
    "grad_weight_scaled": dict(vjp_change=_grad_weight_scaled, description="grad_weight off by 0.1%"),
    "grad_input_stride": dict(vjp_change=_grad_input_no_stride, description="grad_input wrong on strided configs"),
    "output_padding_zeroed": dict(forward_change=_output_padding_zeroed,
                                  description="output_padding region left zero"),
    "groups_shuffled": dict(forward_change=_groups_shuffled, description="input groups paired with wrong outputs"),
    "dilation_ignored": dict(forward_change=_dilation_forward, description="dilation ignored when shapes allow"),
    "transposed_layout": dict(forward_change=_transposed_weight_layout,
                              description="transposed weight read as (C_out, C_in)"),
    "jvp_no_bias_tangent": dict(jvp_change=_jvp_without_bias_tangent, description="JVP drops the bias tangent"),
    "jvp_weight_sign": dict(jvp_change=_jvp_weight_tangent_negated, description="JVP negates the weight-tangent term"),
    "double_vjp_mixed_inputs": dict(double_vjp_change=_double_vjp_weight_from_input,
                                    description="double backward's w_bar uses x instead of ggx"),
    "accepts_invalid": dict(validates=False, description="skips the validity checks and returns zeros"),
    **AXIS_MUTANTS,  # padding_mode, memory_format, batched=False, in_channels=0 (tests/mutants_axes.py)
}


def _factory(name):
    def make():
        return Mutant(name, **MUTANTS[name])

    make.__name__ = name
    return make


for _name in MUTANTS:
    globals()[_name] = _factory(_name)


def not_repeatable():
    return _NotRepeatable()


def correct():
    """The naive reference under another name: plugged in through --impl, it must never be flagged."""
    return Mutant("correct")


def crashes_on_stride_3():
    return Mutant("crashes_on_stride_3", forward_change=_crash_on_stride_3,
                  description="aborts the process whenever a stride is 3 or more")


def crashes_on_stride_3_wrong_on_stride_2():
    return Mutant("crashes_on_stride_3_wrong_on_stride_2", forward_change=_crash_on_stride_3_wrong_on_stride_2,
                  description="aborts at stride 3 or more, and doubles the output at stride 2 (a second bug)")


def raises_on_stride_2_or_3():
    return Mutant("raises_on_stride_2_or_3", forward_change=_raise_on_stride_2_or_3,
                  description="raises RuntimeError at stride 3 and IndexError at stride 2 (a second bug)")


def hangs_on_dilation_3():
    return Mutant("hangs_on_dilation_3", forward_change=_hang_on_dilation_3,
                  description="sleeps for an hour whenever a dilation is 3")
