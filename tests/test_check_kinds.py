"""The check kinds beyond forward and first-order VJP: declarations, the references' identities, and
planted kernels for each kind caught under the ci profile (run end to end, as `--impl` plugins).

- jvp: dy = conv(dx, w) + conv(x, dw) + db; double_vjp: (x_bar, w_bar, g_bar) of the VJP map;
- determinism: the same call twice, bitwise; invalid: calls that break one rule must raise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from conformance.checks import CHECK_KINDS
from conformance.config import ConvConfig
from conformance.registry import get_implementation
from conformance.strategies import INVALID_RULES, conv_configs, invalid_cases, make_tensors

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "conformance" / "suite" / "test_conformance.py"


def test_every_check_kind_has_a_test_function():
    text = SUITE.read_text()
    for name in CHECK_KINDS:
        assert f"def test_{name}(" in text, f"check kind {name!r} is declared but the suite has no test_{name}"


@pytest.mark.parametrize("reference", ["naive", "im2col", "matrix"])
@settings(max_examples=40, deadline=None, database=None)
@given(config=conv_configs(dtypes=("float64",), max_macs=4000, max_elements=3000))
def test_jvp_is_the_directional_derivative(reference, config):
    """jvp(x, w, b; dx, dw, db) equals (f(x + t dx, w + t dw, b + t db) - f(x, w, b)) / t exactly for a
    bilinear map, up to the quadratic term t^2 conv(dx, dw), which is subtracted."""
    impl = get_implementation(reference)
    t = make_tensors(config, 3)
    step = 0.5
    shifted = impl.forward(config, t.x + step * t.dx, t.w + step * t.dw, None if t.b is None else t.b + step * t.db)
    quadratic = step * step * impl.forward(config, t.dx, t.dw)
    finite = (shifted - impl.forward(config, t.x, t.w, t.b) - quadratic) / step
    np.testing.assert_allclose(impl.jvp(config, t.x, t.w, t.b, t.dx, t.dw, t.db), finite, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("reference", ["naive", "im2col", "matrix"])
@settings(max_examples=40, deadline=None, database=None)
@given(config=conv_configs(dtypes=("float64",), max_macs=4000, max_elements=3000))
def test_double_vjp_is_the_adjoint_of_the_jvp_of_the_vjp(reference, config):
    """<(ggx, ggw, ggb), d VJP(x, w, g)[dx, dw, dg]> = <(x_bar, w_bar, g_bar), (dx, dw, dg)>."""
    impl = get_implementation(reference)
    t = make_tensors(config, 5)
    dg = make_tensors(config, 6).grad_out
    x_bar, w_bar, g_bar = impl.double_vjp(config, t.x, t.w, t.b, t.grad_out, t.ggx, t.ggw, t.ggb)
    # grad_x(w, g) and grad_w(x, g) are bilinear, grad_b(g) linear: their derivatives in direction
    # (dx, dw, dg) are grad_x(dw, g) + grad_x(w, dg), grad_w(dx, g) + grad_w(x, dg) and grad_b(dg).
    along_g = impl.vjp(config, t.x, t.w, t.b, dg)
    d = [impl.vjp(config, t.x, t.dw, t.b, t.grad_out)[0] + along_g[0],
         impl.vjp(config, t.dx, t.w, t.b, t.grad_out)[1] + along_g[1],
         along_g[2]]
    left = np.sum(t.ggx * d[0]) + np.sum(t.ggw * d[1]) + (np.sum(t.ggb * d[2]) if t.b is not None else 0.0)
    right = np.sum(x_bar * t.dx) + np.sum(w_bar * t.dw) + np.sum(g_bar * dg)
    assert left == pytest.approx(right, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose1d"])
@settings(max_examples=60, deadline=None, database=None)
@given(data=__import__("hypothesis").strategies.data())
def test_invalid_cases_break_the_rule_they_name_and_the_references_raise(op, data):
    case = data.draw(invalid_cases(op=op))
    assert case.rule in INVALID_RULES
    broken = case.config.broken_rules()
    if case.rule.startswith("weight"):
        assert not broken and case.weight_shape != case.config.weight_shape
    else:
        assert len(broken) >= 1
    tensors = case.tensors()
    for name in ("naive", "im2col", "matrix"):
        with pytest.raises((ValueError, ArithmeticError)):  # InvalidConfig is a ValueError
            get_implementation(name).forward(case.config, tensors.x, tensors.w, tensors.b)


def test_unchecked_configs_skip_only_the_rules():
    config = ConvConfig.unchecked(ndim=1, in_size=3, kernel=1, stride=0)
    assert config.stride == (0,)
    assert any("stride" in problem for problem in config.broken_rules())
    with pytest.raises(ValueError, match="stride"):
        ConvConfig(ndim=1, in_size=3, kernel=1, stride=0)


# ---- planted kernels, end to end ----------------------------------------------------------------------


def run_suite(tmp_path: Path, impl: str, selection: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_", "CONFORMANCE_"))}
    env.update(NO_COLOR="1")
    command = [sys.executable, "-m", "pytest", "conformance/suite", "-q", "-p", "no:randomly", "--hypothesis-profile",
               "conformance-ci", "--isolation", "none", "--impl", impl, "-k", selection, "--report-dir", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines() if line.strip()]
    return done, records


PLANTED = [
    pytest.param("jvp_no_bias_tangent", "test_jvp and conv2d", "jvp", "value", id="jvp-drops-bias-tangent"),
    pytest.param("jvp_weight_sign", "test_jvp and conv_transpose1d", "jvp", "value", id="jvp-weight-term-sign"),
    pytest.param("double_vjp_mixed_inputs", "test_double_vjp and conv1d", "double_vjp_weight", "value",
                 id="double-vjp-mixed-inputs"),
    pytest.param("accepts_invalid", "test_invalid and conv_transpose2d", "invalid_call", "accepted",
                 id="accepts-invalid-call"),
    pytest.param("not_repeatable", "test_determinism and conv1d", "determinism", "value", id="not-bitwise-repeatable"),
]


@pytest.mark.parametrize("mutant, selection, check, kind", PLANTED)
def test_planted_kernel_is_caught(tmp_path, mutant, selection, check, kind):
    done, records = run_suite(tmp_path, f"tests.mutants:{mutant}", f"{mutant} and {selection}")
    assert done.returncode == 1, done.stdout[-3000:]
    found = {(r["check"], r["kind"]) for r in records if r["type"] == "check" and r["status"] == "mismatch"}
    assert (check, kind) in found, found


def test_correct_plugin_is_never_flagged_by_the_new_kinds(tmp_path):
    done, records = run_suite(tmp_path, "tests.mutants:correct",
                              "correct and (test_jvp or test_double_vjp or test_determinism or test_invalid)")
    assert done.returncode == 0, done.stdout[-3000:]
    statuses = {r["status"] for r in records if r["type"] == "check"}
    assert statuses == {"pass"}, statuses
    rules = {r["rule"] for r in records if r["type"] == "check" and r["check"] == "invalid_call"}
    assert len(rules) >= 4, rules  # several rules drawn, each refused


def test_report_shows_error_parity_and_repeatability():
    from conformance.records import CheckRecord, ReadResult
    from conformance.report.model import build_model

    def record(impl, check, status, rule=None, message="", kind=None):
        return CheckRecord(run_id="r", test_id=f"t[conv1d-{impl}-cpu]", implementation=impl, op="conv1d",
                           device="cpu", check=check, status=status, kind=kind, rule=rule, message=message)

    records = [record("a", "invalid_call", "pass", "stride >= 1", "raised RuntimeError: non-positive stride"),
               record("b", "invalid_call", "mismatch", "stride >= 1", kind="accepted"),
               record("a", "determinism", "pass"), record("b", "determinism", "mismatch", kind="value")]
    model = build_model(ReadResult(records=records))
    parity = {row["implementation"]: row["cells"][0] for row in model["error_parity"]["rows"]}
    assert model["error_parity"]["rules"] == ["stride >= 1"]
    assert parity["a"]["state"] == "pass" and "non-positive stride" in parity["a"]["text"]
    assert parity["b"]["state"] == "mismatch" and parity["b"]["text"].startswith("accepts")
    assert {(r["implementation"], r["repeatable"]) for r in model["repeatability"]} == {("a", True), ("b", False)}
