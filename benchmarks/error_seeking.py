"""Does Hypothesis target() on error/bound find precision divergences in fewer examples? (issue #17)

    nice -n 10 python benchmarks/error_seeking.py [--seeds N] [--max-examples M [M ...]]

For each case, each seed and each budget M, runs the same Hypothesis search twice over the suite's
own strategy (`CHECK_KINDS[kind].strategy(op=..., dtypes=(dtype,))`) through `Harness.check`:
once plain, once calling seeking.seek (benchmarks/seeking.py) on every example's records. Both runs use
`hypothesis.seed(seed)`, no database, and phases generate + target; each stops at its first
divergence and counts the examples run up to and including it. Prints a markdown table.

A divergence is a failing record (mismatch, error, crash, timeout), or a record the built-in known
divergences file files under one of the case's own entries: the harness matches known divergences
as the suite does, so that an unrelated known one (torch's zero-input-channel bug KD-017) is not
counted as the precision divergence under test.

The scores steer Hypothesis in two places. Its generate phase keeps a mutation of an example only
when no score drops, so the two runs of a seed part ways after a few dozen examples. Its target
phase climbs each score, once, from valid example max(M // 2, 10) when M < 1000 (from example 200
on, interleaved with generation, when M >= 1000); the table shows where it began. "target earlier /
same / later" compares the two runs of each seed (an unfound divergence counts as later than M).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from seeking import seek  # noqa: E402  (benchmarks/seeking.py, beside this script)

from conformance.checks import CHECK_KINDS  # noqa: E402
from conformance.harness import Harness, Outcome, Target  # noqa: E402
from conformance.known import load_known_divergences  # noqa: E402
from conformance.suite.test_conformance import _hypothesis_phase  # noqa: E402
from conformance.vocabulary import FAILING_STATUSES, KNOWN  # noqa: E402

__all__ = ["Case", "CASES", "examples_to_first_failure", "main"]

MODES = ("plain", "target")


@dataclass(frozen=True)
class Case:
    """One precision divergence to search for: what runs (spec, op, check kind, dtype) and how it shows."""

    name: str
    spec: str                        # a built-in implementation or an --impl spec
    op: str
    kind: str
    dtype: str
    known_ids: tuple[str, ...] = ()  # known divergences (by id) that are this case's divergence


CASES = (
    Case("planted: tests.mutants_precision:doubled_grad_weight, conv2d gradient, bfloat16",
         "tests.mutants_precision:doubled_grad_weight", "conv2d", "gradient", "bfloat16"),
    Case("KD-003: torch conv_transpose2d forward, bfloat16", "torch", "conv_transpose2d", "forward", "bfloat16",
         ("KD-003",)),
    # The same ATen half kernels are filed twice for torch.onednn_off: KD-002 matches first.
    Case("KD-002: torch.onednn_off conv2d gradient, float16", "torch.onednn_off", "conv2d", "gradient", "float16",
         ("KD-002", "KD-033")),
)


class _Diverged(Exception):
    """Raised inside the search at a divergence, so that Hypothesis stops generating."""


def diverges(outcome: Outcome, case: Case) -> bool:
    return any(r.status in FAILING_STATUSES or (r.status == KNOWN and r.known_id in case.known_ids)
               for r in outcome.records)


@dataclass
class Search:
    """One search: examples up to and including the first divergence (None: none within the budget),
    and the example at which Hypothesis' target phase began (None: it did not)."""

    first_failure: int | None
    target_phase_from: int | None
    seconds: float


def examples_to_first_failure(harness: Harness, target: Target, case: Case, *, seed: int, max_examples: int,
                              seeking: bool) -> Search:
    kind = CHECK_KINDS[case.kind]
    test_id = f"error_seeking[{case.op}-{target.implementation}-{case.dtype}-{seed}-{max_examples}-{seeking}]"
    calls = 0
    first_failure = target_phase_from = None

    @hypothesis_seed(seed)
    @settings(database=None, deadline=None, derandomize=False, max_examples=max_examples,
              phases=[Phase.generate, Phase.target], suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False)
    @given(example=kind.strategy(op=case.op, dtypes=(case.dtype,)))
    def search(example):
        nonlocal calls, first_failure, target_phase_from
        if first_failure is not None:
            raise _Diverged  # Hypothesis replays the failing example once: not a new example
        calls += 1
        if target_phase_from is None and _hypothesis_phase() == "target":
            target_phase_from = calls
        outcome = harness.check(target, kind, example, test_id=test_id)
        if seeking:
            seek(outcome.records)
        if diverges(outcome, case):
            first_failure = calls
            raise _Diverged

    started = time.perf_counter()
    try:
        search()
    except _Diverged:
        pass
    finally:
        harness.finish_test(test_id, target)
    return Search(first_failure, target_phase_from, time.perf_counter() - started)


def _summary(searches: list[Search], max_examples: int) -> tuple[str, str, str]:
    found = [s.first_failure for s in searches if s.first_failure is not None]
    # Unfound seeds count as M in the mean of the examples spent (a lower bound on their cost).
    spent = [s.first_failure if s.first_failure is not None else max_examples for s in searches]
    median = f"{statistics.median(found):g}" if found else "-"
    mean = f"{statistics.mean(found):.1f}" if found else "-"
    return f"{len(found)}/{len(searches)}", median, f"{mean} ({statistics.mean(spent):.1f})"


def _paired(plain: list[Search], seeking: list[Search], max_examples: int) -> str:
    def cost(search: Search) -> int:
        return search.first_failure if search.first_failure is not None else max_examples + 1

    earlier = sum(cost(t) < cost(p) for p, t in zip(plain, seeking))
    later = sum(cost(t) > cost(p) for p, t in zip(plain, seeking))
    return f"{earlier} / {len(plain) - earlier - later} / {later}"


def run(cases, seeds: int, budgets: list[int]) -> list[str]:
    known = load_known_divergences()
    harness = Harness(writer=None, run_id="error-seeking", isolation="none", known=known)
    rows = ["| case | M | generation | found | median | mean (unfound as M) | target phase from example "
            "| target earlier / same / later |",
            "|---|---|---|---|---|---|---|---|"]
    try:
        for case in cases:
            target = Target(case.op, harness.implementation(case.spec).name, "cpu", case.spec)
            for max_examples in budgets:
                results = {mode: [] for mode in MODES}
                tick = time.perf_counter()
                for seed in range(seeds):
                    for mode in MODES:
                        results[mode].append(examples_to_first_failure(
                            harness, target, case, seed=seed, max_examples=max_examples, seeking=mode == "target"))
                starts = [s.target_phase_from for s in results["target"] if s.target_phase_from is not None]
                phase_from = f"{statistics.median(starts):g} (in {len(starts)} runs)" if starts else "never reached"
                for mode in MODES:
                    found, median, mean = _summary(results[mode], max_examples)
                    extra = (phase_from, _paired(results["plain"], results["target"], max_examples)) \
                        if mode == "target" else ("", "")
                    rows.append(f"| {case.name} | {max_examples} | {mode} | {found} | {median} | {mean} | "
                                f"{extra[0]} | {extra[1]} |")
                print(f"{case.name}, M={max_examples}: {time.perf_counter() - tick:.1f} s", file=sys.stderr)
    finally:
        harness.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30, help="Hypothesis seeds 0..N-1 per case and budget")
    parser.add_argument("--max-examples", type=int, nargs="+", default=[40, 300], metavar="M",
                        help="budgets (Hypothesis max_examples); the target phase starts near M/2")
    parser.add_argument("--cases", nargs="+", choices=[c.spec for c in CASES], metavar="SPEC",
                        help=f"run only these cases, by implementation spec ({', '.join(c.spec for c in CASES)})")
    args = parser.parse_args(argv)
    if args.seeds < 1 or any(m < 1 for m in args.max_examples):
        parser.error(f"--seeds={args.seeds} and --max-examples={args.max_examples} must be >= 1")
    warnings.filterwarnings("ignore", message="Using padding='same'")  # torch, on even kernels: noise here
    cases = [c for c in CASES if not args.cases or c.spec in args.cases]
    started = time.perf_counter()
    rows = run(cases, args.seeds, args.max_examples)
    print("\n".join(rows))
    print(f"\n{args.seeds} seeds per case and budget; {time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
