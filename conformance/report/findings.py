"""Finding cards: the check records that did not pass, one card per distinct divergence.

Grouping rule (one card = one "shape of cause"): non-pass, non-unsupported check records of the
same implementation, device, result checked (`check`), status, mismatch kind and known divergence
id are one card, whatever op family they came from. A known card is one known divergence (its
known_id); a failing card has no known_id, so the rule is then the same (implementation, device,
check, status, kind) in every op family: an implementation whose conv1d and conv2d both produce
value mismatches in grad w.r.t. weight gets one card listing both op families with a count each.
The card is shown on its smallest config: Hypothesis' shrunk example (phase "final", or marked
minimal) first, else the smallest drawn example (size = input elements x weight elements, then the
config string).

Counting: a card counts examples, i.e. records of phase "generate" (drawn by Hypothesis) and
"final" (the shrunk example, once: a final that repeats a drawn example is not counted twice).
Replays made while shrinking (phase "shrink") are counted apart as shrink replays, and only stand in
for the config shown when a divergence was seen in nothing else. Records of phase "consensus"
(another implementation replayed on a failing example) make no card: the failing record carries
their verdicts in `consensus`.

Consensus: the card lists each implementation's verdict on its config, except that frameworks not
installed on the machine are one list (`consensus_not_installed`). A verdict is marked the odd one
out only when a strict majority of the implementations that ran (neither unsupported nor not
installed) agree on another verdict: with no such majority (two that ran, or every one different)
nothing is marked.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..config import ConvConfig, InvalidConfig
from ..records import CheckRecord
from ..vocabulary import KNOWN, MISMATCH, NOT_INSTALLED, OP_NAMES, PASS, RESULT_LABELS, UNSUPPORTED

__all__ = ["HEAT_LEGEND", "GENERATE", "SHRINK", "FINAL", "CONSENSUS", "NOT_INSTALLED", "build_findings", "config_of",
           "example_key", "heat_class", "how_it_failed", "ops_in_order", "result_label"]

GENERATE, SHRINK, FINAL, CONSENSUS = "generate", "shrink", "final", "consensus"
# Verdicts of implementations that did not run the call: they neither form a majority nor stand out.
_DID_NOT_RUN = (UNSUPPORTED, NOT_INSTALLED)
# Default card order: the worse the status, the earlier; "known" divergences go last.
_STATUS_RANK = {"crash": 5, "error": 4, "timeout": 3, MISMATCH: 2, KNOWN: 1}
_SEVERITY_UNBOUNDED = 1e308
_STATS_FIELDS = (
    "max_abs_error", "max_error_in_bounds", "n_beyond", "n_elements", "share_beyond", "worst_index",
    "worst_value", "worst_expected", "worst_bound", "nonfinite", "shape_seen", "shape_expected",
)
# How a mismatch of each kind (conformance.vocabulary.MISMATCH_KINDS) reads in a card's title;
# {output} is the declared output format. A kind missing here reads "<kind> mismatch".
_MISMATCH_LABELS = {
    "shape": "shape mismatch",
    "nonfinite": "nonfinite mismatch",
    "value": "value mismatch",
    "dtype": "result not in {output}",
    "accepted": "accepts an invalid call",
}
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


def result_label(check: str) -> str:
    """"grad_weight" -> "grad w.r.t. weight"; a name the vocabulary does not know is shown as itself."""
    return RESULT_LABELS.get(check, check)


def how_it_failed(record: CheckRecord) -> str:
    """"value mismatch", "result not in bfloat16", "crash", ...: the status, with the mismatch kind."""
    if record.status != MISMATCH or not record.kind:
        return record.status
    label = _MISMATCH_LABELS.get(record.kind, f"{record.kind} mismatch")
    return label.format(output=_output_format(record))


def _output_format(record: CheckRecord) -> str:
    declared = (record.arithmetic or {}).get("output") or record.config.get("dtype")
    return str(declared or "the declared output format")


def ops_in_order(ops) -> list[str]:
    """Every op family of the vocabulary in its order, then any other name seen, sorted."""
    return list(OP_NAMES) + sorted(set(ops) - set(OP_NAMES))


def example_key(record: CheckRecord) -> tuple:
    """What identifies one example of one test: the config and the data drawn for it."""
    return (record.run_id, record.test_id, record.config_str, record.data_seed, record.value_profile)


def config_of(record: CheckRecord) -> ConvConfig | None:
    try:
        return ConvConfig.from_dict(record.config)
    except (InvalidConfig, TypeError, ValueError, KeyError):
        return None


# ---- grouping -----------------------------------------------------------------------------------


@dataclass
class _Group:
    """The records of one card as they are read."""

    examples: Counter = field(default_factory=Counter)  # op -> examples
    shrink_replays: Counter = field(default_factory=Counter)  # op -> replays while shrinking
    tests: set = field(default_factory=set)
    counted: set = field(default_factory=set)  # example keys already counted
    minimal: CheckRecord | None = None
    minimal_key: tuple = ()
    worst: CheckRecord | None = None
    worst_key: tuple = ()


def _group_key(record: CheckRecord) -> tuple:
    return (record.implementation, record.device, record.check, record.status, record.kind, record.known_id)


def build_findings(checks: list[CheckRecord], *, scripts: bool = True) -> list[dict[str, Any]]:
    """One card per group (see the module docstring), worst first, with ids "f1", "f2", ...

    - scripts: make each card's standalone reproducer (False: "standalone" is None, for a caller
      that shows only the repro command).
    """
    groups: dict[tuple, _Group] = {}
    failures_on_config: dict[tuple, set] = defaultdict(set)
    for record in checks:
        # The regression corpus reproduces upstream's known bugs: its own table, never a finding.
        if record.status in (PASS, UNSUPPORTED) or record.phase in (CONSENSUS, "regression"):
            continue
        failures_on_config[(record.implementation, record.device, record.config_str)].add(
            (record.check, record.status, record.kind))
        group = groups.setdefault(_group_key(record), _Group())
        _add(group, record)
    cards = [_card(group, failures_on_config, scripts) for group in groups.values()]
    cards.sort(key=lambda c: (-c["rank"], -c["severity"], -c["count"], c["title"]))
    for number, card in enumerate(cards, start=1):
        card["id"] = f"f{number}"
    return cards


def _add(group: _Group, record: CheckRecord) -> None:
    is_example = record.phase != SHRINK
    if not is_example:
        group.shrink_replays[record.op] += 1
    else:
        key = example_key(record)
        if record.phase != FINAL or key not in group.counted:
            group.examples[record.op] += 1
            group.counted.add(key)
    group.tests.add(record.test_id)
    # Hypothesis' shrunk example first, then the smallest drawn one; a shrink replay only stands in.
    tier = 0 if record.phase == FINAL or record.minimal else (1 if is_example else 2)
    minimal_key = (tier, _size_key(record))
    if group.minimal is None or minimal_key < group.minimal_key:
        group.minimal, group.minimal_key = record, minimal_key
    err = _error_in_bounds(record)
    if err is not None:
        worst_key = (is_example, err)
        if group.worst is None or _worse(worst_key, group.worst_key):
            group.worst, group.worst_key = record, worst_key


def _worse(a: tuple[bool, float], b: tuple[bool, float]) -> bool:
    """Whether error a ranks above b: examples above shrink replays, then the larger error (NaN largest)."""
    if a[0] != b[0]:
        return a[0]
    return _gt(a[1], b[1])


def _gt(a: float, b: float) -> bool:
    """a > b with NaN counted as the largest error."""
    if math.isnan(a):
        return not math.isnan(b)
    return a > b


def _size_key(record: CheckRecord) -> tuple[float, str]:
    config = config_of(record)
    if config is None:
        return (math.inf, record.config_str)
    return (math.prod(config.input_shape) * math.prod(config.weight_shape), record.config_str)


def _error_in_bounds(record: CheckRecord) -> float | None:
    value = (record.stats or {}).get("max_error_in_bounds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


# ---- one card -----------------------------------------------------------------------------------


def _card(group: _Group, failures_on_config: dict, scripts: bool) -> dict[str, Any]:
    record = group.minimal
    impl, device, status, check = record.implementation, record.device, record.status, record.check
    err = group.worst_key[1] if group.worst is not None else None
    # Shape and non-finite mismatches, crashes, errors and timeouts have no finite error size:
    # they sort above every finite mismatch of the same status (JSON has no Infinity: 1e308).
    if err is not None and math.isfinite(err):
        severity = err
    else:
        severity = -1.0 if status == KNOWN and err is None else _SEVERITY_UNBOUNDED
    heat_record = record if record.heatmap or group.worst is None else group.worst
    present = set(group.examples) | set(group.shrink_replays)
    ops = [{"op": op, "examples": group.examples[op], "shrink_replays": group.shrink_replays[op]}
           for op in ops_in_order(present) if op in present]
    op_names = [o["op"] for o in ops]
    on_config = sorted(failures_on_config[(impl, device, record.config_str)], key=lambda t: (str(t[0]), str(t[1])))
    label = result_label(check)
    how = how_it_failed(record)
    verdicts = _verdicts(record)
    return {
        "implementation": impl,
        "op": record.op,
        "ops": ops,
        "op_names": op_names,
        "device": device,
        "status": status,
        "kind": record.kind,
        "how": how,
        "check": check,
        "check_label": label,
        "title": f"{impl} · {', '.join(op_names)} · {device} — {label}: {how}",
        "count": sum(group.examples.values()),
        "shrink_replays": sum(group.shrink_replays.values()),
        "n_tests": len(group.tests),
        "rank": _STATUS_RANK.get(status, 0),
        "severity": severity,
        "max_error_in_bounds": _finite_or_text(err),
        "config_str": record.config_str,
        "config_json": json.dumps(record.config, indent=2, sort_keys=True, default=str),
        "phase": record.phase,
        "test_id": record.test_id,
        "value_profile": record.value_profile,
        "data_seed": record.data_seed,
        "arithmetic": (record.arithmetic or {}).get("label"),
        "message": record.message,
        "detail": record.detail,
        "repro": record.repro,
        "standalone": _standalone(record) if scripts else None,
        "known_id": record.known_id,
        "stats": _stats(record.stats),
        "failing_checks_on_config": [
            {"check": c, "label": result_label(c), "status": s, "kind": k} for c, s, k in on_config
        ],
        "consensus": _consensus(verdicts, impl),
        "consensus_not_installed": sorted(name for name, verdict in verdicts.items() if verdict == NOT_INSTALLED),
        "heatmap": _heatmap(heat_record.heatmap, heat_record if heat_record is not record else None),
    }


def _standalone(record: CheckRecord) -> dict[str, Any] | None:
    """The card's standalone reproducer (conformance.standalone): made here, for findings only."""
    from ..standalone import script_for_record

    try:
        script = script_for_record(record)
    except Exception as err:  # one card's script must not cost the page; the card says why it has none
        return {"text": "", "unsupported": f"not generated: {type(err).__name__}: {err}"}
    if script is None:
        return None
    return {"text": script.text, "unsupported": script.unsupported}


def _finite_or_text(value: Any) -> Any:
    """JSON has no NaN or Infinity: carry them as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _stats(stats: dict | None) -> dict[str, Any] | None:
    if not stats:
        return None
    out = dict.fromkeys(_STATS_FIELDS)  # every field present, so the template needs no guards
    out.update({str(k): (v if isinstance(v, list) else _finite_or_text(v)) for k, v in stats.items()})
    return out


def _verdicts(record: CheckRecord) -> dict[str, str]:
    """implementation -> verdict on the record's example, the record's own implementation included."""
    verdicts = {str(k): str(v) for k, v in record.consensus.items()}
    verdicts.setdefault(record.implementation, record.status)
    return verdicts


def _consensus(verdicts: dict[str, str], subject: str) -> list[dict]:
    """One row per implementation that is installed, sorted by name (see the module docstring)."""
    majority = _majority_verdict([v for v in verdicts.values() if v not in _DID_NOT_RUN])
    return [
        {"implementation": name, "status": verdict, "is_subject": name == subject,
         "odd": majority is not None and verdict not in _DID_NOT_RUN and verdict != majority}
        for name, verdict in sorted(verdicts.items()) if verdict != NOT_INSTALLED
    ]


def _majority_verdict(verdicts: list[str]) -> str | None:
    """The verdict of more than half of `verdicts`, or None when no verdict has that many."""
    if not verdicts:
        return None
    verdict, count = Counter(verdicts).most_common(1)[0]
    return verdict if 2 * count > len(verdicts) else None


# ---- heatmap ------------------------------------------------------------------------------------


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


def _heatmap(heatmap: dict | None, other_record: CheckRecord | None) -> dict[str, Any] | None:
    """Run-length encoded rects (x, y, width, class) per row, plus rounded values for tooltips."""
    values = (heatmap or {}).get("values")
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
        "of_config": other_record.config_str if other_record else None,
    }


def _round(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return str(value)
    return float(f"{value:.3g}")
