"""The differential suite: every implementation x op family x device x check kind, against the float64 oracle.

Test ids read like calls: test_forward[conv_transpose2d-torch-cpu], test_gradient[conv1d-jax-cuda].
Each test draws ConvCases with Hypothesis, from the dtypes the implementation declares (intersected
with --dtypes); a failing example is shrunk to a minimal config. Distinct failures (another result,
status or kind) are distinct bugs to Hypothesis, so one test can report several.

Run it with `pytest --pyargs conformance.suite` (the pytest plugin of the installed package wires it).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.control import current_build_context

from conformance.capabilities import Capabilities
from conformance.checks import CHECK_KINDS
from conformance.isolation import declared_attribute
from conformance.model_shapes import model_shapes
from conformance.profiles import NIGHTLY, draw_bounds, examples_per_test
from conformance.pytest_plugin import may_run_on, profile_name
from conformance.strategies import ConvCase, ConvTensors, InvalidCase, make_tensors

# Hypothesis' runner phases that replay a failure rather than draw a new example.
_REPLAY_PHASES = ("shrink", "explain")


def _hypothesis_phase() -> str:
    """The phase of Hypothesis' engine running this example ("generate", "shrink", ...).

    Read from the runner on the call stack; an unknown layout (another Hypothesis version) counts
    as "generate", which only makes counts of examples include replays.
    """
    frame = sys._getframe(2)
    while frame is not None:
        runner = frame.f_locals.get("self")
        if type(runner).__name__ == "ConjectureRunner":
            return str(getattr(runner, "_current_phase", "generate"))
        frame = frame.f_back
    return "generate"


def _run(kind_name: str, target, conformance, request) -> None:
    harness = conformance.harness
    kind = CHECK_KINDS[kind_name]
    test_id = request.node.name
    if not may_run_on(target.spec, target.device):
        # A variant for another device (the CUDA switches on a CPU run): nothing to draw.
        devices = ", ".join(declared_attribute(target.spec, "devices"))
        reason = f"{target.implementation}: runs on {devices} only; this run's device is {target.device}"
        harness.finish_test(test_id, target, kind=kind, skipped=reason)
        pytest.skip(reason)
    conformance.describe_implementation(request.config, target.spec)
    missing = harness.missing_method(target, kind)
    if missing:
        harness.finish_test(test_id, target, kind=kind, skipped=missing)
        pytest.skip(missing)
    declared = harness.declared_dtypes(target, kind)
    dtypes = tuple(d for d in conformance.dtypes if d in declared)
    if not dtypes:
        reason = (f"{target.implementation} declares none of the dtypes asked for ({', '.join(conformance.dtypes)}) "
                  f"on {target.device} for {kind.name}; it declares {', '.join(declared) or 'none'}")
        harness.finish_test(test_id, target, kind=kind, skipped=reason)
        pytest.skip(reason)
    capabilities = harness.capabilities(target)
    region = capabilities.region(target.op, target.device, kind.name)
    closed = region.closing_reason(dtypes)
    if closed:
        reason = f"{target.implementation}: {closed}"
        harness.finish_test(test_id, target, kind=kind, skipped=reason)
        pytest.skip(reason)
    asked, dtypes = dtypes, region.open_dtypes(dtypes)

    profile = settings.get_profile(profile_name(request.config))
    examples = examples_per_test(profile_name(request.config), profile.max_examples, kind,
                                 declared_attribute(target.spec, "max_ci_examples"))

    # The strategy draws inside the region, from the profile's box (conformance.bounds: the
    # nightly's is wider). (The decorator's text is kept as it was: in the derandomized ci profile
    # Hypothesis seeds a test from its function's source, decorators included, and a new text
    # would change every ci draw.)
    kind = _drawing_inside(kind, region, draw_bounds(profile_name(request.config)))

    @settings(profile, max_examples=examples)
    @given(case=kind.strategy(op=target.op, dtypes=dtypes))
    def check(case):
        if current_build_context().is_final:
            phase = "final"
        else:
            phase = "shrink" if _hypothesis_phase() in _REPLAY_PHASES else "generate"
        harness.check(target, kind, case, test_id=test_id, phase=phase).raise_if_failed()

    # One example database entry per target, as Hypothesis' own pytest plugin does for parametrize.
    check.hypothesis._hypothesis_internal_add_digest = test_id.encode()
    try:
        explicit_failures = _run_model_shapes(harness, target, kind, dtypes, test_id, profile_name(request.config))
        explicit_failures += _run_gap_witnesses(harness, target, kind, capabilities, asked, test_id)
        if profile_name(request.config) == NIGHTLY:
            _run_regressions(harness, target, kind, test_id)
        check()
    finally:
        tally = harness.finish_test(test_id, target)
    if explicit_failures:
        pytest.fail("\n\n".join(explicit_failures), pytrace=False)
    if tally is not None and tally.skipped:
        pytest.skip(tally.skipped)


@dataclass(frozen=True)
class _OnesCase(ConvCase):
    """A regression entry's explicit data: every input, weight and cotangent 1 (its `values = "ones"`)."""

    def tensors(self, tangents: bool = True):
        t = make_tensors(self.config, 0, tangents=tangents)
        return ConvTensors(**{f.name: None if getattr(t, f.name) is None else np.ones_like(getattr(t, f.name))
                              for f in dataclasses.fields(t)})


def _run_regressions(harness, target, kind, test_id: str) -> None:
    """Replay the corpus entries of known upstream bugs that concern this target (phase "regression").

    Whether each reproduces is recorded (the report's regression table), never a test failure: the
    bugs are upstream's and already reported. A config the implementation does not run is recorded
    as unsupported by the harness as usual.
    """
    from conformance.regressions import load_regressions

    for entry in load_regressions():
        if not entry.applies_to(target.implementation) or entry.op != target.op or entry.check != kind.name \
                or entry.device != target.device:
            continue
        config = entry.config.replace(memory_format=entry.memory_format) if entry.config_valid else entry.config
        if kind.raising_passes:
            case = InvalidCase(config, entry.rule or "?", config.weight_shape, entry.seed or 0, "normal")
        elif entry.values == "ones":
            case = _OnesCase(config, 0, "ones")
        else:
            case = ConvCase(config, entry.seed or 0, entry.value_profile or "normal")
        harness.check(target, kind, case, test_id=test_id, phase="regression", example=entry.id)


def _drawing_inside(kind, region, bounds):
    """The check kind, its strategy drawing only inside `region` (conformance.capabilities.Region)
    and from the box `bounds` (conformance.bounds.DrawBounds)."""
    return dataclasses.replace(kind, cases=functools.partial(kind.strategy, region=region, bounds=bounds))


def _run_gap_witnesses(harness, target, kind, capabilities: Capabilities, dtypes: tuple[str, ...],
                       test_id: str) -> list[str]:
    """One witness call per gap the framework refuses (conformance.capabilities.witness_config): the
    smallest call with the gap's feature, made past the declaration. The framework must still refuse
    it with the declared text; a witness that runs, or raises something else, is a finding."""
    from conformance.capabilities import witness_config, witness_example

    if kind.raising_passes:
        return []
    failures = []
    for gap in capabilities.framework_gaps(target.op, target.device, kind.name):
        candidates = [d for d in dtypes if gap.holds_for(d)]
        if not candidates:
            continue
        dtype = "float32" if "float32" in candidates else candidates[0]
        config = witness_config(gap, target.op, dtype)
        if config is None or any(other is not gap and other.covers(config, target.device, kind.name)
                                 for other in capabilities.all_gaps()):
            continue  # no call has this feature alone: another gap's witness answers for it
        case = ConvCase(config, 0, "normal")
        outcome = harness.check(target, kind, case, test_id=test_id, phase="explicit",
                                example=witness_example(gap), witness=gap)
        if outcome.failed:
            failures.append(f"[declared gap {gap.feature!r} ({gap.where()})] {outcome.message}")
    return failures


# Check kinds that run the real-model layer shapes (conformance.model_shapes) beside the drawn examples.
_MODEL_SHAPE_KINDS = ("forward", "gradient")


def _run_model_shapes(harness, target, kind, dtypes, test_id: str, profile: str) -> list[str]:
    """Run the op family's real-model shapes (the ci ones, all of them in the nightly profile) as
    explicit examples; returns the failure messages, tagged with the shape's name."""
    if kind.name not in _MODEL_SHAPE_KINDS:
        return []
    dtype = "float32" if "float32" in dtypes else dtypes[0]
    failures = []
    for shape in model_shapes(target.op, ci_only=profile != NIGHTLY):
        case = ConvCase(shape.config.replace(dtype=dtype), 0, "normal")
        outcome = harness.check(target, kind, case, test_id=test_id, phase="explicit", example=shape.name)
        if outcome.failed:
            failures.append(f"[real-model shape {shape.name} ({shape.network})] {outcome.message}")
    return failures


# One test function per check kind (conformance.checks.CHECK_KINDS); each is parametrized over
# every target (op family x implementation x device) by the plugin.


def test_forward(target, conformance, request):
    _run("forward", target, conformance, request)


def test_gradient(target, conformance, request):
    _run("gradient", target, conformance, request)


def test_jvp(target, conformance, request):
    _run("jvp", target, conformance, request)


def test_double_vjp(target, conformance, request):
    _run("double_vjp", target, conformance, request)


def test_determinism(target, conformance, request):
    _run("determinism", target, conformance, request)


def test_invalid(target, conformance, request):
    _run("invalid", target, conformance, request)
