"""results.jsonl records -> the report's data model: plain, JSON-ready dicts and lists.

`build_model` takes a `conformance.records.ReadResult` of typed records (RunRecord, CheckRecord,
SummaryRecord, KnownDivergencesRecord, RunEndRecord) and aggregates them, so the page holds counts
and one card per distinct finding rather than every record (a 50,000-record run renders to a page
of a few hundred kilobytes).

Counting rule: for each test (run_id, test_id) the SummaryRecord is the truth: its `counts` are
over the examples Hypothesis drew (every example, including those not written whole), its
`shrink_replays` are shown apart, its `coverage` is over the examples that ran (not all
unsupported) and `examples_run` is the coverage's denominator. A test without a summary (the one
an interrupted run was in) is counted from its check records the same way: phases "generate" and
"final" are examples, "shrink" records are shrink replays, "consensus" records are not counted.
A matrix cell is one (implementation, op family, device): the sum over its tests.

Finding cards (conformance.report.findings): one card per "shape of cause", i.e. the same
(implementation, device, check, status, kind) and, for a known divergence, the same known_id,
whatever op family they came from; the card lists its op families with a count each and is shown
on its smallest config. The run header: conformance.report.run_info.

Verdict: failing when a check failed, and also when pytest failed reports that no failing check
explains (RunEndRecord.tests_failed: a collection error, a test that raised before its checks): those
are the run's errors, counted in the headline, so the verdict agrees with pytest's exit status.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from ..coverage import FEATURES, features_of
from ..known import entry_state
from ..records import CheckRecord, ImplementationRecord, KnownDivergencesRecord, ReadResult, RunEndRecord, RunRecord, SummaryRecord
from ..vocabulary import FAILING_STATUSES, KNOWN, PASS, STATUSES, UNSUPPORTED, op_family
from .capabilities import declared_gap_rows
from .explicit import model_shape_rows, regression_rows
from .findings import CONSENSUS, HEAT_LEGEND, SHRINK, build_findings, config_of, example_key, ops_in_order
from .parity import error_parity, repeatability
from .run_info import run_info

__all__ = ["MAX_MALFORMED_SHOWN", "REASON_CHARS", "build_model"]

MAX_MALFORMED_SHOWN = 20
REASON_CHARS = 60  # an all-unsupported matrix cell shows its first reason cut to this length
_KNOWN_TEXT_FIELDS = ("summary", "classification", "upstream", "draft", "reproducer", "source")


def build_model(read_result: ReadResult, *, title: str | None = None, sources: Iterable[str] = ()) -> dict[str, Any]:
    """Aggregate a `conformance.records.ReadResult` into the report model.

    - read_result: `.records` (record dataclasses) and `.malformed` ((file, line, why) tuples).
    - title: the page title; defaults to "Convolution conformance report".
    - sources: the files read, shown in the header.
    """
    records = read_result.records
    by_type: dict[type, list] = defaultdict(list)
    for record in records:
        by_type[type(record)].append(record)
    checks: list[CheckRecord] = by_type[CheckRecord]
    summaries = {(s.run_id, s.test_id): s for s in by_type[SummaryRecord]}  # the last summary wins

    cells, coverage, examples_run = _tally(checks, summaries)
    findings = build_findings(checks)
    matrix = _matrix(cells, findings)
    model = {
        "title": title or "Convolution conformance report",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": [str(s) for s in sources],
        "n_records": len(records),
        "n_check_records": len(checks),
        "run": run_info(by_type[RunRecord], by_type[RunEndRecord], records),
        "verdict": _verdict(cells, findings, _errors(checks, summaries, by_type[RunEndRecord]),
                            Counter(c.known_id for c in checks if c.status == KNOWN and c.known_id)),
        "matrix": matrix,
        "findings": findings,
        "capabilities": _capabilities(cells),
        "declared_gaps": declared_gap_rows(by_type[ImplementationRecord], checks),
        "error_parity": error_parity(checks),
        "repeatability": repeatability(checks),
        "model_shapes": model_shape_rows(checks),
        "regressions": regression_rows(checks),
        "known_divergences": _known_divergences(by_type[KnownDivergencesRecord]),
        "coverage": _coverage(coverage, examples_run),
        "malformed": {
            "count": len(read_result.malformed),
            "shown": [{"file": f, "line": n, "why": why} for f, n, why in read_result.malformed[:MAX_MALFORMED_SHOWN]],
        },
        "heat_legend": [{"cls": c, "label": label} for c, label in HEAT_LEGEND],
    }
    model["filters"] = _filter_options(matrix, findings)
    return model


# ---- counting -----------------------------------------------------------------------------------


@dataclass
class _Cell:
    """What one (implementation, op, device) adds up to over its tests."""

    counts: Counter = field(default_factory=Counter)  # status -> checks of drawn examples
    examples: int = 0
    shrink_replays: int = 0
    reasons: Counter = field(default_factory=Counter)  # unsupported reason -> checks
    skipped: Counter = field(default_factory=Counter)  # skip reason -> tests


def _tally(checks: list[CheckRecord], summaries: dict[tuple, SummaryRecord]):
    """Cells per (implementation, op, device); coverage and examples that ran per op family."""
    cells: dict[tuple, _Cell] = defaultdict(_Cell)
    coverage: dict[str, Counter] = defaultdict(Counter)
    examples_run: Counter = Counter()

    for summary in summaries.values():
        cell = cells[(summary.implementation, summary.op, summary.device)]
        for per_status in summary.counts.values():
            for status, n in _items(per_status):
                cell.counts[str(status)] += _int(n)
        cell.examples += summary.examples
        cell.shrink_replays += summary.shrink_replays
        for reason, n in summary.unsupported_reasons.items():
            cell.reasons[str(reason)] += _int(n)
        if summary.skipped:
            cell.skipped[summary.skipped] += 1
        for feature, n in summary.coverage.items():
            coverage[summary.op][str(feature)] += _int(n)
        examples_run[summary.op] += summary.examples_run

    examples: dict[tuple, list] = {}  # example key -> [a record of it, whether any check of it ran]
    replays: set[tuple] = set()
    for record in checks:
        if (record.run_id, record.test_id) in summaries or record.phase in (CONSENSUS, "regression"):
            continue
        cell = cells[(record.implementation, record.op, record.device)]
        key = example_key(record)
        if record.phase == SHRINK:
            if key not in replays:
                replays.add(key)
                cell.shrink_replays += 1
            continue
        cell.counts[record.status] += 1
        if record.status == UNSUPPORTED:
            cell.reasons[record.reason or "no reason given"] += 1
        example = examples.get(key)
        if example is None:
            examples[key] = example = [record, False]
            cell.examples += 1
        example[1] = example[1] or record.status != UNSUPPORTED
    for record, ran in examples.values():
        if not ran:
            continue
        examples_run[record.op] += 1
        config = config_of(record)
        if config is not None:
            coverage[record.op].update(features_of(config))
    return cells, coverage, examples_run


def _items(value: Any):
    return value.items() if isinstance(value, dict) else ()


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# ---- matrix and verdict ---------------------------------------------------------------------------


def _cell_state(counts: Counter) -> str:
    if any(counts[s] for s in FAILING_STATUSES):
        return "fail"
    if counts[KNOWN]:
        return "known"
    if counts[PASS]:
        return "pass"
    if counts[UNSUPPORTED]:
        return "unsupported"
    return "empty"


def _shorten(text: str, limit: int = REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _why(prefix: str, reasons: Counter) -> dict[str, str] | None:
    """Why a cell ran nothing: the most frequent reason, cut short, and every reason for the tooltip."""
    if not reasons:
        return None
    ranked = reasons.most_common()
    return {"text": f"{prefix}: {_shorten(ranked[0][0])}",
            "title": "\n".join(f"{reason} ({n})" for reason, n in ranked)}


def _matrix(cells: dict[tuple, _Cell], findings: list[dict]) -> dict[str, Any]:
    first_finding: dict[tuple, str] = {}
    for finding in findings:  # worst first: a cell links to its worst card that contains its op
        for op in finding["op_names"]:
            first_finding.setdefault((finding["implementation"], op, finding["device"]), finding["id"])
    ops = ops_in_order(op for _, op, _ in cells)
    rows = []
    for impl, device in sorted({(i, d) for i, _, d in cells}):
        row_cells = []
        for op in ops:
            cell = cells.get((impl, op, device)) or _Cell()
            state = _cell_state(cell.counts)
            why = None
            if state == "unsupported":
                why = _why("unsupported", cell.reasons)
            elif state == "empty":
                why = _why("skipped", cell.skipped)
            row_cells.append({
                "op": op,
                "state": state,
                "counts": [{"status": s, "n": cell.counts[s]} for s in STATUSES if cell.counts[s]],
                "total": sum(cell.counts.values()),
                "examples": cell.examples,
                "shrink_replays": cell.shrink_replays,
                "why": why,
                "finding": first_finding.get((impl, op, device)),
            })
        statuses = sorted({c["status"] for cell in row_cells for c in cell["counts"]})
        rows.append({"implementation": impl, "device": device, "cells": row_cells, "statuses": statuses})
    return {"ops": ops, "rows": rows}


def _errors(checks: list[CheckRecord], summaries: dict[tuple, SummaryRecord], ends: list[RunEndRecord]) -> int:
    """Reports pytest counted as failed that no failing check explains, summed over runs.

    Each process's run_end says how many reports pytest failed (RunEndRecord.tests_failed); a test
    with a failing check of its own (drawn or explicit; consensus replays and regression entries
    never fail a test) accounts for one of them. The rest are errors: a collection error, a setup
    or teardown error, a test that raised something other than a check's failure.
    """
    failed: Counter = Counter()
    for end in ends:
        failed[end.run_id] += end.tests_failed
    explained = Counter(run_id for run_id, _ in _tests_failed_by_checks(checks, summaries))
    return sum(max(0, n - explained[run_id]) for run_id, n in failed.items())


def _tests_failed_by_checks(checks: list[CheckRecord], summaries: dict[tuple, SummaryRecord]) -> set[tuple]:
    """(run_id, test_id) of the tests that a failing check of their own failed."""
    failed = {(r.run_id, r.test_id) for r in checks
              if r.status in FAILING_STATUSES and r.phase not in (CONSENSUS, "regression")}
    return failed | {key for key, summary in summaries.items() if summary.failed}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def _breakdown(totals: Counter, known_ids: Counter) -> str:
    """The headline's second line: what was known (per entry) and declared unsupported, apart from what passed."""
    parts = []
    if totals[KNOWN]:
        entries = ", ".join(f"{kid} {n:,}" for kid, n in sorted(known_ids.items()))
        parts.append(f"{totals[KNOWN]:,} known ({entries})" if entries else f"{totals[KNOWN]:,} known")
    if totals[UNSUPPORTED]:
        parts.append(f"{totals[UNSUPPORTED]:,} declared unsupported or not called")
    return "; ".join(parts)


def _verdict(cells: dict[tuple, _Cell], findings: list[dict], errors: int = 0,
             known_ids: Counter | None = None) -> dict[str, Any]:
    """The headline. Errors (see _errors) make it failing whatever the checks said: pytest exited 1.
    known_ids: check records per known entry id, for the breakdown beside it."""
    known_ids = known_ids or Counter()
    totals: Counter = Counter()
    for cell in cells.values():
        totals.update(cell.counts)
    failing_checks = sum(totals[s] for s in FAILING_STATUSES)
    failing = [f for f in findings if f["status"] in FAILING_STATUSES]
    impls = sorted({f["implementation"] for f in failing}
                   | {i for (i, _, _), cell in cells.items() if any(cell.counts[s] for s in FAILING_STATUSES)})
    n_checks = sum(totals.values())
    errored = f"the run errored: {_plural(errors, 'error')}"
    if failing_checks or failing:
        state = "fail"
        text = f"{_plural(len(failing), 'finding')} in {_plural(len(impls), 'implementation')}"
        if errors:
            text += f"; {errored}"
    elif errors:
        state = "fail"
        text = f"{errored}, " + ("no checks ran" if n_checks == 0 else f"{totals[PASS]:,} checks passed")
    elif n_checks == 0:
        state, text = "empty", "no checks ran"
    else:
        state = "pass"
        text = f"all {totals[PASS]:,} checks passed"
    return {
        "state": state,
        "text": text,
        "breakdown": _breakdown(totals, known_ids),
        "n_checks": n_checks,
        "failing_checks": failing_checks,
        "n_errors": errors,
        "n_findings": len(failing),
        "n_known_findings": len(findings) - len(failing),
        "failing_implementations": impls,
        "totals": [{"status": s, "n": totals[s]} for s in STATUSES if totals[s]],
    }


# ---- known divergences, capabilities and coverage --------------------------------------------------


def _known_divergences(status_records: list[KnownDivergencesRecord]) -> list[dict]:
    """Merge the per-process status of each known divergence (xdist workers count separately)."""
    merged: dict[str, dict] = {}
    for record in status_records:
        for row in record.entries:
            entry = merged.get(str(row.id))
            if entry is None:
                merged[str(row.id)] = entry = {
                    "id": str(row.id), "implementations": [str(i) for i in row.implementations or []],
                    "min_matches": _int(row.min_matches) or 1, "matched": 0, "reproduced": 0, "hits": 0,
                    **dict.fromkeys(_KNOWN_TEXT_FIELDS, "")}
            for name in _KNOWN_TEXT_FIELDS:  # the first process that says it wins
                entry[name] = entry[name] or str(getattr(row, name) or "")
            entry["matched"] += _int(row.matched)
            entry["reproduced"] += _int(row.reproduced)
            entry["hits"] += _int(row.hits)
    for entry in merged.values():
        entry["state"] = entry_state(entry["matched"], entry["reproduced"], entry["hits"], entry["min_matches"],
                                     entry["classification"] == "precision")
        entry["hit_rate"] = f"{entry['hits'] / entry['matched']:.0%}" if entry["matched"] else "—"
        entry["upstream_link"] = _upstream_link(entry)
    return sorted(merged.values(), key=lambda e: e["id"])


def _upstream_link(entry: dict) -> dict[str, Any]:
    """The upstream report as a link when it is an http(s) URL, else the drafted report's path, else the text."""
    upstream, draft = entry["upstream"].strip(), entry["draft"].strip()
    if upstream.lower().startswith(("http://", "https://")):
        return {"href": upstream, "text": upstream, "draft": False}
    if draft:
        return {"href": None, "text": draft, "draft": True}
    return {"href": None, "text": upstream, "draft": False}


def _capabilities(cells: dict[tuple, _Cell]) -> list[dict]:
    where: dict[tuple, Counter] = defaultdict(Counter)  # (impl, reason) -> (op, device) -> checks
    for (impl, op, device), cell in cells.items():
        for reason, n in cell.reasons.items():
            where[(impl, reason)][(op, device)] += n
    rows = []
    for (impl, reason), places in sorted(where.items()):
        ops = {op for op, _ in places}
        rows.append({
            "implementation": impl,
            "reason": reason,
            "count": sum(places.values()),
            "ops": [op for op in ops_in_order(ops) if op in ops],
            "devices": sorted({device for _, device in places}),
        })
    return rows


def _feature_applies(feature: str, op: str) -> bool:
    """Whether an op family can have a feature at all (conv1d never has ndim=2)."""
    try:
        family = op_family(op)
    except ValueError:
        return True
    if feature.startswith("ndim="):
        return feature == f"ndim={family.ndim}"
    if feature in ("transposed", "output_padding>0"):
        return family.transposed
    if feature == "padding='same'":
        return not family.transposed
    if feature == "unequal spatial sizes":
        return family.ndim > 1
    return True


def _coverage(coverage: dict[str, Counter], examples_run: Counter) -> dict[str, Any]:
    ops = [op for op in ops_in_order(coverage.keys() | examples_run.keys()) if examples_run[op] or coverage.get(op)]
    features = list(FEATURES) + sorted({f for c in coverage.values() for f in c} - set(FEATURES))
    rows = []
    for feature in features:
        cells = []
        for op in ops:
            n = coverage.get(op, Counter())[feature]
            applies = _feature_applies(feature, op)
            share = n / examples_run[op] if examples_run[op] else None
            cells.append({"op": op, "n": n, "applies": applies, "gap": applies and n == 0, "share": share})
        total = sum(c["n"] for c in cells)
        rows.append({"feature": feature, "cells": cells, "total": total, "zero": total == 0})
    return {
        "ops": ops,
        "examples": [{"op": op, "n": examples_run[op]} for op in ops],
        "total_examples": sum(examples_run[op] for op in ops),
        "rows": rows,
        "zero_features": [r["feature"] for r in rows if r["zero"]],
    }


def _filter_options(matrix: dict, findings: list[dict]) -> dict[str, list[str]]:
    impls = {row["implementation"] for row in matrix["rows"]} | {f["implementation"] for f in findings}
    devices = {row["device"] for row in matrix["rows"]} | {f["device"] for f in findings}
    statuses = {s for row in matrix["rows"] for s in row["statuses"]} | {f["status"] for f in findings}
    ops = set(matrix["ops"]) | {op for f in findings for op in f["op_names"]}
    return {
        "implementation": sorted(impls),
        "op": [op for op in ops_in_order(ops) if op in ops],
        "device": sorted(devices),
        "status": [s for s in STATUSES if s in statuses],
    }
