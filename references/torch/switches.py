"""PyTorch's backend switches, each its own implementation: the eager functional path with one switch set.

- "torch.onednn_off" (CPU): torch.backends.mkldnn.enabled = False, so convolutions take ATen's own
  CPU kernels instead of oneDNN's.
- "torch.cudnn_off" (CUDA): torch.backends.cudnn.enabled = False (ATen's native CUDA kernels).
- "torch.cudnn_benchmark" (CUDA): torch.backends.cudnn.benchmark = True (cuDNN times its
  algorithms per shape and picks the fastest, which may be another algorithm than the default).
- "torch.deterministic" (CUDA): torch.use_deterministic_algorithms(True) and
  torch.backends.cudnn.deterministic = True (and benchmark off).

Each call (forward, vjp, jvp, double_vjp) runs with its switch set, and the previous values are
restored afterwards. The switches are set attribute by attribute, not through
torch.backends.*.flags(): flags() also resets every other flag of that backend to its defaults
(allow_tf32=True, deterministic=False, fp32_precision="none"), which would change more than the one
switch the implementation is named after. settings() shows the values in force during a call.
"""

from __future__ import annotations

import contextlib

from references.torch.functional import TorchAdapter, _torch

__all__ = ["SwitchedTorchAdapter", "OneDnnOff", "CudnnOff", "CudnnBenchmark", "Deterministic", "switched"]


@contextlib.contextmanager
def switched(torch, switches: dict[str, object]):
    """Set each "torch.backends.x.y" (or "deterministic_algorithms") to its value; restore all on exit."""
    saved = []
    try:
        for path, value in switches.items():
            if path == "deterministic_algorithms":
                saved.append((path, torch.are_deterministic_algorithms_enabled()))
                torch.use_deterministic_algorithms(value)
                continue
            owner_path, _, attribute = path.rpartition(".")
            owner = eval(owner_path, {"torch": torch})  # noqa: S307 - fixed attribute paths declared below
            saved.append((path, getattr(owner, attribute)))
            setattr(owner, attribute, value)
        yield
    finally:
        for path, value in reversed(saved):
            if path == "deterministic_algorithms":
                torch.use_deterministic_algorithms(value)
            else:
                owner_path, _, attribute = path.rpartition(".")
                setattr(eval(owner_path, {"torch": torch}), attribute, value)  # noqa: S307


class SwitchedTorchAdapter(TorchAdapter):
    """The eager functional adapter with `switches` set around every call (a subclass sets both)."""

    switches: dict[str, object] = {}

    def supports_device(self, device: str) -> str | None:
        if device not in self.devices:
            only = " and ".join(d.upper() if d == "cuda" else d for d in self.devices)
            return f"{self.name}: {only} only; this run's device is {device}"
        return super().supports_device(device)

    def _precision_context(self, torch):
        stack = contextlib.ExitStack()
        stack.enter_context(super()._precision_context(torch))
        stack.enter_context(switched(torch, self.switches))
        return stack

    def settings(self, device: str = "cpu") -> dict[str, object]:
        torch = _torch()
        with switched(torch, self.switches):
            found = super().settings(device)
            found["torch.are_deterministic_algorithms_enabled()"] = torch.are_deterministic_algorithms_enabled()
            found["torch.backends.cudnn.benchmark"] = torch.backends.cudnn.benchmark
            found["torch.backends.cudnn.deterministic"] = torch.backends.cudnn.deterministic
        found["adapter.switches"] = ", ".join(f"{k}={v}" for k, v in self.switches.items())
        return found


class OneDnnOff(SwitchedTorchAdapter):
    name = "torch.onednn_off"
    devices = ("cpu",)
    switches = {"torch.backends.mkldnn.enabled": False}


class CudnnOff(SwitchedTorchAdapter):
    name = "torch.cudnn_off"
    devices = ("cuda",)
    switches = {"torch.backends.cudnn.enabled": False}


class CudnnBenchmark(SwitchedTorchAdapter):
    name = "torch.cudnn_benchmark"
    devices = ("cuda",)
    switches = {"torch.backends.cudnn.benchmark": True}


class Deterministic(SwitchedTorchAdapter):
    name = "torch.deterministic"
    devices = ("cuda",)
    switches = {"deterministic_algorithms": True, "torch.backends.cudnn.deterministic": True,
                "torch.backends.cudnn.benchmark": False}
    # cuBLAS is deterministic only with a fixed workspace (PyTorch raises otherwise when
    # deterministic algorithms are on); the worker process starts with it.
    environment = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
