"""Kernels that define calls PyTorch's rules refuse (conformance.definitions), for tests/test_definitions.py.

Each is a NumPy convolution written here from the definition, not from the readings it is checked
against: 'same' for any stride as TensorFlow's SAME (out = ceil(n / s), the odd pad at the end).
"""

from __future__ import annotations

import math

import numpy as np

from conformance import Definition, Implementation
from conformance.dtypes import to_storage

__all__ = ["same_any_stride", "same_as_pytorch_pairs", "same_refused", "groups_from_any_weight"]

SAME = Definition("'same' needs stride 1", "same_upper", "this kernel: 'same' for any stride, as TensorFlow's")


def _correlate1d(x, w, stride, lo, hi):
    """y[n, o, t] = sum_{c, j} x_pad[n, c, t*s + j] w[o, c, j]: 1-d, ungrouped, undilated."""
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (lo, hi)))
    k = w.shape[-1]
    out = (xp.shape[-1] - k) // stride + 1
    return np.stack([np.einsum("ncj,ocj->no", xp[..., t * stride:t * stride + k], w) for t in range(out)], axis=-1)


class _Kernel(Implementation):
    dtypes = ("float64", "float32")
    defines = (SAME,)

    def pairs(self, config):
        (n,), (k,), (s,) = config.in_size, config.kernel, config.stride
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        return total // 2, total - total // 2

    def forward(self, config, x, w, b=None, device="cpu"):
        if config.ndim != 1 or config.transposed or config.groups != 1 or config.dilation != (1,):
            raise NotImplementedError("1-d ungrouped undilated ordinary calls only")
        broken = [p for p in config.broken_rules() if "same" not in p]
        if broken or tuple(w.shape) != config.weight_shape:
            raise ValueError(f"{self.name}: invalid call: {broken or 'weight shape'}")
        lo, hi = self.pairs(config) if config.padding == "same" else config.resolved_padding
        y = _correlate1d(x, np.asarray(w, np.float64), config.stride[0], lo, hi)
        if b is not None:
            y = y + np.asarray(b, np.float64)[:, None]
        return to_storage(y, config.dtype)


class SameAnyStride(_Kernel):
    name = "same_any_stride"


class SameAsPyTorchPairs(_Kernel):
    """A planted bug: declares TF's SAME but pads by PyTorch's stride-1 pairs (d(k-1) split in two)."""

    name = "same_as_pytorch_pairs"

    def pairs(self, config):
        return config.resolved_padding[0]


class SameRefused(_Kernel):
    """Declares the definition, then refuses the call: the declaration is wrong."""

    name = "same_refused"

    def forward(self, config, x, w, b=None, device="cpu"):
        if config.padding == "same" and config.stride != (1,):
            raise ValueError("same_refused: 'same' needs stride 1")
        return super().forward(config, x, w, b, device)


class GroupsFromAnyWeight(_Kernel):
    """Declares groups_from_weight, but returns a result for a weight that fits no grouping (its
    definition refuses it): an invalid call accepted."""

    name = "groups_from_any_weight"
    defines = (Definition("weight shape matches the channels", "groups_from_weight", "groups read off the weight"),)

    def forward(self, config, x, w, b=None, device="cpu"):
        return to_storage(np.zeros(config.output_shape), config.dtype)


def same_any_stride():
    return SameAnyStride()


def same_as_pytorch_pairs():
    return SameAsPyTorchPairs()


def same_refused():
    return SameRefused()


def groups_from_any_weight():
    return GroupsFromAnyWeight()
