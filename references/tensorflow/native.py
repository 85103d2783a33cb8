"""TensorFlow's own convolution calls, one per config, as a TensorFlow user writes them (no emulation).

Importing this module does not import TensorFlow; the first call does.

==============================================  ==========================================================
config                                          the TensorFlow call (`tf_call` names it)
==============================================  ==========================================================
ordinary, 2-d, depthwise (groups == C_in > 1,   tf.nn.depthwise_conv2d(filter (*k, C_in, C_out/C_in)),
C_out a multiple of C_in), one stride for both  strides, padding as for tf.nn.conv2d, dilations (only with
dims, not stride > 1 with dilation > 1          TensorFlowNative.depthwise_call: see the class)
ordinary, 2-d, (lo, hi) pairs or stride > 1     tf.nn.conv2d(padding=[[0,0],[lo,hi],[lo,hi],[0,0]] (TF's
with dilation > 1                               explicit padding list) or "VALID"), strides, dilations
                                                (tf.nn.conv2d takes stride and dilation together)
ordinary otherwise                              tf.nn.convolution(padding="SAME"/"VALID", strides, dilations,
                                                data_format); (lo, hi) pairs in 1-d/3-d: tf.pad first, then
                                                "VALID" (TF's 1-d/3-d ops take no explicit padding: padding
                                                first is what a TF user writes)
padding_mode "reflect"                          tf.pad(mode="REFLECT") first, then "VALID"
transposed, 2-d, hi >= output_padding           tf.nn.conv2d_transpose(output_shape, padding=explicit
                                                [[lo, hi - output_padding]]), strides, dilations
transposed otherwise                            tf.nn.conv_transpose(output_shape=full size, "VALID"), then
                                                the (lo, hi) crop (output_padding past hi + stride - 1 is
                                                refused by TF's own size check: unsupported)
groups                                          TF's own grouped convolution (input depth a multiple of the
                                                filter's in-depth; conv_transpose's filter (*k, C_out/g, C_in))
bias                                            tf.nn.bias_add
gradients / jvp / double vjp                    tf.GradientTape / tf.autodiff.ForwardAccumulator / nested tapes
==============================================  ==========================================================

Which 2-d call runs what: measured by calling (tensorflow-cpu 2.21, AVX-512 with AVX512-BF16, no AMX;
x (2, 9, 9, C), 2x2 filter; all four dtypes; "on"/"off": oneDNN, TF_ENABLE_ONEDNN_OPTS). s2d2 is
stride 2 with dilation 2, g1/g2 groups 1/2, pads VALID or an explicit list. "runs": forward, gradient,
jvp and double vjp all run; "grad" is the gradient and the double vjp (the jvp runs wherever the
forward does).

==================  =================  =====================================  ==========================
call                s2d2 forward, jvp  s2d2 grad, oneDNN on                   s2d2 grad, oneDNN off
==================  =================  =====================================  ==========================
tf.nn.convolution   refused, every     (no forward)                           (no forward)
                    dtype, g1 and g2
                    ("`strides > 1`
                    not supported in
                    conjunction with
                    `dilation_rate >
                    1`"), on and off
tf.nn.conv2d        run, every dtype,  float32, bfloat16, VALID: run (g1,     refused, every dtype
                    g1 and g2, VALID   g2); explicit padding: refused;
                    and explicit, on   float64, float16: refused ("Current
                    and off            CPU implementations do not yet
                                       support dilation rates larger than 1")
==================  =================  =====================================  ==========================

The same holds for stride 1 with dilation 2 through tf.nn.conv2d, while tf.nn.convolution runs that
through space-to-batch with gradients wherever the undilated kernel has them: stride-1 dilation stays
on tf.nn.convolution. (Grouped stride-2 dilation-1 gradients: "Gradients for grouped convolutions are
not supported on CPU" but for oneDNN's float32/bfloat16 VALID.)

tf.nn.depthwise_conv2d (filter (kh, kw, C_in, m)), same sizes, C_in 3, m 2:

=================================  ==============================================================
stride, dilation                   what it does (every dtype, VALID / SAME / explicit, on and off)
=================================  ==============================================================
1x1 or 2x2, dilation 1             runs
1x1, dilation 2x2 or 2x1           runs
2x1 (unequal strides)              refused in float64, float16 ("Current implementation only supports
                                   equal length strides in the row and column dimensions"), and in
                                   every dtype with oneDNN off; oneDNN's float32/bfloat16 forward
                                   runs, their explicit-padding gradient is refused
2x2 with dilation 2x2              no refusal: a UserWarning ("When dilation rate is greater than 1,
                                   then all values of strides must be 1") and a wrong result (other
                                   values; for SAME, another shape)
=================================  ==============================================================

The last two go through grouped tf.nn.conv2d (is_depthwise), a call a TF user makes for them too.

Layouts: arrays are (N, C, *spatial) in index order; TF gets them channels-last (NWC/NHWC/NDHWC) on
CPU, the only layout its CPU kernels take in every dtype, and channels-first on "cuda". The layout
change is a NumPy transpose before the tensor is built (for memory_format "channels_last" that view
is already contiguous), and gradients are transposed back, so the TF graph holds only the call above.

Refusals. Where TensorFlow's own call refuses a valid config ("Gradients for grouped convolutions are
not supported on CPU", "input and filter must have the same depth" for grouped Conv3D, tf.nn.convolution's
"`strides > 1` not supported in conjunction with `dilation_rate > 1`", "Current CPU implementations do
not yet support dilation rates larger than 1", ...), the adapter raises FrameworkRefusal with TF's
own text. Each such refusal is declared as a gap (CPU_GAPS, conv2d_backprop_gaps), so the strategies
draw around it and a witness call per gap checks that TF still refuses it; a refusal outside them is a
finding (tests/test_adapter_tensorflow_native.py checks the witnesses too, per dtype). Only messages
that say the feature is not supported (REFUSALS) count; any other exception (e.g. oneDNN's empty-batch
shape bug, KD-009) stays an error, and an invalid config's exception is passed through unchanged
(test_invalid).

`TensorFlowOneDNNOff` ("tensorflow.onednn_off") is the same path in a process started with
TF_ENABLE_ONEDNN_OPTS=0 (Eigen kernels instead of oneDNN).
"""

from __future__ import annotations

import os
import re

import numpy as np

from conformance.call_forms import string_padding
from conformance.capabilities import FrameworkRefusal, Gap, is_depthwise
from conformance.config import ConvConfig
from conformance.definitions import Definition, same_upper_pairs
from references.tensorflow.composed import (
    API_GAPS,
    TF_EMPTY_OUTPUT,
    TF_OUTPUT_SHAPE,
    TF_SAME,
    ZERO_DEPTH_REFUSALS,
    TensorFlowAdapter,
    channels_first,
    import_tensorflow,
    onednn_enabled,
)

__all__ = ["TensorFlowNative", "TensorFlowOneDNNOff", "CPU_GAPS", "REFUSALS", "conv2d_backprop_gaps",
           "is_depthwise", "native_call", "refusal_reason", "tf_call"]

# Phrases of TensorFlow's messages that refuse a feature (found by calling; see the tests). Grouping
# refusals name a depth mismatch, so they count only for groups > 1.
REFUSALS = ("not supported", "not yet support", "only supports", "not implemented", "unimplemented",
            *ZERO_DEPTH_REFUSALS)
GROUPING_REFUSALS = ("must have the same depth", "must match last dimension of input",
                     "must have the same number of channels")

_FORMATS = {(1, False): "NWC", (2, False): "NHWC", (3, False): "NDHWC",
            (1, True): "NCW", (2, True): "NCHW", (3, True): "NCDHW"}


# conv_transpose's output size: "VALID" reaches at most s-1 past the full size, so output_padding
# beyond hi + s - 1 (valid in PyTorch when dilation > stride) is refused by TF's size check.
# oneDNN (float32) reports the same refusal as "could not create a primitive descriptor" (AbortedError),
# and a gradient traced by tf.function meets the same size mismatch first in its own shape inference
# ("Cannot reshape a tensor with 2 elements to shape [1,1,1]", conv_transpose1d in=1, k=1, dilation=2,
# output_padding=1).
SIZE_REFUSALS = ("size of out_backprop doesn't match computed", "could not create a primitive descriptor",
                 "cannot reshape a tensor with")


def _phrases(config: ConvConfig) -> tuple[str, ...]:
    phrases = REFUSALS + (GROUPING_REFUSALS if config.groups > 1 else ())
    if config.transposed and any(op - hi >= s for op, (_, hi), s
                                 in zip(config.output_padding, config.resolved_padding, config.stride)):
        phrases += SIZE_REFUSALS
    return phrases


def _refusal_line(message: str, phrases) -> str | None:
    """The line of TF's message that refuses (tf.function puts a traceback before it), or None."""
    for line in message.splitlines():
        if any(p in line.lower() for p in phrases):
            return line.strip()
    return None


def _clean(line: str) -> str:
    """TF's refusal: its first sentence and the op it names ('[Op:Conv2DBackpropInput]').

    The eager wrapper's '{{function_node ...}}' prefix goes, and so do the sentences after the first
    (shapes and values of this call), so one refusal reads the same on every config it hits.
    """
    op = re.search(r"\[Op:[A-Za-z0-9_]+\]", line)
    line = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", line)
    line = re.sub(r"^[A-Za-z]+Error:\s*", "", line)  # tf.function's traceback line names the type
    line = re.sub(r"\s*\[Op:[^\]]*\].*$", "", line)
    first = re.split(r"(?<=\.)\s", line, maxsplit=1)[0]
    return f"{first} {op.group(0)}" if op else first


def refusal_reason(name: str, config: ConvConfig, err: Exception) -> str | None:
    """'NAME: TF's text' when `err` is TensorFlow refusing a feature of a valid config, else None."""
    if config.broken_rules():
        return None  # an invalid call: refusing it is the right answer, not a gap
    line = _refusal_line(str(err), _phrases(config))
    return None if line is None else f"{name}: {_clean(line)}"


# ---- layouts (NumPy, outside the TF graph) --------------------------------------------------------


def _activation_to_tf(a, ndim: int, first: bool):
    return a if first else np.transpose(a, [0, *range(2, ndim + 2), 1])


def _activation_from_tf(a, ndim: int, first: bool):
    return a if first else np.transpose(a, [0, ndim + 1, *range(1, ndim + 1)])


def _filter_to_tf(w, ndim: int):
    """(C_out, C_in/g, *k) -> (*k, C_in/g, C_out); transposed (C_in, C_out/g, *k) -> (*k, C_out/g, C_in).
    A filter of the wrong rank (an invalid call) is handed over as it is, for TensorFlow to refuse."""
    if np.ndim(w) != ndim + 2:
        return w
    return np.transpose(w, [*range(2, ndim + 2), 1, 0])


def _filter_from_tf(f, ndim: int):
    return np.transpose(f, [ndim + 1, ndim, *range(ndim)])


def _depthwise_filter_to_tf(w, in_channels: int):
    """(C_out, 1, kh, kw), C_out = C_in * m -> depthwise_conv2d's (kh, kw, C_in, m).

    PyTorch's output channel c * m + j (the j-th of input channel c's group) is TF's filter[:, :, c, j]:
    the last axis of (kh, kw, 1, C_out) split row-major into (C_in, m).
    """
    kh, kw, _, out_channels = (f := _filter_to_tf(w, 2)).shape
    return f.reshape(kh, kw, in_channels, out_channels // in_channels)


def _depthwise_filter_from_tf(f):
    kh, kw, in_channels, multiplier = f.shape
    return _filter_from_tf(f.reshape(kh, kw, 1, in_channels * multiplier), 2)


# ---- the call -------------------------------------------------------------------------------------


def _full(layout_first: bool, spatial, batch=1, channel=1) -> list:
    return [batch, channel, *spatial] if layout_first else [batch, *spatial, channel]


def _pad_widths(pairs, first: bool, ndim: int) -> list:
    return _full(first, [list(p) for p in pairs], batch=[0, 0], channel=[0, 0])


def _strided_dilated(config: ConvConfig) -> bool:
    return any(s > 1 for s in config.stride) and any(d > 1 for d in config.dilation)


def _explicit_pairs(config: ConvConfig) -> bool:
    """Zero padding given as (lo, hi) pairs, not all zero and not TF's own 'SAME' pairs (a padding mode
    pads with tf.pad instead)."""
    return (config.padding_mode == "zeros" and not isinstance(config.padding, str)
            and any(lo or hi for lo, hi in config.padding) and string_padding(config, ("SAME",)) is None)


def tf_call(config: ConvConfig, *, depthwise: bool) -> str:
    """The name of the tf.nn function that computes `config` (the module docstring's table).

    - depthwise: route depthwise configs (is_depthwise) through tf.nn.depthwise_conv2d; False sends
      them to grouped tf.nn.conv2d / tf.nn.convolution like any other grouping.
    """
    if config.transposed:
        return "conv2d_transpose" if _explicit_transposed(config) else "conv_transpose"
    if depthwise and is_depthwise(config):
        return "depthwise_conv2d"
    if config.ndim == 2 and (_explicit_pairs(config) or _strided_dilated(config)):
        return "conv2d"  # explicit padding lists, and stride with dilation, which tf.nn.convolution refuses
    return "convolution"


def _ordinary(tf, config: ConvConfig, x, f, first: bool, call: str):
    ndim, fmt = config.ndim, _FORMATS[(config.ndim, first)]
    mode = getattr(config, "padding_mode", "zeros")
    if mode != "zeros":  # PyTorch's padding_mode as a TF user writes it: tf.pad by the mode, then no padding
        x = tf.pad(x, _pad_widths(same_upper_pairs(config), first, ndim), mode=mode.upper())
        padding = "VALID"
    elif isinstance(config.padding, str):
        padding = config.padding.upper()
    elif string_padding(config, ("SAME",)):  # pairs that are TF's 'SAME' (any stride): the string is the call
        padding = "SAME"
    elif not _explicit_pairs(config):
        padding = "VALID"
    elif ndim == 2:  # conv2d's and depthwise_conv2d's explicit padding list
        padding = _pad_widths(config.padding, first, ndim)
    else:
        x = tf.pad(x, _pad_widths(config.padding, first, ndim))
        padding = "VALID"
    common = dict(padding=padding, dilations=list(config.dilation), data_format=fmt)
    if call == "depthwise_conv2d":
        return tf.nn.depthwise_conv2d(x, f, strides=_full(first, config.stride), **common)
    if call == "conv2d":
        return tf.nn.conv2d(x, f, strides=list(config.stride), **common)
    return tf.nn.convolution(x, f, strides=list(config.stride), **common)


def _explicit_transposed(config: ConvConfig) -> bool:
    """A transposed config that conv2d_transpose's explicit padding expresses (2-d, hi >= output_padding);
    and a 2-d one with a negative pad, which TF's explicit pairs are the only call to take (and refuse)."""
    pairs = config.resolved_padding
    return config.ndim == 2 and (all(hi >= op for (_, hi), op in zip(pairs, config.output_padding))
                                 or any(min(pair) < 0 for pair in pairs))


def _transposed(tf, config: ConvConfig, x, f, first: bool):
    ndim, fmt = config.ndim, _FORMATS[(config.ndim, first)]
    pairs, out_size = config.resolved_padding, config.out_size
    common = dict(strides=list(config.stride), dilations=list(config.dilation), data_format=fmt)
    if _explicit_transposed(config):
        # TF's explicit pairs are the forward convolution's: output_padding comes off the high side.
        explicit = [[lo, hi - op] for (lo, hi), op in zip(pairs, config.output_padding)]
        shape = _full(first, out_size, batch=config.batch, channel=config.out_channels)
        return tf.nn.conv2d_transpose(x, f, shape, padding=_pad_widths(explicit, first, 2), **common)
    # "VALID" gives the full (n-1)*s + d*(k-1) + 1, plus what output_padding adds past hi: TF accepts up
    # to s-1 more and refuses the rest itself (no zeros are padded here); then the (lo, hi) crop.
    full = [(n - 1) * s + d * (k - 1) + 1 + max(op - hi, 0)
            for n, s, d, k, (_, hi), op in zip(config.in_size, config.stride, config.dilation, config.kernel,
                                                pairs, config.output_padding)]
    shape = _full(first, full, batch=config.batch, channel=config.out_channels)
    y = tf.nn.conv_transpose(x, f, shape, padding="VALID", **common)
    index = [slice(None)] * (ndim + 2)
    axes = range(2, ndim + 2) if first else range(1, ndim + 1)
    for axis, (lo, _), o in zip(axes, pairs, out_size):
        index[axis] = slice(max(lo, 0), lo + o)  # lo < 0 only in an invalid call: never wrap around
    return y[tuple(index)]


def native_call(tf, config: ConvConfig, first: bool, x, f, b=None, *, depthwise: bool):
    """TF's call for `config` on TF-layout tensors (x in NWC/NHWC/NDHWC or NC..., f (*k, in, out), or
    (kh, kw, C_in, m) where tf_call(config, depthwise=depthwise) is depthwise_conv2d)."""
    call = tf_call(config, depthwise=depthwise)
    y = _transposed(tf, config, x, f, first) if config.transposed else _ordinary(tf, config, x, f, first, call)
    if b is not None:
        y = tf.nn.bias_add(y, b, data_format="NC..." if first else "N...C")
    return y


_ORDINARY = ("conv1d", "conv2d", "conv3d")
_TRANSPOSED = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
_BACKWARD = ("gradient", "double_vjp", "determinism")  # the checks that call TF's backprop kernels
_DILATION = "support dilation rates larger than 1"
_GROUPED = "Gradients for grouped convolutions are not supported"
_STRIDED_DILATION = r"strides > 1. not supported in conjunction with .dilation_rate > 1"


def cpu_gaps(onednn: bool) -> tuple[Gap, ...]:
    """TensorFlow's own refusals of valid calls on CPU, measured by calling (tensorflow 2.21; each
    gap's witness keeps checking it). With oneDNN on, its float32 and bfloat16 kernels compute some of
    what TF's own kernels refuse: those gaps then hold only for the dtypes that go to TF's own (Eigen)
    kernels on this machine (machine="tf_eigen": float64, float16 without AVX512-FP16, bfloat16
    without AVX-512, every dtype on a CPU where TF turns oneDNN off; conformance.machine)."""
    eigen = "tf_eigen" if onednn else ""
    return (
        # 2-d takes tf.nn.conv2d, which runs it (forward; gradients: conv2d_backprop_gaps).
        Gap("stride>1 and dilation>1", "tf.nn.convolution refuses strides > 1 together with dilation_rate > 1",
            refused_by="framework", message=_STRIDED_DILATION, ops=("conv1d", "conv3d")),
        Gap("dilation>1", "TF's CPU Conv2DBackpropInput (a transposed forward is one) refuses dilation > 1",
            refused_by="framework", message=_DILATION, ops=("conv_transpose2d",)),
        Gap("dilation>1", "TF's CPU Conv*DBackpropInput (a transposed forward is one) refuses dilation > 1",
            refused_by="framework", message=_DILATION, ops=("conv_transpose1d", "conv_transpose3d"), machine=eigen),
        Gap("dilation>1 and explicit padding", "TF's Conv2DBackpropInput with explicit paddings refuses dilation > 1",
            refused_by="framework", message=_DILATION, ops=("conv2d",), checks=_BACKWARD),
        Gap("groups>1", "Gradients for grouped convolutions are not supported on CPU", refused_by="framework",
            message=_GROUPED, ops=("conv1d",), checks=_BACKWARD, machine=eigen),
        # 2-d depthwise calls take tf.nn.depthwise_conv2d, whose gradients TF computes.
        Gap("groups>1 and not depthwise", "Gradients for grouped convolutions are not supported on CPU",
            refused_by="framework", message=_GROUPED, ops=("conv2d",), checks=_BACKWARD, machine=eigen),
        Gap("groups>1 and not depthwise and explicit padding", "Gradients for grouped convolutions with explicit "
                                                               "paddings are not supported on CPU (oneDNN takes "
                                                               "only the unpadded ones)",
            refused_by="framework", message=_GROUPED, ops=("conv2d",), checks=_BACKWARD),
        Gap("groups>1", "Gradients for grouped convolutions are not supported on CPU (a transposed forward is one)",
            refused_by="framework", message=_GROUPED, ops=("conv_transpose1d",), machine=eigen),
        Gap("groups>1", "Gradients for grouped convolutions are not supported on CPU (a transposed forward is one)",
            refused_by="framework", message=_GROUPED, ops=("conv_transpose2d",)),
        Gap("groups>1", "TF has no grouped Conv3D on CPU", refused_by="framework",
            message="|".join(GROUPING_REFUSALS), ops=("conv3d", "conv_transpose3d")),
        # Every dtype, Eigen ("filter depth must be stricly positive") and oneDNN ("filter must not have zero
        # elements") alike; a dilated call reaches a kernel only through tf.nn.conv2d (2-d, explicit pairs or
        # a stride): tf.nn.convolution divides by the depth first (KD-018). Measured 2026-12-08, AVX2 CPU.
        Gap("in_channels=0 and (undilated or 2-d explicit pairs or strided)", "TF's CPU kernels refuse a filter of depth 0", refused_by="framework",
            message="|".join(ZERO_DEPTH_REFUSALS), ops=_ORDINARY),
        Gap("output_padding-hi>=stride", "conv_transpose's 'VALID' output reaches at most stride - 1 past the full "
                                         "size: TF's size check refuses output_padding beyond hi + stride - 1",
            refused_by="framework", message="|".join(SIZE_REFUSALS), ops=_TRANSPOSED),
    )


def conv2d_backprop_gaps(onednn: bool) -> tuple[Gap, ...]:
    """tf.nn.conv2d's gradient with stride > 1 and dilation > 1 (the module docstring's table): TF's CPU
    Conv2DBackpropInput refuses the dilation, except oneDNN's float32/bfloat16 kernels without explicit
    padding (those with it are the "dilation>1 and explicit padding" gap).

    Declared apart from cpu_gaps: tensorflow.xla takes from CPU_GAPS the gaps of two features by name,
    "stride>1 and dilation>1" among them, for tf.nn.convolution's argument check, which holds under XLA
    too; this refusal is a CPU kernel's, and XLA computes the gradient (measured)."""
    return (Gap("stride>1 and dilation>1", "TF's CPU Conv2DBackpropInput refuses dilation > 1 (tf.nn.conv2d, the "
                                           "2-d call that takes strides > 1 together with dilations > 1)",
                refused_by="framework", message=_DILATION, ops=("conv2d",), checks=_BACKWARD,
                machine="tf_eigen" if onednn else ""),)


CPU_GAPS = cpu_gaps(onednn=True)


class TensorFlowNative(TensorFlowAdapter):
    """TensorFlow's own single convolution call per config (see the module docstring)."""

    name = "tensorflow"
    gaps = (*API_GAPS, *CPU_GAPS, *conv2d_backprop_gaps(onednn=True))
    # TF's convolutions take no groups argument: the filter's depth sets the grouping.
    defines = (TF_SAME, TF_EMPTY_OUTPUT, TF_OUTPUT_SHAPE,
               Definition("weight shape matches the channels", "groups_from_weight",
                          "tf.nn.convolution has no groups argument: groups = input depth / filter depth"))
    # tf.nn.depthwise_conv2d for depthwise configs (conformance.capabilities.is_depthwise): the call a TF
    # user makes for them, whose CPU gradients TF computes; the grouped-gradient gaps above are
    # declared for the other grouped calls ("groups>1 and not depthwise").
    depthwise_call = True
    last_call: str | None = None  # the tf.nn function of the latest call (tf_call), for tests and reports

    def supports(self, config: ConvConfig, device: str = "cpu") -> str | None:
        return self.supports_device(device)

    def settings(self, device: str = "cpu") -> dict[str, object]:
        found = super().settings(device)
        found["call"] = "one tf.nn call per config (TF's own padding, groups, strides, dilations)"
        found["depthwise"] = ("tf.nn.depthwise_conv2d" if self.depthwise_call
                              else "grouped tf.nn.conv2d / tf.nn.convolution (depthwise_call off)")
        found["oneDNN"] = onednn_enabled()
        return found

    # ---- conversion ------------------------------------------------------------------------------

    def _tensors(self, config: ConvConfig, device: str, arrays):
        """x-like, w-like, b-like arrays (PyTorch layouts) as TF-layout tensors; None stays None."""
        first, ndim = channels_first(device), config.ndim
        x, w, *rest = arrays
        tensors = [self._to_tf(_activation_to_tf(x, ndim, first), config), self._to_tf(self._tf_filter(config, w), config)]
        return tensors + [self._to_tf(r, config) for r in rest]

    # False for an invalid call whose weight does not fit its config (the rule "weight shape matches the
    # channels"): no depthwise filter holds it, and TF gets the grouped call, from whose shapes it
    # infers the grouping (KD-045). Set by forward(), the one method invalid calls reach.
    _weight_fits = True

    def _route_depthwise(self) -> bool:
        return self.depthwise_call and self._weight_fits

    def _depthwise(self, config: ConvConfig) -> bool:
        return tf_call(config, depthwise=self._route_depthwise()) == "depthwise_conv2d"

    def _tf_filter(self, config: ConvConfig, w):
        """A weight-like array (PyTorch layout) in the layout of the TF call's filter."""
        return _depthwise_filter_to_tf(w, config.in_channels) if self._depthwise(config) else _filter_to_tf(w, config.ndim)

    def _activation(self, config: ConvConfig, device: str, a):
        return self._to_tf(_activation_to_tf(a, config.ndim, channels_first(device)), config)

    def _from_tf(self, config: ConvConfig, device: str, tensor, kind: str):
        array = self._to_numpy(tensor, config, device)
        first = channels_first(device)
        if kind == "activation":
            array = _activation_from_tf(array, config.ndim, first)
        elif kind == "filter":
            array = _depthwise_filter_from_tf(array) if self._depthwise(config) else _filter_from_tf(array, config.ndim)
        return np.ascontiguousarray(array)

    # ---- the check kinds, as functions of TF tensors (tensorflow.xla compiles the same ones) -----

    def _functions(self, tf, config: ConvConfig, device: str) -> dict:
        first = channels_first(device)
        zero = tf.UnconnectedGradients.ZERO

        depthwise = self._route_depthwise()

        def forward(x, f, *b):
            return native_call(tf, config, first, x, f, *b, depthwise=depthwise)

        def vjp(g, x, f, *b):
            primals = [x, f, *b]
            with tf.GradientTape() as tape:
                tape.watch(primals)
                y = forward(*primals)
            return tape.gradient(y, primals, output_gradients=g, unconnected_gradients=zero)

        def jvp(primals, tangents):
            with tf.autodiff.ForwardAccumulator(list(primals), list(tangents)) as accumulator:
                y = forward(*primals)
            return accumulator.jvp(y, unconnected_gradients=zero)

        def double_vjp(g, primals, cotangents):
            primals = list(primals)
            with tf.GradientTape() as outer:
                outer.watch(primals + [g])
                with tf.GradientTape() as inner:
                    inner.watch(primals)
                    y = forward(*primals)
                first_grads = inner.gradient(y, primals, output_gradients=g, unconnected_gradients=zero)
            return outer.gradient(first_grads, [primals[0], primals[1], g], output_gradients=list(cotangents),
                                  unconnected_gradients=zero)

        return {"forward": forward, "vjp": vjp, "jvp": jvp, "double_vjp": double_vjp}

    def _function(self, tf, kind: str, config: ConvConfig, device: str):
        """The function computing check kind `kind` (eager here; compiled in tensorflow.xla)."""
        return self._functions(tf, config, device)[kind]

    def _call(self, kind: str, config: ConvConfig, device: str, *args):
        tf = import_tensorflow()
        self.last_call = tf_call(config, depthwise=self._route_depthwise())
        with self._precision_scope(), tf.device(self._device_name(device)):
            try:
                return self._function(tf, kind, config, device)(*args)
            except (tf.errors.OpError, ValueError, TypeError) as err:
                reason = refusal_reason(self.name, config, err)
                if reason is not None:
                    raise FrameworkRefusal(reason) from err
                raise

    @staticmethod
    def _device_name(device: str) -> str:
        from references.tensorflow.composed import tf_device_name

        return tf_device_name(device)

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        self._weight_fits = tuple(np.shape(w)) == config.weight_shape
        try:
            args = self._tensors(config, device, (x, w, b) if config.bias else (x, w))
            return self._from_tf(config, device, self._call("forward", config, device, *args), "activation")
        finally:
            self._weight_fits = True

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        g = self._activation(config, device, grad_out)
        args = self._tensors(config, device, (x, w, b) if config.bias else (x, w))
        grads = self._call("vjp", config, device, g, *args)
        return (self._from_tf(config, device, grads[0], "activation"), self._from_tf(config, device, grads[1], "filter"),
                self._from_tf(config, device, grads[2], "bias") if config.bias else None)

    def jvp(self, config: ConvConfig, x, w, b, dx, dw, db, device: str = "cpu"):
        primals = self._tensors(config, device, (x, w, b) if config.bias else (x, w))
        tangents = self._tensors(config, device, (dx, dw, db) if config.bias else (dx, dw))
        dy = self._call("jvp", config, device, tuple(primals), tuple(tangents))
        return self._from_tf(config, device, dy, "activation")

    def double_vjp(self, config: ConvConfig, x, w, b, grad_out, ggx, ggw, ggb, device: str = "cpu"):
        g = self._activation(config, device, grad_out)
        primals = self._tensors(config, device, (x, w, b) if config.bias else (x, w))
        cotangents = self._tensors(config, device, (ggx, ggw, ggb) if config.bias else (ggx, ggw))
        x_bar, w_bar, g_bar = self._call("double_vjp", config, device, g, tuple(primals), tuple(cotangents))
        return (self._from_tf(config, device, x_bar, "activation"), self._from_tf(config, device, w_bar, "filter"),
                self._from_tf(config, device, g_bar, "activation"))


class TensorFlowOneDNNOff(TensorFlowNative):
    """tensorflow's native path with oneDNN off (TF_ENABLE_ONEDNN_OPTS=0, read when TF is imported)."""

    name = "tensorflow.onednn_off"
    environment = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    gaps = (*API_GAPS, *cpu_gaps(onednn=False), *conv2d_backprop_gaps(onednn=False))

    def supports(self, config: ConvConfig, device: str = "cpu") -> str | None:
        if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
            return (f"{self.name}: needs its own process started with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow reads it at "
                    f"import; here it is {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')!r}): run with "
                    f"--isolation process, or export TF_ENABLE_ONEDNN_OPTS=0")
        return super().supports(config, device)
