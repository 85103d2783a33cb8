"""How much of a run's budget went to calls an implementation refused (status "unsupported").

    python benchmarks/unsupported.py reports            # a run's report directory
    python benchmarks/unsupported.py reports --reasons  # with each implementation's top reasons

Counted from the runs' summary records (one per test; the check records are capped per test), over
the drawn examples (phase "generate") of every test that ran, invalid calls included:

- checks: one per result of an example (a gradient example gives grad_input, grad_weight, grad_bias);
- per implementation, the share of its drawn examples on which at least one check ran.

The targets of issue #32: unsupported under 5% of checks; every implementation runs at least 90%
of the examples drawn for it. It also counts the witness calls of the declared gaps (phase
"explicit", example "declared gap: ...", written before a test's drawn examples, so never capped)
and the seconds they spent inside the implementations.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

__all__ = ["analyse_unsupported", "witness_calls", "UNSUPPORTED_SHARE_TARGET", "RUN_SHARE_TARGET"]

UNSUPPORTED_SHARE_TARGET = 0.05
RUN_SHARE_TARGET = 0.90


def _records(report_dir: Path):
    for path in sorted(report_dir.glob("results*.jsonl")):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


def _summaries(report_dir: Path):
    return (r for r in _records(report_dir) if r.get("type") == "summary" and not r.get("skipped"))


def witness_calls(report_dir: Path) -> dict:
    """{"calls", "seconds", "failed"} of the declared gaps' witness calls in a run."""
    found = {"calls": 0, "seconds": 0.0, "failed": 0}
    for record in _records(report_dir):
        if record.get("type") == "check" and str(record.get("example") or "").startswith("declared gap:"):
            found["calls"] += 1
            found["seconds"] += record.get("seconds") or 0.0
            found["failed"] += record.get("status") != "pass"
    return found


def analyse_unsupported(report_dir: Path) -> dict:
    """{"checks", "unsupported", "share", "per_implementation": {name: {...}}, "holds": bool}."""
    checks = unsupported = 0
    per = defaultdict(lambda: {"examples": 0, "examples_run": 0, "reasons": Counter()})
    for summary in _summaries(report_dir):
        for statuses in summary.get("counts", {}).values():
            checks += sum(statuses.values())
            unsupported += statuses.get("unsupported", 0)
        entry = per[summary["implementation"]]
        entry["examples"] += summary.get("examples", 0)
        entry["examples_run"] += summary.get("examples_run", 0)
        entry["reasons"].update(summary.get("unsupported_reasons", {}))
    for entry in per.values():
        entry["run_share"] = entry["examples_run"] / entry["examples"] if entry["examples"] else 1.0
    share = unsupported / checks if checks else 0.0
    holds = share < UNSUPPORTED_SHARE_TARGET and all(e["run_share"] >= RUN_SHARE_TARGET for e in per.values())
    return {"checks": checks, "unsupported": unsupported, "share": share, "per_implementation": dict(per),
            "holds": holds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--reasons", action="store_true", help="list each implementation's top 3 reasons")
    args = parser.parse_args(argv)
    found = analyse_unsupported(args.report_dir)
    if not found["checks"]:
        print(f"no summary records under {args.report_dir}; give the --report-dir of a finished run")
        return 2
    print(f"unsupported: {found['unsupported']} of {found['checks']} checks ({found['share']:.1%}); "
          f"target under {UNSUPPORTED_SHARE_TARGET:.0%}")
    for name, entry in sorted(found["per_implementation"].items(), key=lambda item: item[1]["run_share"]):
        mark = "" if entry["run_share"] >= RUN_SHARE_TARGET else f"   below {RUN_SHARE_TARGET:.0%}"
        print(f"  {name:28} ran {entry['examples_run']:5} of {entry['examples']:5} examples "
              f"({entry['run_share']:.1%}){mark}")
        if args.reasons:
            for reason, count in entry["reasons"].most_common(3):
                print(f"      {count:5}  {reason[:150]}")
    witnesses = witness_calls(args.report_dir)
    print(f"witness calls of declared gaps: {witnesses['calls']} ({witnesses['failed']} not confirmed), "
          f"{witnesses['seconds']:.1f} s inside the implementations")
    print("targets hold" if found["holds"] else "targets MISS")
    return 0 if found["holds"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
