"""A ConvConfig's convolution written with TensorFlow's public ops (imported by the adapter, lazily).

Importing this module imports TensorFlow; `references.tensorflow.composed` imports it only inside
its methods. Everything here is differentiable by `tf.GradientTape`.

Layouts. Tensors enter and leave `conv_graph` in PyTorch's layouts (x: (N, C_in, *spatial);
w: (C_out, C_in/groups, *k), or (C_in, C_out/groups, *k) when transposed; y: (N, C_out, *out)), so
the tape's gradients come back in PyTorch's layouts too. Inside, activations are channels-last
(NWC/NHWC/NDHWC) or channels-first (NCW/NCHW/NCDHW) as the `Plan` says, and forward-convolution
filters are TensorFlow's (*k, C_in/groups, C_out).

Which TensorFlow API each case goes through (see `Plan.route` and `convolve`):
- ordinary, dilation 1:   tf.nn.conv1d / conv2d / conv3d with TF's strides; "same"/"valid" passed
  as "SAME"/"VALID"; explicit pairs passed as conv2d's explicit padding list in 2-d, tf.pad + "VALID"
  in 1-d and 3-d.
- ordinary, dilation > 1: tf.nn.convolution(dilations=d, strides=1) (TF's space-to-batch route,
  whose gradients run on CPU), then a strided slice for stride > 1, which tf.nn.convolution refuses
  together with dilation > 1; explicit pairs through tf.pad.
- groups > 1: one convolution per group (tf.split / tf.concat): grouped gradients are unsupported
  on CPU and grouped Conv3D is missing there.
- transposed, groups 1, dilation 1: tf.nn.conv_transpose with "VALID" and output_shape
  (n - 1) * s + k (+ room for output_padding), then a crop of (lo, hi).
- transposed otherwise: zero insertion (tf.pad + tf.reshape), tf.pad / slicing to
  d * (k - 1) - pad, and the ordinary route above with the kernel flipped and its (in, out) axes
  swapped within each group (conv_transpose has no groups, and its CPU gradient has no dilation).
- bias: tf.nn.bias_add.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from conformance.config import ConvConfig
from conformance.definitions import same_upper_pairs

__all__ = ["Layout", "Plan", "make_plan", "conv_graph", "convolve", "insert_zeros"]

_DATA_FORMATS = {
    (1, False): "NWC", (2, False): "NHWC", (3, False): "NDHWC",
    (1, True): "NCW", (2, True): "NCHW", (3, True): "NCDHW",
}


@dataclass(frozen=True)
class Layout:
    """Where the channel and spatial axes of an activation tensor are."""

    ndim: int
    channels_first: bool

    @property
    def data_format(self) -> str:
        return _DATA_FORMATS[(self.ndim, self.channels_first)]

    @property
    def channel_axis(self) -> int:
        return 1 if self.channels_first else self.ndim + 1

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        first = 2 if self.channels_first else 1
        return tuple(range(first, first + self.ndim))

    def full(self, spatial, batch=1, channel=1) -> list:
        """A per-axis list in this layout: batch, channel and one value per spatial dim."""
        spatial = list(spatial)
        return [batch, channel, *spatial] if self.channels_first else [batch, *spatial, channel]

    def from_torch(self, x):
        """(N, C, *spatial) -> this layout."""
        if self.channels_first:
            return x
        return tf.transpose(x, [0, *range(2, self.ndim + 2), 1])

    def to_torch(self, y):
        """This layout -> (N, C, *spatial)."""
        if self.channels_first:
            return y
        return tf.transpose(y, [0, self.ndim + 1, *range(1, self.ndim + 1)])


@dataclass(frozen=True)
class Plan:
    """How one config is computed: the layout and the route (see the module docstring)."""

    layout: Layout
    route: str  # "conv", "conv_transpose" or "zero_insertion"


def make_plan(config: ConvConfig, channels_first: bool) -> Plan:
    """The route for `config`: TF's own transposed op where it can do the whole call, else composition."""
    if not config.transposed:
        route = "conv"
    elif config.groups == 1 and all(d == 1 for d in config.dilation):
        route = "conv_transpose"
    else:
        route = "zero_insertion"
    return Plan(Layout(config.ndim, channels_first), route)


# ---- building blocks -------------------------------------------------------------------------------


def _pad_or_crop(x, pairs, layout: Layout):
    """Zero-pad (lo, hi) per spatial dim; negative values crop (slicing, not negative padding).

    Pads first, then crops: a crop on one side may reach into the padding of the other side
    (e.g. (-2, 2) on a length-1 tensor keeps one of the two zeros padded at the end).
    """
    widths = [[0, 0] for _ in range(layout.ndim + 2)]
    for axis, (lo, hi) in zip(layout.spatial_axes, pairs, strict=True):
        widths[axis] = [max(lo, 0), max(hi, 0)]
    if any(w != [0, 0] for w in widths):
        x = tf.pad(x, widths)
    if any(lo < 0 or hi < 0 for lo, hi in pairs):
        crop = [slice(None)] * (layout.ndim + 2)
        for axis, (lo, hi) in zip(layout.spatial_axes, pairs, strict=True):
            crop[axis] = slice(max(-lo, 0), x.shape[axis] - max(-hi, 0))
        x = x[tuple(crop)]
    return x


def _subsample(y, stride, layout: Layout):
    """Every s-th position from 0 in each spatial dim: a stride-1 result strided afterwards."""
    if all(s == 1 for s in stride):
        return y
    index = [slice(None)] * (layout.ndim + 2)
    for axis, s in zip(layout.spatial_axes, stride, strict=True):
        index[axis] = slice(None, None, s)
    return y[tuple(index)]


def insert_zeros(x, stride, layout: Layout):
    """s - 1 zeros between neighbours along each spatial dim: size n -> (n - 1) * s + 1."""
    for axis, s in zip(layout.spatial_axes, stride, strict=True):
        if s == 1:
            continue
        shape = list(x.shape)
        n = shape[axis]
        widened = tf.expand_dims(x, axis + 1)
        widths = [[0, 0] for _ in range(len(shape) + 1)]
        widths[axis + 1] = [0, s - 1]
        widened = tf.pad(widened, widths)
        shape[axis] = n * s
        x = tf.reshape(widened, shape)
        index = [slice(None)] * len(shape)
        index[axis] = slice(0, (n - 1) * s + 1)
        x = x[tuple(index)]
    return x


def _one_group(x, w, stride, dilation, padding, layout: Layout):
    """One ungrouped convolution; w: (*k, C_in, C_out); padding: "same", "valid" or (lo, hi) pairs."""
    ndim = layout.ndim
    dilated = any(d > 1 for d in dilation)
    if isinstance(padding, str):
        tf_padding = padding.upper()
    elif ndim == 2 and not dilated and any(lo or hi for lo, hi in padding):
        # conv2d's explicit padding list is the path 2-d users take for asymmetric padding.
        tf_padding = [list(pair) for pair in layout.full(padding, batch=(0, 0), channel=(0, 0))]
    else:
        x = _pad_or_crop(x, padding, layout)
        tf_padding = "VALID"
    fmt = layout.data_format
    if dilated:
        # Stride 1 here: tf.nn.convolution refuses stride > 1 with dilation > 1.
        y = tf.nn.convolution(x, w, strides=1, padding=tf_padding, dilations=list(dilation), data_format=fmt)
        return _subsample(y, stride, layout)
    if ndim == 1:
        return tf.nn.conv1d(x, w, stride=list(stride), padding=tf_padding, data_format=fmt)
    if ndim == 2:
        return tf.nn.conv2d(x, w, strides=layout.full(stride), padding=tf_padding, data_format=fmt)
    return tf.nn.conv3d(x, w, strides=layout.full(stride), padding=tf_padding, data_format=fmt)


def convolve(x, w, *, groups, stride, dilation, padding, layout: Layout):
    """Ordinary convolution, x in `layout`, w: (*k, C_in/groups, C_out); one call per group."""
    if groups == 1:
        return _one_group(x, w, stride, dilation, padding, layout)
    x_parts = tf.split(x, groups, axis=layout.channel_axis)
    w_parts = tf.split(w, groups, axis=-1)
    ys = [_one_group(xg, wg, stride, dilation, padding, layout) for xg, wg in zip(x_parts, w_parts, strict=True)]
    return tf.concat(ys, axis=layout.channel_axis)


# ---- the three routes ------------------------------------------------------------------------------


def _forward_filter(w, ndim):
    """(C_out, C_in/g, *k) -> (*k, C_in/g, C_out)."""
    return tf.transpose(w, [*range(2, ndim + 2), 1, 0])


def _flipped_forward_filter(w, groups, ndim):
    """Transposed weight (C_in, C_out/g, *k) -> forward filter (*k, C_in/g, C_out), kernel flipped."""
    c_in, out_per_group = w.shape[0], w.shape[1]
    kernel = list(w.shape[2:])
    w = tf.reshape(w, [groups, c_in // groups, out_per_group, *kernel])
    w = tf.reverse(w, axis=list(range(3, ndim + 3)))
    # (g, C_in/g, C_out/g, *k) -> (*k, C_in/g, g, C_out/g): output channel = group * C_out/g + local.
    w = tf.transpose(w, [*range(3, ndim + 3), 1, 0, 2])
    return tf.reshape(w, [*kernel, c_in // groups, groups * out_per_group])


def _conv_transpose(config: ConvConfig, x, w, layout: Layout):
    """tf.nn.conv_transpose ("VALID", full size), then the (lo, hi) crop; groups 1, dilation 1."""
    ndim = config.ndim
    pads = config.resolved_padding
    # VALID gives (n-1)*s + k; output_padding beyond hi needs up to s-1 more, which TF accepts
    # (any size whose VALID forward convolution has n positions).
    full = [(n - 1) * s + k + max(op - hi, 0)
            for n, s, k, op, (_, hi) in zip(config.in_size, config.stride, config.kernel, config.output_padding,
                                            pads, strict=True)]
    filters = tf.transpose(w, [*range(2, ndim + 2), 1, 0])  # (C_in, C_out, *k) -> (*k, C_out, C_in)
    output_shape = layout.full(full, batch=config.batch, channel=config.out_channels)
    y = tf.nn.conv_transpose(x, filters, output_shape, strides=list(config.stride), padding="VALID",
                             data_format=layout.data_format)
    crop = [(-lo, -(f - lo - out)) for (lo, _), f, out in zip(pads, full, config.out_size, strict=True)]
    return _pad_or_crop(y, crop, layout)


def _zero_insertion(config: ConvConfig, x, w, layout: Layout):
    """Transposed convolution as a stride-1 dilated convolution of the zero-inserted input."""
    x = insert_zeros(x, config.stride, layout)
    pads = [(d * (k - 1) - lo, d * (k - 1) - hi + op)
            for k, d, (lo, hi), op in zip(config.kernel, config.dilation, config.resolved_padding,
                                          config.output_padding, strict=True)]
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        # Cropping and padding together: done here (pad, then crop), the convolution pads nothing.
        x = _pad_or_crop(x, pads, layout)
        pads = ((0, 0),) * config.ndim
    return convolve(x, _flipped_forward_filter(w, config.groups, config.ndim), groups=config.groups,
                    stride=(1,) * config.ndim, dilation=config.dilation, padding=pads, layout=layout)


def conv_graph(config: ConvConfig, plan: Plan, x, w, b=None):
    """y = conv(x, w) + b in PyTorch layouts (see the module docstring), through TensorFlow ops."""
    layout = plan.layout
    x = layout.from_torch(x)
    if plan.route == "conv":
        padding = config.padding
        if padding == "same" and any(s > 1 for s in config.stride) and any(d > 1 for d in config.dilation):
            # TF's SAME for these strides: the stride-1 dilated call below, then subsampled, would not give it.
            padding = same_upper_pairs(config)
        if config.padding_mode == "reflect":
            # PyTorch's reflect is tf.pad's REFLECT (SYMMETRIC would repeat the edge value).
            widths = [[0, 0] for _ in range(config.ndim + 2)]
            for axis, pair in zip(layout.spatial_axes, same_upper_pairs(config), strict=True):
                widths[axis] = list(pair)
            x, padding = tf.pad(x, widths, mode="REFLECT"), ((0, 0),) * config.ndim
        y = convolve(x, _forward_filter(w, config.ndim), groups=config.groups, stride=config.stride,
                     dilation=config.dilation, padding=padding, layout=layout)
    elif plan.route == "conv_transpose":
        y = _conv_transpose(config, x, w, layout)
    else:
        y = _zero_insertion(config, x, w, layout)
    if b is not None:
        y = tf.nn.bias_add(y, b, data_format="NC..." if layout.channels_first else "N...C")
    return layout.to_torch(y)
