"""The summary's call_seconds: the time inside the implementation's calls, shrink replays included
(what the harness-overhead target of benchmarks/run.py is judged on)."""

from __future__ import annotations

import time

from conformance.checks import CHECK_KINDS
from conformance.config import ConvConfig
from conformance.harness import Harness, Target
from conformance.records import RecordWriter, SummaryRecord, read_records
from conformance.registry import Implementation
from conformance.strategies import ConvCase

SLEEP_S = 0.05


class _SlowIm2col(Implementation):
    """im2col, after SLEEP_S of sleep in every forward call."""

    name = "slow_im2col"

    def forward(self, config, x, w, b=None, device="cpu"):
        from conformance.registry import get_implementation

        time.sleep(SLEEP_S)
        return get_implementation("im2col").forward(config, x, w, b)


def test_call_seconds_count_every_call_shrink_replays_included(tmp_path):
    path = tmp_path / "results.jsonl"
    writer = RecordWriter(path)
    harness = Harness(writer=writer, run_id="t", isolation="none")
    target = Target("conv2d", "slow_im2col", "cpu", f"{__name__}:_SlowIm2col")
    case = ConvCase(ConvConfig(ndim=2, batch=1, in_channels=2, out_channels=2, in_size=(4, 4), kernel=(3, 3)), 0,
                    "normal")
    for phase in ("generate", "generate", "shrink"):
        harness.check(target, CHECK_KINDS["forward"], case, test_id="t1", phase=phase).raise_if_failed()
    harness.finish_test("t1", target)
    writer.close()
    (summary,) = read_records([path]).of_type(SummaryRecord)
    assert summary.examples == 2 and summary.shrink_replays == 1
    assert 3 * SLEEP_S <= summary.call_seconds <= summary.duration_s


class _SlowRefusal(Implementation):
    """Spends SLEEP_S in every call, then refuses it: NotImplementedError (unsupported) for a valid
    config, ValueError for an invalid one (the refusal an invalid call should get)."""

    name = "slow_refusal"

    def forward(self, config, x, w, b=None, device="cpu"):
        time.sleep(SLEEP_S)
        if config.kernel[0] > config.in_size[0] + 2 * config.padding[0][0]:
            raise ValueError("kernel larger than the padded input")
        raise NotImplementedError("slow_refusal: refuses every valid call")


def test_calls_that_raise_count_their_time():
    """A refusal is time inside the implementation (a framework may compile before it refuses)."""
    from conformance.strategies import InvalidCase

    harness = Harness(writer=None, run_id="t", isolation="none")
    target = Target("conv1d", "slow_refusal", "cpu", f"{__name__}:_SlowRefusal")
    valid = ConvConfig(ndim=1, batch=1, in_channels=1, out_channels=1, in_size=(4,), kernel=(3,))
    refused = harness.check(target, CHECK_KINDS["forward"], ConvCase(valid, 0, "normal"), test_id="t2")
    assert set(refused.statuses.values()) == {"unsupported"}
    assert all(r.seconds is not None and r.seconds >= SLEEP_S for r in refused.records)
    invalid = ConvConfig.unchecked(**{**valid.to_dict(), "in_size": (2,)})
    case = InvalidCase(invalid, "dilated kernel fits the padded input", invalid.weight_shape, 0, "normal")
    raised = harness.check(target, CHECK_KINDS["invalid"], case, test_id="t3")
    assert raised.statuses == {"invalid_call": "pass"}
    assert raised.records[0].seconds is not None and raised.records[0].seconds >= SLEEP_S


def test_an_example_s_oracle_is_computed_once_per_process(monkeypatch):
    """Two implementations checked on the same example share its oracle (the ci profile draws the
    same examples for both); another example, or another check kind, gets its own."""
    from conformance import harness as harness_module

    computed = []
    real = harness_module.compute_oracle

    def counting(config, tensors, kind, oracle):
        computed.append((config, kind.name, oracle))
        return real(config, tensors, kind, oracle)

    monkeypatch.setattr(harness_module, "compute_oracle", counting)
    harness = Harness(writer=None, run_id="t", isolation="none")
    config = ConvConfig(ndim=1, batch=1, in_channels=2, out_channels=3, in_size=(5,), kernel=(2,))
    case, other = ConvCase(config, 0, "normal"), ConvCase(config, 1, "normal")
    for spec in ("naive", "matrix"):
        target = Target("conv1d", spec, "cpu", spec)
        assert harness.check(target, CHECK_KINDS["forward"], case, test_id=f"t-{spec}").statuses == {"forward": "pass"}
    assert computed == [(config, "forward", "im2col")]
    harness.check(Target("conv1d", "naive", "cpu", "naive"), CHECK_KINDS["forward"], other, test_id="t3")
    harness.check(Target("conv1d", "naive", "cpu", "naive"), CHECK_KINDS["gradient"], case, test_id="t4")
    harness.check(Target("conv1d", "im2col", "cpu", "im2col"), CHECK_KINDS["forward"], case, test_id="t5")
    assert len(computed) == 4 and computed[-1] == (config, "forward", "naive")  # im2col is judged by naive


class _SlowError(Implementation):
    """Spends SLEEP_S in every call, then raises an error that is not a refusal (a bug)."""

    name = "slow_error"

    def forward(self, config, x, w, b=None, device="cpu"):
        time.sleep(SLEEP_S)
        raise RuntimeError("internal failure")


def test_a_call_that_errors_counts_its_time():
    """An error is a finding, and its call's time is the implementation's, not the harness's."""
    harness = Harness(writer=None, run_id="t", isolation="none")
    target = Target("conv1d", "slow_error", "cpu", f"{__name__}:_SlowError")
    config = ConvConfig(ndim=1, batch=1, in_channels=1, out_channels=1, in_size=(4,), kernel=(3,))
    outcome = harness.check(target, CHECK_KINDS["forward"], ConvCase(config, 0, "normal"), test_id="t6")
    assert outcome.statuses == {"forward": "error"}
    assert outcome.records[0].seconds is not None and outcome.records[0].seconds >= SLEEP_S
    assert harness.finish_test("t6", target).call_seconds >= SLEEP_S


def test_an_isolated_example_is_one_round_trip_and_its_worker_start_is_not_call_time(monkeypatch, tmp_path):
    """Capability, arithmetic and the call of an example in a worker cost one round trip; the first
    call starts the worker, and that start is the summary's start_seconds, not call time."""
    from conformance.isolation import IsolatedImplementation

    requests = []
    real_call = IsolatedImplementation.call

    def counting(self, method, *args, **kwargs):
        requests.append(method)
        return real_call(self, method, *args, **kwargs)

    monkeypatch.setattr(IsolatedImplementation, "call", counting)
    path = tmp_path / "results.jsonl"
    writer = RecordWriter(path)
    harness = Harness(writer=writer, run_id="t", isolation="process")
    target = Target("conv2d", "slow_im2col", "cpu", f"{__name__}:_SlowIm2col")
    config = ConvConfig(ndim=2, batch=1, in_channels=2, out_channels=2, in_size=(4, 4), kernel=(3, 3))
    try:
        for seed in (0, 1):
            outcome = harness.check(target, CHECK_KINDS["forward"], ConvCase(config, seed, "normal"), test_id="t7")
            assert outcome.statuses == {"forward": "pass"}
        assert requests == ["harness:evaluate", "harness:evaluate"]
        impl = harness.implementation(target.spec)
        assert impl.start_seconds > 0
        harness.finish_test("t7", target)
    finally:
        harness.close()
        writer.close()
    (summary,) = read_records([path]).of_type(SummaryRecord)
    assert abs(summary.start_seconds - impl.start_seconds) < 1e-2
    # Two calls of SLEEP_S and their round trips; the start (an interpreter and an import) is apart.
    assert 2 * SLEEP_S <= summary.call_seconds < 2 * SLEEP_S + summary.start_seconds
    assert summary.call_seconds + summary.start_seconds <= summary.duration_s


class _CrashesOnSeed1(Implementation):
    """im2col, but the process dies on the example whose x starts with a negative value."""

    name = "crashes_on_negative"

    def forward(self, config, x, w, b=None, device="cpu"):
        import os

        from conformance.registry import get_implementation

        if x.flat[0] < 0:
            os._exit(7)
        return get_implementation("im2col").forward(config, x, w, b)


def test_a_worker_restart_is_start_seconds_not_call_seconds():
    """A crash costs a restart on the next call: that import is counted apart from the call."""
    from conformance.strategies import make_tensors

    harness = Harness(writer=None, run_id="t", isolation="process")
    target = Target("conv1d", "crashes_on_negative", "cpu", f"{__name__}:_CrashesOnSeed1")
    config = ConvConfig(ndim=1, batch=1, in_channels=1, out_channels=1, in_size=(4,), kernel=(3,))
    seeds = {make_tensors(config, seed).x.flat[0] < 0: seed for seed in range(20)}
    try:
        statuses = [harness.check(target, CHECK_KINDS["forward"], ConvCase(config, seeds[negative], "normal"),
                                  test_id="t8").statuses["forward"] for negative in (False, True, False)]
        assert statuses == ["pass", "crash", "pass"]
        impl = harness.implementation(target.spec)
        tally = harness.finish_test("t8", target)
        assert impl.restarts == 1
        assert abs(tally.start_seconds - impl.start_seconds) < 1e-6
        # Two worker starts (the first and the restart): each took longer than all three calls did.
        assert tally.call_seconds < impl.start_seconds / 2
    finally:
        harness.close()
