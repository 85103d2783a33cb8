"""The interface an implementation under test implements: conformance.Implementation.

conformance.registry names the built-in implementations and loads `--impl` plugins (it re-exports
Implementation); conformance.checks says, per check kind, whether an implementation runs a call
(capability_reason), reading the methods and declarations of this class.
"""

from __future__ import annotations

import numpy as np

from .arithmetic import Arithmetic, default_arithmetic
from .capabilities import Gap
from .config import DTYPES, ConvConfig
from .definitions import Definition

__all__ = ["Implementation"]


class Implementation:
    """A convolution implementation, seen through NumPy arrays in PyTorch layouts.

    - x: (N, C_in, *in_size); w: (C_out, C_in/groups, *kernel), or (C_in, C_out/groups, *kernel)
      when config.transposed; b: (C_out,) or None; grad_out: config.output_shape.
    - Arrays arrive in the config dtype's NumPy storage type: float64, float32, float16, and
      float32 arrays carrying bfloat16 values for "bfloat16". Return results the same way, rounded
      to the output format you declare in `arithmetic()` (for bfloat16: float32 arrays whose values
      are bfloat16 values); a result that is not is a finding ("result not in bfloat16").

    Subclasses set `name` and override the methods of the check kinds they support (`forward`,
    `vjp`; see conformance.checks): a method left as the base class's, set to None, or raising
    NotImplementedError makes that check kind unsupported, with the reason, never a finding.
    `dtypes` (or `supported_dtypes(device, check)`) declares the dtypes it runs, and `gaps` the
    calls it does not run (conformance.capabilities.Gap records, each with its reason): the
    strategies draw only inside what is left. `opt_in` names the semantic axes it has
    (conformance.capabilities.OPT_IN_AXES: "padding_mode", "unbatched"); a plugin that names none is
    drawn zero padding and batched calls only. `defines` names the invalid calls (PyTorch's rules)
    that the library defines on purpose, each with its definition (conformance.definitions.Definition):
    those calls are checked against that definition instead of being expected to raise.
    `supports(config, device)` is for the rare rest that a
    gap cannot state: None or the reason a config is out of scope; it may take a `check` keyword
    argument to refuse per check kind. `arithmetic` declares
    the arithmetic used (it sets the tolerance).
    """

    name: str = ""
    devices: tuple[str, ...] = ("cpu",)
    dtypes: tuple[str, ...] = DTYPES
    is_reference: bool = False
    # Examples per test in the ci profile, at most (None: the profile's own budget). A compiled
    # path pays seconds of compilation per new shape, so it runs fewer (at least 20) where a
    # reference runs the full budget; the nightly profile runs every implementation at full budget.
    max_ci_examples: int | None = None
    # Environment variables the implementation's worker process starts with (read by frameworks at
    # import, e.g. {"KERAS_BACKEND": "jax"} or {"TF_ENABLE_ONEDNN_OPTS": "0"}). With --isolation none
    # an implementation that needs them runs only if the process already has them.
    environment: dict[str, str] = {}
    # What it runs, as data (conformance.capabilities): the calls it does not run, and the opt-in
    # semantic axes it has. Built-in implementations opt in to every axis.
    gaps: tuple[Gap, ...] = ()
    opt_in: tuple[str, ...] = ()
    defines: tuple[Definition, ...] = ()

    def supports(self, config: ConvConfig, device: str = "cpu") -> str | None:
        if device not in self.devices:
            return f"{self.name}: device {device!r} not supported (supports {', '.join(self.devices)})"
        return None

    def supported_dtypes(self, device: str = "cpu", check: str = "forward") -> tuple[str, ...]:
        """The dtypes this implementation runs on `device` for the check kind `check`."""
        return tuple(self.dtypes)

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        """Return (grad_x, grad_w, grad_b or None) for the upstream gradient grad_out."""
        raise NotImplementedError(f"{type(self).__name__}.vjp")

    def arithmetic(self, config: ConvConfig, device: str = "cpu") -> Arithmetic:
        return default_arithmetic(config.dtype)

    def versions(self) -> dict[str, str]:
        """Library versions worth recording, e.g. {"torch": "2.13.0"}."""
        return {}

    def settings(self, device: str = "cpu") -> dict[str, object]:
        """Precision-relevant settings in force, e.g. {"torch.backends.cudnn.allow_tf32": True}."""
        return {}

    def __repr__(self) -> str:
        return f"<Implementation {self.name!r}>"
