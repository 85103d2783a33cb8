"""Implementations under test: the interface, the built-in registry and `--impl` loading.

Built-in implementations are named here as "module:factory" strings and imported on first use,
so `import conformance` imports no framework.
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from .arithmetic import Arithmetic, default_arithmetic
from .config import ConvConfig

__all__ = [
    "Implementation",
    "ImplementationLoadError",
    "BUILTIN",
    "REFERENCES",
    "get_implementation",
    "implementations",
    "register",
    "load_implementation_spec",
]


class Implementation:
    """A convolution implementation, seen through NumPy arrays in PyTorch layouts.

    - x: (N, C_in, *in_size); w: (C_out, C_in/groups, *kernel), or (C_in, C_out/groups, *kernel)
      when config.transposed; b: (C_out,) or None; grad_out: config.output_shape.
    - Arrays arrive in the config dtype's NumPy storage type (float32 carrying bfloat16 values for
      "bfloat16"); an implementation converts to its own framework, layout and device inside.

    Subclasses set `name` and override `forward` and `vjp`; `supports` returns None or the reason a
    config is out of scope; `arithmetic` declares the arithmetic used (it sets the tolerance).
    """

    name: str = ""
    devices: tuple[str, ...] = ("cpu",)
    is_reference: bool = False

    def supports(self, config: ConvConfig, device: str = "cpu") -> str | None:
        if device not in self.devices:
            return f"{self.name}: device {device!r} not supported (supports {', '.join(self.devices)})"
        return None

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


class ImplementationLoadError(RuntimeError):
    """An implementation name or `--impl` spec that does not give an Implementation."""


BUILTIN: dict[str, str] = {
    "naive": "references.naive:NaiveReference",
    "im2col": "references.im2col:Im2colReference",
    "matrix": "references.matrix:MatrixReference",
    "torch": "references.torch_adapter:TorchAdapter",
    "jax": "references.jax_adapter:JaxAdapter",
    "tensorflow": "references.tensorflow_adapter:TensorFlowAdapter",
}
REFERENCES = ("naive", "im2col", "matrix")

_loaded: dict[str, Implementation] = {}
_plugins: dict[str, Implementation] = {}


def _instantiate(spec: str, target: object) -> Implementation:
    candidate = target
    if not isinstance(candidate, Implementation) and callable(candidate):
        try:
            candidate = candidate()
        except TypeError as err:
            raise ImplementationLoadError(
                f"{spec}: calling it with no arguments failed ({err}); give an Implementation instance "
                f"or a zero-argument factory"
            ) from None
    if not isinstance(candidate, Implementation):
        raise ImplementationLoadError(
            f"{spec} gave {type(candidate).__name__}, not a conformance.Implementation; "
            f"subclass conformance.Implementation and set `name`"
        )
    if not candidate.name or not isinstance(candidate.name, str):
        raise ImplementationLoadError(f"{spec}: the Implementation has no `name`; set a short name such as 'mykernel'")
    return candidate


def load_implementation_spec(spec: str) -> Implementation:
    """Load 'package.module:NAME' (an Implementation instance, class or zero-argument factory)."""
    if ":" not in spec:
        raise ImplementationLoadError(
            f"--impl {spec!r} must look like 'package.module:NAME' (a module path, a colon, an attribute)"
        )
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # any import failure is the user's to fix; say which and why
        raise ImplementationLoadError(
            f"--impl {spec!r}: cannot import module {module_name!r}: {type(err).__name__}: {err}"
        ) from None
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ImplementationLoadError(f"--impl {spec!r}: module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    return _instantiate(spec, target)


def register(implementation: Implementation | Callable[[], Implementation]) -> Implementation:
    """Register an extra implementation for this process (what `--impl` does)."""
    impl = _instantiate(repr(implementation), implementation)
    if impl.name in BUILTIN:
        raise ImplementationLoadError(f"implementation name {impl.name!r} is taken by a built-in one; rename it")
    _plugins[impl.name] = impl
    return impl


def get_implementation(name: str) -> Implementation:
    """The implementation called `name`, importing its module on first use."""
    if name in _plugins:
        return _plugins[name]
    if name in _loaded:
        return _loaded[name]
    if name not in BUILTIN:
        known = sorted(set(BUILTIN) | set(_plugins))
        raise ImplementationLoadError(f"unknown implementation {name!r}; known: {', '.join(known)}")
    module_name, _, attribute = BUILTIN[name].partition(":")
    module = importlib.import_module(module_name)
    impl = getattr(module, attribute)()
    _loaded[name] = impl
    return impl


def implementations() -> list[str]:
    """Names of the built-in implementations and the registered plugins, references first."""
    return list(BUILTIN) + [name for name in _plugins if name not in BUILTIN]
