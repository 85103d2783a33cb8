"""What the framework adapters declare alike: the precision mode and the device check.

A subclass sets `name` and implements `gpu_unavailable_reason()` (None when its framework sees a GPU).
"""

from __future__ import annotations

from conformance.capabilities import OPT_IN_AXES
from conformance.config import ConvConfig
from conformance.registry import Implementation

__all__ = ["PRECISIONS", "FrameworkAdapter"]

PRECISIONS = ("default", "highest")


class FrameworkAdapter(Implementation):
    """An adapter with a `precision` mode ("default", or "highest": reduced-precision paths off)."""

    devices = ("cpu", "cuda")
    opt_in = tuple(OPT_IN_AXES)

    def __init__(self, precision: str = "default") -> None:
        self.precision = precision

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        if value not in PRECISIONS:
            raise ValueError(f"precision={value!r} must be one of {PRECISIONS}")
        self._precision = value

    def gpu_unavailable_reason(self) -> str | None:
        raise NotImplementedError(f"{type(self).__name__}.gpu_unavailable_reason")

    def supports(self, config: ConvConfig, device: str = "cpu") -> str | None:
        # Every valid ConvConfig is computed through the framework's own ops: the only gap is a
        # device it cannot see. Crashes and wrong answers are findings, not gaps.
        return self.supports_device(device)

    def supports_device(self, device: str) -> str | None:
        if device not in self.devices:
            return f"{self.name}: device {device!r} not supported (supports {', '.join(self.devices)})"
        return self.gpu_unavailable_reason() if device == "cuda" else None
