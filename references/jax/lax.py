"""JAX adapter: jax.lax.conv_general_dilated / jax.lax.conv_transpose, gradients by jax.vjp.

Arrays keep PyTorch's layouts (channels first), described to XLA by dimension numbers:
x: (N, C_in, *in_size) as 'NCH' / 'NCHW' / 'NCHWD'; w: (C_out, C_in/groups, *kernel) as
'OIH' / 'OIHW' / 'OIHWD' (for transposed: (C_in, C_out/groups, *kernel), see below); b: (C_out,).
NumPy in (the config dtype's storage type), NumPy out (bfloat16 results as float32 arrays).

jax is imported on first use. Calls run eagerly (no jit per example: every new shape would
compile anyway). float64 enables x64 only around the call (`jax.enable_x64`, a context-local
setting), so the rest of the process keeps JAX's float32 default.

Transposed convolution in PyTorch's meaning is the gradient of an ordinary convolution, i.e. a
stride-1 convolution over the input dilated by `stride` (lhs_dilation) with the kernel flipped
and its channel axes swapped, padded per dim by

    lo' = d*(k-1) - lo,    hi' = d*(k-1) - hi + output_padding.

groups == 1 goes through jax.lax.conv_transpose(transpose_kernel=True), which does exactly that
(explicit pairs are passed through unchanged); groups > 1 through conv_general_dilated with the
kernel rearranged here, because conv_transpose has no feature_group_count. Both use lhs_dilation,
the path users' code (lax.conv_transpose, Flax ConvTranspose) takes: XLA:CPU is known to abort
the process on the gradients of some of these configs (see tests/repro/).
"""

from __future__ import annotations

import contextlib
import importlib

import numpy as np

from conformance.arithmetic import Arithmetic, default_arithmetic
from conformance.call_forms import dimension_numbers, string_padding, transposed_padding
from conformance.capabilities import TRANSPOSED_OPS, Gap, no_padding_modes
from conformance.config import ConvConfig
from conformance.definitions import Definition, same_upper_pairs
from references._adapter import FrameworkAdapter

__all__ = [
    "JaxAdapter",
    "JNP_PAD_MODES",
    "Layout",
    "dimension_numbers",
    "transposed_padding",
    "gpu_unavailable_reason",
    "gpu_supports_tf32",
]


# jax_default_matmul_precision values that keep full float32 on GPUs (None/"default"/"high"/
# "tensorfloat32"/"bfloat16" all let XLA:GPU use TF32 on Ampere and later).
_FULL_FP32_NAMES = ("highest", "float32", "F32_F32_F32")


def _jax():
    return importlib.import_module("jax")


# ---- device selection (small functions so tests can monkeypatch them on a CPU machine) ----


def _jax_device(jax, device: str):
    if device == "cpu":
        return jax.devices("cpu")[0]
    return jax.devices("gpu")[0]


def gpu_unavailable_reason(jax=None) -> str | None:
    """None when JAX has a GPU backend, else a sentence naming the backends it sees."""
    jax = jax or _jax()
    try:
        jax.devices("gpu")
        return None
    except RuntimeError as err:
        seen = ", ".join(sorted({d.platform for d in jax.devices()}))
        first_line = str(err).splitlines()[0][:160]
        return f"jax {jax.__version__}: no GPU backend (backends seen: {seen}; jax.devices('gpu'): {first_line})"


def gpu_supports_tf32(jax=None) -> bool:
    """TF32 exists on NVIDIA compute capability >= 8.0; ROCm/other GPUs: assume not."""
    jax = jax or _jax()
    capability = getattr(jax.devices("gpu")[0], "compute_capability", None)
    if not capability:
        return False
    return tuple(int(part) for part in str(capability).split(".")[:2]) >= (8, 0)


# ---- the convolution ------------------------------------------------------------------------


def _grouped_transpose_kernel(jnp, w, groups: int, ndim: int):
    """(C_in, C_out/g, *k) -> (C_out, C_in/g, *k), flipped spatially: the forward kernel of the
    stride-1 convolution that computes the transposed one (in/out swapped within each group)."""
    c_in, out_per_group = w.shape[:2]
    kernel = w.shape[2:]
    w = w.reshape(groups, c_in // groups, out_per_group, *kernel)
    w = jnp.swapaxes(w, 1, 2).reshape(groups * out_per_group, c_in // groups, *kernel)
    return jnp.flip(w, axis=tuple(range(2, 2 + ndim)))


# jnp.pad's names for PyTorch's padding modes (circular is "wrap": each pad <= the input size).
JNP_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Layout:
    """How the arrays go to XLA: their axis order and the dimension numbers that describe it.

    channels_last hands XLA the channels-innermost arrays the harness built (x as 'NHWC', the weight
    as 'OHWI', the output asked for as 'NHWC'), as a JAX user with NHWC data would call; otherwise
    PyTorch's channels-first order. The grouped transposed kernel is rearranged in PyTorch's order,
    so its weight stays 'OIHW'.
    """

    def __init__(self, config: ConvConfig) -> None:
        spatial = "HWD"[:config.ndim]
        n = config.ndim
        self.channels_last = config.memory_format == "channels_last"
        weight_last = self.channels_last and not (config.transposed and config.groups > 1)
        self.activation_axes = (0, *range(2, n + 2), 1) if self.channels_last else tuple(range(n + 2))
        self.weight_axes = (0, *range(2, n + 2), 1) if weight_last else tuple(range(n + 2))
        lhs = "N" + spatial + "C" if self.channels_last else "NC" + spatial
        rhs = "O" + spatial + "I" if weight_last else "OI" + spatial
        self.numbers = (lhs, rhs, lhs)
        self.bias_shape = (1,) * (n + 1) + (-1,) if self.channels_last else (1, -1) + (1,) * n
        self.spatial_axes = tuple(range(1, n + 1)) if self.channels_last else tuple(range(2, n + 2))

    def to_xla(self, array, role: str):
        """A NumPy array in PyTorch's index order -> the axis order XLA is told about."""
        if array is None or role == "bias":
            return array
        axes = self.activation_axes if role == "activation" else self.weight_axes
        if np.ndim(array) != len(axes):
            return array  # the wrong rank (an invalid call): handed over as it is, for lax to refuse
        return np.transpose(array, axes)

    def from_xla(self, array, role: str):
        """The inverse of to_xla, for results (a view: a channels_last result stays channels_last)."""
        if array is None or role == "bias":
            return array
        axes = self.activation_axes if role == "activation" else self.weight_axes
        return np.transpose(array, np.argsort(axes))


def _conv(jax, config: ConvConfig, x, w, precision, preferred, layout: Layout | None = None):
    lax, jnp = jax.lax, jax.numpy
    layout = layout or Layout(config)
    numbers = layout.numbers
    common = dict(rhs_dilation=config.dilation, dimension_numbers=numbers, precision=precision,
                  preferred_element_type=preferred)
    if not config.transposed:
        # lax's own 'SAME' / 'SAME_LOWER' where the pairs are theirs (any stride): the string is the call.
        padding = config.padding.upper() if isinstance(config.padding, str) else (
            string_padding(config) or list(config.padding))
        if config.padding_mode != "zeros":
            # What PyTorch's padding_mode means, as a JAX user writes it: jnp.pad, then no padding.
            widths = [(0, 0)] * x.ndim
            for axis, pair in zip(layout.spatial_axes, same_upper_pairs(config)):
                widths[axis] = pair
            x = jnp.pad(x, widths, mode=JNP_PAD_MODES[config.padding_mode])
            padding = [(0, 0)] * config.ndim
        return lax.conv_general_dilated(x, w, config.stride, padding, feature_group_count=config.groups, **common)
    # Negative entries in these pairs crop. They go to XLA as negative padding, which is what
    # lax.conv_transpose itself emits for such padding (its use_consistent_padding mode computes
    # the same pairs): that is the path users meet. XLA:CPU computes some float32 weight gradients
    # wrongly when low padding is negative and high padding positive (openxla/xla#48713); the
    # harness should see that, so the adapter does not slice around it.
    padding = list(transposed_padding(config))
    if config.groups == 1:
        # The torch weight (C_in, C_out, *k) is the 'OIHW' kernel of the forward convolution whose
        # gradient this is (O = C_in); transpose_kernel=True flips it and swaps O and I.
        return lax.conv_transpose(x, w, config.stride, padding, transpose_kernel=True, **common)
    kernel = _grouped_transpose_kernel(jnp, w, config.groups, config.ndim)
    ones = (1,) * config.ndim
    return lax.conv_general_dilated(x, kernel, ones, padding, lhs_dilation=config.stride,
                                    feature_group_count=config.groups, **common)


def _conv_with_bias(jax, config: ConvConfig, precision, layout: Layout | None = None):
    """f(x, w[, b]) -> y, all in the config dtype.

    Half formats with a bias: PyTorch's conv-with-bias rounds once. Adding the bias to an already
    rounded half result would round twice (Flax does this, but it is the adapter's composition, not
    JAX's convolution), so the convolution returns float32 (preferred_element_type), the bias is
    added in float32 and the sum is rounded once. Without a bias the plain half convolution runs.
    """
    jnp = jax.numpy
    half = config.dtype in ("float16", "bfloat16")
    layout = layout or Layout(config)
    shape = layout.bias_shape

    def conv(x, w):
        return _conv(jax, config, x, w, precision, None, layout)

    def conv_bias(x, w, b):
        if half:
            y = _conv(jax, config, x, w, precision, jnp.float32, layout)
            return (y + b.astype(jnp.float32).reshape(shape)).astype(x.dtype)
        return _conv(jax, config, x, w, precision, None, layout) + b.reshape(shape)

    return conv_bias if config.bias else conv


class JaxAdapter(FrameworkAdapter):
    """jax.lax convolutions on "cpu" or "cuda" (JAX's GPU backend); see the module docstring."""

    name = "jax"
    gaps = (Gap("unbatched", "lax.conv_general_dilated takes rank n+2 arrays with a batch dimension; JAX has no "
                             "unbatched convolution call"),
            *no_padding_modes("lax has no padding_mode; PyTorch's is jnp.pad before an ordinary convolution only",
                              ops=TRANSPOSED_OPS),
            # A JAX user states the transposed call's padding, not an output_padding: PyTorch's output_padding
            # is extra high padding here, so "too large" is only more padding, never a call a user makes.
            Gap("output_padding>=max(stride, dilation)", "lax.conv_transpose has no output_padding argument (the "
                "adapter adds PyTorch's to the high padding): its limit has no JAX form", ops=TRANSPOSED_OPS))
    # What lax defines where PyTorch's rules refuse (conformance.definitions): lax's padding pairs may be
    # negative (a crop), an output may be empty, and padding='SAME' takes any stride.
    defines = (Definition("padding >= 0", "crop", "lax.conv_general_dilated: a negative padding pair crops",
                          padding_modes=("zeros",)),  # jnp.pad refuses a negative width
               Definition("dilated kernel fits the padded input", "empty_output",
                          "lax.conv_general_dilated: an output of size 0 where the dilated kernel is larger "
                          "than the padded input"),
               Definition("'same' needs stride 1", "same_upper", "lax.padtype_to_pads: padding='SAME' for any "
                          "stride, ceil(in / stride) outputs, the odd pad at the end"))
    # Eager JAX compiles each primitive for each new shape: 0.3 s a forward, 0.8 s a gradient and
    # about 4 s a double VJP per new example on a cold cache here (benchmarks/costs.py), the most of
    # any path but torch.compile. 15 a test: more than the ~14 it ran before the capability
    # declarations, when 28% of its draws were refused (benchmarks/README.md, issue #32).
    max_ci_examples = 15

    # ---- declarations ----

    def gpu_unavailable_reason(self) -> str | None:
        return gpu_unavailable_reason()

    def arithmetic(self, config: ConvConfig, device: str = "cpu") -> Arithmetic:
        if config.dtype != "float32" or self.precision == "highest" or device != "cuda":
            # XLA:CPU computes float32 convolutions in full float32 whatever the precision setting.
            return default_arithmetic(config.dtype)
        jax = _jax()
        default = jax.config.jax_default_matmul_precision
        if gpu_unavailable_reason(jax) is None and gpu_supports_tf32(jax) and str(default) not in _FULL_FP32_NAMES:
            return Arithmetic(accumulation="float32", output="float32", operands="tfloat32",
                              note=f"XLA:GPU TF32 (jax_default_matmul_precision={default!r})")
        return default_arithmetic("float32")

    def versions(self) -> dict[str, str]:
        jax = _jax()
        jaxlib = importlib.import_module("jaxlib")
        return {"jax": jax.__version__, "jaxlib": getattr(jaxlib, "__version__", "unknown")}

    def settings(self, device: str = "cpu") -> dict[str, object]:
        jax = _jax()
        found: dict[str, object] = {
            "adapter.precision": self.precision,
            "per-call precision": "HIGHEST" if self.precision == "highest" else "None (config default)",
            "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            "jax_enable_x64": jax.config.jax_enable_x64,
            "x64 during float64 calls": True,
            "jax.default_backend()": jax.default_backend(),
        }
        if device == "cuda" and gpu_unavailable_reason(jax) is None:
            gpu = jax.devices("gpu")[0]
            found["gpu.device_kind"] = gpu.device_kind
            found["gpu.compute_capability"] = str(getattr(gpu, "compute_capability", "unknown"))
        return found

    # ---- computation ----

    def _x64(self, jax, config: ConvConfig):
        return jax.enable_x64(True) if config.dtype == "float64" else contextlib.nullcontext()

    def _array(self, jax, array, config: ConvConfig, target):
        jnp = jax.numpy
        dtype = {"float64": jnp.float64, "float32": jnp.float32, "float16": jnp.float16, "bfloat16": jnp.bfloat16}
        # bfloat16 arrives as bfloat16-exact float32 values: the NumPy (ml_dtypes) cast is exact.
        return jax.device_put(np.asarray(array).astype(dtype[config.dtype]), target)

    @staticmethod
    def _numpy(array, target) -> np.ndarray:
        if array.devices() != {target}:
            raise RuntimeError(f"jax computed on {array.devices()}, not on the requested device {target}")
        result = np.asarray(array)
        return result.astype(np.float32) if result.dtype.name == "bfloat16" else result

    def _setup(self, device: str):
        jax = _jax()
        reason = self.supports_device(device)
        if reason:
            raise RuntimeError(reason)
        precision = jax.lax.Precision.HIGHEST if self.precision == "highest" else None
        return jax, _jax_device(jax, device), precision

    def _arrays(self, jax, config: ConvConfig, layout: Layout, target, x, w, b):
        """x, w[, b] as JAX arrays in the layout's axis order (b only with a bias)."""
        pairs = ((x, "activation"), (w, "weight"), (b, "bias"))[:3 if config.bias else 2]
        return [self._array(jax, layout.to_xla(a, role), config, target) for a, role in pairs]

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        jax, target, precision = self._setup(device)
        layout = Layout(config)
        with self._x64(jax, config):
            y = _conv_with_bias(jax, config, precision, layout)(*self._arrays(jax, config, layout, target, x, w, b))
            return layout.from_xla(self._numpy(y, target), "activation")

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        jax, target, precision = self._setup(device)
        layout = Layout(config)
        with self._x64(jax, config):
            args = self._arrays(jax, config, layout, target, x, w, b)
            y, pullback = jax.vjp(_conv_with_bias(jax, config, precision, layout), *args)
            grads = pullback(self._array(jax, layout.to_xla(grad_out, "activation"), config, target))
            grads = [self._numpy(g, target) for g in grads]
        return (layout.from_xla(grads[0], "activation"), layout.from_xla(grads[1], "weight"),
                grads[2] if config.bias else None)

    def jvp(self, config: ConvConfig, x, w, b, dx, dw, db, device: str = "cpu"):
        """Forward mode through jax.jvp."""
        jax, target, precision = self._setup(device)
        layout = Layout(config)
        with self._x64(jax, config):
            primals = self._arrays(jax, config, layout, target, x, w, b)
            tangents = self._arrays(jax, config, layout, target, dx, dw, db)
            _, dy = jax.jvp(_conv_with_bias(jax, config, precision, layout), tuple(primals), tuple(tangents))
            return layout.from_xla(self._numpy(dy, target), "activation")

    def double_vjp(self, config: ConvConfig, x, w, b, grad_out, ggx, ggw, ggb, device: str = "cpu"):
        """jax.vjp of the map (x, w, b, g) -> the VJP's results."""
        jax, target, precision = self._setup(device)
        layout = Layout(config)
        conv = _conv_with_bias(jax, config, precision, layout)
        with self._x64(jax, config):
            args = self._arrays(jax, config, layout, target, x, w, b)

            def first_vjp(g, *primals):
                return jax.vjp(conv, *primals)[1](g)

            g = self._array(jax, layout.to_xla(grad_out, "activation"), config, target)
            _, pullback = jax.vjp(first_vjp, g, *args)
            cotangents = tuple(self._arrays(jax, config, layout, target, ggx, ggw, ggb))
            g_bar, x_bar, w_bar = pullback(cotangents)[:3]
            return (layout.from_xla(self._numpy(x_bar, target), "activation"),
                    layout.from_xla(self._numpy(w_bar, target), "weight"),
                    layout.from_xla(self._numpy(g_bar, target), "activation"))
