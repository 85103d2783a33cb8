"""A self-contained reproducer script for one example: NumPy and the library under test, nothing else.

`python -m conformance repro IMPL --config JSON --check ... --standalone` prints it; every finding
card of the report carries one. The script needs neither `conformance` nor `references`: it holds

- the exact inputs: their values embedded (zlib + base64 of the config dtype's storage bytes, exact)
  or, for large examples, regenerated with a copy of `conformance.strategies.make_tensors`' draws;
- the call as the adapter makes it (torch, jax, tensorflow: one template each) or, for a plugin
  `package.module:NAME`, the plugin's own method, with a stub `conformance` module in sys.modules
  so that the plugin's `from conformance import Implementation` works;
- a float64 definition of the convolution written out for this one call (direct cross-correlation,
  the transposed one in its scatter form, padding modes through np.pad's index maps), and its
  adjoint for gradients;
- the bound of conformance.tolerance for this call: its constants computed here, per result,
  and applied to the same definition run on the absolute values.

The script prints the worst element (index, got, expected, error in units of the bound) of each
result and exits 1 when the divergence reproduces (an element beyond its bound, a shape mismatch,
a non-finite value where the definition is finite, a value not in the output format, an exception;
for check "invalid": the call accepted; for "determinism": two calls differ bitwise), 0 when it
does not, and 2 when it cannot check (a library not installed, a call this script has no template
for: `Script.unsupported` says which).
"""

from __future__ import annotations

import base64
import json
import shlex
import zlib
from dataclasses import dataclass

import numpy as np

from .arithmetic import Arithmetic, default_arithmetic
from .call_forms import dimension_numbers, string_padding, torch_padding_args, transposed_padding
from .checks import CHECK_KINDS
from .config import ConvConfig
from .dtypes import LARGEST_FINITE, storage_dtype
from .skeleton import SKELETON_CHECKS, skeleton_script
from .tolerance import error_bound

__all__ = ["EMBED_LIMIT", "REPORT_EMBED_LIMIT", "LIBRARIES", "Script", "standalone_script", "script_for_record"]

EMBED_LIMIT = 20_000         # elements embedded at most (all arrays together); beyond: regenerated
REPORT_EMBED_LIMIT = 2_000   # the report holds one script per card: keep the page small
LIBRARIES = ("torch", "jax", "tensorflow")  # built-in implementations with a call template

# The arrays each check kind hands to the implementation, in the order it takes them.
_ARRAYS = {
    "forward": ("x", "w", "b"),
    "gradient": ("x", "w", "b", "grad_out"),
    "jvp": ("x", "w", "b", "dx", "dw", "db"),
    "double_vjp": ("x", "w", "b", "grad_out", "ggx", "ggw", "ggb"),
    "determinism": ("x", "w", "b", "grad_out"),
    "invalid": ("x", "w", "b"),
}
# The order conformance.strategies draws them from one generator (None-valued ones are not drawn).
_DRAW_ORDER = ("x", "w", "b", "grad_out", "dx", "dw", "db", "ggx", "ggw", "ggb")
_LIKE = {"dx": "x", "dw": "w", "db": "b", "ggx": "x", "ggw": "w", "ggb": "b"}


@dataclass(frozen=True)
class Script:
    """The script's text, and why it cannot check this example (None when it can)."""

    text: str
    unsupported: str | None = None


# ---- entry points ----------------------------------------------------------------------------------


def standalone_script(spec: str, config: ConvConfig, check: str, *, device: str = "cpu", seed: int = 0,
                      values: str = "normal", precision: str = "default", arithmetic: Arithmetic | None = None,
                      rule: str | None = None, weight_shape: tuple[int, ...] | None = None,
                      embed_limit: int = EMBED_LIMIT, title: str = "", plugin_call: bool = False) -> Script:
    """The standalone reproducer of one example (see the module docstring).

    - spec: "torch", "jax", "tensorflow" or a plugin "package.module:NAME";
    - config, check (a check kind name), device, seed, values (the value profile), precision: the
      example, as `python -m conformance repro` takes it;
    - arithmetic: what the implementation declared (it sets the bound); default: the dtype's default;
    - rule, weight_shape: check kind "invalid" (the weight's shape, which the config may not fit);
    - embed_limit: embed the inputs when they have at most this many elements, else regenerate them;
    - plugin_call: for a plugin's forward or gradient example, the script that imports and calls the
      plugin's module (it runs where that module is importable) instead of the short skeleton
      (conformance.skeleton) its library's maintainer fills in with one call.
    """
    kind = CHECK_KINDS[check]
    arithmetic = arithmetic or default_arithmetic(config.dtype)
    library = "plugin" if ":" in spec else spec
    if library == "plugin" and check in SKELETON_CHECKS and not plugin_call:
        # A plugin's library is the user's: a short script with the inputs, the expected values and
        # the bound, where its maintainer pastes the library's call (conformance.skeleton).
        return Script(skeleton_script(config, check, seed=seed, values=values, arithmetic=arithmetic, spec=spec,
                                      title=title))
    reason = _unsupported(library, spec, config, check, device)
    header = _header(spec, config, check, device, seed, values, precision, rule, title)
    if reason is not None:
        body = f"print({reason!r})\nsys.exit(2)\n"
        return Script(header + "import sys\n\n" + body, reason)
    tensors = _tensors(config, check, seed, values, rule, weight_shape)
    needed = [name for name in _ARRAYS[check] if tensors.get(name) is not None]
    parts = [
        header,
        _PRELUDE,
        _constants(spec, config, check, device, precision, kind, arithmetic, weight_shape),
        _ROUNDING,
        _inputs(tensors, needed, config, check, seed, values, weight_shape, embed_limit),
        _layout(config),
        "" if kind.raising_passes or kind.judge else _DEFINITION,
        _LIBRARY[library](spec, config),
        _MAIN,
    ]
    return Script("\n".join(part for part in parts if part))


def script_for_record(record, *, embed_limit: int = REPORT_EMBED_LIMIT) -> Script | None:
    """The standalone script of a check record's example, from its repro command; None when the
    record has no parseable repro (an old or hand-written record)."""
    from .config import InvalidConfig
    from .repro_command import parse_repro

    args = parse_repro(record.repro or "")
    if args is None:
        return None
    kind = CHECK_KINDS[args.check]
    try:
        config = ConvConfig.unchecked(**json.loads(args.config)) if kind.raising_passes \
            else ConvConfig.from_json(args.config)
    except (InvalidConfig, TypeError, ValueError):
        return None
    fields = {k: v for k, v in (record.arithmetic or {}).items() if k in ("accumulation", "output", "operands", "note")}
    arithmetic = Arithmetic(**fields) if {"accumulation", "output"} <= set(fields) else None
    weight_shape = tuple(json.loads(args.weight_shape)) if args.weight_shape else None
    return standalone_script(args.implementation, config, args.check, device=args.device, seed=args.seed,
                             values=args.values, precision=args.precision, arithmetic=arithmetic,
                             rule=args.rule, weight_shape=weight_shape, embed_limit=embed_limit,
                             title=record.message.splitlines()[0] if record.message else "")


# ---- what this script cannot check ------------------------------------------------------------------


def _unsupported(library: str, spec: str, config: ConvConfig, check: str, device: str) -> str | None:
    padding_mode = getattr(config, "padding_mode", "zeros")
    batched = getattr(config, "batched", True)
    if library not in LIBRARIES and library != "plugin":
        return (f"standalone: no call template for implementation {spec!r}; templates exist for "
                f"{', '.join(LIBRARIES)} and plugins (package.module:NAME). Use `python -m conformance repro`.")
    if library == "jax" and not batched:
        return "standalone: jax: lax.conv_general_dilated has no unbatched form (x needs a batch axis)"
    if library == "tensorflow":
        if not batched:
            return "standalone: tensorflow: tf.nn.convolution has no unbatched form (x needs a batch axis)"
        if config.transposed and config.groups > 1:
            return "standalone: tensorflow: tf.nn.conv_transpose has no groups argument"
        if padding_mode in ("replicate", "circular"):
            return f"standalone: tensorflow: tf.pad has no {padding_mode!r} mode (CONSTANT, REFLECT, SYMMETRIC only)"
        if device != "cpu":
            return "standalone: the tensorflow template computes channels-last on CPU only"
    return None


# ---- the script's pieces ------------------------------------------------------------------------------


def _header(spec, config, check, device, seed, values, precision, rule, title) -> str:
    library = "the plugin's module and numpy" if ":" in spec else f"numpy and {spec}"
    command = (f"python -m conformance repro {shlex.quote(spec)} --device {device} --check {check} --seed {seed} "
               f"--values {values} --precision {precision} --config "
               f"{shlex.quote(json.dumps(config.to_dict(), sort_keys=True, separators=(',', ':')))}")
    if rule:
        command += f" --rule {shlex.quote(rule)}"
    # Comments, not a docstring: the finding's message and the command may hold any character.
    lines = [
        "#!/usr/bin/env python3",
        f"# Standalone reproducer: {spec} {config} on {device}, check {check!r}",
        f"# [data seed {seed}, {values} values{f'; breaks: {rule}' if rule else ''}].",
        *([f"# Finding: {' '.join(title.split())}"] if title else []),
        f"# Needs only {library}: it imports neither `conformance` nor `references`.",
        "# Run: python this_script.py. Exit status 1: the divergence reproduces; 0: it does not;",
        "# 2: this script cannot check it. A crash of the library kills the script (the signal's status).",
        "# Generated by:",
        f"#   {command} --standalone",
        "",
    ]
    return "\n".join(lines)


_PRELUDE = '''\
import base64
import os
import sys
import zlib

import numpy as np
'''


def _constants(spec, config, check, device, precision, kind, arithmetic, weight_shape) -> str:
    padding = config.resolved_padding
    shape_of_w = tuple(weight_shape) if weight_shape else config.weight_shape
    lines = [
        "# ---- the call (PyTorch conventions: x (N, C_in, *in), w (C_out, C_in/groups, *k), or",
        "# (C_in, C_out/groups, *k) when transposed; b (C_out,)) -------------------------------------",
        f"CONFIG = {config.to_dict()!r}",
        f"CHECK = {check!r}",
        f"CONFIG_LINE = {f'{spec} {config} on {device}, check {check!r}'!r}",
        f"DEVICE = {device!r}",
        f"PRECISION = {precision!r}",
        f"DTYPE = {config.dtype!r}",
        f"STORAGE = np.{storage_dtype(config.dtype).name}",
        f"NDIM, TRANSPOSED, GROUPS = {config.ndim}, {config.transposed}, {config.groups}",
        f"C_IN, C_OUT = {config.in_channels}, {config.out_channels}",
        f"IN_SIZE, KERNEL = {config.in_size}, {config.kernel}",
        f"STRIDE, DILATION, OUTPUT_PADDING = {config.stride}, {config.dilation}, {config.output_padding}",
        f"PADDING = {padding!r}  # (lo, hi) per spatial dim, 'same' resolved",
        f"PADDING_MODE = {getattr(config, 'padding_mode', 'zeros')!r}",
        f"MEMORY_FORMAT = {getattr(config, 'memory_format', 'contiguous')!r}",
        f"BATCHED = {getattr(config, 'batched', True)!r}",
        f"BIAS = {config.bias}",
        f"WEIGHT_SHAPE = {shape_of_w}",
    ]
    if not kind.raising_passes:
        lines.append(f"OUT_SIZE = {config.out_size}")
    if not kind.judge:
        lines += _bound_constants(config, kind, arithmetic)
    return "\n".join(lines) + "\n"


def _bound_constants(config, kind, arithmetic) -> list[str]:
    # The constants of conformance.tolerance.error_bound, read back from it so they cannot drift:
    # bound = FACTOR * (|x| * |w|) + U_OUT * |y| + ETA, with FACTOR = gamma(K, u_acc) + gamma(K, 2^-53)
    # + 2 u_op + u_op^2 + r u_out for the result's reduction length K and r partial roundings.
    terms = kind.reduction_lengths(config)
    partials = kind.partial_roundings(config)
    one, zero = np.ones(1), np.zeros(1)
    factors = {}
    for name in kind.results_for(config):
        eta = float(error_bound(zero, zero, terms[name], arithmetic, partials.get(name, 0))[0])
        total = float(error_bound(one, zero, terms[name], arithmetic, partials.get(name, 0))[0])
        factors[name] = total - eta
    eta = float(error_bound(zero, zero, 1, arithmetic)[0])
    u_out = float(error_bound(zero, one, 1, arithmetic)[0]) - eta
    return [
        "",
        "# ---- the bound (conformance.tolerance): per element, FACTOR[result] * (the definition on |inputs|)",
        "# + U_OUT * |expected| + ETA. FACTOR = gamma(K, u_acc) + gamma(K, 2**-53) + 2 u_op + u_op**2 + r u_out,",
        f"# for arithmetic {arithmetic.label!r}; K (reduction length) per result: "
        f"{ {n: terms[n] for n in factors} }, r (partial roundings): {dict(partials) or 0}.",
        f"FACTOR = {factors!r}",
        f"U_OUT, ETA = {u_out!r}, {eta!r}",
        f"OUTPUT_FORMAT = {arithmetic.output!r}",
        f"LARGEST_FINITE = {LARGEST_FINITE[arithmetic.output]!r}",
    ]


_ROUNDING = '''\
def round_to_dtype(values, dtype):
    """Round float64 values once to dtype (ties to even), returned as float64 (bfloat16 from float64 directly)."""
    values = np.asarray(values, dtype=np.float64)
    if dtype == "float64":
        return values.copy()
    if dtype == "bfloat16":
        mantissa, exponent = np.frexp(values)
        rounded = np.ldexp(np.round(np.ldexp(mantissa, 8)), exponent - 8)
        with np.errstate(over="ignore"):
            bits = np.ascontiguousarray(rounded.astype(np.float32)).view(np.uint32).astype(np.uint64)
        lsb = (bits >> 16) & 1
        out = (((bits + 0x7FFF + lsb) >> 16) << 16).astype(np.uint32).view(np.float32)
        return np.where(np.isnan(values), np.float32(np.nan), out).astype(np.float64)
    with np.errstate(over="ignore"):
        return values.astype({"float32": np.float32, "float16": np.float16}[dtype]).astype(np.float64)
'''


def _tensors(config, check, seed, values, rule, weight_shape) -> dict[str, np.ndarray | None]:
    from .strategies import ConvCase, InvalidCase

    if CHECK_KINDS[check].raising_passes:
        shape = tuple(weight_shape) if weight_shape else config.weight_shape
        tensors = InvalidCase(config, rule or "?", shape, seed, values).tensors()
    else:
        tensors = ConvCase(config, seed, values).tensors()
    return {name: getattr(tensors, name) for name in _DRAW_ORDER}


def _encode(array: np.ndarray, dtype: str) -> str:
    stored = np.ascontiguousarray(array.astype(storage_dtype(dtype)).astype(storage_dtype(dtype).newbyteorder("<")))
    return base64.b64encode(zlib.compress(stored.tobytes(), 9)).decode("ascii")


def _inputs(tensors, needed, config, check, seed, values, weight_shape, embed_limit) -> str:
    total = sum(tensors[name].size for name in needed)
    lines = ["", "# ---- the inputs: float64 arrays holding values exact in DTYPE " + "-" * 32]
    if total <= embed_limit:
        little = "<" + storage_dtype(config.dtype).str[1:]
        lines += [
            f"# Embedded exactly: zlib + base64 of the {storage_dtype(config.dtype).name} storage bytes "
            f"({'bfloat16 values in float32' if config.dtype == 'bfloat16' else config.dtype}).",
            "def embedded(shape, text):",
            "    data = zlib.decompress(base64.b64decode(text))",
            f"    return np.frombuffer(data, dtype={little!r}).astype(np.float64).reshape(shape)",
            "",
        ]
        for name in needed:
            lines.append(f"{name.upper()} = embedded({tuple(tensors[name].shape)}, {_encode(tensors[name], config.dtype)!r})")
    else:
        lines += _regeneration(tensors, config, check, seed, values)
    for name in _ARRAYS[check]:
        if name not in needed:
            lines.append(f"{name.upper()} = None")
    return "\n".join(lines) + "\n"


def _regeneration(tensors, config, check, seed, values) -> list[str]:
    # A copy of conformance.strategies._values / make_tensors: the same generator, the same draws in
    # the same order (tests/test_standalone.py checks that they give the same arrays).
    order = [(name, tuple(tensors[name].shape)) for name in _DRAW_ORDER
             if tensors[name] is not None and not (CHECK_KINDS[check].raising_passes and name not in ("x", "w", "b"))]
    return [
        f"# Regenerated (too large to embed): numpy.random.default_rng({seed}), the {values!r} value profile,",
        "# drawn in float64 in this order and rounded once to DTYPE.",
        "def draw(rng, shape, profile=%r, dtype=DTYPE):" % values,
        "    if profile == 'normal':",
        "        values = rng.standard_normal(shape)",
        "    elif profile == 'small_int':",
        "        values = rng.integers(-3, 4, size=shape).astype(np.float64)",
        "    else:  # 'mixed': magnitudes over several binades, narrower for float16",
        "        spread = 4 if dtype == 'float16' else 12",
        "        values = rng.standard_normal(shape) * np.exp2(rng.integers(-spread, spread + 1, size=shape))",
        "    return round_to_dtype(values, dtype)",
        "",
        f"_rng = np.random.default_rng({seed})",
        *[f"{name.upper()} = draw(_rng, {shape})" for name, shape in order],
    ]


def _layout(config) -> str:
    # conformance.layouts' own functions, copied in by their source: the strides the harness uses.
    import inspect

    from . import layouts

    functions = "\n\n".join(inspect.getsource(f) for f in (layouts.channel_axis, layouts._channels_last,
                                                             layouts._strided))
    return f"""
# ---- the layout (conformance.layouts): the strides of the arrays the harness hands over -----------
ROLES = {layouts.ROLES!r}


{functions}

def stored(name, array):
    \"\"\"An input as the harness hands it over: DTYPE's storage type, with MEMORY_FORMAT's strides.\"\"\"
    if array is None:
        return None
    array, axis = array.astype(STORAGE), channel_axis(ROLES[name], BATCHED)
    if MEMORY_FORMAT == "channels_last":
        return _channels_last(array, axis)
    if MEMORY_FORMAT == "strided":
        return _strided(array, axis)
    return np.ascontiguousarray(array)
"""


_DEFINITION = '''
# ---- the definition, float64, written out for this call ------------------------------------------
# y[n, o, p] = b[o] + sum over c in o's group and taps t of x_padded[n, c, p*stride + t*dilation] * w[o, c, t];
# transposed: the scatter form y_full[n, o, i*stride + t*dilation] += x[n, c, i] * w[c, o, t], then
# y = y_full[lo : lo + out] per dim (output_padding extends y_full at the end).

def pad_index(n, lo, hi):
    """The input position each padded position reads; n (the appended zero) for a padding zero."""
    if PADDING_MODE == "zeros":
        return np.concatenate([np.full(lo, n), np.arange(n), np.full(hi, n)]).astype(int)
    mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[PADDING_MODE]
    return np.pad(np.arange(n), (lo, hi), mode=mode)


def pad_input(x):
    for dim, (lo, hi) in enumerate(PADDING):
        axis = 2 + dim
        zero = np.zeros(x.shape[:axis] + (1,) + x.shape[axis + 1:])
        x = np.take(np.concatenate([x, zero], axis), pad_index(x.shape[axis], lo, hi), axis)
    return x


def unpad_gradient(grad):
    """The adjoint of pad_input: each padded position's gradient added back where it was read."""
    for dim, (lo, hi) in enumerate(PADDING):
        axis, n = 2 + dim, IN_SIZE[dim]
        out = np.zeros(grad.shape[:axis] + (n + 1,) + grad.shape[axis + 1:])
        np.add.at(np.moveaxis(out, axis, 0), pad_index(n, lo, hi), np.moveaxis(grad, axis, 0))
        grad = np.take(out, np.arange(n), axis)
    return grad


SPATIAL = tuple(range(2, 2 + NDIM))


def contract(a, b):
    """sum over batch and spatial positions of a[n, i, *p] * b[n, j, *p] -> (i, j)."""
    return np.tensordot(a, b, axes=((0,) + SPATIAL, (0,) + SPATIAL))


def groups():
    ci, co = C_IN // GROUPS, C_OUT // GROUPS
    return [(slice(g * ci, (g + 1) * ci), slice(g * co, (g + 1) * co)) for g in range(GROUPS)]


def window(tap, count):
    return (slice(None), slice(None)) + tuple(
        slice(t * d, t * d + (c - 1) * s + 1, s) for t, d, s, c in zip(tap, DILATION, STRIDE, count))


FULL_SIZE = tuple((n - 1) * s + d * (k - 1) + 1 + op
                  for n, s, d, k, op in zip(IN_SIZE, STRIDE, DILATION, KERNEL, OUTPUT_PADDING))
CROP = (slice(None), slice(None)) + tuple(slice(lo, lo + o) for (lo, _), o in zip(PADDING, OUT_SIZE))


def conv(x, w, b=None):
    """The forward result for batched x (N, C_in, *in)."""
    taps = list(np.ndindex(*KERNEL))
    if not TRANSPOSED:
        xp, y = pad_input(x), np.zeros((x.shape[0], C_OUT) + OUT_SIZE)
        for tap in taps:
            patch = xp[window(tap, OUT_SIZE)]
            for gi, go in groups():
                y[:, go] += np.einsum("nc...,oc->no...", patch[:, gi], w[(go, slice(None)) + tap])
    else:
        full = np.zeros((x.shape[0], C_OUT) + FULL_SIZE)
        for tap in taps:
            view = full[window(tap, IN_SIZE)]
            for gi, go in groups():
                view[:, go] += np.einsum("nc...,co->no...", x[:, gi], w[(gi, slice(None)) + tap])
        y = full[CROP]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * NDIM)
    return y


def conv_vjp(x, w, g):
    """(grad_x, grad_w) of sum(g * conv(x, w)): the adjoint of conv, tap by tap."""
    taps = list(np.ndindex(*KERNEL))
    grad_w = np.zeros(w.shape)
    if not TRANSPOSED:
        xp = pad_input(x)
        grad_xp = np.zeros(xp.shape)
        for tap in taps:
            patch, grad_patch = xp[window(tap, OUT_SIZE)], grad_xp[window(tap, OUT_SIZE)]
            for gi, go in groups():
                grad_patch[:, gi] += np.einsum("no...,oc->nc...", g[:, go], w[(go, slice(None)) + tap])
                grad_w[(go, slice(None)) + tap] += contract(g[:, go], patch[:, gi])
        return unpad_gradient(grad_xp), grad_w
    grad_full = np.zeros((x.shape[0], C_OUT) + FULL_SIZE)
    grad_full[CROP] = g
    grad_x = np.zeros(x.shape)
    for tap in taps:
        view = grad_full[window(tap, IN_SIZE)]
        for gi, go in groups():
            grad_x[:, gi] += np.einsum("no...,co->nc...", view[:, go], w[(gi, slice(None)) + tap])
            grad_w[(gi, slice(None)) + tap] += contract(x[:, gi], view[:, go])
    return grad_x, grad_w


def expected(a):
    """The check's results from the definition, for the arrays a (a dict: x, w, b, grad_out, ...)."""
    batch = (lambda t: t) if BATCHED else (lambda t: None if t is None else t[None])
    unbatch = (lambda t: t) if BATCHED else (lambda t: t[0])
    x, g = batch(a["x"]), batch(a.get("grad_out"))
    w, b = a["w"], a["b"]
    if CHECK == "forward":
        return {"forward": unbatch(conv(x, w, b))}
    if CHECK == "gradient":
        grad_x, grad_w = conv_vjp(x, w, g)
        out = {"grad_input": unbatch(grad_x), "grad_weight": grad_w}
        if BIAS:
            out["grad_bias"] = g.sum(axis=(0,) + tuple(range(2, 2 + NDIM)))
        return out
    if CHECK == "jvp":
        return {"jvp": unbatch(conv(batch(a["dx"]), w, a["db"]) + conv(x, a["dw"]))}
    # double_vjp: x_bar is an input gradient through ggw, w_bar a weight gradient of ggx, g_bar a JVP.
    ggx, ggw = batch(a["ggx"]), a["ggw"]
    return {"double_vjp_input": unbatch(conv_vjp(x, ggw, g)[0]),
            "double_vjp_weight": conv_vjp(ggx, w, g)[1],
            "double_vjp_grad_out": unbatch(conv(ggx, w, a["ggb"]) + conv(x, ggw))}
'''


# ---- the library calls: each defines library(a) -> {result: array} for a dict of stored arrays --------


def _torch_conv(config: ConvConfig) -> str:
    ndim, mode = config.ndim, getattr(config, "padding_mode", "zeros")
    lines = ["def library_conv(x, w, b):", '    """The adapter\'s call (references/torch/functional.py)."""']
    if mode != "zeros":  # nn.ConvNd's padding_mode: F.pad with the mode, then no padding
        flat = [side for pair in reversed(config.resolved_padding) for side in pair]
        lines.append(f"    x = F.pad(x, {flat}, mode={mode!r})")
        pre_pad, padding, crop = None, 0, None
    else:
        pre_pad, padding, crop = torch_padding_args(config)
    if pre_pad is not None:
        lines.append(f"    x = F.pad(x, {list(pre_pad)})")
    if config.transposed:
        lines.append(f"    y = F.conv_transpose{ndim}d(x, w, b, stride={config.stride}, padding={padding!r}, "
                     f"output_padding={config.output_padding}, groups={config.groups}, dilation={config.dilation})")
    else:
        lines.append(f"    y = F.conv{ndim}d(x, w, b, stride={config.stride}, padding={padding!r}, "
                     f"dilation={config.dilation}, groups={config.groups})")
    if crop is not None:
        lead = "(slice(None), slice(None))" if getattr(config, "batched", True) else "(slice(None),)"
        lines.append(f"    y = y[{lead} + tuple(slice(lo, y.shape[-{ndim} + i] - hi) for i, (lo, hi) in "
                     f"enumerate({crop!r}))]")
    lines.append("    return y")
    return "\n".join(lines)


def _torch(spec: str, config: ConvConfig) -> str:
    return f'''
# ---- the library: torch.nn.functional, gradients by autograd -------------------------------------
try:
    import torch
    import torch.nn.functional as F
except ImportError as err:
    print(f"cannot import torch: {{err}}")
    sys.exit(2)

TORCH_DTYPE = getattr(torch, DTYPE)
if PRECISION == "highest":  # the adapter's "highest": every fp32 precision knob at "ieee"
    for backend, op in (("cudnn", "conv"), ("cuda", "matmul"), ("mkldnn", "conv"), ("mkldnn", "matmul")):
        knob = getattr(getattr(torch.backends, backend, None), op, None)
        if knob is not None and hasattr(knob, "fp32_precision"):
            knob.fp32_precision = "ieee"


def tensor(array, grad=False):
    return torch.from_numpy(array).to(device=DEVICE, dtype=TORCH_DTYPE).requires_grad_(grad)


def to_numpy(t):
    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


{_torch_conv(config)}


def library(a):
    keys = ["x", "w", "b"] if BIAS else ["x", "w"]
    if CHECK in ("forward", "invalid"):
        with torch.no_grad():
            return {{"forward": to_numpy(library_conv(tensor(a["x"]), tensor(a["w"]), tensor(a["b"]) if BIAS else None))}}
    if CHECK == "gradient":
        inputs = [tensor(a[k], True) for k in keys]
        y = library_conv(inputs[0], inputs[1], inputs[2] if BIAS else None)
        grads = torch.autograd.grad(y, inputs, grad_outputs=tensor(a["grad_out"]), allow_unused=True,
                                    materialize_grads=True)
        return dict(zip(["grad_input", "grad_weight", "grad_bias"], map(to_numpy, grads)))
    if CHECK == "jvp":
        tangents = [tensor(a[k]) for k in ["dx", "dw", "db"][:len(keys)]]
        f = lambda *p: library_conv(p[0], p[1], p[2] if BIAS else None)
        return {{"jvp": to_numpy(torch.func.jvp(f, tuple(tensor(a[k]) for k in keys), tuple(tangents))[1])}}
    if CHECK == "double_vjp":
        inputs = [tensor(a[k], True) for k in keys]
        g = tensor(a["grad_out"], True)
        y = library_conv(inputs[0], inputs[1], inputs[2] if BIAS else None)
        first = torch.autograd.grad(y, inputs, grad_outputs=g, create_graph=True, allow_unused=True,
                                    materialize_grads=True)
        cotangents = [tensor(a[k]) for k in ["ggx", "ggw", "ggb"][:len(keys)]]
        second = torch.autograd.grad(first, [inputs[0], inputs[1], g], grad_outputs=cotangents, allow_unused=True,
                                     materialize_grads=True)
        return dict(zip(["double_vjp_input", "double_vjp_weight", "double_vjp_grad_out"], map(to_numpy, second)))
    raise ValueError(CHECK)


def deterministic():
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
'''


def _jax_conv(config: ConvConfig) -> str:
    numbers = dimension_numbers(config.ndim)
    mode = getattr(config, "padding_mode", "zeros")
    lines = ["def library_conv(x, w, precision):", '    """The adapter\'s call (references/jax/lax.py)."""',
             f"    common = dict(rhs_dilation={config.dilation}, dimension_numbers={numbers!r}, precision=precision)"]
    if not config.transposed:
        padding = config.padding.upper() if isinstance(config.padding, str) else (
            string_padding(config) or [list(p) for p in config.padding])
        if mode != "zeros":
            jnp_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
            pairs = [[0, 0], [0, 0]] + [list(p) for p in config.resolved_padding]
            lines.append(f"    x = jnp.pad(x, {pairs}, mode={jnp_mode!r})")
            padding = [[0, 0]] * config.ndim
        lines.append(f"    return lax.conv_general_dilated(x, w, {config.stride}, {padding!r}, "
                     f"feature_group_count={config.groups}, preferred_element_type=PREFERRED, **common)")
    else:
        padding = [list(p) for p in transposed_padding(config)]
        if config.groups == 1:
            lines.append(f"    return lax.conv_transpose(x, w, {config.stride}, {padding!r}, transpose_kernel=True, "
                         f"preferred_element_type=PREFERRED, **common)")
        else:
            lines += [
                "    # (C_in, C_out/g, *k) -> (C_out, C_in/g, *k), flipped: the forward kernel of the stride-1 conv",
                "    c_in, per_group = w.shape[:2]",
                f"    w = w.reshape({config.groups}, c_in // {config.groups}, per_group, *w.shape[2:])",
                f"    w = jnp.swapaxes(w, 1, 2).reshape({config.groups} * per_group, c_in // {config.groups}, *w.shape[3:])",
                f"    w = jnp.flip(w, axis={tuple(range(2, 2 + config.ndim))})",
                f"    return lax.conv_general_dilated(x, w, {(1,) * config.ndim}, {padding!r}, "
                f"lhs_dilation={config.stride}, feature_group_count={config.groups}, "
                f"preferred_element_type=PREFERRED, **common)",
            ]
    return "\n".join(lines)


def _jax(spec: str, config: ConvConfig) -> str:
    half_bias = config.bias and config.dtype in ("float16", "bfloat16")
    return f'''
# ---- the library: jax.lax, gradients by jax.vjp / jax.jvp, eager (as the adapter calls it) -------
try:
    import jax
    import jax.numpy as jnp
    from jax import lax
except ImportError as err:
    print(f"cannot import jax: {{err}}")
    sys.exit(2)

if DTYPE == "float64":
    jax.config.update("jax_enable_x64", True)
JNP_DTYPE = getattr(jnp, DTYPE)
TARGET = jax.devices("cpu" if DEVICE == "cpu" else "gpu")[0]
# Half formats with a bias: convolve into float32, add the bias, round once (the adapter's rule).
PREFERRED = {"jnp.float32" if half_bias else "None"}


def tensor(array):
    return jax.device_put(np.asarray(array).astype(JNP_DTYPE), TARGET)


def to_numpy(t):
    out = np.asarray(t)
    return out.astype(np.float32) if out.dtype.name == "bfloat16" else out


{_jax_conv(config)}


def conv_with_bias(precision):
    shape = (1, -1) + (1,) * NDIM
    if not BIAS:
        return lambda x, w: library_conv(x, w, precision)
    return lambda x, w, b: (library_conv(x, w, precision) + b.astype(PREFERRED or b.dtype).reshape(shape)).astype(x.dtype)


def library(a):
    f = conv_with_bias(lax.Precision.HIGHEST if PRECISION == "highest" else None)
    keys = ["x", "w", "b"] if BIAS else ["x", "w"]
    primals = [tensor(a[k]) for k in keys]
    if CHECK in ("forward", "invalid"):
        return {{"forward": to_numpy(f(*primals))}}
    if CHECK == "gradient":
        _, pullback = jax.vjp(f, *primals)
        return dict(zip(["grad_input", "grad_weight", "grad_bias"], map(to_numpy, pullback(tensor(a["grad_out"])))))
    if CHECK == "jvp":
        tangents = tuple(tensor(a[k]) for k in ["dx", "dw", "db"][:len(keys)])
        return {{"jvp": to_numpy(jax.jvp(f, tuple(primals), tangents)[1])}}
    if CHECK == "double_vjp":
        first_vjp = lambda g, *p: jax.vjp(f, *p)[1](g)
        _, pullback = jax.vjp(first_vjp, tensor(a["grad_out"]), *primals)
        g_bar, x_bar, w_bar = pullback(tuple(tensor(a[k]) for k in ["ggx", "ggw", "ggb"][:len(keys)]))[:3]
        return {{"double_vjp_input": to_numpy(x_bar), "double_vjp_weight": to_numpy(w_bar),
                "double_vjp_grad_out": to_numpy(g_bar)}}
    raise ValueError(CHECK)


def deterministic():
    pass  # XLA:CPU has no switch; the adapter sets none
'''


def _tensorflow_conv(config: ConvConfig) -> str:
    ndim = config.ndim
    layout = {1: "NWC", 2: "NHWC", 3: "NDHWC"}[ndim]
    to_last = [0, *range(2, 2 + ndim), 1]
    to_first = [0, 1 + ndim, *range(1, 1 + ndim)]
    lines = ["def library_conv(x, w, b):",
             '    """TensorFlow\'s own op, channels-last on CPU: one tf.nn call (and tf.nn.bias_add)."""',
             f"    x = tf.transpose(x, {to_last})",
             f"    w = tf.transpose(w, {[*range(2, 2 + ndim), 1, 0]})  # (*k, C_in/groups, C_out) or (*k, C_out, C_in)"]
    mode = getattr(config, "padding_mode", "zeros")
    pairs = [list(p) for p in config.resolved_padding]
    if not config.transposed:
        if isinstance(config.padding, str) and mode == "zeros":
            padding = repr(config.padding.upper())
        elif string_padding(config, ("SAME",)):  # TF's own 'SAME' where the pairs are its (any stride)
            padding = "'SAME'"
        elif not any(lo or hi for lo, hi in config.resolved_padding):
            padding = "'VALID'"
        elif ndim == 2 and mode == "zeros":
            padding = repr([[0, 0], *pairs, [0, 0]])  # conv2d's explicit padding list
        else:
            tf_mode = "CONSTANT" if mode == "zeros" else "REFLECT"
            lines.append(f"    x = tf.pad(x, {[[0, 0], *pairs, [0, 0]]}, mode={tf_mode!r})")
            padding = "'VALID'"
        call = "tf.nn.conv2d" if ndim == 2 else "tf.nn.convolution"
        lines.append(f"    y = {call}(x, w, strides={list(config.stride)}, padding={padding}, "
                     f"dilations={list(config.dilation)}, data_format={layout!r})")
    else:
        full = [(n - 1) * s + d * (k - 1) + 1 + op for n, s, d, k, op in
                zip(config.in_size, config.stride, config.dilation, config.kernel, config.output_padding)]
        lines.append(f"    y = tf.nn.conv_transpose(x, w, output_shape={[config.batch, *full, config.out_channels]}, "
                     f"strides={list(config.stride)}, padding='VALID', dilations={list(config.dilation)}, "
                     f"data_format={layout!r})")
        crop = ", ".join(f"{lo}:{lo + o}" for (lo, _), o in zip(config.resolved_padding, config.out_size))
        lines.append(f"    y = y[:, {crop}, :]")
    lines += ["    if b is not None:", "        y = tf.nn.bias_add(y, b)", f"    return tf.transpose(y, {to_first})"]
    return "\n".join(lines)


def _tensorflow(spec: str, config: ConvConfig) -> str:
    return f'''
# ---- the library: TensorFlow's own convolution op, gradients by tf.GradientTape ------------------
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    import tensorflow as tf
except ImportError as err:
    print(f"cannot import tensorflow: {{err}}")
    sys.exit(2)

TF_DTYPE = getattr(tf, DTYPE)
if PRECISION == "highest":
    tf.config.experimental.enable_tensor_float_32_execution(False)
ZERO = tf.UnconnectedGradients.ZERO


def tensor(array):
    return tf.cast(tf.constant(np.asarray(array)), TF_DTYPE)


def to_numpy(t):
    return (tf.cast(t, tf.float32) if t.dtype == tf.bfloat16 else t).numpy()


{_tensorflow_conv(config)}


def library(a):
    keys = ["x", "w", "b"] if BIAS else ["x", "w"]
    with tf.device("/CPU:0"):
        primals = [tensor(a[k]) for k in keys]
        f = lambda p: library_conv(p[0], p[1], p[2] if BIAS else None)
        if CHECK in ("forward", "invalid"):
            return {{"forward": to_numpy(f(primals))}}
        if CHECK == "gradient":
            with tf.GradientTape() as tape:
                tape.watch(primals)
                y = f(primals)
            grads = tape.gradient(y, primals, output_gradients=tensor(a["grad_out"]), unconnected_gradients=ZERO)
            return dict(zip(["grad_input", "grad_weight", "grad_bias"], map(to_numpy, grads)))
        if CHECK == "jvp":
            tangents = [tensor(a[k]) for k in ["dx", "dw", "db"][:len(keys)]]
            with tf.autodiff.ForwardAccumulator(primals, tangents) as accumulator:
                y = f(primals)
            return {{"jvp": to_numpy(accumulator.jvp(y, unconnected_gradients=ZERO))}}
        if CHECK == "double_vjp":
            g = tensor(a["grad_out"])
            with tf.GradientTape() as outer:
                outer.watch(primals + [g])
                with tf.GradientTape() as inner:
                    inner.watch(primals)
                    y = f(primals)
                first = inner.gradient(y, primals, output_gradients=g, unconnected_gradients=ZERO)
            cotangents = [tensor(a[k]) for k in ["ggx", "ggw", "ggb"][:len(keys)]]
            second = outer.gradient(first, [primals[0], primals[1], g], output_gradients=cotangents,
                                    unconnected_gradients=ZERO)
            return dict(zip(["double_vjp_input", "double_vjp_weight", "double_vjp_grad_out"], map(to_numpy, second)))
    raise ValueError(CHECK)


def deterministic():
    tf.config.experimental.enable_op_determinism()
'''


def _plugin(spec: str, config: ConvConfig) -> str:
    module, _, attribute = spec.partition(":")
    return f'''
# ---- the library: the plugin {spec}, called as the harness calls it ---------------------------------
# The plugin's module imports `conformance` for its base class. This script does not need the
# harness: it puts a small stand-in module `conformance` into sys.modules first, with an
# Implementation base class and a ConvConfig that carries this call's fields and derived
# properties (output_shape, resolved_padding, out_size, input_shape, weight_shape, op_name, ...).
import types


class Implementation:
    name, devices, dtypes, is_reference = "", ("cpu",), ("float64", "float32", "float16", "bfloat16"), False
    max_ci_examples, environment = None, {{}}

    def supports(self, config, device="cpu", **_):
        return None

    def supported_dtypes(self, device="cpu", check="forward"):
        return tuple(self.dtypes)

    def forward(self, config, x, w, b=None, device="cpu"):
        raise NotImplementedError(type(self).__name__ + ".forward")

    def vjp(self, config, x, w, b, grad_out, device="cpu"):
        raise NotImplementedError(type(self).__name__ + ".vjp")

    def arithmetic(self, config, device="cpu"):
        return default_arithmetic(config.dtype)

    def versions(self):
        return {{}}

    def settings(self, device="cpu"):
        return {{}}


class Arithmetic(types.SimpleNamespace):
    pass


def default_arithmetic(dtype):
    half = dtype in ("float16", "bfloat16")
    return Arithmetic(accumulation="float32" if half else dtype, output=dtype, operands=None, note="")


class ConvConfig(types.SimpleNamespace):
    """This call's fields (conformance.config.ConvConfig's names) and derived properties."""

    @property
    def resolved_padding(self):
        return _resolve(self)

    @property
    def out_size(self):
        sizes = []
        for n, k, s, d, (lo, hi), op in zip(self.in_size, self.kernel, self.stride, self.dilation,
                                            self.resolved_padding, self.output_padding):
            sizes.append((n - 1) * s - lo - hi + d * (k - 1) + op + 1 if self.transposed
                         else (n + lo + hi - d * (k - 1) - 1) // s + 1)
        return tuple(sizes)

    input_shape = property(lambda c: ((c.batch,) if c.batched else ()) + (c.in_channels,) + tuple(c.in_size))
    output_shape = property(lambda c: ((c.batch,) if c.batched else ()) + (c.out_channels,) + c.out_size)
    weight_shape = property(lambda c: ((c.in_channels, c.out_channels // c.groups) if c.transposed
                                       else (c.out_channels, c.in_channels // c.groups)) + tuple(c.kernel))
    bias_shape = property(lambda c: (c.out_channels,) if c.bias else None)
    op_name = property(lambda c: f"conv{{'_transpose' if c.transposed else ''}}{{c.ndim}}d")
    is_asymmetric = property(lambda c: any(lo != hi for lo, hi in c.resolved_padding))
    taps_on_lattice = property(lambda c: int(np.prod([-(-k // (s // np.gcd(s, d)))
                                                      for k, s, d in zip(c.kernel, c.stride, c.dilation)])))
    reduction_length = property(lambda c: c.in_channels // c.groups
                                * (c.taps_on_lattice if c.transposed else int(np.prod(c.kernel))))

    def replace(self, **changes):
        return ConvConfig(**dict(vars(self), **changes))

    def to_dict(self):
        return dict(vars(self))

    def broken_rules(self):
        return list(BROKEN_RULES) if self is _CALL_CONFIG else []

    def __str__(self):
        return CONFIG_STR


def _resolve(c):
    if c.padding == "valid":
        return ((0, 0),) * c.ndim
    if c.padding == "same":
        return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(c.kernel, c.dilation))
    return tuple(tuple(pair) for pair in c.padding)


def _as_config(fields):
    fields = dict(fields)
    for name in ("in_size", "kernel", "stride", "dilation", "output_padding"):
        fields[name] = tuple(fields[name])
    if not isinstance(fields["padding"], str):
        fields["padding"] = tuple(tuple(pair) for pair in fields["padding"])
    fields.setdefault("padding_mode", "zeros")
    fields.setdefault("memory_format", "contiguous")
    fields.setdefault("batched", True)
    return ConvConfig(**fields)


CONFIG_STR = {str(config)!r}
BROKEN_RULES = {config.broken_rules()!r}
_CALL_CONFIG = _as_config(CONFIG)
_stub = types.ModuleType("conformance")
_stub.__doc__ = "a stand-in for the conv-conformance harness, made by a standalone reproducer"
for _name in ("Implementation", "ConvConfig", "Arithmetic", "default_arithmetic", "round_to_dtype"):
    setattr(_stub, _name, globals()[_name])
_stub.to_storage = lambda values, dtype: round_to_dtype(values, dtype).astype(STORAGE)
for _sub in ("", ".config", ".registry", ".arithmetic", ".dtypes"):
    sys.modules["conformance" + _sub] = _stub

sys.path.insert(0, os.getcwd())  # the plugin is imported from where you run this, as --impl does
import importlib  # noqa: E402

try:
    _target = importlib.import_module({module!r})
except ImportError as err:
    print(f"cannot import the plugin module {module!r}: {{type(err).__name__}}: {{err}}")
    sys.exit(2)
for _part in {attribute!r}.split("."):
    _target = getattr(_target, _part)
IMPL = _target if isinstance(_target, Implementation) else _target()
if PRECISION != "default" and hasattr(IMPL, "precision"):
    IMPL.precision = PRECISION
METHOD_RESULTS = {{"forward": ("forward",), "invalid": ("forward",), "jvp": ("jvp",),
                  "gradient": ("grad_input", "grad_weight", "grad_bias"),
                  "double_vjp": ("double_vjp_input", "double_vjp_weight", "double_vjp_grad_out")}}


def library(a):
    c = _CALL_CONFIG
    if CHECK in ("forward", "invalid"):
        returned = IMPL.forward(c, a["x"], a["w"], a["b"], DEVICE)
    elif CHECK == "gradient":
        returned = IMPL.vjp(c, a["x"], a["w"], a["b"], a["grad_out"], DEVICE)
    elif CHECK == "jvp":
        returned = IMPL.jvp(c, a["x"], a["w"], a["b"], a["dx"], a["dw"], a["db"], DEVICE)
    else:
        returned = IMPL.double_vjp(c, a["x"], a["w"], a["b"], a["grad_out"], a["ggx"], a["ggw"], a["ggb"], DEVICE)
    names = METHOD_RESULTS[CHECK]
    if len(names) == 1:
        return {{names[0]: returned}}
    if not isinstance(returned, (tuple, list)) or len(returned) != len(names):
        raise TypeError(f"{{type(IMPL).__name__}} returned {{type(returned).__name__}}, expected a tuple of {{len(names)}}")
    return dict(zip(names, returned))


def deterministic():
    settings = getattr(IMPL, "deterministic", None)
    if callable(settings):
        settings().__enter__()
'''


_LIBRARY = {"torch": _torch, "jax": _jax, "tensorflow": _tensorflow, "plugin": _plugin}


_MAIN = '''
# ---- run, compare, verdict -----------------------------------------------------------------------
def judge(name, got, exact, abs_sum):
    """True when this result diverges; prints what was seen against what was expected."""
    if got is None:
        print(f"{name}: no result returned, expected an array of shape {exact.shape}")
        return True
    got = np.asarray(got)
    if got.dtype.kind not in "fiu":
        print(f"{name}: returned {got.dtype} values, expected floats of shape {exact.shape}")
        return True
    values = got.astype(np.float64)
    if values.shape != exact.shape:
        print(f"{name}: shape {values.shape}, expected {exact.shape}  <-- SHAPE MISMATCH")
        return True
    bound = FACTOR[name] * np.abs(abs_sum) + U_OUT * np.abs(exact) + ETA
    finite = np.isfinite(values)
    accepted_inf = (np.abs(exact) > LARGEST_FINITE) & np.isinf(values) & (np.sign(values) == np.sign(exact))
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.where(accepted_inf, 0.0, np.where(finite, np.abs(values - exact), np.inf))
        ratio = np.where(bound > 0, error / bound, np.where(error > 0, np.inf, 0.0))
    if values.size == 0:
        print(f"{name}: empty, shape {values.shape} as expected")
        return False
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    beyond = int((ratio > 1).sum())
    print(f"{name}{list(map(int, worst))} = {float(values[worst])!r}, expected {float(exact[worst])!r} "
          f"(error {error[worst]:.3g} = {ratio[worst]:.3g} x bound {bound[worst]:.3g}; "
          f"{beyond} of {values.size} elements beyond)")
    nonfinite = ~finite & ~accepted_inf
    if nonfinite.any():
        print(f"{name}: {int(nonfinite.sum())} non-finite elements where the definition is finite  <-- NONFINITE")
        return True
    if beyond:
        print(f"{name}: {beyond} elements beyond the bound  <-- VALUE MISMATCH")
        return True
    unrounded = round_to_dtype(values, OUTPUT_FORMAT) != values
    if unrounded.any():
        print(f"{name}: {int(unrounded.sum())} values are not {OUTPUT_FORMAT} values  <-- RESULT NOT IN FORMAT")
        return True
    return False


def run_twice(a):
    deterministic()
    saved = CHECK
    runs = []
    for _ in range(2):
        out = {}
        for check in ("forward", "gradient"):
            globals()["CHECK"] = check
            out.update(library(a))
        runs.append(out)
    globals()["CHECK"] = saved
    return runs


def main():
    names = {"x": X, "w": W, "b": B}
    names.update({k: globals()[k.upper()] for k in ("grad_out", "dx", "dw", "db", "ggx", "ggw", "ggb")
                  if k.upper() in globals()})
    stored_inputs = {k: stored(k, v) for k, v in names.items()}
    print(f"{CONFIG_LINE}")
    try:
        if CHECK == "determinism":
            first, second = run_twice(stored_inputs)
        else:
            got = library(stored_inputs)
    except Exception as err:  # the library refused or failed: for an invalid call, the right answer
        text = str(err).strip().splitlines()[0][:400] if str(err).strip() else ""
        print(f"raised {type(err).__name__}: {text}")
        if CHECK == "invalid":
            print("does not reproduce: the invalid call was refused")
            return 0
        print("REPRODUCES: the call raised")
        return 1
    if CHECK == "invalid":
        y = got["forward"]
        print(f"accepted the invalid call: returned {type(y).__name__} of shape {getattr(y, 'shape', '?')}")
        print("REPRODUCES: the invalid call was accepted instead of raising")
        return 1
    if CHECK == "determinism":
        for name, value in first.items():
            a, b = np.ascontiguousarray(value), np.ascontiguousarray(second.get(name))
            if a.shape != b.shape or a.dtype != b.dtype or a.tobytes() != b.tobytes():
                print(f"{name}: the second identical call differs bitwise from the first")
                print("REPRODUCES: not bitwise repeatable")
                return 1
        print("does not reproduce: both calls bitwise identical (" + ", ".join(sorted(first)) + ")")
        return 0
    exact = expected(names)
    absolute = expected({k: None if v is None else np.abs(v) for k, v in names.items()})
    diverges = [name for name in exact if judge(name, got.get(name), exact[name], absolute[name])]
    extra = [name for name, value in got.items() if name not in exact and value is not None]
    for name in extra:
        print(f"{name} returned for a call without it  <-- UNEXPECTED RESULT")
    if diverges or extra:
        print("REPRODUCES: " + ", ".join(diverges + extra) + " diverge")
        return 1
    print("does not reproduce: every result within its bound")
    return 0


if __name__ == "__main__":
    try:
        status = main()
    except Exception:  # a failure of this script's own code, not of the library: cannot check
        import traceback

        traceback.print_exc()
        print("this script failed before it could judge the call (exit status 2)")
        status = 2
    sys.exit(status)
'''
