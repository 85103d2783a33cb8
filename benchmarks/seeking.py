"""Error-seeking generation: Hypothesis target() scores from one example's check records.

A precision bug shows as an error beyond its bound (error/bound > 1, conformance.compare), and a
result that almost fails (error/bound just under 1) may be a few mutations away from one. These
scores tell Hypothesis' target phase which examples to climb from: the largest error/bound of the
example's checks ("error/bound") and the largest one still within its bound ("near-miss
error/bound"). A known divergence's ratio counts too: pushing it past its entry's ceiling is a new
finding. benchmarks/error_seeking.py measures whether this finds divergences in fewer examples:
it did not (benchmarks/README.md), so the suite does not call it; it stays here for that benchmark.

    @given(case=kind.strategy(op=..., dtypes=...))
    def check(case):
        outcome = harness.check(target, kind, case, test_id=test_id)
        seek(outcome.records)
        outcome.raise_if_failed()
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["ERROR_LABEL", "NEAR_MISS_LABEL", "RATIO_CAP", "target_scores", "seek"]

ERROR_LABEL = "error/bound"
NEAR_MISS_LABEL = "near-miss error/bound"
# Scores are capped here: hypothesis.target() refuses infinities, and compare() reports an infinite
# ratio for an error where the bound is 0 or for a non-finite result. A ratio this large already
# fails by six orders of magnitude, so the cap hides no ordering worth climbing.
RATIO_CAP = 1e6


def _ratio(record: Any) -> float | None:
    """The record's worst error/bound, capped at RATIO_CAP; None when it has none or it is NaN."""
    stats = getattr(record, "stats", None) or {}
    ratio = stats.get("max_error_in_bounds")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or math.isnan(ratio):
        return None  # not compared (shape mismatch, error, unsupported, a judged check), or unordered
    return min(float(ratio), RATIO_CAP)


def target_scores(records: Iterable[Any]) -> dict[str, float]:
    """{label: score} for one example's records (conformance.records.CheckRecord, or anything with `.stats`).

    - ERROR_LABEL: the largest error/bound over the records that have one;
    - NEAR_MISS_LABEL: the largest error/bound of at most 1 (within the bound: compare fails only
      above 1), absent when every ratio is above 1.
    Records without stats, without "max_error_in_bounds" or with a NaN ratio are skipped; an
    infinite ratio scores RATIO_CAP. No ratio at all gives {}.

    >>> target_scores([record_with_ratio(0.4), record_with_ratio(3.0)])  # doctest: +SKIP
    {'error/bound': 3.0, 'near-miss error/bound': 0.4}
    """
    ratios = [r for r in (_ratio(record) for record in records) if r is not None]
    scores: dict[str, float] = {}
    if ratios:
        scores[ERROR_LABEL] = max(ratios)
    within = [r for r in ratios if r <= 1.0]
    if within:
        scores[NEAR_MISS_LABEL] = max(within)
    return scores


def seek(records: Iterable[Any]) -> dict[str, float]:
    """Call hypothesis.target() once per score of target_scores(records); return the scores.

    Call it once per example, inside a @given test (Hypothesis refuses target() elsewhere, and the
    same label twice in one example).
    """
    from hypothesis import target  # imported on use: the scores above need no Hypothesis

    scores = target_scores(records)
    for label, score in scores.items():
        target(score, label=label)
    return scores
