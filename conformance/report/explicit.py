"""The report's tables of explicit examples: real-model layer shapes and the upstream regression corpus.

Both come from check records with an `example` name: phase "explicit" (conformance.model_shapes, run
beside the drawn examples, failures among the findings) and phase "regression" (the corpus of known
upstream bugs, conformance/regressions.toml, run in the nightly profile; whether each reproduces on
this machine is information, never a finding, since the bug is upstream's and already reported).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..records import CheckRecord
from ..vocabulary import FAILING_STATUSES, KNOWN, PASS, UNSUPPORTED

__all__ = ["model_shape_rows", "regression_rows"]


def _verdict(statuses: set[str]) -> str:
    if statuses & (set(FAILING_STATUSES) | {KNOWN}):  # a known divergence reproduced is still a failure here
        return "fails"
    if PASS in statuses:
        return "passes"
    return "unsupported" if UNSUPPORTED in statuses else "not run"


def _rows(checks: list[CheckRecord], phase: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    statuses: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in checks:
        if record.phase != phase or not record.example:
            continue
        key = (record.example, record.implementation)
        statuses[key].add(record.status)
        row = rows.setdefault(key, {"example": record.example, "implementation": record.implementation,
                                    "op": record.op, "device": record.device, "config": record.config_str,
                                    "details": []})
        if record.status != PASS:
            row["details"].append(f"{record.check}: {record.status}"
                                  + (f" ({record.kind})" if record.kind else "")
                                  + (f", {record.reason}" if record.reason else ""))
    for key, row in rows.items():
        row["verdict"] = _verdict(statuses[key])
        row["details"] = sorted(set(row["details"]))[:4]
    return rows


def model_shape_rows(checks: list[CheckRecord]) -> list[dict[str, Any]]:
    """One row per (layer shape, implementation): passes / fails / unsupported, with what failed."""
    return [rows for _, rows in sorted(_rows(checks, "explicit").items())]


def regression_rows(checks: list[CheckRecord]) -> list[dict[str, Any]]:
    """One row per (corpus entry, implementation): "reproduces" (the upstream bug shows here),
    "does not reproduce", or "unsupported"; with the entry's upstream link and expectation."""
    from ..regressions import load_regressions

    try:
        entries = {entry.id: entry for entry in load_regressions()}
    except Exception:  # a report still renders without the corpus file
        entries = {}
    rows = []
    for (entry_id, _), row in sorted(_rows(checks, "regression").items()):
        entry = entries.get(entry_id)
        row["reproduces"] = {"fails": "reproduces", "passes": "does not reproduce"}.get(row["verdict"], row["verdict"])
        row["upstream"] = entry.upstream if entry else ""
        row["title"] = entry.title if entry else ""
        row["expected_here"] = None if entry is None else entry.reproduces_here
        row["cpu_features"] = list(entry.cpu_features) if entry else []
        rows.append(row)
    return rows
