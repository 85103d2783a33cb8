"""Memory layouts: the strides of the arrays the harness hands to an implementation.

Values never change with the layout; only where they sit in memory does. Index order is always
PyTorch's (N, C, *spatial) for activations and (C_a, C_b, *kernel) for weights.

- "contiguous": C order.
- "channels_last": the channels-innermost buffer (NWC / NHWC / NDHWC for activations; (C_a, *kernel,
  C_b) for weights, as torch.channels_last lays out a weight) seen in the usual index order, so the
  channel axis has the smallest stride. A bias is 1-d and stays contiguous.
- "strided": a non-contiguous view into a larger buffer: every second element along the last axis,
  and for activations and weights a slice that starts at channel 1 of a buffer with one channel
  more. Axes of size 1 get stride 0 (a size-1 axis may have any stride), and so does any axis whose
  values are all equal along it: that is what `expand` gives, and a kernel that reads strides must
  cope with it.

A layout survives no pickling (NumPy pickles a C-contiguous copy), so the worker process applies it
again to the arrays it receives (conformance.worker).
"""

from __future__ import annotations

import numpy as np

from .config import MEMORY_FORMATS

__all__ = ["MEMORY_FORMATS", "ROLES", "in_layout", "channel_axis"]
# What each ConvTensors field is, for its layout.
ROLES = {"x": "activation", "grad_out": "activation", "dx": "activation", "ggx": "activation",
         "w": "weight", "dw": "weight", "ggw": "weight", "b": "bias", "db": "bias", "ggb": "bias"}


def channel_axis(role: str, batched: bool) -> int | None:
    """The channel axis of an array of `role` (None for a bias, which has no layout choice)."""
    if role == "activation":
        return 1 if batched else 0
    if role == "weight":
        return 1  # torch's channels_last weight puts axis 1 (C_in/groups, or C_out/groups when transposed) innermost
    return None


def _channels_last(array: np.ndarray, axis: int | None) -> np.ndarray:
    if axis is None or array.ndim < 2:
        return np.ascontiguousarray(array)
    buffer = np.ascontiguousarray(np.moveaxis(array, axis, -1))
    return np.moveaxis(buffer, -1, axis)


def _strided(array: np.ndarray, axis: int | None) -> np.ndarray:
    if array.ndim == 0:
        return array.copy()
    shape = list(array.shape)
    wide = shape.copy()
    wide[-1] = 2 * shape[-1]
    view_index = [slice(None)] * array.ndim
    view_index[-1] = slice(None, None, 2)
    if axis is not None and axis != array.ndim - 1:
        wide[axis] += 1
        view_index[axis] = slice(1, None)
    buffer = np.zeros(wide, dtype=array.dtype)
    view = buffer[tuple(view_index)]
    view[...] = array
    strides = list(view.strides)
    for dim, size in enumerate(view.shape):
        if size == 1 or (size > 1 and np.array_equal(view, np.broadcast_to(view.take([0], axis=dim), view.shape))):
            strides[dim] = 0
    if strides != list(view.strides):
        view = np.lib.stride_tricks.as_strided(view, shape=view.shape, strides=strides, writeable=False)
    return view


def in_layout(array: np.ndarray | None, memory_format: str, role: str, batched: bool = True) -> np.ndarray | None:
    """The same values as `array`, laid out as `memory_format` says for an array of `role`."""
    if array is None:
        return None
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f"memory_format={memory_format!r} is not one of {MEMORY_FORMATS}")
    if role not in ("activation", "weight", "bias"):
        raise ValueError(f"role={role!r} must be 'activation', 'weight' or 'bias'")
    axis = channel_axis(role, batched)
    if memory_format == "channels_last":
        return _channels_last(array, axis)
    if memory_format == "strided":
        return _strided(array, axis)
    return np.ascontiguousarray(array)
