"""tensorflow.composed: the harness's composition of TensorFlow ops, not a TF user's single call.

The project's PyTorch-convention calls computed by composing TensorFlow's public ops where TF's own
call refuses them (per-group calls, subsampling, zero insertion). TensorFlow's own single call per
config, with its refusals recorded, is "tensorflow" (references.tensorflow.native).

Importing this module does not import TensorFlow; the first call that needs it does (through
`references.tensorflow._ops`, which holds the TensorFlow graph of each case).

Which TensorFlow API each case exercises (details in `references.tensorflow._ops`):

==========================================  =================================================================
case                                        TensorFlow API
==========================================  =================================================================
conv, dilation 1                            tf.nn.conv1d / conv2d / conv3d, TF strides; "SAME"/"VALID"
                                            strings for "same"/"valid"; conv2d's explicit padding list
                                            for 2-d pairs, tf.pad + "VALID" for 1-d/3-d pairs
conv, dilation > 1                          tf.nn.convolution(dilations=d, strides=1), then a strided
                                            slice for stride > 1 (tf.nn.convolution refuses both together)
conv, groups > 1                            one call per group, tf.split / tf.concat (CPU has no grouped
                                            gradients and no grouped Conv3D)
conv_transpose, groups 1, dilation 1        tf.nn.conv_transpose("VALID", output_shape) + crop
conv_transpose, groups > 1 or dilation > 1  zero insertion + the conv routes above with the flipped kernel
bias                                        tf.nn.bias_add
gradients                                   tf.GradientTape through the same graph
==========================================  =================================================================

Devices: "cpu" computes under tf.device('/CPU:0') channels-last (NWC/NHWC/NDHWC: TF's CPU kernels
are channels-last); "cuda" under tf.device('/GPU:0') channels-first (NCW/NCHW/NCDHW), and the
result must report a GPU device.

Arithmetic (measured on this CPU, see `arithmetic` and tests/repro/tf_half_precision_rounding.py):
float32 and float64 accumulate in their own format. The half formats do not always accumulate in
float32 and round once:
- float16 on CPU: gradients round partial sums to float16 (up to 16 u against the float32 model on
  positive data), and so do some forward kernels (small convolutions: up to 4 u), and the bias
  gradient; declared as float16 accumulation for every result.
- bfloat16 on CPU: the forward accumulates in float32. Gradients taken by oneDNN do too (1.0 u on
  positive data), but others round to bfloat16 (conv2d with an explicit padding list: 4.6 u on 6
  terms; every gradient with TF_ENABLE_ONEDNN_OPTS=0), and the bias gradient is summed in
  bfloat16; declared as bfloat16 accumulation for the three gradients.
- both, on every device: tf.nn has no fused conv + bias, so a forward result with bias is rounded
  twice (before and after tf.nn.bias_add).
`arithmetic()` declares what the harness's model asks of every framework (half formats accumulate in
float32 and round once), so the extra roundings above show as divergences, filed as precision
entries in conformance/known_divergences.toml; `measured_arithmetic(config, device, check)` states
what TF was measured to do, per result.

Known upstream divergence (not worked around): with oneDNN on, float32/bfloat16 convolutions of an
empty batch (N = 0) return a tensor of the *input's* shape; a bias add then raises "Incompatible
shapes". See `known_divergence` and tests/repro/tf_empty_batch_shape.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import numpy as np

from conformance.arithmetic import Arithmetic, default_arithmetic
from conformance.capabilities import TRANSPOSED_OPS, Gap
from conformance.config import ConvConfig
from conformance.definitions import Definition
from conformance.machine import cpu_flags, tf_onednn
from references._adapter import FrameworkAdapter

__all__ = ["TensorFlowAdapter", "import_tensorflow", "gpu_unavailable_reason", "tf_device_name",
           "channels_first", "onednn_enabled", "known_divergence", "measured_arithmetic"]

_TF_DTYPES = {"float64": "float64", "float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


def import_tensorflow():
    """tensorflow, imported on first use with its C++ banners quieted (unless the user set the level)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


# ---- device selection: small functions, each testable with monkeypatch ---------------------------


def _visible_gpus() -> list:
    return import_tensorflow().config.list_physical_devices("GPU")


def gpu_unavailable_reason() -> str | None:
    """None when TensorFlow sees a GPU, else why "cuda" cannot run."""
    if _visible_gpus():
        return None
    tf = import_tensorflow()
    build = "tensorflow-cpu" if not tf.test.is_built_with_cuda() else "tensorflow"
    return f"tensorflow: no GPU visible ({build} {tf.__version__})"


def tf_device_name(device: str) -> str:
    """The TensorFlow device string for our device name."""
    names = {"cpu": "/CPU:0", "cuda": "/GPU:0"}
    if device not in names:
        raise ValueError(f"device={device!r} is not one of {sorted(names)}")
    return names[device]


def channels_first(device: str) -> bool:
    """Channels-first on GPU (cuDNN's native layout); channels-last on CPU, the only one TF's CPU
    kernels take in every dtype ("Conv2D op currently only supports the NHWC tensor format on the CPU")."""
    return device == "cuda"


def onednn_enabled() -> bool:
    """TF's CPU oneDNN path in this process: TF_ENABLE_ONEDNN_OPTS when it is set, else TensorFlow's own
    default for this CPU (conformance.machine.tf_onednn: on with AVX512_VNNI, AVX512_BF16, AVX_VNNI or
    AMX; off on an AVX2-only x86). Read without importing TensorFlow."""
    return tf_onednn()


def _gpu_has_tf32() -> bool:
    """Whether GPU:0 is Ampere or later (compute capability >= 8.0), where TF32 exists."""
    tf = import_tensorflow()
    gpus = _visible_gpus()
    if not gpus:
        return False
    details = tf.config.experimental.get_device_details(gpus[0])
    return tuple(details.get("compute_capability", (0, 0))) >= (8, 0)


# How TF's CPU kernels refuse a filter of depth 0 (PyTorch computes it: the output is the bias): Eigen's
# Conv2D, Eigen's Conv3D, the graph-mode shape function, oneDNN's (float32, bfloat16; measured 2026-12-07).
ZERO_DEPTH_REFUSALS = ("filter depth must be stricly positive", "filter_depth must be non-zero",
                       "depth of filter must not be 0", "filter must not have zero elements")

# What TensorFlow's API has no form for, whichever ops are used.
API_GAPS = (
    Gap("unbatched", "TensorFlow's convolutions take a batch dimension (rank n+2); there is no unbatched call"),
    *(Gap(f"padding_mode={mode}", f"tf.pad has CONSTANT, REFLECT and SYMMETRIC modes; PyTorch's {mode!r} has no "
                                  f"TensorFlow form (SYMMETRIC repeats the edge value, which is neither replicate "
                                  f"nor circular)") for mode in ("replicate", "circular")),
    Gap("padding_mode=reflect", "TensorFlow has no padding_mode; PyTorch's 'reflect' is tf.pad before an ordinary "
                                "convolution only", ops=TRANSPOSED_OPS),
)


# Calls PyTorch's rules refuse that TensorFlow's ops define (conformance.definitions): checked against
# that definition, not expected to raise.
TF_SAME = Definition("'same' needs stride 1", "same_upper", "tf.nn.convolution: padding='SAME' for any stride, "
                     "ceil(in / stride) outputs, the odd pad at the end")
TF_EMPTY_OUTPUT = Definition("dilated kernel fits the padded input", "tf_empty_output",
                             "TF's Conv shape functions (GetWindowedOutputSize): (padded + stride - kernel) / "
                             "stride outputs, C++'s division, refused when negative")
TF_OUTPUT_SHAPE = Definition("output_padding < max(stride, dilation)", "tf_output_shape",
                             "tf.nn.conv_transpose takes the output_shape: any size whose 'VALID' / 'SAME' "
                             "size check passes (the rest is refused: gap output_padding-hi>=stride)")


def unexpressible(config: ConvConfig, name: str, device: str = "cpu", check: str = "forward") -> str | None:
    """What TensorFlow's API has no form for, whichever ops are used (None when it has one): API_GAPS."""
    gap = next((g for g in API_GAPS if g.covers(config, device, check)), None)
    return f"{name}: {gap.reason}" if gap else None


def known_divergence(config: ConvConfig, device: str = "cpu") -> str | None:
    """An upstream TensorFlow bug this config hits (the adapter does not hide it), else None."""
    # oneDNN takes float16 too on CPUs with AVX512-FP16 (measured 2026-12-02), and then shows the bug.
    dtypes = ("float32", "bfloat16", "float16") if "avx512_fp16" in cpu_flags() else ("float32", "bfloat16")
    if device == "cpu" and config.batch == 0 and config.dtype in dtypes and onednn_enabled():
        return ("tensorflow (upstream): with oneDNN on, a float32/bfloat16 convolution of an empty batch "
                "returns the input's shape instead of the output's (bias_add then raises 'Incompatible "
                "shapes'); repro tests/repro/tf_empty_batch_shape.py")
    return None


def measured_arithmetic(config: ConvConfig, device: str = "cpu", check: str | None = None) -> Arithmetic:
    """What TF was measured to do for one result (`check`), or the loosest over all results without it."""
    rounded = _half_rounded_checks(config, device)
    if check is None and rounded or check in rounded:
        return Arithmetic(accumulation=config.dtype, output=config.dtype,
                          note=f"TF rounds partial sums to {config.dtype} for {', '.join(sorted(rounded))}")
    return default_arithmetic(config.dtype)


def _half_rounded_checks(config: ConvConfig, device: str) -> frozenset[str]:
    """The checks whose partial sums TF rounds to the half format (measured on CPU; see the module docstring)."""
    if config.dtype not in ("float16", "bfloat16"):
        return frozenset()
    # tf.nn has no fused conv + bias: the convolution is rounded before tf.nn.bias_add, on every device.
    rounded = {"forward"} if config.bias else set()
    if device == "cpu":
        if config.dtype == "float16":
            rounded |= {"forward", "grad_input", "grad_weight", "grad_bias"}
        else:
            # oneDNN's bfloat16 gradients accumulate in float32, but calls it does not take (e.g.
            # conv2d with an explicit padding list, or oneDNN off) fall back to kernels that round.
            rounded |= {"grad_input", "grad_weight", "grad_bias"}
    # The double VJP's x_bar and w_bar are TF's input- and weight-gradient kernels again (x_bar is
    # the input gradient of (ggw, g), w_bar the weight gradient of (ggx, g): bit-identical, measured
    # in bfloat16 on CPU), so they round as those do.
    rounded |= {f"double_vjp_{name}" for name in ("input", "weight") if f"grad_{name}" in rounded}
    return frozenset(rounded)


class TensorFlowAdapter(FrameworkAdapter):
    """TensorFlow's public convolution ops behind the project's interface (see the module docstring).

    - precision: "default" (TF's settings as they are) or "highest" (TF32 execution disabled during
      each call and restored after).

    Arrays: x (N, C_in, *in), w (C_out, C_in/groups, *k) or (C_in, C_out/groups, *k) when
    transposed, b (C_out,) or None, in the config dtype's NumPy storage type; results likewise
    (bfloat16 results as float32).
    """

    # The harness's composition of TF ops (per-group calls, subsampling, zero insertion) around
    # TensorFlow's CPU gaps: not a TF user's call. "tensorflow" is TF's own single call (native.py).
    name = "tensorflow.composed"
    # Its convolutions are TF's Conv2D/Conv3D, whose kernels refuse a filter of depth 0: Eigen's and oneDNN's,
    # every dtype (measured on an AVX2 CPU and an AVX-512 one, 2026-12-07); the composition does not route
    # around it. A dilated call divides by the depth in tf.nn.convolution first (KD-018).
    # Its transposed calls with groups or dilation go by zero insertion, which takes any output_padding.
    # Its dilated calls are tf.nn.convolution at stride 1, subsampled after: TF's empty-output rule at stride 1.
    defines = (TF_SAME, dataclasses.replace(TF_EMPTY_OUTPUT, unless=("dilation>1",)),
               Definition("dilated kernel fits the padded input", "tf_empty_output_unstrided", "the composition's "
                          "dilated calls: tf.nn.convolution(strides=1), its GetWindowedOutputSize, then a strided slice"),
               dataclasses.replace(TF_OUTPUT_SHAPE, unless=("groups>1", "dilation>1")),
               Definition("output_padding < max(stride, dilation)", "extended_output", "the zero-insertion "
                          "composition (grouped or dilated): a stride-1 convolution padded by d(k-1) - lo and "
                          "d(k-1) - hi + output_padding"))
    gaps = API_GAPS + (
        # The composition would crop a negative pad (tf.slice), a call of the harness's, not of TensorFlow's.
        Gap("padding<0", "TensorFlow's ops take no negative padding (the composition's crop is not a TF call)"),
        Gap("in_channels=0 and undilated", "TF's CPU kernels refuse a filter of depth 0", refused_by="framework",
            message="|".join(ZERO_DEPTH_REFUSALS),
            ops=("conv1d", "conv2d", "conv3d")),
    )

    # ---- capabilities ----------------------------------------------------------------------------
    # supports() is FrameworkAdapter's: every CPU config is computable through TF's own ops
    # (composition covers the native gaps); "cuda" needs a GPU that TensorFlow sees.

    def gpu_unavailable_reason(self) -> str | None:
        return gpu_unavailable_reason()

    def supports(self, config: ConvConfig, device: str = "cpu", check: str = "forward") -> str | None:
        reason = unexpressible(config, self.name, device, check)
        return reason if reason else super().supports(config, device)

    def _tf32_active(self, device: str) -> bool:
        if device != "cuda" or self.precision == "highest":
            return False
        tf = import_tensorflow()
        return bool(tf.config.experimental.tensor_float_32_execution_enabled()) and _gpu_has_tf32()

    def arithmetic(self, config: ConvConfig, device: str = "cpu") -> Arithmetic:
        """The declared arithmetic: TF32 where TF enables it, else the harness's model for the dtype.

        TF's measured half-format roundings are not declared away here: they are divergences
        (see `measured_arithmetic` and conformance/known_divergences.toml).
        """
        if config.dtype == "float32" and self._tf32_active(device):
            return Arithmetic(accumulation="float32", output="float32", operands="tfloat32",
                              note="TF32 execution enabled on an Ampere-or-later GPU")
        return default_arithmetic(config.dtype)

    def versions(self) -> dict[str, str]:
        tf = import_tensorflow()
        return {"tensorflow": tf.__version__, "numpy": np.__version__}

    def settings(self, device: str = "cpu") -> dict[str, object]:
        tf = import_tensorflow()
        return {
            "tf.config.experimental.tensor_float_32_execution_enabled":
                bool(tf.config.experimental.tensor_float_32_execution_enabled()),
            "adapter.precision": self.precision,
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get(
                "TF_ENABLE_ONEDNN_OPTS", f"unset (oneDNN {'on' if tf_onednn() else 'off'} by default on this CPU)"),
            "data_format": "channels_first" if channels_first(device) else "channels_last",
            "tf.device": tf_device_name(device),
        }

    # ---- computation -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _precision_scope(self):
        tf = import_tensorflow()
        if self.precision != "highest":
            yield
            return
        previous = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(previous)

    def _to_tf(self, array, config: ConvConfig):
        tf = import_tensorflow()
        if array is None:
            return None
        # bfloat16 arrives as bfloat16-exact float32, so the cast is exact.
        return tf.cast(tf.constant(np.asarray(array)), _TF_DTYPES[config.dtype])

    @staticmethod
    def _to_numpy(tensor, config: ConvConfig, device: str) -> np.ndarray:
        tf = import_tensorflow()
        if device == "cuda" and "GPU" not in tensor.device:
            raise RuntimeError(f"tensorflow computed on {tensor.device!r}, not on a GPU, for {config} on cuda")
        if config.dtype == "bfloat16":
            tensor = tf.cast(tensor, tf.float32)
        return tensor.numpy()

    def _run(self, config: ConvConfig, device: str, body):
        from references.tensorflow import _ops  # imports tensorflow

        tf = import_tensorflow()
        plan = _ops.make_plan(config, channels_first(device))
        with self._precision_scope(), tf.device(tf_device_name(device)):
            return body(tf, _ops, plan)

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        def body(tf, ops, plan):
            y = ops.conv_graph(config, plan, self._to_tf(x, config), self._to_tf(w, config),
                               self._to_tf(b, config) if config.bias else None)
            return self._to_numpy(y, config, device)

        return self._run(config, device, body)

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        def body(tf, ops, plan):
            tensors = [self._to_tf(x, config), self._to_tf(w, config)]
            if config.bias:
                tensors.append(self._to_tf(b, config))
            with tf.GradientTape() as tape:
                tape.watch(tensors)
                y = ops.conv_graph(config, plan, *tensors)
            grads = tape.gradient(y, tensors, output_gradients=self._to_tf(grad_out, config),
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grads = [self._to_numpy(g, config, device) for g in grads]
            return grads[0], grads[1], grads[2] if config.bias else None

        return self._run(config, device, body)

    def jvp(self, config: ConvConfig, x, w, b, dx, dw, db, device: str = "cpu"):
        """Forward mode through tf.autodiff.ForwardAccumulator."""
        def body(tf, ops, plan):
            primals = [self._to_tf(a, config) for a in ((x, w, b) if config.bias else (x, w))]
            tangents = [self._to_tf(a, config) for a in ((dx, dw, db) if config.bias else (dx, dw))]
            with tf.autodiff.ForwardAccumulator(primals, tangents) as accumulator:
                y = ops.conv_graph(config, plan, *primals)
            dy = accumulator.jvp(y, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return self._to_numpy(dy, config, device)

        return self._run(config, device, body)

    def double_vjp(self, config: ConvConfig, x, w, b, grad_out, ggx, ggw, ggb, device: str = "cpu"):
        """Nested GradientTapes: the outer one differentiates the inner tape's gradients."""
        def body(tf, ops, plan):
            tensors = [self._to_tf(a, config) for a in ((x, w, b) if config.bias else (x, w))]
            g = self._to_tf(grad_out, config)
            with tf.GradientTape() as outer:
                outer.watch(tensors + [g])
                with tf.GradientTape() as inner:
                    inner.watch(tensors)
                    y = ops.conv_graph(config, plan, *tensors)
                first = inner.gradient(y, tensors, output_gradients=g, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            cotangents = [self._to_tf(a, config) for a in ((ggx, ggw, ggb) if config.bias else (ggx, ggw))]
            second = outer.gradient(first, [tensors[0], tensors[1], g], output_gradients=cotangents,
                                    unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return tuple(self._to_numpy(t, config, device) for t in second)

        return self._run(config, device, body)
