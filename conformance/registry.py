"""Implementations under test: the built-in registry and `--impl` loading.

Built-in implementations are named here as "module:factory" strings and imported on first use,
so `import conformance` imports no framework. The interface (Implementation) lives in
conformance.interface and the capability helpers (capability_reason, declared_dtypes,
missing_method_reason) in conformance.checks; both are re-exported here.
"""

from __future__ import annotations

import importlib
from typing import Callable

# Re-exported: `from conformance.registry import Implementation, capability_reason, ...` keeps working.
from .checks import capability_reason, declared_dtypes, missing_method_reason
from .interface import Implementation

__all__ = [
    "Implementation",
    "ImplementationLoadError",
    "BUILTIN",
    "REFERENCES",
    "get_implementation",
    "implementations",
    "register",
    "registered_plugin",
    "load_implementation_spec",
    "capability_reason",
    "declared_dtypes",
    "missing_method_reason",
]


class ImplementationLoadError(RuntimeError):
    """An implementation name or `--impl` spec that does not give an Implementation."""


BUILTIN: dict[str, str] = {
    "naive": "references.numpy.naive:NaiveReference",
    "im2col": "references.numpy.im2col:Im2colReference",
    "matrix": "references.numpy.matrix:MatrixReference",
    "torch": "references.torch.functional:TorchAdapter",
    "torch.nn": "references.torch.modules:TorchModuleAdapter",
    "torch.compile": "references.torch.compiled:TorchCompileAdapter",
    "torch.compile.max_autotune": "references.torch.compiled:TorchCompileMaxAutotune",
    "torch.onednn_off": "references.torch.switches:OneDnnOff",
    "torch.cudnn_off": "references.torch.switches:CudnnOff",
    "torch.cudnn_benchmark": "references.torch.switches:CudnnBenchmark",
    "torch.deterministic": "references.torch.switches:Deterministic",
    "jax": "references.jax.lax:JaxAdapter",
    "jax.jit": "references.jax.jit:JaxJitAdapter",
    "tensorflow": "references.tensorflow.native:TensorFlowNative",
    "tensorflow.composed": "references.tensorflow.composed:TensorFlowAdapter",
    "tensorflow.xla": "references.tensorflow.xla:TensorFlowXLA",
    "tensorflow.onednn_off": "references.tensorflow.native:TensorFlowOneDNNOff",
    "keras.torch": "references.keras.layers:KerasTorchAdapter",
    "keras.jax": "references.keras.layers:KerasJaxAdapter",
    "keras.tensorflow": "references.keras.layers:KerasTensorFlowAdapter",
    "onnxruntime": "references.onnxruntime.session:OnnxRuntimeAdapter",
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


def registered_plugin(name: str) -> Implementation | None:
    """The implementation registered under `name` in this process (register, `--impl`), or None."""
    return _plugins.get(name)


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
