"""What each implementation costs per example, from a run's records, and the ci budgets that follow.

    python benchmarks/costs.py reports/results*.jsonl                  # the table
    python benchmarks/costs.py reports/results*.jsonl --seconds-per-test 8

Reads the summary records (one per test: examples drawn, wall seconds) and prints, per
implementation, its tests, examples, seconds, seconds per example, its share of the run, and the
examples per test in the ci profile that a per-test time budget allows:
clamp(seconds_per_test / seconds_per_example, MIN_CI_EXAMPLES, the profile's 100). That figure is
what an implementation's `max_ci_examples` declaration should hold (the compiled paths, JAX eager
and Keras declare it; the fast ones run the profile's full budget). Seconds include shrinking a
failure, and a cold compilation cache: run it on the records of a cold run.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance.profiles import MIN_CI_EXAMPLES  # noqa: E402
from conformance.records import SummaryRecord, read_records  # noqa: E402

CI_MAX_EXAMPLES = 100  # the ci profile's max_examples (conformance/profiles.py)


def costs(paths: list[str]) -> dict[str, dict[str, float]]:
    """{implementation: {"tests", "examples", "seconds", "shrink_replays", "passing_examples",
    "passing_seconds"}} over the runs' summaries; "passing_*" count only the tests with no failure
    (no shrinking, no consensus replays: the cost of drawing and checking alone)."""
    table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for summary in read_records(paths).of_type(SummaryRecord):
        if summary.skipped:
            continue
        row = table[summary.implementation]
        row["tests"] += 1
        row["examples"] += summary.examples
        row["seconds"] += summary.duration_s
        row["shrink_replays"] += summary.shrink_replays
        if not summary.failed:
            row["passing_examples"] += summary.examples
            row["passing_seconds"] += summary.duration_s
    return table


def suggested_examples(seconds_per_example: float, seconds_per_test: float) -> int:
    if seconds_per_example <= 0:
        return CI_MAX_EXAMPLES
    return int(min(CI_MAX_EXAMPLES, max(MIN_CI_EXAMPLES, seconds_per_test // seconds_per_example)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results*.jsonl of one run")
    parser.add_argument("--seconds-per-test", type=float, default=8.0,
                        help="time budget of one test in the ci profile (default 8)")
    args = parser.parse_args(argv)
    table = costs(args.results)
    if not table:
        print("no summary records in the files given", file=sys.stderr)
        return 2
    total = sum(row["seconds"] for row in table.values())
    print(f"| implementation | tests | examples | seconds | s/example | s/example, passing tests | share | "
          f"ci examples/test at {args.seconds_per_test:g} s/test |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in sorted(table.items(), key=lambda item: -item[1]["seconds"]):
        per = row["seconds"] / row["examples"] if row["examples"] else 0.0
        passing = row["passing_seconds"] / row["passing_examples"] if row["passing_examples"] else per
        print(f"| {name} | {row['tests']:.0f} | {row['examples']:.0f} | {row['seconds']:.0f} | {per:.3f} | "
              f"{passing:.3f} | {100 * row['seconds'] / total:.1f}% | {suggested_examples(passing, args.seconds_per_test)} |")
    print(f"\n{total:.0f} test-seconds in all ({total / 60:.1f} CPU-minutes when each test has a core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
