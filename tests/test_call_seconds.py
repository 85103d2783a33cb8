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
