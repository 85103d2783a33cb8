"""Array plumbing shared by the references: NumPy or CuPy, float64 in, host NumPy out.

Only data movement lives here; no convolution arithmetic, so the references stay independent.
"""

from __future__ import annotations

import numpy as np

from conformance.arithmetic import FLOAT64
from conformance.registry import Implementation

__all__ = ["ArrayReference", "namespace", "cuda_unavailable_reason", "as_float64", "to_host"]

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

    def supports(self, config, device: str = "cpu") -> str | None:
        if device == "cuda":
            return cuda_unavailable_reason()
        return super().supports(config, device)

    def arithmetic(self, config, device: str = "cpu"):
        return FLOAT64
