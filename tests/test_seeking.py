"""Error-seeking scores (benchmarks/seeking.py; the suite does not use them: they did not help)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument

from conformance.records import CheckRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from seeking import ERROR_LABEL, NEAR_MISS_LABEL, RATIO_CAP, seek, target_scores

INF, NAN = math.inf, math.nan


def record(ratio=None, *, status: str = "pass", stats: dict | None = None, check: str = "forward") -> CheckRecord:
    """A check record whose stats carry `ratio` as max_error_in_bounds (no stats when both are None)."""
    if stats is None and ratio is not None:
        stats = {"max_error_in_bounds": ratio, "n_beyond": int(ratio > 1)}
    return CheckRecord(run_id="r", test_id="test_forward[conv1d-x-cpu]", implementation="x", op="conv1d",
                       device="cpu", check=check, status=status, stats=stats)


@pytest.mark.parametrize("records, expected", [
    pytest.param([], {}, id="no records"),
    pytest.param([record(0.25)], {ERROR_LABEL: 0.25, NEAR_MISS_LABEL: 0.25}, id="one pass"),
    pytest.param([record(0.25), record(0.75, check="grad_weight")], {ERROR_LABEL: 0.75, NEAR_MISS_LABEL: 0.75},
                 id="largest of two passes"),
    pytest.param([record(0.5), record(3.0, status="mismatch"), record(0.9)], {ERROR_LABEL: 3.0, NEAR_MISS_LABEL: 0.9},
                 id="a failure and two near-misses"),
    pytest.param([record(1.0)], {ERROR_LABEL: 1.0, NEAR_MISS_LABEL: 1.0}, id="exactly at the bound is within it"),
    pytest.param([record(1.5, status="mismatch"), record(7.0, status="known")], {ERROR_LABEL: 7.0},
                 id="all above 1: no near-miss"),
    pytest.param([record(None), record(status="unsupported"), record(stats={})], {}, id="no stats anywhere"),
    pytest.param([record(stats={"shape_seen": [1], "shape_expected": [2]}, status="mismatch"), record(0.3)],
                 {ERROR_LABEL: 0.3, NEAR_MISS_LABEL: 0.3}, id="shape mismatch has no ratio"),
    pytest.param([record(INF, status="mismatch"), record(0.6)], {ERROR_LABEL: RATIO_CAP, NEAR_MISS_LABEL: 0.6},
                 id="inf is capped"),
    pytest.param([record(5e9, status="mismatch")], {ERROR_LABEL: RATIO_CAP}, id="huge is capped"),
    pytest.param([record(NAN, status="mismatch"), record(0.2)], {ERROR_LABEL: 0.2, NEAR_MISS_LABEL: 0.2},
                 id="nan is skipped"),
    pytest.param([record(0.0)], {ERROR_LABEL: 0.0, NEAR_MISS_LABEL: 0.0}, id="exact result scores 0"),
])
def test_target_scores(records, expected):
    assert target_scores(records) == expected


def test_scores_are_finite_floats():
    scores = target_scores([record(INF, status="mismatch"), record(1), record(True)])
    assert all(type(score) is float and math.isfinite(score) for score in scores.values()), scores
    assert scores == {ERROR_LABEL: RATIO_CAP, NEAR_MISS_LABEL: 1.0}  # a bool is not a ratio


def test_records_need_only_stats():
    class Bare:
        stats = {"max_error_in_bounds": 0.5}

    assert target_scores([Bare(), object()]) == {ERROR_LABEL: 0.5, NEAR_MISS_LABEL: 0.5}


def test_seek_outside_a_test_is_refused_by_hypothesis():
    with pytest.raises(InvalidArgument):
        seek([record(0.5)])


def test_seek_inside_given_reports_to_hypothesis():
    seen = []

    @settings(max_examples=25, database=None, phases=[Phase.generate, Phase.target])
    @given(st.floats(0, 4), st.floats(0, 4))
    def check(first, second):
        scores = seek([record(first), record(second, check="grad_input"), record(INF), record(None)])
        observed = dict(current_build_context().data.target_observations)
        assert observed == scores
        assert observed[ERROR_LABEL] == RATIO_CAP
        below = [r for r in (first, second) if r <= 1]
        assert observed.get(NEAR_MISS_LABEL) == (max(below) if below else None)
        seen.append(observed)

    check()
    assert len(seen) >= 25
