"""PyTorch through its modules: torch.nn.Conv{1,2,3}d / ConvTranspose{1,2,3}d, called as a module user does.

Each call builds the module for the config (the constructor's own `padding`, `padding_mode`,
`output_padding`, `groups`, `dilation`, `bias`), replaces its parameters with the given weight and
bias (nn.Parameter around the tensors, so their memory layout is kept), and calls `module(x)`.
Gradients come from autograd with respect to x and the module's parameters; forward mode from
torch.func.jvp through torch.func.functional_call.

What the constructor takes, and so what this path tests beyond torch.nn.functional:
- `padding_mode` ("zeros", "reflect", "replicate", "circular"): the module pads the input itself
  (F.pad with the mode) and convolves with no padding. ConvTranspose*d takes "zeros" only.
- padding: symmetric ints per dim, or "same" / "valid" as strings (ordinary convolution). A
  transposed module takes no string, so "valid" goes in as 0 (what it means). Asymmetric (lo, hi)
  padding cannot be expressed to a module: declared unsupported (a user pads with F.pad first,
  which is the functional path, "torch").
- output_padding goes to the ConvTranspose*d constructor, not as `output_size=` to forward:
  output_size is converted back to an output_padding by the module and accepted only below the
  stride, while the constructor takes any output_padding < max(stride, dilation), every config
  the harness draws (tests/test_adapter_torch_paths.py checks the output_size form separately).
- unbatched input (C_in, *spatial) goes in as it is: the modules accept it.

Layouts as in references/torch/functional.py; torch is imported on first use.
"""

from __future__ import annotations

import numpy as np

from conformance.capabilities import Gap
from conformance.config import ConvConfig
from references.torch.functional import TorchAdapter, _torch

__all__ = ["TorchModuleAdapter", "module_padding"]


def module_padding(config: ConvConfig):
    """The constructor's `padding` for config: a string, per-dim ints, or None when a module cannot take it."""
    if isinstance(config.padding, str):
        return 0 if config.transposed else config.padding
    if any(lo != hi for lo, hi in config.padding):
        return None
    return tuple(lo for lo, _ in config.padding)


def _padding_mode(config: ConvConfig) -> str:
    return getattr(config, "padding_mode", "zeros")


def build_module(torch, config: ConvConfig, device: str, dtype):
    """The nn.Conv*d / nn.ConvTranspose*d module for config (its initial parameters are replaced by the caller)."""
    nn = torch.nn
    common = dict(kernel_size=config.kernel, stride=config.stride, padding=module_padding(config),
                  dilation=config.dilation, groups=config.groups, bias=config.bias, device=device, dtype=dtype)
    # padding_mode goes to both families, as a user passes it: nn.ConvTranspose*d itself refuses all
    # but "zeros" (the invalid rule "padding_mode applies to ordinary convolution only").
    if config.transposed:
        return getattr(nn, f"ConvTranspose{config.ndim}d")(config.in_channels, config.out_channels,
                                                           output_padding=config.output_padding,
                                                           padding_mode=_padding_mode(config), **common)
    return getattr(nn, f"Conv{config.ndim}d")(config.in_channels, config.out_channels,
                                              padding_mode=_padding_mode(config), **common)


class TorchModuleAdapter(TorchAdapter):
    """torch.nn.Conv*d / ConvTranspose*d modules on "cpu" or "cuda"; see the module docstring."""

    name = "torch.nn"
    gaps = (Gap("asymmetric padding", "nn.Conv*d / nn.ConvTranspose*d take one padding per dim (symmetric); "
                                      "asymmetric (lo, hi) needs F.pad first, which is the `torch` call path"),)

    def supports(self, config: ConvConfig, device: str = "cpu") -> str | None:
        if module_padding(config) is None:
            kind = f"ConvTranspose{config.ndim}d" if config.transposed else f"Conv{config.ndim}d"
            return (f"torch.nn.{kind} takes symmetric padding only; asymmetric (lo, hi) "
                    f"{config.padding} needs F.pad first")
        return self.supports_device(device)

    def settings(self, device: str = "cpu") -> dict[str, object]:
        return {"adapter.call": "torch.nn.Conv*d / ConvTranspose*d modules", **super().settings(device)}

    # ---- computation ----

    def _module(self, torch, config: ConvConfig, device: str, w, b):
        """The module with the given weight (and bias) as its parameters, in the tensors' own layout."""
        reason = self.supports(config, device)
        if reason:
            raise RuntimeError(reason)
        module = build_module(torch, config, device, w.dtype)
        module.weight = torch.nn.Parameter(w, requires_grad=w.requires_grad)
        if config.bias:
            module.bias = torch.nn.Parameter(b, requires_grad=b.requires_grad)
        return module

    def _parameters(self, torch, config, device, w, b, requires_grad):
        wt = self._tensor(torch, w, config, device, requires_grad)
        bt = self._tensor(torch, b, config, device, requires_grad) if config.bias else None
        return wt, bt

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        torch = _torch()
        self._check_device(device)
        with torch.no_grad(), self._precision_context(torch):
            module = self._module(torch, config, device, *self._parameters(torch, config, device, w, b, False))
            y = module(self._tensor(torch, x, config, device))
        return self._numpy(torch, y, device)

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        torch = _torch()
        self._check_device(device)
        with torch.enable_grad(), self._precision_context(torch):
            module = self._module(torch, config, device, *self._parameters(torch, config, device, w, b, True))
            xt = self._tensor(torch, x, config, device, True)
            y = module(xt)
            inputs = [xt, module.weight] + ([module.bias] if config.bias else [])
            grads = torch.autograd.grad(y, inputs, grad_outputs=self._tensor(torch, grad_out, config, device),
                                        allow_unused=True, materialize_grads=True)
        grad_b = self._numpy(torch, grads[2], device) if config.bias else None
        return self._numpy(torch, grads[0], device), self._numpy(torch, grads[1], device), grad_b

    def jvp(self, config: ConvConfig, x, w, b, dx, dw, db, device: str = "cpu"):
        """Forward mode: torch.func.jvp of torch.func.functional_call(module, parameters, x)."""
        torch = _torch()
        self._check_device(device)
        names = ("weight", "bias") if config.bias else ("weight",)
        with self._precision_context(torch):
            module = self._module(torch, config, device, *self._parameters(torch, config, device, w, b, False))
            primals = tuple(self._tensor(torch, a, config, device) for a in ((x, w, b) if config.bias else (x, w)))
            tangents = tuple(self._tensor(torch, t, config, device) for t in ((dx, dw, db) if config.bias else (dx, dw)))

            def call(xt, *parameters):
                return torch.func.functional_call(module, dict(zip(names, parameters)), (xt,))

            _, dy = torch.func.jvp(call, primals, tangents)
        return self._numpy(torch, dy, device)

    def double_vjp(self, config: ConvConfig, x, w, b, grad_out, ggx, ggw, ggb, device: str = "cpu"):
        """Double backward through the module: autograd.grad(create_graph=True), then autograd.grad of its results."""
        torch = _torch()
        self._check_device(device)
        with torch.enable_grad(), self._precision_context(torch):
            module = self._module(torch, config, device, *self._parameters(torch, config, device, w, b, True))
            xt = self._tensor(torch, x, config, device, True)
            gt = self._tensor(torch, grad_out, config, device, True)
            inputs = [xt, module.weight] + ([module.bias] if config.bias else [])
            first = torch.autograd.grad(module(xt), inputs, grad_outputs=gt, create_graph=True, allow_unused=True,
                                        materialize_grads=True)
            cotangents = [self._tensor(torch, a, config, device) for a in ((ggx, ggw, ggb) if config.bias else (ggx, ggw))]
            second = torch.autograd.grad(first, [xt, module.weight, gt], grad_outputs=cotangents, allow_unused=True,
                                         materialize_grads=True)
        return tuple(self._numpy(torch, t, device) for t in second)
