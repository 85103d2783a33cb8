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
