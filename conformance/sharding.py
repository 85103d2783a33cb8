"""`pytest --shard I/K`: run the I-th of K disjoint parts of the collected tests, balanced by expected cost.

    pytest conformance/suite --shard 2/4                                 # balanced by the cost model
    pytest conformance/suite --shard 2/4 --shard-durations durations.json  # by measured durations
    python -m conformance.sharding durations reports/results*.jsonl -o durations.json
    python -m conformance.sharding durations reports/results*.jsonl --scale-to 1000 -o durations.json  # a ci run, projected to the nightly
    python -m conformance.sharding plan durations.json --shards 2 4 8

The K shards of one collection are disjoint and together are the whole collection (what -k and
-m selected: the hook is trylast, after theirs), and every process computes the same split from the same ids, so xdist
workers and the K CI jobs agree without talking to each other.

The rule (rendezvous hashing with a cost cap):
- A test's key is its node id without the file path ("test_forward[conv2d-torch-cpu]", the
  `test_id` of the results records), so the split does not depend on where pytest runs from.
- Each key ranks the K shards by sha256(shard number, key): its preference order.
- Keys are placed one by one, each in the first shard of its preference order whose cost stays
  at or under the cap, CAP_FACTOR x the mean shard cost (and at least the largest single test);
  where none has room, in the least loaded shard (lowest number on a tie). The order: the heavy
  tests (each at least HEAVY_SHARE of the mean shard cost) first, then the others, each group in
  the order of sha256(key); placing the few heavy ones first leaves the small ones to fill the gaps.
- A key's shard depends only on the keys placed before it and their costs, and most keys get
  their first choice, so adding 10% new tests moves a few percent of the old ones, while a shard
  costs at most about CAP_FACTOR x the mean (more only when one test alone does, or when the last
  keys find no room). Measured on benchmarks/durations.json (756 tests, 2026-12-02;
  tests/test_sharding.py asserts the bounds): max/mean 1.08 for K = 4 and 1.10 for K = 8 (1.22
  for K = 16, where the largest test is most of a shard's share); adding 10% new tests moves a few
  percent of the old ones (the test allows at most 15%, 8% on average over 10 draws).

The expected cost of a test is its measured duration in seconds when --shard-durations gives a
file ({test id or node id: seconds}: what `python -m conformance.sharding durations` builds from
the summary records' duration_s); a test missing from the file gets the cost model's estimate,
scaled by the median ratio of measured to modelled cost over the tests in the file. Without a file
it is the cost model: COST_S[implementation][check kind] x OP_FACTOR[op family], measured (see
COST_S); ids that are not conformance test ids cost DEFAULT_COST_S.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pytest

from .vocabulary import DEVICES, OP_NAMES

__all__ = [
    "CAP_FACTOR",
    "COST_S",
    "DEFAULT_COST_S",
    "HEAVY_SHARE",
    "OP_FACTOR",
    "Shard",
    "ShardPlan",
    "assign_shards",
    "durations_from_results",
    "load_durations",
    "model_cost",
    "parse_shard",
    "plan_shards",
    "shard_key",
]

CAP_FACTOR = 1.10
HEAVY_SHARE = 0.5

# Mean SummaryRecord.duration_s per test (seconds; 20 examples per test under the ci profile, so
# jvp/double_vjp 6, determinism 2, invalid 4; cold JAX cache; 2 CPU cores, -n 2) of each
# implementation and check kind over the six op families; OP_FACTOR: each op family's duration
# relative to its (implementation, check kind)'s mean, averaged. In the measured run 31 jvp,
# double_vjp and invalid tests of torch, jax and tensorflow failed (work in progress on those check
# kinds) and their time includes shrinking. Measured with:
#   CONFORMANCE_MAX_EXAMPLES=20 python -m pytest conformance/suite -q -n 2 --hypothesis-profile conformance-ci --report-dir /tmp/shardrun
#   python -m conformance.sharding durations /tmp/shardrun/results*.jsonl -o benchmarks/durations.json
#   python -m conformance.sharding model benchmarks/durations.json      # prints these two tables
# Only their ratios matter: they decide the split; a durations file gives the seconds.
COST_S: dict[str, dict[str, float]] = {
    "naive": {"forward": 0.303, "gradient": 0.173, "jvp": 0.017, "double_vjp": 0.025, "determinism": 0.004, "invalid": 0.005},
    "im2col": {"forward": 0.202, "gradient": 0.189, "jvp": 0.014, "double_vjp": 0.028, "determinism": 0.005, "invalid": 0.005},
    "matrix": {"forward": 0.261, "gradient": 0.218, "jvp": 0.018, "double_vjp": 0.034, "determinism": 0.014, "invalid": 0.005},
    "torch": {"forward": 1.342, "gradient": 1.058, "jvp": 2.675, "double_vjp": 2.219, "determinism": 0.182, "invalid": 0.265},
    "jax": {"forward": 9.917, "gradient": 12.999, "jvp": 5.499, "double_vjp": 24.392, "determinism": 0.092, "invalid": 3.287},
    "tensorflow": {"forward": 0.561, "gradient": 0.452, "jvp": 3.353, "double_vjp": 0.313, "determinism": 0.03, "invalid": 1.708},
}
OP_FACTOR: dict[str, float] = {"conv1d": 1.31, "conv2d": 0.67, "conv3d": 0.79, "conv_transpose1d": 0.93,
                               "conv_transpose2d": 1.15, "conv_transpose3d": 1.15}
# An --impl implementation the table does not know runs in a worker process like the references:
# it costs what the naive reference costs. A test that is not a conformance test costs this:
DEFAULT_COST_S = 1.0
_UNKNOWN_IMPLEMENTATION = "naive"


# ---- test ids and costs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConformanceTestId:
    """test_gradient[conv_transpose2d-jax-cpu] -> check kind "gradient", op, implementation, device."""

    check_kind: str
    op: str
    implementation: str
    device: str


def shard_key(nodeid: str) -> str:
    """The key a test is sharded by: its node id without the file path.

    "conformance/suite/test_conformance.py::test_forward[conv2d-torch-cpu]" -> "test_forward[conv2d-torch-cpu]".
    """
    return nodeid.split("::", 1)[1] if "::" in nodeid else nodeid


def parse_test_id(key: str) -> ConformanceTestId | None:
    """The parts of a conformance test id (`test_<kind>[<op>-<implementation>-<device>]`), or None."""
    name, bracket, params = key.partition("[")
    if not (name.startswith("test_") and bracket and params.endswith("]")):
        return None
    op, _, rest = params[:-1].partition("-")
    implementation, _, device = rest.rpartition("-")
    if op not in OP_NAMES or device not in DEVICES or not implementation:
        return None
    return ConformanceTestId(name[len("test_"):], op, implementation, device)


def model_cost(key: str) -> float:
    """The cost model's estimate for one test key, in seconds of the measuring run (see COST_S)."""
    parsed = parse_test_id(key)
    if parsed is None:
        return DEFAULT_COST_S
    per_kind = COST_S.get(parsed.implementation) or COST_S[_UNKNOWN_IMPLEMENTATION]
    base = per_kind.get(parsed.check_kind)
    if base is None:  # a check kind newer than the table
        base = statistics.fmean(per_kind.values())
    return base * OP_FACTOR.get(parsed.op, 1.0)


def expected_costs(keys: Iterable[str], durations: Mapping[str, float] | None = None) -> dict[str, float]:
    """{key: expected seconds}: measured where `durations` has the key, else the scaled cost model."""
    keys = list(dict.fromkeys(keys))
    if not durations:
        return {key: model_cost(key) for key in keys}
    ratios = [durations[key] / model_cost(key) for key in keys if key in durations and model_cost(key) > 0]
    scale = statistics.median(ratios) if ratios else 1.0
    return {key: durations[key] if key in durations else scale * model_cost(key) for key in keys}


# ---- the split ------------------------------------------------------------------------------------


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def assign_shards(costs: Mapping[str, float], count: int, *, cap_factor: float = CAP_FACTOR) -> dict[str, int]:
    """{key: shard index, 0-based} for `count` shards by the module's rule (rendezvous hashing with a cost cap).

    - costs: {key: expected cost >= 0}; the keys are the tests to split.
    - count: the number of shards (>= 1).
    - cap_factor: how far over the mean shard cost a shard may go before a key takes its next choice.

    >>> assign_shards({"a": 1.0, "b": 1.0}, 1)
    {'a': 0, 'b': 0}
    """
    if count < 1:
        raise ValueError(f"count={count} must be at least 1")
    if not costs:
        return {}
    mean = sum(costs.values()) / count
    cap = max(cap_factor * mean, max(costs.values()))
    loads = [0.0] * count
    shard_of: dict[str, int] = {}
    for key in sorted(costs, key=lambda k: (costs[k] < HEAVY_SHARE * mean, _hash(k), k)):
        cost = costs[key]
        preferences = sorted(range(count), key=lambda shard: (-_hash(f"{shard}:{key}"), shard))
        chosen = next((shard for shard in preferences if loads[shard] + cost <= cap), None)
        if chosen is None:
            chosen = min(range(count), key=lambda shard: (loads[shard], shard))
        loads[chosen] += cost
        shard_of[key] = chosen
    return shard_of


@dataclass(frozen=True)
class ShardPlan:
    """A split of keys into `count` shards: which shard each key is in, and each shard's expected cost."""

    count: int
    shard_of: dict[str, int]
    loads: tuple[float, ...]

    @property
    def balance(self) -> float:
        """Max shard cost / mean shard cost (1.0: perfectly even)."""
        mean = sum(self.loads) / self.count
        return max(self.loads) / mean if mean > 0 else 1.0

    def keys_in(self, index: int) -> list[str]:
        return [key for key, shard in self.shard_of.items() if shard == index]


def plan_shards(costs: Mapping[str, float], count: int) -> ShardPlan:
    shard_of = assign_shards(costs, count)
    loads = [0.0] * count
    for key, shard in shard_of.items():
        loads[shard] += costs[key]
    return ShardPlan(count, shard_of, tuple(loads))


# ---- durations files ------------------------------------------------------------------------------


def durations_from_results(paths: Iterable[str | Path], scale_to: int | None = None) -> dict[str, float]:
    """{test_id: seconds} from the SummaryRecords of results*.jsonl files (the mean where a test ran
    more than once), sorted by test id.

    scale_to projects a run onto a profile of `scale_to` max_examples at full budget (the nightly's
    1000): each passing test's seconds are multiplied by the examples it would draw there (the check
    kind's share, no ci cap) over the examples it drew, so that a ci run, where the compiled paths
    draw 20 examples and the references 100, balances the nightly's shards. A failing test is kept
    as measured (it stops at its failure and shrinks in either profile), and so is a skipped one.
    """
    from .checks import CHECK_KINDS
    from .profiles import NIGHTLY, examples_per_test
    from .records import SummaryRecord, read_records

    seen: dict[str, list[float]] = defaultdict(list)
    for record in read_records(paths).of_type(SummaryRecord):
        seconds = float(record.duration_s)
        if scale_to and record.examples and not record.failed and record.check_kind in CHECK_KINDS:
            target = examples_per_test(NIGHTLY, scale_to, CHECK_KINDS[record.check_kind], None)
            seconds *= target / record.examples
        seen[record.test_id].append(seconds)
    return {test_id: round(statistics.fmean(values), 3) for test_id, values in sorted(seen.items())}


class DurationsError(ValueError):
    """A durations file that cannot be used; the message names the file and what is wrong."""


def load_durations(path: str | Path) -> dict[str, float]:
    """{test id: seconds} from a JSON file; DurationsError naming the file and the bad entry."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DurationsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DurationsError(f"{path}: cannot read it ({err})") from None
    except json.JSONDecodeError as err:
        raise DurationsError(f"{path} is not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict):
        raise DurationsError(f"{path} holds a JSON {type(data).__name__}; expected an object {{test id: seconds}}")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise DurationsError(f"{path}: {key!r} = {value!r} is not a duration in seconds (a number >= 0)")
    return {str(key): float(value) for key, value in data.items()}


# ---- the pytest plugin ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """--shard I/K: number I (1-based) of count K."""

    number: int
    count: int

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"


def parse_shard(text: str) -> Shard:
    """"2/4" -> Shard(2, 4); pytest.UsageError naming the value and the fix."""
    number, slash, count = text.partition("/")
    try:
        shard = Shard(int(number), int(count))
    except ValueError:
        shard = None
    if not slash or shard is None:
        raise pytest.UsageError(f"--shard {text!r} is not I/K: give the shard number and the shard count, "
                                f"e.g. --shard 1/4 for the first of 4 shards")
    if shard.count < 1:
        raise pytest.UsageError(f"--shard {text}: the shard count {shard.count} must be at least 1, e.g. --shard 1/4")
    if shard.number < 1:
        raise pytest.UsageError(f"--shard {text}: shard numbers count from 1; use one of 1/{shard.count} .. "
                                f"{shard.count}/{shard.count}")
    if shard.number > shard.count:
        raise pytest.UsageError(f"--shard {text}: shard {shard.number} is beyond the shard count {shard.count}; "
                                f"use one of 1/{shard.count} .. {shard.count}/{shard.count}")
    return shard


_SHARD = pytest.StashKey[Shard]()
_DURATIONS = pytest.StashKey[dict]()
_SUMMARY = pytest.StashKey[str]()


def pytest_addoption(parser):
    group = parser.getgroup("sharding", "sharding (conformance.sharding)")
    group.addoption("--shard", default=None, metavar="I/K",
                    help="run only shard I of K (1-based): disjoint parts of the selected tests, balanced by expected cost")
    group.addoption("--shard-durations", default=None, metavar="FILE",
                    help="JSON {test id: seconds} to balance shards by (python -m conformance.sharding durations "
                         "reports/results*.jsonl -o FILE builds it); default: the built-in cost model")


def pytest_configure(config):
    text = config.getoption("shard")
    if text is None:
        return
    config.stash[_SHARD] = parse_shard(text)
    path = config.getoption("shard_durations")
    if path is not None:
        try:
            config.stash[_DURATIONS] = load_durations(path)
        except DurationsError as err:
            raise pytest.UsageError(f"--shard-durations: {err}") from None


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected theirs: the shards split what is left
def pytest_collection_modifyitems(config, items):
    shard = config.stash.get(_SHARD, None)
    if shard is None or not items:
        return
    durations = config.stash.get(_DURATIONS, None)
    keyed: dict[str, float] = {}
    for item in items:
        key = shard_key(item.nodeid)
        keyed[key] = durations.get(item.nodeid, durations.get(key)) if durations else None
    measured = {key: seconds for key, seconds in keyed.items() if seconds is not None}
    costs = expected_costs(keyed, measured or None)
    plan = plan_shards(costs, shard.count)
    index = shard.number - 1
    selected = [item for item in items if plan.shard_of[shard_key(item.nodeid)] == index]
    deselected = [item for item in items if plan.shard_of[shard_key(item.nodeid)] != index]
    basis = "measured durations" if measured else "the cost model"
    config.stash[_SUMMARY] = (f"shard {shard}: {len(selected)} of {len(items)} tests, expected cost "
                              f"{plan.loads[index]:.1f} of {sum(plan.loads):.1f} s by {basis} "
                              f"(largest shard {plan.balance:.2f} x the mean)")
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def pytest_report_collectionfinish(config, start_path, items):
    summary = config.stash.get(_SUMMARY, None)
    return [summary] if summary else []


# ---- python -m conformance.sharding ---------------------------------------------------------------


def _durations_command(args) -> int:
    missing = [p for p in args.results if not Path(p).is_file()]
    if missing:
        print(f"python -m conformance.sharding durations: error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    durations = durations_from_results(args.results, scale_to=args.scale_to)
    if not durations:
        print("python -m conformance.sharding durations: error: no summary records in "
              f"{', '.join(args.results)}: are these results.jsonl files?", file=sys.stderr)
        return 2
    text = json.dumps(durations, indent=1, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}: {len(durations)} tests, {sum(durations.values()):.1f} s in all")
    return 0


def _plan_command(args) -> int:
    try:
        durations = load_durations(args.durations)
    except DurationsError as err:
        print(f"python -m conformance.sharding plan: error: {err}", file=sys.stderr)
        return 2
    by_model = expected_costs(durations)
    for count in args.shards:
        measured = plan_shards(durations, count)
        # The split the cost model alone makes, costed with the measured durations.
        model_split = assign_shards(by_model, count)
        model_loads = [0.0] * count
        for key, shard in model_split.items():
            model_loads[shard] += durations[key]
        mean = sum(model_loads) / count
        print(f"K={count}: by durations max/mean {measured.balance:.3f} "
              f"(shards {', '.join(f'{load:.1f}' for load in measured.loads)} s); "
              f"by cost model max/mean {max(model_loads) / mean if mean else 1.0:.3f} "
              f"(shards {', '.join(f'{load:.1f}' for load in model_loads)} s)")
    return 0


def _model_command(args) -> int:
    """Print COST_S and OP_FACTOR as measured from a durations file (to paste into this module)."""
    try:
        durations = load_durations(args.durations)
    except DurationsError as err:
        print(f"python -m conformance.sharding model: error: {err}", file=sys.stderr)
        return 2
    by_cell: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_test: dict[tuple[str, str, str], float] = {}
    for key, seconds in durations.items():
        parsed = parse_test_id(key)
        if parsed is not None:
            by_cell[(parsed.implementation, parsed.check_kind)].append(seconds)
            by_test[(parsed.implementation, parsed.check_kind, parsed.op)] = seconds
    if not by_test:
        print("python -m conformance.sharding model: error: no conformance test ids in the file", file=sys.stderr)
        return 2
    # An op family's factor: the mean over (implementation, check kind) of its duration relative to
    # that pair's mean over the op families, so the product COST_S x OP_FACTOR keeps each pair's mean.
    cell_mean = {cell: statistics.fmean(values) for cell, values in by_cell.items()}
    ratios: dict[str, list[float]] = defaultdict(list)
    for (implementation, kind, op), seconds in by_test.items():
        if cell_mean[(implementation, kind)] > 0:
            ratios[op].append(seconds / cell_mean[(implementation, kind)])
    op_factor = {op: round(statistics.fmean(ratios[op]), 2) for op in OP_NAMES if ratios.get(op)}
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for (implementation, kind), mean in sorted(cell_mean.items()):
        table[implementation][kind] = round(mean, 3)
    print("COST_S = {")
    for implementation, row in table.items():
        print(f"    {implementation!r}: {row!r},")
    print("}")
    print(f"OP_FACTOR = {op_factor!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.sharding", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    durations = commands.add_parser("durations", help="build a --shard-durations file from results*.jsonl summary records")
    durations.add_argument("results", nargs="+", metavar="RESULTS.jsonl")
    durations.add_argument("-o", "--output", default="-", metavar="FILE", help="where to write it (default: stdout)")
    durations.add_argument("--scale-to", type=int, default=None, metavar="MAX_EXAMPLES",
                           help="project each passing test to this many examples at full budget (1000: the "
                                "nightly), from the examples it drew")
    durations.set_defaults(run=_durations_command)
    plan = commands.add_parser("plan", help="the expected cost of each shard for a durations file's tests")
    plan.add_argument("durations", metavar="DURATIONS.json")
    plan.add_argument("--shards", nargs="+", type=int, default=[2, 4, 8], metavar="K")
    plan.set_defaults(run=_plan_command)
    model = commands.add_parser("model", help="print the cost model's tables as measured by a durations file")
    model.add_argument("durations", metavar="DURATIONS.json")
    model.set_defaults(run=_model_command)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
