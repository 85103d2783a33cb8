"""Check kinds as declarations: which method a check calls, what it returns, and what the oracle expects.

A check kind is one kind of test the suite runs on every implementation (`test_forward`,
`test_gradient`). Adding one is a declaration here, the references' and the adapters' methods, and
a test function in conformance/suite: the harness, the oracle, the tolerance, repro, the known
divergences and the report read these declarations and have no branch per kind.

A CheckKind says:
- name: the test's name ("test_" + name) and the record's `check` for an event that hit the whole
  call (an exception, a crash);
- method: the Implementation method it calls; an implementation without it (not defined, None, or
  the base class's, which raises NotImplementedError) is unsupported for this kind, with the reason;
- results: the names of the arrays the method returns, in order (one name: the method returns the
  array; several: a tuple of that length);
- call(impl, config, inputs, device): the call, with inputs a ConvTensors in the dtype's storage;
- expected(reference, config, tensors): the same results from a float64 reference, as a dict; the
  oracle runs it on the values and on their absolute values (conformance.tolerance: the bound);
- applies(config, result): whether the config has that result (no grad_bias without a bias): a
  result that does not apply must come back as None;
- reduction_lengths(config): the most terms summed into one element of each result.

Whether an implementation runs a check kind on a call is read from these declarations and the
implementation's own (conformance.interface.Implementation): missing_method_reason,
declared_dtypes and capability_reason, at the end of this module.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .capabilities import capabilities_of
from .compare import Verdict, bitwise_difference
from .config import DTYPES, ConvConfig
from .interface import Implementation
from .tolerance import padding_fold_roundings, reduction_lengths

__all__ = ["CheckKind", "CHECK_KINDS", "FORWARD", "GRADIENT", "JVP", "DOUBLE_VJP", "DETERMINISM", "INVALID",
           "check_kind", "RESULT_NAMES", "ConvInputs", "capability_reason", "declared_dtypes",
           "missing_method_reason"]

ConvInputs = Any  # conformance.strategies.ConvTensors (x, w, b, grad_out)


@dataclass(frozen=True)
class CheckKind:
    name: str
    method: str
    results: tuple[str, ...]
    call: Callable[[Any, ConvConfig, ConvInputs, str], Any]
    expected: Callable[[Any, ConvConfig, ConvInputs], dict[str, np.ndarray | None]]
    label: str
    applies: Callable[[ConvConfig, str], bool] = lambda config, result: True
    reduction_lengths: Callable[[ConvConfig], dict[str, int]] = reduction_lengths
    returns: str = ""  # how the method's return value reads, for error messages
    # Check kinds not judged against the oracle: judge(config, results) -> {result: Verdict}.
    judge: Callable[[ConvConfig, dict[str, Any]], dict[str, Any]] | None = None
    # For invalid calls: raising is the right answer (recorded as a pass, with the message).
    raising_passes: bool = False
    # The examples this kind draws: cases(op=..., dtypes=...) -> a Hypothesis strategy (default
    # conformance.strategies.conv_cases; strategies load Hypothesis, so they are imported on use).
    cases: Callable[..., Any] | None = None
    # Per result, how many partial results are rounded to the output format before being added
    # (conformance.tolerance.error_bound): derivatives that frameworks compute as several ops.
    partial_roundings: Callable[[ConvConfig], dict[str, int]] = lambda config: {}
    # Its share of the profile's max_examples (the cheap, narrow kinds need fewer examples).
    budget: float = 1.0
    # Whether its call reads the tangents and second cotangents (dx, dw, db, ggx, ggw, ggb of
    # conformance.strategies.ConvTensors); the others get tensors without them, not drawn at all.
    tangents: bool = False

    def strategy(self, **options: Any):
        """The Hypothesis strategy of this kind's examples (options: op, dtypes, region)."""
        from .strategies import conv_cases

        return (self.cases or conv_cases)(**options)

    def results_for(self, config: ConvConfig) -> tuple[str, ...]:
        """The results this config has (grad_bias only with a bias)."""
        return tuple(r for r in self.results if self.applies(config, r))

    def unpack(self, returned: Any) -> dict[str, Any]:
        """The method's return value as {result: array}; TypeError saying what was expected."""
        if len(self.results) == 1:
            return {self.results[0]: returned}
        if not isinstance(returned, (tuple, list)) or len(returned) != len(self.results):
            raise TypeError(f"{self.method} returned {type(returned).__name__}"
                            f"{f' of length {len(returned)}' if isinstance(returned, (tuple, list)) else ''}, "
                            f"expected {self.returns}")
        return dict(zip(self.results, returned))


def _has_bias(config: ConvConfig, result: str) -> bool:
    return result != "grad_bias" or config.bias


FORWARD = CheckKind(
    name="forward",
    method="forward",
    results=("forward",),
    call=lambda impl, config, t, device: impl.forward(config, t.x, t.w, t.b, device),
    expected=lambda ref, config, t: {"forward": ref.forward(config, t.x, t.w, t.b)},
    label="forward",
    returns="an array of config.output_shape",
)

_GRADIENTS = ("grad_input", "grad_weight", "grad_bias")
GRADIENT = CheckKind(
    name="gradient",
    method="vjp",
    results=_GRADIENTS,
    call=lambda impl, config, t, device: impl.vjp(config, t.x, t.w, t.b, t.grad_out, device),
    expected=lambda ref, config, t: dict(zip(_GRADIENTS, ref.vjp(config, t.x, t.w, t.b, t.grad_out))),
    label="gradient (VJP)",
    applies=_has_bias,
    partial_roundings=lambda config: {"grad_input": padding_fold_roundings(config)},
    returns="a tuple (grad_x, grad_w, grad_b or None)",
)


def _jvp_lengths(config: ConvConfig) -> dict[str, int]:
    # dy = conv(dx, w) + conv(x, dw) + db: two dot products of the forward's length, plus the bias tangent.
    return {"jvp": 2 * config.reduction_length + (1 if config.bias else 0)}


# torch (torch.func.jvp), JAX (jax.jvp) and TensorFlow (ForwardAccumulator) all compute a JVP as
# conv(dx, w) + conv(x, dw) + db, three ops whose results are rounded to the output format: measured
# here in float16/bfloat16, their results agree with each other bit for bit and exceed the
# single-rounding bound by up to 1.5x (4.9x where the two convolutions cancel). Those roundings are
# the arithmetic of forward mode, so the bound allows them (3 partial results); a wrong term is
# still an error of the size of the term.
_COMPOSED_ROUNDINGS = 3

JVP = CheckKind(
    name="jvp",
    method="jvp",
    results=("jvp",),
    call=lambda impl, config, t, device: impl.jvp(config, t.x, t.w, t.b, t.dx, t.dw, t.db, device),
    expected=lambda ref, config, t: {"jvp": ref.jvp(config, t.x, t.w, t.b, t.dx, t.dw, t.db)},
    label="forward-mode derivative (JVP)",
    reduction_lengths=_jvp_lengths,
    partial_roundings=lambda config: {"jvp": _COMPOSED_ROUNDINGS},
    returns="an array of config.output_shape",
    budget=0.3,
    tangents=True,
)

_DOUBLE = ("double_vjp_input", "double_vjp_weight", "double_vjp_grad_out")


def _double_vjp_lengths(config: ConvConfig) -> dict[str, int]:
    # x_bar and w_bar are an input- and a weight-VJP; g_bar is a JVP-like sum (see JVP).
    first = reduction_lengths(config)
    return {"double_vjp_input": first["grad_input"], "double_vjp_weight": first["grad_weight"],
            "double_vjp_grad_out": 2 * config.reduction_length + (1 if config.bias else 0)}


DOUBLE_VJP = CheckKind(
    name="double_vjp",
    method="double_vjp",
    results=_DOUBLE,
    call=lambda impl, config, t, device: impl.double_vjp(config, t.x, t.w, t.b, t.grad_out, t.ggx, t.ggw, t.ggb,
                                                         device),
    expected=lambda ref, config, t: dict(zip(_DOUBLE, ref.double_vjp(config, t.x, t.w, t.b, t.grad_out,
                                                                     t.ggx, t.ggw, t.ggb))),
    label="double backward (VJP of the VJP)",
    reduction_lengths=_double_vjp_lengths,
    partial_roundings=lambda config: {"double_vjp_grad_out": _COMPOSED_ROUNDINGS,
                                      "double_vjp_input": padding_fold_roundings(config)},
    returns="a tuple (x_bar, w_bar, g_bar)",
    budget=0.3,
    tangents=True,
)


def _repeat_calls(impl, config, t, device):
    """The forward call (and the VJP, where the implementation has one) twice each, with the
    implementation's deterministic settings on (its `deterministic()` context, if it has one)."""
    import contextlib

    settings = getattr(impl, "deterministic", None)
    runs = []
    with settings() if callable(settings) else contextlib.nullcontext():
        for _ in range(2):
            outputs = {"forward": impl.forward(config, t.x, t.w, t.b, device)}
            if missing_method_reason(impl, GRADIENT) is None:
                outputs.update(zip(_GRADIENTS, impl.vjp(config, t.x, t.w, t.b, t.grad_out, device)))
            runs.append(outputs)
    return tuple(runs)


def _judge_determinism(config: ConvConfig, results: dict[str, Any]) -> dict[str, Any]:
    first, second = results["determinism"]
    for name, value in first.items():
        difference = bitwise_difference(name, value, second.get(name))
        if difference is not None:
            return {"determinism": difference}
    return {"determinism": Verdict("pass", None, {"compared": sorted(first)})}


DETERMINISM = CheckKind(
    name="determinism",
    method="forward",
    results=("determinism",),
    call=_repeat_calls,
    expected=lambda ref, config, t: {},
    label="bitwise repeatability",
    judge=_judge_determinism,
    returns="the same call twice",
    budget=0.1,
)


def _strategies():
    from . import strategies

    return strategies


def _judge_invalid(config: ConvConfig, results: dict[str, Any]) -> dict[str, Any]:
    returned = results["invalid_call"]
    shape = getattr(returned, "shape", None)
    return {"invalid_call": Verdict("mismatch", "accepted", {"shape_seen": list(shape) if shape is not None else None},
                                    problem=f"accepts an invalid call: returned {type(returned).__name__}"
                                            f"{f' of shape {tuple(shape)}' if shape is not None else ''} "
                                            f"instead of raising")}


INVALID = CheckKind(
    name="invalid",
    method="forward",
    results=("invalid_call",),
    call=lambda impl, config, t, device: impl.forward(config, t.x, t.w, t.b, device),
    expected=lambda ref, config, t: {},
    label="invalid calls raise",
    judge=_judge_invalid,
    raising_passes=True,
    cases=lambda **options: _strategies().invalid_cases(**options),
    returns="an exception",
    budget=0.2,
)

CHECK_KINDS: dict[str, CheckKind] = {kind.name: kind for kind in (FORWARD, GRADIENT, JVP, DOUBLE_VJP, DETERMINISM,
                                                                  INVALID)}
RESULT_NAMES: tuple[str, ...] = tuple(r for kind in CHECK_KINDS.values() for r in kind.results)


def check_kind(name: str) -> CheckKind:
    try:
        return CHECK_KINDS[name]
    except KeyError:
        raise ValueError(f"unknown check kind {name!r}; known: {', '.join(CHECK_KINDS)}") from None


# ---- what an implementation runs: its methods and declarations, per check kind -------------------


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
