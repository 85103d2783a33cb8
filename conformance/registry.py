"""Implementations under test: the interface, the built-in registry and `--impl` loading.

Built-in implementations are named here as "module:factory" strings and imported on first use,
so `import conformance` imports no framework.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Callable

import numpy as np

from .arithmetic import Arithmetic, default_arithmetic
from .capabilities import Gap, capabilities_of
from .config import DTYPES, ConvConfig

if TYPE_CHECKING:
    from .checks import CheckKind

__all__ = [
    "Implementation",
    "ImplementationLoadError",
    "BUILTIN",
    "REFERENCES",
    "get_implementation",
    "implementations",
    "register",
    "load_implementation_spec",
    "capability_reason",
    "declared_dtypes",
    "missing_method_reason",
]


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
    drawn zero padding and batched calls only. `supports(config, device)` is for the rare rest that a
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


def missing_method_reason(impl: Implementation, kind: CheckKind) -> str | None:
    """Why `impl` cannot run check kind `kind` at all (no such method), or None."""
    method = getattr(impl, kind.method, None)
    inherited = getattr(type(impl), kind.method, None) is getattr(Implementation, kind.method, object())
    if method is None or inherited or not callable(method):
        return f"{impl.name}: no {kind.method}() ({kind.label} not implemented)"
    return None


def _accepts_check(function) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "check" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def capability_reason(impl: Implementation, kind: CheckKind, config: ConvConfig, device: str,
                      gaps: bool = True) -> str | None:
    """None when `impl` runs check kind `kind` on this config and device, else the reason it does not.

    In order: the method exists; the config's dtype is among the declared ones; no declared gap
    covers it (for an invalid call, only the gaps of calls the API has no form of); supports()
    (given the check kind when it takes a `check` argument). With `gaps=False` the declared gaps
    are passed over: a witness call of a gap (conformance.capabilities.witness_config).
    """
    reason = missing_method_reason(impl, kind)
    if reason is not None:
        return reason
    dtypes = declared_dtypes(impl, device, kind.name)
    if config.dtype not in dtypes:
        return f"{impl.name}: {config.dtype} not among its dtypes on {device} for {kind.name} ({', '.join(dtypes) or 'none'})"
    if gaps:
        # An invalid call is to be refused by the call itself, not declared away: only a call the
        # API has no form of (an adapter gap) is not made.
        refused_by = ("adapter",) if kind.raising_passes else ("adapter", "framework")
        gap = capabilities_of(impl).gap_for(config, device, kind.name, refused_by=refused_by)
        if gap is not None:
            return f"{impl.name}: {gap.reason}"
    if kind.raising_passes:
        return None
    if _accepts_check(impl.supports):
        return impl.supports(config, device, check=kind.name)
    return impl.supports(config, device)


def declared_dtypes(impl: Implementation, device: str, check: str) -> tuple[str, ...]:
    """The dtypes `impl` declares for (device, check), in DTYPES order; ValueError for unknown names."""
    supported = getattr(impl, "supported_dtypes", None)
    declared = tuple(supported(device, check)) if callable(supported) else tuple(getattr(impl, "dtypes", DTYPES))
    unknown = [d for d in declared if d not in DTYPES]
    if unknown:
        raise ValueError(f"{impl.name}: declared dtypes {unknown} are not among {DTYPES}")
    return tuple(d for d in DTYPES if d in declared)


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
