"""Array plumbing shared by the references: NumPy or CuPy, float64 in, host NumPy out.

Only data movement lives here; no convolution arithmetic, so the references stay independent.
"""

from __future__ import annotations

import numpy as np

from conformance.arithmetic import FLOAT64
from conformance.capabilities import OPT_IN_AXES
from conformance.registry import Implementation

__all__ = [
    "ArrayReference",
    "as_float64",
    "check_call",
    "cuda_unavailable_reason",
    "namespace",
    "scatter_add",
    "to_host",
    "with_batch_axis",
    "without_batch_axis",
]

_cupy_reason: str | None | bool = False  # False: not checked yet


def cuda_unavailable_reason() -> str | None:
    """None when CuPy sees a CUDA device, else why the references cannot run on CUDA."""
    global _cupy_reason
    if _cupy_reason is False:
        try:
            import cupy  # noqa: F401

            count = cupy.cuda.runtime.getDeviceCount()
            _cupy_reason = None if count > 0 else "cupy sees no CUDA device"
        except ImportError:
            _cupy_reason = "cupy not installed (pip install cupy-cuda12x to run the references on CUDA)"
        except Exception as err:  # CUDA driver errors come in several types
            _cupy_reason = f"cupy cannot use CUDA: {type(err).__name__}: {err}"
    return _cupy_reason  # type: ignore[return-value]


def namespace(device: str):
    """numpy for "cpu", cupy for "cuda"."""
    if device == "cpu":
        return np
    if device == "cuda":
        reason = cuda_unavailable_reason()
        if reason:
            raise RuntimeError(f"references on cuda: {reason}")
        import cupy

        return cupy
    raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")


def as_float64(xp, array):
    """The array as float64 in namespace xp (the references accumulate in float64)."""
    if array is None:
        return None
    return xp.asarray(np.asarray(array, dtype=np.float64) if xp is np else array, dtype=xp.float64)


def with_batch_axis(config, *activations):
    """The batched call behind `config`: an unbatched call (C, *spatial) is a batch of one.

    Returns (config with batched=True, the activations with a leading axis of 1 where it was missing).
    The arrays stay views (no copy), so their strides are kept.
    """
    if config.batched:
        return config, activations
    return config.replace(batched=True), tuple(None if a is None else a[None] for a in activations)


def without_batch_axis(config, array):
    """A result of the batched call in the caller's shape: its batch axis of one dropped if unbatched."""
    if config.batched or array is None:
        return array
    return array[0]


def scatter_add(xp, target, index, values) -> None:
    """target[index] += values, adding repeated indices once per occurrence (unbuffered, as np.add.at)."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)


def to_host(array):
    if array is None:
        return None
    if isinstance(array, np.ndarray):
        return array
    return array.get()  # cupy


class ArrayReference(Implementation):
    """What the three references declare alike: float64 arithmetic, NumPy on cpu, CuPy on cuda."""

    devices = ("cpu", "cuda")
    is_reference = True
    opt_in = tuple(OPT_IN_AXES)

    def supports(self, config, device: str = "cpu") -> str | None:
        if device == "cuda":
            return cuda_unavailable_reason()
        return super().supports(config, device)

    def arithmetic(self, config, device: str = "cpu"):
        return FLOAT64

    # The derivatives beyond the first VJP, written from the identities of a bilinear map. Each
    # reference builds them from its own forward and VJP only, so the three stay independent.

    def jvp(self, config, x, w, b, dx, dw, db, device: str = "cpu"):
        """dy = conv(dx, w) + conv(x, dw) + db: convolution is bilinear in (x, w), affine in b."""
        dy = self.forward(config, dx, w, None, device) + self.forward(config, x, dw, None, device)
        if db is not None:
            # (C_out, 1, ...) broadcasts over (N, C_out, *out) and over an unbatched (C_out, *out) alike.
            dy = dy + np.asarray(db, np.float64).reshape((-1,) + (1,) * config.ndim)
        return dy

    def double_vjp(self, config, x, w, b, grad_out, ggx, ggw, ggb, device: str = "cpu"):
        """The VJP of (x, w, b, g) -> (grad_x, grad_w, grad_b) with cotangents (ggx, ggw, ggb).

        <ggw, grad_w(x, g)> = <conv(x, ggw), g> and <ggx, grad_x(w, g)> = <conv(ggx, w), g>, so:
        x_bar = the input-VJP of g through conv(., ggw); w_bar = the weight-VJP of g through
        conv(ggx, .); g_bar = conv(ggx, w) + conv(x, ggw) + ggb (the JVP with tangents ggx, ggw, ggb).
        """
        x_bar = self.vjp(config, x, ggw, None, grad_out, device)[0]
        w_bar = self.vjp(config, ggx, w, None, grad_out, device)[1]
        return x_bar, w_bar, self.jvp(config, x, w, b, ggx, ggw, ggb, device)


def check_call(config, x, w, b=None) -> None:
    """Refuse an invalid call as a framework does: a broken validity rule, or an array of the wrong shape."""
    from conformance.config import InvalidConfig

    problems = config.broken_rules()
    if problems:
        raise InvalidConfig(problems[0])
    for name, array, shape in (("x", x, config.input_shape), ("w", w, config.weight_shape), ("b", b, config.bias_shape)):
        if array is None and name == "b":
            continue  # no bias given: the convolution alone (as jvp and double_vjp call it)
        seen = None if array is None else tuple(array.shape)
        if seen != (None if shape is None else tuple(shape)):
            raise ValueError(f"{name} has shape {seen}, expected {shape} for {config}")
