"""The comparator and its error bound: a few ulps pass, real bugs fail, also near zero."""

import numpy as np
import pytest
from hypothesis import given, settings

from conformance import ConvConfig, default_arithmetic, get_implementation
from conformance.arithmetic import Arithmetic
from conformance.compare import compare
from conformance.dtypes import UNIT_ROUNDOFF, round_to_dtype
from conformance.strategies import conv_cases, make_tensors
from conformance.tolerance import error_bound, gamma, reduction_lengths

naive = get_implementation("naive")


def forward_verdict(config, t, result, arithmetic=None):
    expected = naive.forward(config, t.x, t.w, t.b)
    sums = naive.forward(config, np.abs(t.x), np.abs(t.w), None if t.b is None else np.abs(t.b))
    arithmetic = arithmetic or default_arithmetic(config.dtype)
    return compare("forward", result, expected, sums, reduction_lengths(config)["forward"], arithmetic)


def test_gamma():
    assert gamma(10, 2.0**-24) == pytest.approx(10 * 2.0**-24, rel=1e-6)
    assert gamma(2**24, 2.0**-24) == np.inf


@settings(max_examples=60, deadline=None)
@given(conv_cases(dtypes=("float32",)))
def test_a_few_ulps_pass(case):
    config, t = case.config, case.tensors()
    exact = naive.forward(config, t.x, t.w, t.b)
    # Perturb every element by a few float32 units of the sum of absolute values, as a different
    # summation order does: up to min(4, K/2) units, within what K roundings can legally produce.
    sums = naive.forward(config, np.abs(t.x), np.abs(t.w), None if t.b is None else np.abs(t.b))
    units = min(4.0, reduction_lengths(config)["forward"] / 2)
    rng = np.random.default_rng(case.data_seed)
    noisy = exact + rng.uniform(-units, units, exact.shape) * UNIT_ROUNDOFF["float32"] * sums
    result = noisy.astype(np.float32)
    assert forward_verdict(config, t, result).status == "pass"


def test_float32_accumulation_passes_on_a_long_reduction():
    config = ConvConfig(ndim=2, in_channels=64, out_channels=4, in_size=(10, 10), kernel=(4, 4), dtype="float32")
    t = make_tensors(config, 3, "normal")
    # Sequential float32 accumulation, tap by tap: the arithmetic the bound is built on.
    x, w = t.x.astype(np.float32), t.w.astype(np.float32)
    y = np.zeros(config.output_shape, np.float32)
    for ci in range(64):
        for i in range(4):
            for j in range(4):
                y += np.einsum("nhw,o->nohw", x[:, ci, i:i + 7, j:j + 7], w[:, ci, i, j]).astype(np.float32)
    assert forward_verdict(config, t, y).status == "pass"


def _bugs(config, t):
    y = naive.forward(config, t.x, t.w, t.b)
    w_dropped = t.w.copy()
    w_dropped[..., -1] = 0.0
    wrong_sign = y.copy()
    wrong_sign.reshape(-1)[y.size // 3] *= -1
    return {
        "tap off by one": naive.forward(config, t.x, w_dropped, t.b),
        "one wrong sign": wrong_sign,
        "missing bias": naive.forward(config.replace(bias=False), t.x, t.w, None),
    }


@pytest.mark.parametrize("bug", ["tap off by one", "one wrong sign", "missing bias"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_real_bugs_fail(bug, dtype):
    config = ConvConfig(ndim=2, in_channels=3, out_channels=2, in_size=(6, 5), kernel=(3, 2), bias=True,
                        dtype=dtype)
    t = make_tensors(config, 11, "normal")
    result = _bugs(config, t)[bug]
    verdict = forward_verdict(config, t, round_to_dtype(result, dtype))
    assert verdict.status == "mismatch" and verdict.kind == "value", (bug, verdict.stats)


def test_float16_accumulation_over_a_long_reduction_fails():
    config = ConvConfig(ndim=1, in_channels=256, out_channels=2, in_size=(8,), kernel=(3,), dtype="float16")
    t = make_tensors(config, 5, "normal")
    acc = np.zeros(config.output_shape, np.float16)
    for ci in range(256):
        for k in range(3):
            term = np.einsum("nl,o->nol", t.x[:, ci, k:k + 6], t.w[:, ci, k])
            acc = (acc.astype(np.float32) + term.astype(np.float32)).astype(np.float16)
    verdict = forward_verdict(config, t, acc)
    assert verdict.status == "mismatch", verdict.stats
    # ... while the same data accumulated in float32 and rounded once passes.
    once = naive.forward(config, t.x, t.w, None).astype(np.float32).astype(np.float16)
    assert forward_verdict(config, t, once).status == "pass"


def test_outputs_near_zero_are_judged_by_the_bound_not_relative_error():
    # x * w cancels exactly to zero in the middle: a tiny absolute error there is fine in float32 ...
    config = ConvConfig(ndim=1, in_size=(3,), kernel=(2,), dtype="float32")
    x = np.array([[[1.0, 1.0, 1.0]]])
    w = np.array([[[1.0, -1.0]]])
    t = type(make_tensors(config, 0))(x, w, None, np.zeros((1, 1, 2)))
    tiny = np.array([[[1e-8, -1e-8]]], dtype=np.float32)
    assert forward_verdict(config, t, tiny).status == "pass"
    # ... but a wrong sign of a nonzero result near zero is caught even though both are small.
    config2 = ConvConfig(ndim=1, in_size=(2,), kernel=(2,), dtype="float32")
    x2 = np.array([[[1e-3, 1e-3]]])
    w2 = np.array([[[1.0, 0.5]]])
    t2 = type(t)(round_to_dtype(x2, "float32"), w2, None, np.zeros((1, 1, 1)))
    exact = naive.forward(config2, t2.x, w2)
    assert forward_verdict(config2, t2, (-exact).astype(np.float32)).status == "mismatch"


def test_shape_nonfinite_and_type_findings():
    config = ConvConfig(ndim=1, in_size=(4,), kernel=(2,), dtype="float32")
    t = make_tensors(config, 0)
    y = naive.forward(config, t.x, t.w)
    assert forward_verdict(config, t, y[..., :2]).kind == "shape"
    nan = y.copy()
    nan[0, 0, 1] = np.nan
    assert forward_verdict(config, t, nan).kind == "nonfinite"
    assert forward_verdict(config, t, "not an array").status == "error"
    assert forward_verdict(config, t, None).kind == "shape"


def test_infinity_is_accepted_where_the_exact_value_overflows():
    config = ConvConfig(ndim=1, in_size=(2,), kernel=(2,), dtype="float16")
    x = np.array([[[60000.0, 60000.0]]])
    w = np.array([[[1.0, 1.0]]])
    t = type(make_tensors(config, 0))(x, w, None, np.zeros((1, 1, 1)))
    assert forward_verdict(config, t, np.array([[[np.inf]]], np.float16)).status == "pass"
    assert forward_verdict(config, t, np.array([[[-np.inf]]], np.float16)).status == "mismatch"


def test_tf32_operands_widen_the_bound():
    sums = np.array([1.0])
    exact = np.array([0.5])
    plain = error_bound(sums, exact, 100, Arithmetic("float32", "float32"))
    tf32 = error_bound(sums, exact, 100, Arithmetic("float32", "float32", operands="tfloat32"))
    assert tf32[0] > plain[0] + UNIT_ROUNDOFF["tfloat32"]


def test_statistics_recorded():
    config = ConvConfig(ndim=2, in_size=(5, 5), kernel=(3, 3), batch=2, in_channels=2, out_channels=3)
    t = make_tensors(config, 2)
    y = naive.forward(config, t.x, t.w)
    bad = y.copy()
    bad[1, 2, 0, 2] += 1.0
    verdict = forward_verdict(config, t, bad)
    s = verdict.stats
    assert s["worst_index"] == [1, 2, 0, 2] and s["n_beyond"] == 1 and s["n_elements"] == y.size
    assert s["max_abs_error"] == pytest.approx(1.0) and s["max_error_in_bounds"] > 1e10
    assert verdict.heatmap["shape"] == [3, 3] and verdict.heatmap["values"][0][2] > 1


def test_the_message_gives_the_error_of_the_element_it_names():
    """The worst element by error/bound is not always the one with the largest absolute error:
    the message's error is the named element's own (|got - expected| = ratio x bound)."""
    import re

    from conformance.arithmetic import default_arithmetic
    from conformance.compare import compare

    expected = np.array([1.0, 1000.0])
    got = np.array([1.0 + 1e-5, 1000.0 + 5e-5])  # element 1 is further off, but well within its bound
    verdict = compare("forward", got, expected, np.abs(expected), 1, default_arithmetic("float32"))
    assert verdict.status == "mismatch" and verdict.stats["worst_index"] == [0]
    error, ratio, bound = map(float, re.search(r"error (\S+) = (\S+) x bound (\S+);", verdict.problem).groups())
    assert error == pytest.approx(1e-5, rel=1e-2)
    assert error == pytest.approx(ratio * bound, rel=1e-2)
