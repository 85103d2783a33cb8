"""An invalid call passes only when the library refuses it (conformance.origin): an exception raised
before the call reaches the library is the adapter's, and a plugin's own check is marked as its own."""

from __future__ import annotations

import jinja2
import numpy as np
import pytest

from conformance.checks import CHECK_KINDS
from conformance.config import ConvConfig
from conformance.harness import Harness, Target
from conformance.origin import refusal_origin
from conformance.registry import Implementation
from conformance.strategies import InvalidCase


def _raised(function) -> BaseException:
    try:
        function()
    except Exception as err:  # noqa: BLE001 - the exception is the test's subject
        return err
    raise AssertionError("expected an exception")


def _own_check():
    raise ValueError("my kernel takes 4-d weights only")


def _wrapped_numpy():
    try:
        np.transpose(np.zeros((2, 3)), (0, 1, 2))
    except ValueError as err:
        raise NotImplementedError("re-raised by the adapter") from err


@pytest.mark.parametrize("function, origin", [
    pytest.param(lambda: np.transpose(np.zeros((2, 3)), (0, 1, 2)), "numpy", id="numpy-glue"),
    pytest.param(_own_check, "adapter", id="an-explicit-raise-in-our-code"),
    pytest.param(lambda: jinja2.Template("{% if %}"), "library", id="an-installed-package's-python"),
    pytest.param(lambda: int("not a number"), "library", id="a-compiled-call-on-a-non-raise-line"),
    pytest.param(_wrapped_numpy, "numpy", id="raise-from-follows-the-cause"),
])
def test_refusal_origin(function, origin):
    err = _raised(function)
    assert refusal_origin(err) == origin, f"{type(err).__name__}: {err} read as {refusal_origin(err)!r}, expected {origin!r}"


CONFIG = ConvConfig(ndim=2, in_channels=2, out_channels=2, in_size=(5, 5), kernel=(3, 3))
RANK_3_WEIGHT = InvalidCase(CONFIG, "weight shape matches the channels", (2, 2, 3), 0, "normal")


def _check(spec: str, case=RANK_3_WEIGHT):
    harness = Harness(writer=None, run_id="origin", isolation="none")
    return harness.check(Target("conv2d", spec, "cpu", spec), CHECK_KINDS["invalid"], case, test_id="t")


@pytest.mark.parametrize("spec, module, refusal", [
    pytest.param("jax", "jax", "lhs and rhs ndim to be equal", id="jax"),
    pytest.param("tensorflow", "tensorflow", "dilations should be of length", id="tensorflow"),
])
def test_a_wrong_rank_weight_reaches_the_library_which_refuses_it(spec, module, refusal):
    pytest.importorskip(module)
    outcome = _check(spec)
    assert outcome.statuses == {"invalid_call": "pass"}, [r.message for r in outcome.records]
    assert refusal in outcome.records[0].message, outcome.records[0].message


def test_an_adapter_whose_numpy_glue_raises_first_is_an_error(monkeypatch):
    """The bug #36 found: the adapter's own np.transpose refused the call before JAX saw it."""
    pytest.importorskip("jax")
    from references.jax import lax as jax_lax

    monkeypatch.setattr(jax_lax.Layout, "to_xla", lambda self, array, role: array if role == "bias" else np.transpose(
        array, self.activation_axes if role == "activation" else self.weight_axes))
    outcome = _check("jax")
    message = outcome.records[0].message
    assert outcome.statuses == {"invalid_call": "error"}, message
    assert "never reached the library" in message and "NumPy" in message, message


class OwnCheckConv(Implementation):
    """A plugin that refuses the call itself, before its library sees it."""

    name = "owncheck"

    def forward(self, config, x, w, b=None, device="cpu"):
        if np.ndim(w) != config.ndim + 2:
            raise ValueError(f"owncheck: weight of rank {np.ndim(w)}")
        return np.zeros(config.output_shape)


def test_a_plugins_own_check_passes_and_says_it_is_its_own(monkeypatch):
    from conformance import registry

    monkeypatch.setitem(registry._plugins, "owncheck", OwnCheckConv())
    outcome = _check("owncheck")
    record = outcome.records[0]
    assert outcome.statuses == {"invalid_call": "pass"}, record.message
    assert "plugin's own code" in record.message and record.detail == "ValueError (adapter)", (record.message, record.detail)
