"""Examples per hour of one measured shard run (issue #17's "examples per hour per shard").

    pytest conformance/suite -n auto --hypothesis-profile conformance-nightly --shard 5/64 \\
        --shard-durations benchmarks/durations.json --report-dir /tmp/shard
    python benchmarks/shard_rate.py /tmp/shard/results*.jsonl

Reads the run's records: examples drawn (the summaries' `examples`, the generate phase; shrink
replays apart), the shard's wall time (first run line to last run_end), and prints the examples per
hour of wall time for the whole shard and per implementation (per implementation per test-hour,
since its tests share the shard's cores with the others). A run cut short counts the tests that
finished (a test interrupted by SIGTERM writes its summary too).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.records import RunEndRecord, RunRecord, SummaryRecord, read_records  # noqa: E402
from conformance.report.run_info import parse_time  # noqa: E402


def shard_rate(paths: list[str]) -> dict:
    records = read_records(paths)
    runs, ends = records.of_type(RunRecord), records.of_type(RunEndRecord)
    starts = [parse_time(r.started) for r in runs if parse_time(r.started)]
    finishes = [parse_time(e.finished) for e in ends if parse_time(e.finished)]
    wall = (max(finishes) - min(starts)).total_seconds() if starts and finishes else None
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for summary in records.of_type(SummaryRecord):
        if summary.skipped:
            continue
        row = per[summary.implementation]
        row["tests"] += 1
        row["examples"] += summary.examples
        row["shrink_replays"] += summary.shrink_replays
        row["test_seconds"] += summary.duration_s
    examples = sum(row["examples"] for row in per.values())
    test_seconds = sum(row["test_seconds"] for row in per.values())
    return {
        "wall_seconds": wall,
        "tests": int(sum(row["tests"] for row in per.values())),
        "examples": int(examples),
        "test_seconds": round(test_seconds, 1),
        "examples_per_wall_hour": round(examples / wall * 3600) if wall else None,
        "examples_per_test_hour": round(examples / test_seconds * 3600) if test_seconds else None,
        "per_implementation": {
            name: {"tests": int(row["tests"]), "examples": int(row["examples"]),
                   "test_seconds": round(row["test_seconds"], 1),
                   "examples_per_test_hour": round(row["examples"] / row["test_seconds"] * 3600)
                   if row["test_seconds"] else None}
            for name, row in sorted(per.items(), key=lambda item: -item[1]["test_seconds"])},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results*.jsonl of one shard's run")
    parser.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    args = parser.parse_args(argv)
    found = shard_rate(args.results)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    wall = found["wall_seconds"]
    print(f"{found['tests']} tests, {found['examples']:,} examples in {wall:.0f} s wall "
          f"({found['test_seconds']:.0f} test-seconds): {found['examples_per_wall_hour']:,} examples per wall hour")
    print("| implementation | tests | examples | test-seconds | examples per test-hour |")
    print("|---|---:|---:|---:|---:|")
    for name, row in found["per_implementation"].items():
        print(f"| {name} | {row['tests']} | {row['examples']:,} | {row['test_seconds']:.0f} | "
              f"{row['examples_per_test_hour'] or 0:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
