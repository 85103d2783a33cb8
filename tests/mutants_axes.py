"""Planted bugs on the newer ConvConfig axes: padding_mode, memory_format, batched=False, in_channels=0.

Each entry of AXIS_MUTANTS is the keyword arguments of a tests.mutants.Mutant (the naive reference
with one planted bug) that gets one value of one axis wrong the way a kernel author plausibly
would, and is correct everywhere else. tests/mutants.py adds them to MUTANTS, so they plug in as
`pytest --impl tests.mutants:reflect_as_symmetric`; tests/test_mutants_axes.py proves each is caught
in the ci profile.

Layout conventions: x (N, C_in, *spatial) or, unbatched, (C_in, *spatial); w (C_out, C_in/groups,
*kernel). A mutant reads the strides of the arrays it is handed (conformance.layouts), so those
that misread memory see exactly the buffer a real kernel would.
"""

from __future__ import annotations

import numpy as np

from references.numpy.naive import NaiveReference

__all__ = ["AXIS_MUTANTS", "memory_image", "read_as_packed"]

_naive = NaiveReference()


# ---- helpers: the padded input a kernel builds, and the memory a kernel reads ------------------------


def _leading_axes(c) -> int:
    """Axes before the spatial ones: (N, C) batched, (C,) unbatched."""
    return 2 if c.batched else 1


def _convolve_prepadded(c, x_pad, w, b):
    """The config's convolution of an input the kernel padded itself (so with no padding left)."""
    call = c.replace(in_size=tuple(x_pad.shape[-c.ndim:]), padding=((0, 0),) * c.ndim, padding_mode="zeros")
    return _naive.forward(call, x_pad, w, b)


def _np_pad(c, x, np_mode):
    widths = [(0, 0)] * _leading_axes(c) + [tuple(pair) for pair in c.resolved_padding]
    return np.pad(np.asarray(x, np.float64), widths, mode=np_mode)


def memory_image(array) -> tuple[np.ndarray, int]:
    """The memory an array's view spans, element by element (float64), and where element [0, ..., 0] sits.

    Positions the view does not cover (the gaps of a strided view) read as 0.0, which is what the
    harness's strided buffers hold there.
    """
    a = np.asarray(array)
    offsets = np.zeros(a.shape, dtype=np.int64)
    for axis, (n, stride) in enumerate(zip(a.shape, a.strides)):
        shape = [1] * a.ndim
        shape[axis] = n
        offsets = offsets + (np.arange(n, dtype=np.int64) * (stride // a.itemsize)).reshape(shape)
    if a.size == 0:
        return np.zeros(0), 0
    start = int(offsets.min())
    image = np.zeros(int(offsets.max()) - start + 1)
    image[(offsets - start).ravel()] = a.astype(np.float64).ravel()
    return image, -start


def read_as_packed(array, order=None) -> np.ndarray:
    """What a kernel reads when it takes the array's data pointer for a packed buffer of axes `order`.

    order: the axes from outermost to innermost in memory (None: C order). For a C-contiguous array
    in C order, or a channels-last one read in channels-last order, this is the array itself.
    """
    a = np.asarray(array)
    order = list(range(a.ndim)) if order is None else list(order)
    image, origin = memory_image(a)
    data = image[origin:origin + a.size]
    data = np.concatenate([data, np.zeros(a.size - data.size)])  # a read past the view's span sees zeros
    return data.reshape([a.shape[i] for i in order]).transpose(np.argsort(order))


def _channels_last_order(ndim: int, channel_axis: int) -> list[int]:
    return [axis for axis in range(ndim) if axis != channel_axis] + [channel_axis]


# ---- padding_mode -------------------------------------------------------------------------------------


def _reflect_as_symmetric(c, y, x, w, b):
    """reflect padded with np.pad's 'symmetric' (the edge element repeated: x[0] before x[0], not x[1])."""
    if c.padding_mode != "reflect":
        return y
    return _convolve_prepadded(c, _np_pad(c, x, "symmetric"), w, b)


def _replicate_as_reflect(c, y, x, w, b):
    """replicate padded by reflection (the two modes confused)."""
    if c.padding_mode != "replicate":
        return y
    return _convolve_prepadded(c, _np_pad(c, x, "reflect"), w, b)


def _circular_from_wrong_side(c, y, x, w, b):
    """circular wraps the input's first elements into the low pad and its last into the high pad."""
    if c.padding_mode != "circular":
        return y
    x_pad = np.asarray(x, np.float64)
    for dim, (lo, hi) in enumerate(c.resolved_padding):
        axis = _leading_axes(c) + dim
        n = x_pad.shape[axis]
        x_pad = np.concatenate([x_pad.take(range(0, lo), axis), x_pad, x_pad.take(range(n - hi, n), axis)], axis)
    return _convolve_prepadded(c, x_pad, w, b)


def _padding_mode_ignored(c):
    return c.replace(padding_mode="zeros") if c.padding_mode != "zeros" else c


def _padded_gradient_not_folded(c, grads, x, w, b, g):
    """grad_x = the gradient of the padded input cropped to the input: the copies' gradients dropped."""
    if c.padding_mode == "zeros":
        return grads
    cropped = _naive.vjp(c.replace(padding_mode="zeros"), x, w, b, g)[0]
    return cropped, grads[1], grads[2]


# ---- memory_format ------------------------------------------------------------------------------------


def _reads_memory_order(c, y, x, w, b):
    """x and w flattened in memory order (ravel(order='K')) and reshaped as if that were C order."""
    x_seen = np.asarray(x).ravel(order="K").reshape(np.shape(x))
    w_seen = np.asarray(w).ravel(order="K").reshape(np.shape(w))
    return _naive.forward(c, x_seen, w_seen, b)


def _assumes_contiguous(c, y, x, w, b):
    """x and w read from their data pointers as packed C-order buffers, whatever their strides."""
    return _naive.forward(c, read_as_packed(x), read_as_packed(w), b)


def _expanded_weight_as_channels_last(c, y, x, w, b):
    """A channels-last fast path chosen when w's channel stride is below its last axis's stride.

    Right for a real channels-last weight, but an expanded (stride-0) channel axis (C_in/groups == 1
    in a strided view) takes the same path and is read as a packed channels-last buffer.
    """
    w_array = np.asarray(w)
    if w_array.ndim < 3 or w_array.size == 0 or not w_array.strides[1] < w_array.strides[-1]:
        return y
    w_seen = read_as_packed(w_array, _channels_last_order(w_array.ndim, 1))
    return _naive.forward(c, x, w_seen, b)


def _grad_out_assumed_contiguous(c, grads, x, w, b, g):
    """The backward reads grad_out from its data pointer as a packed C-order buffer."""
    return _naive.vjp(c, x, w, b, read_as_packed(g))


# ---- batched=False ------------------------------------------------------------------------------------


def _unbatched_keeps_batch_dim(c, y, x, w, b):
    """An unbatched call run as a batch of one, and the batch axis left on the result: (1, C_out, *out)."""
    return y if c.batched else np.asarray(y)[None]


def _unbatched_grad_input_batch_dim(c, grads, x, w, b, g):
    """The VJP of an unbatched call returns grad_x with the batch axis of one still on: (1, C_in, *in)."""
    return grads if c.batched else (np.asarray(grads[0])[None], grads[1], grads[2])


def _unbatched_read_as_hwc(c, y, x, w, b):
    """An unbatched input taken as a channels-last image (*spatial, C): its values reread in that order."""
    if c.batched:
        return y
    x_array = np.asarray(x, np.float64)
    x_seen = np.moveaxis(x_array.reshape(*x_array.shape[1:], x_array.shape[0]), -1, 0)
    return _naive.forward(c, x_seen, w, b)


def _unbatched_grad_bias_axes(c, grads, x, w, b, g):
    """grad_b summed over axes (0, 2, ...) as for a batched grad_out: unbatched, that sums over channels."""
    if c.batched or not c.bias:
        return grads
    g_array = np.asarray(g, np.float64)
    return grads[0], grads[1], g_array.sum(axis=(0, *range(2, g_array.ndim)))


# ---- in_channels == 0 ---------------------------------------------------------------------------------


def _empty_output_shape(c):
    shape = list(c.output_shape)
    shape[_leading_axes(c) - 1] = 0  # the channel axis
    return tuple(shape)


def _empty_channels_no_output_channels(c, y, x, w, b):
    """No input channels, so no output channels: (N, 0, *out) instead of (N, C_out, *out)."""
    return y if c.in_channels else np.zeros(_empty_output_shape(c))


def _empty_channels_nan(c, y, x, w, b):
    """An empty reduction computed as a mean times its length: 0/0, NaN everywhere."""
    return y if c.in_channels else np.full(c.output_shape, np.nan)


def _empty_channels_drop_bias(c, y, x, w, b):
    """An early return of zeros for an empty input, before the bias is added."""
    return y if c.in_channels else np.zeros(c.output_shape)


def _empty_channels_grad_bias_zero(c, grads, x, w, b, g):
    """The VJP's early return for an empty input gives zero gradients, grad_b included."""
    if c.in_channels or not c.bias:
        return grads
    return grads[0], grads[1], np.zeros(c.out_channels)


AXIS_MUTANTS = {
    # padding_mode
    "reflect_as_symmetric": dict(forward_change=_reflect_as_symmetric,
                                 description="reflect padding repeats the edge element (numpy 'symmetric')"),
    "replicate_as_reflect": dict(forward_change=_replicate_as_reflect, description="replicate padding reflects"),
    "circular_from_wrong_side": dict(forward_change=_circular_from_wrong_side,
                                     description="circular padding wraps lo and hi from the wrong ends"),
    "padding_mode_ignored": dict(config_change=_padding_mode_ignored, description="every padding_mode pads zeros"),
    "padded_gradient_not_folded": dict(vjp_change=_padded_gradient_not_folded,
                                       description="grad_input drops the gradients of the pad's copies"),
    # memory_format
    "reads_memory_order": dict(forward_change=_reads_memory_order,
                               description="x and w read in memory order as if it were C order"),
    "assumes_contiguous": dict(forward_change=_assumes_contiguous,
                               description="x and w read as packed C-order buffers whatever their strides"),
    "expanded_weight_as_channels_last": dict(forward_change=_expanded_weight_as_channels_last,
                                             description="a stride-0 weight channel axis read as channels-last"),
    "grad_out_assumed_contiguous": dict(vjp_change=_grad_out_assumed_contiguous,
                                        description="the VJP reads grad_out as a packed C-order buffer"),
    # batched=False
    "unbatched_keeps_batch_dim": dict(forward_change=_unbatched_keeps_batch_dim,
                                      description="unbatched forward returns (1, C_out, *out)"),
    "unbatched_grad_input_batch_dim": dict(vjp_change=_unbatched_grad_input_batch_dim,
                                           description="unbatched VJP returns grad_input (1, C_in, *in)"),
    "unbatched_read_as_hwc": dict(forward_change=_unbatched_read_as_hwc,
                                  description="unbatched input read as (*spatial, C)"),
    "unbatched_grad_bias_axes": dict(vjp_change=_unbatched_grad_bias_axes,
                                     description="unbatched grad_bias summed over the channel axis"),
    # in_channels == 0
    "empty_channels_no_output_channels": dict(forward_change=_empty_channels_no_output_channels,
                                              description="in_channels=0 gives (N, 0, *out)"),
    "empty_channels_nan": dict(forward_change=_empty_channels_nan, description="in_channels=0 gives NaN"),
    "empty_channels_drop_bias": dict(forward_change=_empty_channels_drop_bias,
                                     description="in_channels=0 returns zeros without the bias"),
    "empty_channels_grad_bias_zero": dict(vjp_change=_empty_channels_grad_bias_zero,
                                          description="in_channels=0 gives grad_bias zero"),
}
