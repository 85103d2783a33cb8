"""The differential suite: every implementation x op family x device, against the float64 oracle.

Test ids read like calls: test_forward[conv_transpose2d-torch-cpu], test_gradient[conv1d-jax-cuda].
Each test draws ConvCases with Hypothesis; a failing example is shrunk to a minimal config.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis.control import current_build_context

from conformance.harness import ConformanceFailure
from conformance.strategies import conv_cases


def _run(kind: str, target, conformance, request) -> None:
    harness = conformance.harness
    test_id = request.node.name

    @given(case=conv_cases(op=target.op, dtypes=conformance.dtypes))
    def check(case):
        outcome = harness.check(target, kind, case, test_id=test_id, final=current_build_context().is_final)
        if outcome.failed:
            raise ConformanceFailure(outcome.message)

    # One example database entry per target, as Hypothesis' own pytest plugin does for parametrize.
    check.hypothesis._hypothesis_internal_add_digest = test_id.encode()
    try:
        check()
    finally:
        tally = harness.finish_test(test_id, target)
    if tally is not None and tally.examples and sum(tally.unsupported_reasons.values()) >= tally.examples * (
            1 if kind == "forward" else 2):
        reasons = "; ".join(sorted(tally.unsupported_reasons))
        pytest.skip(f"{target.implementation} supports no drawn {target.op} config on {target.device}: {reasons}")


def test_forward(target, conformance, request):
    _run("forward", target, conformance, request)


def test_gradient(target, conformance, request):
    _run("gradient", target, conformance, request)
