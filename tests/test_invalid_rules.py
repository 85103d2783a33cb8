"""Invalid calls an API cannot express are not drawn for it, and the ones it can are made as a user
makes them (issue #36: nn.ConvTranspose2d(padding_mode='reflect') raises in PyTorch)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.capabilities import capabilities_of
from conformance.checks import CHECK_KINDS
from conformance.config import ConvConfig
from conformance.harness import Harness, Target
from conformance.registry import get_implementation
from conformance.strategies import InvalidCase, invalid_cases

RULE = "padding_mode applies to ordinary convolution only"
OP = "conv_transpose2d"


OUTPUT_PADDING_RULE = "output_padding < max(stride, dilation)"


def _rules_drawn(implementation: str, n: int = 150) -> set[str]:
    region = capabilities_of(get_implementation(implementation)).region(OP, "cpu", "invalid")
    seen = set()

    @settings(max_examples=n, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=invalid_cases(op=OP, region=region))
    def draw(case):
        seen.add(case.rule)
        if case.rule == RULE:
            assert case.config.transposed and case.config.padding_mode != "zeros", case

    draw()
    return seen


@pytest.mark.parametrize("implementation, drawn", [
    pytest.param("torch.nn", True, id="torch.nn-passes-padding_mode-to-ConvTranspose"),
    pytest.param("naive", True, id="the-references-have-every-rule"),
    pytest.param("torch", False, id="F.conv_transpose-has-no-padding_mode"),
    pytest.param("jax", False, id="lax-has-no-padding_mode"),
    pytest.param("keras.torch", False, id="keras-has-no-padding_mode"),
])
def test_the_transposed_padding_mode_rule_is_drawn_only_where_the_api_has_padding_mode(implementation, drawn):
    assert (RULE in _rules_drawn(implementation)) == drawn


@pytest.mark.parametrize("implementation, drawn", [
    pytest.param("torch", True, id="torch-has-output_padding"),
    pytest.param("naive", True, id="the-references-have-every-rule"),
    pytest.param("jax", False, id="lax-conv_transpose-has-no-output_padding"),
    pytest.param("jax.jit", False, id="jax.jit-likewise"),
])
def test_the_output_padding_limit_is_drawn_only_where_the_api_has_output_padding(implementation, drawn):
    """Issue #36: a JAX user states the transposed padding, never an output_padding, so its limit is no
    call a JAX user makes: not drawn for jax (the adapter would only pad more), rather than 'accepted'."""
    assert (OUTPUT_PADDING_RULE in _rules_drawn(implementation)) == drawn


def test_torch_nn_hands_the_transposed_padding_mode_to_pytorch_which_refuses_it():
    pytest.importorskip("torch")
    config = ConvConfig.unchecked(ndim=2, transposed=True, in_channels=3, out_channels=3, in_size=(5, 5), kernel=(3, 3),
                                  padding=((1, 1), (1, 1)), padding_mode="reflect", bias=True, dtype="float32")
    case = InvalidCase(config, RULE, (3, 3, 3, 3), 0, "normal")
    outcome = Harness(writer=None, run_id="rules", isolation="none").check(
        Target(OP, "torch.nn", "cpu", "torch.nn"), CHECK_KINDS["invalid"], case, test_id="t")
    record = outcome.records[0]
    assert outcome.statuses == {"invalid_call": "pass"}, record.message
    assert "padding mode is supported for ConvTranspose" in record.message, record.message
