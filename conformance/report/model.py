"""results.jsonl records -> the report's data model: plain, JSON-ready dicts and lists.

All aggregation happens here, so the page holds counts and one card per distinct finding rather
than every record (a 50,000-record run renders to a page of a few hundred kilobytes).

Counting rule: for each test (run_id, test_id) the "summary" line is the truth (it counts every
example, including those not written whole); a test without a summary (the one an interrupted run
was in) is counted from its "check" lines. Capabilities and coverage follow the same rule.

A finding is a group of non-pass, non-unsupported check records sharing (implementation, op,
device, status, kind, check): a thousand examples of one bug are one card with a count, shown by
its smallest config (size = product of the input and weight shapes, then the config string).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable

from ..config import ConvConfig, InvalidConfig
from ..coverage import FEATURES, features_of

__all__ = [
    "CHECK_LABELS",
    "FAILING",
    "MAX_MALFORMED_SHOWN",
    "OP_FAMILIES",
    "STATUSES",
    "build_model",
    "heat_class",
]

STATUSES = ("pass", "mismatch", "error", "crash", "timeout", "unsupported", "known")
FAILING = ("mismatch", "error", "crash", "timeout")
OP_FAMILIES = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
CHECK_LABELS = {
    "forward": "forward",
    "grad_input": "grad w.r.t. input",
    "grad_weight": "grad w.r.t. weight",
    "grad_bias": "grad w.r.t. bias",
    "gradient": "gradient (the whole VJP call)",
}
MAX_MALFORMED_SHOWN = 20
# Default card order: the worse the status, the earlier; "known" divergences go last.
_STATUS_RANK = {"crash": 5, "error": 4, "timeout": 3, "mismatch": 2, "known": 1}
_SEVERITY_UNBOUNDED = 1e308
_STATS_FIELDS = (
    "max_abs_error", "max_error_in_bounds", "n_beyond", "n_elements", "share_beyond", "worst_index",
    "worst_value", "worst_expected", "worst_bound", "nonfinite", "shape_seen", "shape_expected",
)
# Heatmap colour classes by |error| / bound: neutral at or under the bound, warm beyond it.
HEAT_LEGEND = (
    ("h0", "≤ 0.1 × bound"),
    ("h1", "0.1 – 1 × bound"),
    ("h2", "1 – 10 × bound"),
    ("h3", "10 – 100 × bound"),
    ("h4", "100 – 1000 × bound"),
    ("h5", "> 1000 × bound"),
    ("hn", "NaN / Inf"),
)


def build_model(read_result: Any, *, title: str | None = None, sources: Iterable[str] = ()) -> dict[str, Any]:
    """Aggregate a `conformance.records.ReadResult` into the report model.

    - read_result: has `.records` (dicts with a "type") and `.malformed` ((file, line, why) tuples).
    - title: the page title; defaults to "Convolution conformance report".
    - sources: the files read, shown in the header.
    """
    records = read_result.records
    by_type: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_type[str(record.get("type"))].append(record)
    checks = by_type.get("check", [])
    summaries = {_test_key(s): s for s in by_type.get("summary", [])}  # the last summary wins

    tally = _tally(checks, summaries)
    findings = _findings(checks)
    matrix = _matrix(tally["cells"], findings)
    model = {
        "title": title or "Convolution conformance report",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sources": [str(s) for s in sources],
        "n_records": len(records),
        "n_check_records": len(checks),
        "run": _run_info(by_type.get("run", []), by_type.get("run_end", []), records),
        "verdict": _verdict(tally["cells"], findings),
        "matrix": matrix,
        "findings": findings,
        "capabilities": _capabilities(tally["unsupported"]),
        "known_divergences": _known_divergences(by_type.get("known_divergences", [])),
        "coverage": _coverage(tally["coverage"], tally["examples"]),
        "malformed": {
            "count": len(read_result.malformed),
            "shown": [{"file": f, "line": n, "why": why} for f, n, why in read_result.malformed[:MAX_MALFORMED_SHOWN]],
        },
        "heat_legend": [{"cls": c, "label": label} for c, label in HEAT_LEGEND],
        "check_labels": CHECK_LABELS,
    }
    model["filters"] = _filter_options(matrix, findings)
    return model


# ---- counting -----------------------------------------------------------------------------------


def _test_key(record: dict) -> tuple[str, str]:
    return (str(record.get("run_id", "")), str(record.get("test_id", "")))


def _where(record: dict) -> tuple[str, str, str]:
    return (str(record.get("implementation", "?")), str(record.get("op", "?")), str(record.get("device", "?")))


def _tally(checks: list[dict], summaries: dict[tuple, dict]) -> dict[str, Any]:
    """Counts per (implementation, op, device); unsupported reasons; coverage per op family."""
    cells: dict[tuple, Counter] = defaultdict(Counter)
    unsupported: dict[tuple, Counter] = defaultdict(Counter)  # (impl, reason) -> Counter(op/device)
    coverage: dict[str, Counter] = defaultdict(Counter)
    examples: Counter = Counter()

    for summary in summaries.values():
        impl, op, device = _where(summary)
        for per_status in _dict(summary.get("counts")).values():
            for status, n in _dict(per_status).items():
                cells[(impl, op, device)][str(status)] += _int(n)
        for reason, n in _dict(summary.get("unsupported_reasons")).items():
            unsupported[(impl, str(reason))][(op, device)] += _int(n)
        for feature, n in _dict(summary.get("coverage")).items():
            coverage[op][str(feature)] += _int(n)
        examples[op] += _int(summary.get("examples"))

    seen_examples: set[tuple] = set()
    for record in checks:
        if _test_key(record) in summaries:
            continue
        impl, op, device = _where(record)
        status = str(record.get("status"))
        cells[(impl, op, device)][status] += 1
        if status == "unsupported":
            unsupported[(impl, str(record.get("reason") or "no reason given"))][(op, device)] += 1
        example = (*_test_key(record), record.get("config_str"), record.get("data_seed"), record.get("value_profile"))
        if example in seen_examples:
            continue
        seen_examples.add(example)
        examples[op] += 1
        config = _config(record)
        if config is not None:
            coverage[op].update(features_of(config))
    return {"cells": cells, "unsupported": unsupported, "coverage": coverage, "examples": examples}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _config(record: dict) -> ConvConfig | None:
    try:
        return ConvConfig.from_dict(record.get("config"))
    except (InvalidConfig, TypeError, ValueError):
        return None


# ---- matrix and verdict ---------------------------------------------------------------------------


def _cell_state(counts: Counter) -> str:
    if any(counts[s] for s in FAILING):
        return "fail"
    if counts["known"]:
        return "known"
    if counts["pass"]:
        return "pass"
    if counts["unsupported"]:
        return "unsupported"
    return "empty"


def _ops_in_order(ops: Iterable[str]) -> list[str]:
    extra = sorted(set(ops) - set(OP_FAMILIES))
    return list(OP_FAMILIES) + extra


def _matrix(cells: dict[tuple, Counter], findings: list[dict]) -> dict[str, Any]:
    first_finding: dict[tuple, str] = {}
    for finding in findings:
        first_finding.setdefault((finding["implementation"], finding["op"], finding["device"]), finding["id"])
    ops = _ops_in_order(op for _, op, _ in cells)
    rows = []
    for impl, device in sorted({(i, d) for i, _, d in cells}):
        row_cells = []
        for op in ops:
            counts = cells.get((impl, op, device), Counter())
            shown = [{"status": s, "n": counts[s]} for s in STATUSES if counts[s]]
            row_cells.append({
                "op": op,
                "state": _cell_state(counts),
                "counts": shown,
                "total": sum(counts.values()),
                "finding": first_finding.get((impl, op, device)),
            })
        statuses = sorted({c["status"] for cell in row_cells for c in cell["counts"]})
        rows.append({"implementation": impl, "device": device, "cells": row_cells, "statuses": statuses})
    return {"ops": ops, "rows": rows}


def _verdict(cells: dict[tuple, Counter], findings: list[dict]) -> dict[str, Any]:
    totals: Counter = Counter()
    for counts in cells.values():
        totals.update(counts)
    failing_checks = sum(totals[s] for s in FAILING)
    failing = [f for f in findings if f["status"] in FAILING]
    impls = sorted({f["implementation"] for f in failing} | {i for (i, _, _), c in cells.items() if any(c[s] for s in FAILING)})
    n_checks = sum(totals.values())
    if failing_checks or failing:
        state = "fail"
        n = len(failing)
        text = f"{n} finding{'s' * (n != 1)} in {len(impls)} implementation{'s' * (len(impls) != 1)}"
    elif n_checks == 0:
        state, text = "empty", "no checks ran"
    else:
        state = "pass"
        text = f"all {totals['pass']:,} checks passed"
    return {
        "state": state,
        "text": text,
        "n_checks": n_checks,
        "failing_checks": failing_checks,
        "n_findings": len(failing),
        "n_known_findings": len(findings) - len(failing),
        "failing_implementations": impls,
        "totals": [{"status": s, "n": totals[s]} for s in STATUSES if totals[s]],
    }


# ---- findings ------------------------------------------------------------------------------------


def _size_key(record: dict) -> tuple[float, str]:
    config = _config(record)
    text = str(record.get("config_str") or "")
    if config is None:
        return (math.inf, text)
    return (math.prod(config.input_shape) * math.prod(config.weight_shape), text)


def _error_in_bounds(record: dict) -> float | None:
    value = _dict(record.get("stats")).get("max_error_in_bounds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _findings(checks: list[dict]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    failures_on_config: dict[tuple, list] = defaultdict(list)
    for record in checks:
        status = str(record.get("status"))
        if status in ("pass", "unsupported"):
            continue
        impl, op, device = _where(record)
        kind = record.get("kind")
        check = str(record.get("check", "?"))
        failures_on_config[(impl, device, record.get("config_str"))].append((check, status, kind))
        key = (impl, op, device, status, kind, check)
        group = groups.get(key)
        # Hypothesis' final, shrunk example (marked minimal, with its consensus) first; else the smallest.
        size = (0 if record.get("minimal") else 1, _size_key(record))
        err = _error_in_bounds(record)
        if group is None:
            groups[key] = group = {"count": 0, "minimal": record, "size": size, "worst": record, "err": err, "tests": set()}
        group["count"] += 1
        group["tests"].add(str(record.get("test_id", "")))
        if size < group["size"]:
            group["minimal"], group["size"] = record, size
        if err is not None and (group["err"] is None or _gt(err, group["err"])):
            group["worst"], group["err"] = record, err

    cards = [_card(key, group, failures_on_config) for key, group in groups.items()]
    cards.sort(key=lambda c: (-c["rank"], -c["severity"], -c["count"], c["title"]))
    for number, card in enumerate(cards, start=1):
        card["id"] = f"f{number}"
    return cards


def _gt(a: float, b: float) -> bool:
    """a > b with NaN counted as the largest error."""
    if math.isnan(a):
        return not math.isnan(b)
    return a > b


def _card(key: tuple, group: dict, failures_on_config: dict) -> dict[str, Any]:
    impl, op, device, status, kind, check = key
    record = group["minimal"]
    err = group["err"]
    # Shape and non-finite mismatches, crashes, errors and timeouts have no finite error size:
    # they sort above every finite mismatch of the same status (JSON has no Infinity: 1e308).
    if err is not None and math.isfinite(err):
        severity = err
    else:
        severity = -1.0 if status == "known" and err is None else _SEVERITY_UNBOUNDED
    heat_record = record if record.get("heatmap") else group["worst"]
    config = record.get("config")
    on_config = sorted(set(failures_on_config[(impl, device, record.get("config_str"))]), key=lambda t: (str(t[0]), str(t[1])))
    how = f"{kind} mismatch" if status == "mismatch" and kind else status
    return {
        "implementation": impl,
        "op": op,
        "device": device,
        "status": status,
        "kind": kind,
        "check": check,
        "check_label": CHECK_LABELS.get(check, check),
        "title": f"{impl} {op} on {device}: {CHECK_LABELS.get(check, check)} — {how}",
        "count": group["count"],
        "n_tests": len(group["tests"]),
        "rank": _STATUS_RANK.get(status, 0),
        "severity": severity,
        "max_error_in_bounds": _finite_or_text(err),
        "config_str": str(record.get("config_str") or ""),
        "config_json": json.dumps(config, indent=2, sort_keys=True, default=str),
        "test_id": str(record.get("test_id", "")),
        "value_profile": record.get("value_profile"),
        "data_seed": record.get("data_seed"),
        "arithmetic": _dict(record.get("arithmetic")).get("label"),
        "message": record.get("message"),
        "detail": record.get("detail"),
        "repro": record.get("repro"),
        "known_id": record.get("known_id"),
        "stats": _stats(record.get("stats")),
        "failing_checks_on_config": [
            {"check": c, "label": CHECK_LABELS.get(c, c), "status": s, "kind": k} for c, s, k in on_config
        ],
        "consensus": _consensus(record, impl, status),
        "heatmap": _heatmap(heat_record.get("heatmap"), heat_record if heat_record is not record else None),
    }


def _finite_or_text(value: Any) -> Any:
    """JSON has no NaN or Infinity: carry them as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _stats(stats: Any) -> dict[str, Any] | None:
    stats = _dict(stats)
    if not stats:
        return None
    out = dict.fromkeys(_STATS_FIELDS)  # every field present, so the template needs no guards
    out.update({str(k): (v if isinstance(v, list) else _finite_or_text(v)) for k, v in stats.items()})
    return out


def _consensus(record: dict, impl: str, status: str) -> list[dict]:
    verdicts = {str(k): str(v) for k, v in _dict(record.get("consensus")).items()}
    verdicts.setdefault(impl, status)
    majority = Counter(verdicts.values()).most_common()
    top = majority[0][0] if majority and (len(majority) == 1 or majority[0][1] > majority[1][1]) else None
    return [
        {"implementation": name, "status": verdict, "is_subject": name == impl, "odd": top is not None and verdict != top}
        for name, verdict in sorted(verdicts.items())
    ]


def heat_class(ratio: Any) -> str:
    """The colour class of one heatmap cell, from |error| / bound (see HEAT_LEGEND)."""
    if ratio is None or isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        return "hx"
    if not math.isfinite(ratio):
        return "hn"
    if ratio <= 0.1:
        return "h0"
    if ratio <= 1:
        return "h1"
    return "h" + str(min(5, 2 + int(math.floor(math.log10(ratio) - 1e-12))))


def _heatmap(heatmap: Any, other_record: dict | None) -> dict[str, Any] | None:
    """Run-length encoded rects (x, y, width, class) per row, plus rounded values for tooltips."""
    heatmap = _dict(heatmap)
    values = heatmap.get("values")
    if not isinstance(values, list) or not values or not all(isinstance(row, list) for row in values):
        return None
    rows, cols = len(values), max(len(row) for row in values)
    rects, flat, beyond, worst = [], [], 0, None
    for y, row in enumerate(values):
        start, current = 0, None
        for x in range(cols):
            value = row[x] if x < len(row) else None
            cls = heat_class(value)
            flat.append(_round(value))
            if cls not in ("h0", "h1", "hx"):
                beyond += 1
            if isinstance(value, (int, float)) and (worst is None or _gt(float(value), worst)):
                worst = float(value)
            if cls != current:
                if current is not None:
                    rects.append([start, y, x - start, current])
                start, current = x, cls
        rects.append([start, y, cols - start, current])
    cell = max(4, min(32, 400 // max(rows, cols)))  # small maps drawn larger, 48 x 48 fits 400 px
    return {
        "rows": rows,
        "cols": cols,
        "axes": str(heatmap.get("axes") or ""),
        "rects": rects,
        "values": flat,
        "cell": cell,
        "width": cols * cell,
        "height": rows * cell,
        "beyond": beyond,
        "worst": _finite_or_text(worst),
        "of_config": str(other_record.get("config_str") or "") if other_record else None,
    }


def _round(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return str(value)
    return float(f"{value:.3g}")


# ---- capabilities and coverage ---------------------------------------------------------------------


def _known_divergences(status_records: list[dict]) -> list[dict]:
    """Merge the per-process status of each known divergence (xdist workers count separately)."""
    merged: dict[str, dict] = {}
    for record in status_records:
        for row in record.get("entries") or []:
            if not isinstance(row, dict) or "id" not in row:
                continue
            entry = merged.setdefault(str(row["id"]), dict(row, matched=0, reproduced=0))
            entry["matched"] += _int(row.get("matched"))
            entry["reproduced"] += _int(row.get("reproduced"))
    for entry in merged.values():
        needed = _int(entry.get("min_matches")) or 1
        if entry["reproduced"]:
            entry["state"] = "reproduced"
        elif not entry["matched"]:
            entry["state"] = "matched nothing in this run"
        elif entry["matched"] < needed:
            entry["state"] = f"not reproduced in {entry['matched']} matching examples (too few to tell)"
        else:
            entry["state"] = "fixed upstream?"
    return sorted(merged.values(), key=lambda e: e["id"])


def _capabilities(unsupported: dict[tuple, Counter]) -> list[dict]:
    rows = []
    for (impl, reason), where in sorted(unsupported.items()):
        rows.append({
            "implementation": impl,
            "reason": reason,
            "count": sum(where.values()),
            "ops": _ops_in_order_present({op for op, _ in where}),
            "devices": sorted({device for _, device in where}),
        })
    return rows


def _ops_in_order_present(ops: set[str]) -> list[str]:
    return [op for op in _ops_in_order(ops) if op in ops]


def _feature_applies(feature: str, op: str) -> bool:
    """Whether an op family can have a feature at all (conv1d never has ndim=2)."""
    if not op.startswith("conv") or not op[-2:-1].isdigit():
        return True
    ndim, transposed = int(op[-2]), "transpose" in op
    if feature.startswith("ndim="):
        return feature == f"ndim={ndim}"
    if feature in ("transposed", "output_padding>0"):
        return transposed
    if feature == "padding='same'":
        return not transposed
    if feature == "unequal spatial sizes":
        return ndim > 1
    return True


def _coverage(coverage: dict[str, Counter], examples: Counter) -> dict[str, Any]:
    ops = [op for op in _ops_in_order(coverage.keys() | examples.keys()) if examples[op] or coverage.get(op)]
    features = list(FEATURES) + sorted({f for c in coverage.values() for f in c} - set(FEATURES))
    rows = []
    for feature in features:
        cells = []
        for op in ops:
            n = coverage.get(op, Counter())[feature]
            applies = _feature_applies(feature, op)
            share = n / examples[op] if examples[op] else None
            cells.append({"op": op, "n": n, "applies": applies, "gap": applies and n == 0, "share": share})
        total = sum(c["n"] for c in cells)
        rows.append({"feature": feature, "cells": cells, "total": total, "zero": total == 0})
    return {
        "ops": ops,
        "examples": [{"op": op, "n": examples[op]} for op in ops],
        "total_examples": sum(examples[op] for op in ops),
        "rows": rows,
        "zero_features": [r["feature"] for r in rows if r["zero"]],
    }


def _filter_options(matrix: dict, findings: list[dict]) -> dict[str, list[str]]:
    impls = {row["implementation"] for row in matrix["rows"]} | {f["implementation"] for f in findings}
    devices = {row["device"] for row in matrix["rows"]} | {f["device"] for f in findings}
    statuses = {s for row in matrix["rows"] for s in row["statuses"]} | {f["status"] for f in findings}
    return {
        "implementation": sorted(impls),
        "op": matrix["ops"],
        "device": sorted(devices),
        "status": [s for s in STATUSES if s in statuses],
    }


# ---- run information ---------------------------------------------------------------------------


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _unique(values: Iterable[Any]) -> list[Any]:
    seen, out = set(), []
    for value in values:
        if value is None or value == "" or value == []:
            continue
        marker = json.dumps(value, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            out.append(value)
    return out


def _run_info(runs: list[dict], ends: list[dict], records: list[dict]) -> dict[str, Any]:
    """Merge the run lines of every process (xdist workers, CPU and GPU runs) into one header."""
    ended = {(str(e.get("run_id")), str(e.get("worker"))): e for e in ends}
    intervals, processes = [], []
    for run in runs:
        end = ended.get((str(run.get("run_id")), str(run.get("worker"))))
        start = _parse_time(run.get("started"))
        finish = _parse_time(end.get("finished")) if end else None
        if start and finish is None and end and isinstance(end.get("duration_s"), (int, float)):
            finish = datetime.fromtimestamp(start.timestamp() + end["duration_s"], timezone.utc)
        if start and finish:
            intervals.append((start, finish))
        processes.append({
            "run_id": run.get("run_id"),
            "worker": run.get("worker"),
            "started": run.get("started"),
            "devices": run.get("devices") or [],
            "duration_s": end.get("duration_s") if end else None,
            "exitstatus": end.get("exitstatus") if end else None,
            "state": ("interrupted" if end.get("interrupted") else "finished") if end else "no run_end (killed?)",
        })
    if not intervals:  # every process was killed: the span of the records' own timestamps
        times = [t for t in (_parse_time(r.get("time")) for r in records) if t]
        starts = [t for t in (_parse_time(r.get("started")) for r in runs) if t]
        if times or starts:
            intervals.append((min(starts + times), max(starts + times)))
    versions: dict[str, list] = defaultdict(list)
    settings: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for lib, version in _dict(run.get("versions")).items():
            versions[str(lib)].append(version)
        for impl, values in _dict(run.get("settings")).items():
            for name, value in _dict(values).items():
                settings[str(impl)][str(name)].append(value)
    starts = [s for s, _ in intervals]
    complete = bool(runs) and all(p["state"] == "finished" for p in processes)
    return {
        "n_processes": len(runs),
        "run_ids": _unique(r.get("run_id") for r in runs),
        "started": min(starts).strftime("%Y-%m-%d %H:%M UTC") if starts else None,
        "duration_s": _busy_seconds(intervals),
        "hypothesis_profiles": _unique(r.get("hypothesis_profile") for r in runs),
        "seeds": _unique(r.get("seed") for r in runs),
        "devices": _unique(d for r in runs for d in (r.get("devices") or [])),
        "precision_modes": _unique(r.get("precision_mode") for r in runs),
        "implementations": _unique(i for r in runs for i in (r.get("implementations") or [])),
        "versions": [{"library": lib, "versions": _unique(v)} for lib, v in sorted(versions.items())],
        "settings": [
            {"implementation": impl, "name": name, "values": _unique(values)}
            for impl, named in sorted(settings.items())
            for name, values in sorted(named.items())
        ],
        "argv": _unique(" ".join(map(str, r.get("argv") or [])) for r in runs),
        "processes": processes,
        "complete": complete,
        "interrupted": any(p["state"] == "interrupted" for p in processes),
        "missing_end": sum(p["state"].startswith("no run_end") for p in processes),
    }


def _busy_seconds(intervals: list[tuple[datetime, datetime]]) -> float | None:
    """Length of the union of the processes' intervals: parallel workers overlap, separate runs add."""
    if not intervals:
        return None
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    total += (current_end - current_start).total_seconds()
    return total
