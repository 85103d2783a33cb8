"""The report's capability table: each implementation's declared gaps (ImplementationRecord.gaps, the
same rows as the README's table) with what this run's witness calls said about each, and the calls
refused at run time outside any declared gap (the supports() residue and plain NotImplementedError).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from ..records import CheckRecord, ImplementationRecord
from ..vocabulary import FAILING_STATUSES, PASS

__all__ = ["declared_gap_rows"]


def declared_gap_rows(described: Iterable[ImplementationRecord], checks: Iterable[CheckRecord]) -> list[dict]:
    """One row per (implementation, declared gap), in the order declared: feature, where, refused_by,
    message, reason, and `witnesses` {"confirmed": n, "failed": n} over this run's witness calls (none
    for a gap the adapter has no form of, or one whose witness another gap covers)."""
    verdicts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for check in checks:
        if check.phase == "explicit" and check.example and check.example.startswith("declared gap: "):
            if check.status == PASS:
                verdicts[(check.implementation, check.example)]["confirmed"] += 1
            elif check.status in FAILING_STATUSES:
                verdicts[(check.implementation, check.example)]["failed"] += 1
    rows, seen = [], set()
    for record in described:
        for gap in record.gaps:
            key = (record.implementation, gap.get("witness", ""))
            if key in seen:  # one ImplementationRecord per process: the same declaration again
                continue
            seen.add(key)
            found = verdicts.get(key, Counter())
            rows.append({"implementation": record.implementation, **gap,
                         "witnesses": {"confirmed": found["confirmed"], "failed": found["failed"]}})
    return rows
