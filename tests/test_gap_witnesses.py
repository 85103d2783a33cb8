"""A declared gap is checked, not trusted: its witness call must be refused with the declared text, and
a library refusal inside the declared region is a finding of its own."""

from __future__ import annotations

import pytest

from conformance.capabilities import FrameworkRefusal, Gap, witness_config
from conformance.checks import CHECK_KINDS
from conformance.config import ConvConfig
from conformance.harness import Harness, Target
from conformance.registry import Implementation, get_implementation
from conformance.strategies import ConvCase

REFUSAL = "grouped convolutions are not supported here"


class _Library(Implementation):
    """A library that refuses grouped calls (FrameworkRefusal) and declares so."""

    name = "library"
    gaps = (Gap("groups>1", "no grouped calls", refused_by="framework", message=REFUSAL),)

    def forward(self, config, x, w, b=None, device="cpu"):
        if config.groups > 1:
            raise FrameworkRefusal(f"library: {REFUSAL}")
        return get_implementation("naive").forward(config, x, w, b)


class _RunsItsGap(_Library):
    """Declares grouped calls refused, but computes them."""

    name = "runs_its_gap"

    def forward(self, config, x, w, b=None, device="cpu"):
        return get_implementation("naive").forward(config, x, w, b)


class _OtherRefusal(_Library):
    """Refuses grouped calls, with another text than the declared one."""

    name = "other_refusal"

    def forward(self, config, x, w, b=None, device="cpu"):
        if config.groups > 1:
            raise FrameworkRefusal("other_refusal: out of memory")
        return get_implementation("naive").forward(config, x, w, b)


class _Undeclared(_Library):
    """Refuses grouped calls but declares no gap."""

    name = "undeclared"
    gaps = ()


def _check(cls, config, witness=None):
    harness = Harness(writer=None, run_id="t", isolation="none")
    target = Target(config.op_name, cls.name, "cpu", f"{__name__}:{cls.__name__}")
    return harness.check(target, CHECK_KINDS["forward"], ConvCase(config, 0, "normal"), test_id="t",
                         phase="explicit", witness=witness)


GAP = _Library.gaps[0]
GROUPED = witness_config(GAP, "conv2d", "float32")


@pytest.mark.parametrize("cls, status, text", [
    pytest.param(_Library, "pass", "declared gap confirmed", id="refused as declared"),
    pytest.param(_RunsItsGap, "error", "declared unsupported, but the framework runs it", id="runs its gap"),
    pytest.param(_OtherRefusal, "error", "refused, but not with the declared message", id="another refusal"),
])
def test_a_witness_call_checks_the_declared_refusal(cls, status, text):
    outcome = _check(cls, GROUPED, witness=GAP)
    assert set(outcome.statuses.values()) == {status}, outcome.records[0].message
    assert text in outcome.records[0].message


def test_a_declared_gap_is_not_called_outside_its_witness():
    outcome = _check(_RunsItsGap, GROUPED)
    assert set(outcome.statuses.values()) == {"unsupported"}
    assert outcome.records[0].reason == "runs_its_gap: no grouped calls"


def test_a_library_refusal_inside_the_declared_region_is_a_finding():
    outcome = _check(_Undeclared, GROUPED)
    assert set(outcome.statuses.values()) == {"error"}
    assert "declared supported, but the framework refuses it" in outcome.message
    assert REFUSAL in outcome.message and "reproduce:" in outcome.message


def test_a_plain_not_implemented_error_stays_unsupported():
    """The plugin contract: a method that raises NotImplementedError is unsupported, never a finding."""

    class _Plain(Implementation):
        name = "plain"

        def forward(self, config, x, w, b=None, device="cpu"):
            raise NotImplementedError("plain: not yet")

    harness = Harness(writer=None, run_id="t", isolation="none")
    from conformance.registry import register

    register(_Plain())
    target = Target("conv1d", "plain", "cpu", "plain")
    config = ConvConfig(ndim=1, in_size=(4,), kernel=(2,))
    outcome = harness.check(target, CHECK_KINDS["forward"], ConvCase(config, 0, "normal"), test_id="t")
    assert set(outcome.statuses.values()) == {"unsupported"}
