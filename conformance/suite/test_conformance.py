"""The differential suite: every implementation x op family x device x check kind, against the float64 oracle.

Test ids read like calls: test_forward[conv_transpose2d-torch-cpu], test_gradient[conv1d-jax-cuda].
Each test draws ConvCases with Hypothesis, from the dtypes the implementation declares (intersected
with --dtypes); a failing example is shrunk to a minimal config. Distinct failures (another result,
status or kind) are distinct bugs to Hypothesis, so one test can report several.

Run it with `pytest --pyargs conformance.suite` (the pytest plugin of the installed package wires it).
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis.control import current_build_context

from conformance.checks import CHECK_KINDS
from conformance.pytest_plugin import profile_name

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

    profile = settings.get_profile(profile_name(request.config))

    @settings(profile, max_examples=max(1, round(profile.max_examples * kind.budget)))
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
        check()
    finally:
        tally = harness.finish_test(test_id, target)
    if tally is not None and tally.skipped:
        pytest.skip(tally.skipped)


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
