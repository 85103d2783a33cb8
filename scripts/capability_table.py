"""Generate the README's capability table from the implementations' own `supports()` declarations.

    python scripts/capability_table.py            # print the table
    python scripts/capability_table.py --write    # replace it in README.md between the markers
    python scripts/capability_table.py --from-results reports/results*.jsonl --write

For each implementation and device, a fixed seeded sweep of configs per op family is asked
`supports(config, device)`; the table lists the share declared unsupported and each distinct reason.
With --from-results it is built from a run's records instead: what each implementation declared or
refused when called (TensorFlow's and ONNX Runtime's own refusals are found only by calling), per
check kind, with the share unsupported for each value of the new config axes.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START, END = "<!-- capabilities:start -->", "<!-- capabilities:end -->"


def _configs(op: str, count: int, seed: int) -> list:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed

    from conformance.strategies import conv_configs

    found = []

    @fixed_seed(seed)
    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(conv_configs(op=op))
    def collect(config):
        found.append(config)

    collect()
    return found


def sweep(per_op: int, seed: int):
    from conformance.strategies import OP_FAMILIES

    return {op: _configs(op, per_op, seed) for op in OP_FAMILIES}


def table(names, devices, per_op: int, seed: int) -> str:
    from conformance import get_implementation

    configs = sweep(per_op, seed)
    lines = ["| implementation | device | declared unsupported | reasons |", "|---|---|---|---|"]
    for name in names:
        impl = get_implementation(name)
        for device in devices:
            reasons, total = Counter(), 0
            for found in configs.values():
                for config in found:
                    total += 1
                    reason = impl.supports(config, device)
                    if reason:
                        reasons[re.sub(r"\s+", " ", str(reason))] += 1
            share = sum(reasons.values()) / total if total else 0
            text = "<br>".join(f"{r} ({n})" for r, n in reasons.most_common()) or "none"
            lines.append(f"| {name} | {device} | {share:.0%} of {total} | {text} |")
    return "\n".join(lines)


# Axis values whose share of unsupported examples the --from-results table shows.
AXIS_COLUMNS = (("reflect", lambda c: c.get("padding_mode") == "reflect"),
                ("replicate/circular", lambda c: c.get("padding_mode") in ("replicate", "circular")),
                ("channels_last", lambda c: c.get("memory_format") == "channels_last"),
                ("strided", lambda c: c.get("memory_format") == "strided"),
                ("unbatched", lambda c: c.get("batched") is False),
                ("C_in=0", lambda c: c.get("in_channels") == 0))


def table_from_results(paths, top: int = 3) -> str:
    from conformance.records import CheckRecord, read_records

    examples: dict = {}
    for record in read_records(paths).records:
        if not isinstance(record, CheckRecord) or record.phase != "generate" or record.check == "invalid_call":
            continue
        key = (record.implementation, record.device, record.test_id, record.data_seed, record.config_str)
        unsupported = record.status == "unsupported"
        seen = examples.setdefault(key, [record, False])
        seen[1] = seen[1] or unsupported
        if unsupported:
            seen[0] = record
    rows: dict = {}
    for (name, device, *_), (record, unsupported) in examples.items():
        row = rows.setdefault((name, device), {"total": 0, "unsupported": 0, "reasons": Counter(),
                                               "axis": {label: [0, 0] for label, _ in AXIS_COLUMNS}})
        row["total"] += 1
        row["unsupported"] += unsupported
        if unsupported:
            row["reasons"][re.sub(r"\s+", " ", str(record.reason or "?"))[:160]] += 1
        for label, test in AXIS_COLUMNS:
            if test(record.config):
                row["axis"][label][0] += 1
                row["axis"][label][1] += unsupported
    labels = [label for label, _ in AXIS_COLUMNS]
    lines = ["| implementation | device | unsupported | " + " | ".join(labels) + " | most frequent reasons |",
             "|---|---|---|" + "---|" * len(labels) + "---|"]
    for (name, device), row in sorted(rows.items()):
        share = row["unsupported"] / row["total"] if row["total"] else 0
        cells = [f"{u / n:.0%}" if n else "-" for n, u in (row["axis"][label] for label in labels)]
        text = "<br>".join(f"{r} ({n})" for r, n in row["reasons"].most_common(top)) or "none"
        lines.append(f"| {name} | {device} | {share:.0%} of {row['total']} | " + " | ".join(cells) + f" | {text} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    parser.add_argument("--per-op", type=int, default=100, help="configs per op family (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--devices", default="cpu")
    parser.add_argument("--from-results", nargs="+", metavar="RESULTS.jsonl", default=None,
                        help="build the table from a run's records (refusals found by calling included)")
    args = parser.parse_args()
    from conformance.registry import BUILTIN

    if args.from_results:
        text = table_from_results(args.from_results)
        note = ("Generated by `python scripts/capability_table.py --from-results reports/results*.jsonl --write` "
                "from a default `tox -e conformance` run: the share of drawn examples (every check kind but invalid "
                "calls) each implementation declared unsupported or refused when called, overall and among the "
                "examples with each value of the newer config axes, with its most frequent reasons.\n\n")
    else:
        text = table(list(BUILTIN), args.devices.split(","), args.per_op, args.seed)
        note = (f"Generated by `python scripts/capability_table.py --write` from each implementation's "
                f"`supports()` over {args.per_op} seeded configs per op family.\n\n")
    if not args.write:
        print(note + text)
        return 0
    readme = ROOT / "README.md"
    content = readme.read_text()
    if START not in content or END not in content:
        print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
        return 2
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{note}{text}\n{END}{tail}")
    print("README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
