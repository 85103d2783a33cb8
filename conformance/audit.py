"""`python -m conformance audit`: does each known entry's region hold its bug, and only its bug?

For each entry (all of them, or those given with --entry), the audit draws calls inside its region and
runs them, with every known entry loaded, as the suite would:

- cells: each implementation the entry names that loads here, each op family its `when` allows, each
  check kind it is about (an entry about invalid calls gets broken calls, drawn for the rules it names);
- draws: the suite's own strategy for that implementation's declared region (conformance.strategies),
  under a fixed seed, with the entry's equality conditions pinned (`batch = 0`, `in_channels = 0`, a
  dtype list, ...) and the rest of its `when` as a filter;
- each example is sorted into: **matches** (recorded known for this entry), **passes**, **other** (any
  other result: a different error, a value beyond its ceiling, another entry's divergence) or **not
  run** (declared unsupported), the last left out of the shares.

An entry reproduced in fewer than half of the examples that reach it is "over-wide" (its `when` is
wider than its bug: narrow it); for a precision entry a pass is consistent with its signature (a
half-format sum is sometimes lucky), so it is over-wide when other results are most of its region.
One never reproduced says "fixed upstream?"; one whose region the draws did not reach says so.
Half is conformance.known.OVER_WIDE_HIT_RATE, the one rule the run's own hit rates use. A rare bug
(KD-001 aborts in 1 call of 80 in its region) is honestly over-wide: its region is the narrowest
predicate found, and the audit says how rare it is.

    python -m conformance audit                           # every entry, 12 examples each
    python -m conformance audit --entry KD-035 KD-047 --examples 40 --json reports/audit.json

Frameworks run in worker processes (a crash entry's abort kills a worker, not the audit). Exit status 0;
2 for bad input (an unknown entry id).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

__all__ = ["EntryAudit", "audit_entry", "add_arguments", "run"]

# Fields of ConvConfig an entry's `when` may pin by equality (a value, not a list): drawn configs are
# given the value, so a region such as "batch = 0" is reached without filtering thousands of draws.
_PINNABLE = ("batch", "in_channels", "out_channels", "groups", "bias", "padding_mode", "memory_format", "batched",
             "dtype")
_PINNABLE_PER_DIM = ("stride", "dilation", "kernel", "in_size", "output_padding")
DRAWS_PER_CELL = 150  # configs drawn per cell before the region's filter; the region's share of them is kept


@dataclass
class EntryAudit:
    """What the audit found for one entry (the --json file holds a list of these)."""

    id: str
    summary: str
    cells: int = 0            # (implementation, op family, check kind) triples audited
    drawn: int = 0            # examples inside the region that were run
    matches: int = 0
    passes: int = 0
    other: int = 0
    not_run: int = 0
    seconds: float = 0.0
    verdict: str = ""
    others: list[str] = field(default_factory=list)   # the first few "other" results, with their repro
    skipped: list[str] = field(default_factory=list)  # implementations that do not load here, and why

    @property
    def reached(self) -> int:
        return self.matches + self.passes + self.other

    def share(self, count: int) -> str:
        return f"{count / self.reached:.0%}" if self.reached else "—"

    def decide(self, precision: bool = False) -> None:
        """precision: a precision entry's signature is an error its arithmetic explains, and a pass is
        consistent with it (half-format sums are sometimes lucky); it is over-wide when other results
        are most of its region, and "fixed upstream?" when nothing in it ever exceeded the bound."""
        from .known import OVER_WIDE_HIT_RATE

        consistent = self.matches + (self.passes if precision else 0)
        if not self.reached:
            self.verdict = "region not reached" if self.cells else "nothing to audit here"
        elif self.matches == 0:
            self.verdict = "fixed upstream?"
        elif consistent < OVER_WIDE_HIT_RATE * self.reached:
            self.verdict = "over-wide"
        else:
            self.verdict = "holds"


def _kinds_of(entry):
    from .checks import CHECK_KINDS

    return [kind for kind in CHECK_KINDS.values()
            if entry.covers(kind.name) or any(entry.covers(result) for result in kind.results)]


def _ops_of(entry) -> list[str]:
    from .vocabulary import OP_NAMES, op_family

    when = entry.when
    ops = []
    for op in OP_NAMES:
        family = op_family(op)
        wanted_ops = when.get("op")
        if wanted_ops is not None and op not in (wanted_ops if isinstance(wanted_ops, list) else [wanted_ops]):
            continue
        ndim = when.get("ndim")
        if ndim is not None and family.ndim not in (ndim if isinstance(ndim, list) else [ndim]):
            continue
        if "transposed" in when and family.transposed != when["transposed"]:
            continue
        ops.append(op)
    return ops


def _draw(strategy, count: int, seed: int) -> list:
    """`count` values of `strategy` under a fixed seed (Hypothesis's generation phase only, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    found: list = []

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(strategy)
    def collect(value):
        found.append(value)

    collect()
    return found


def _pinned(config, when: dict):
    from .config import InvalidConfig

    pins = {name: when[name] for name in _PINNABLE if name in when and not isinstance(when[name], list)}
    for name, want in when.items():
        field_name = name[len("all_"):-len("_eq")] if name.startswith("all_") and name.endswith("_eq") else None
        if field_name in _PINNABLE_PER_DIM and isinstance(want, int) and not isinstance(want, bool):
            pins[field_name] = (want,) * config.ndim  # all_kernel_eq = 1: every dim's kernel is 1
    for name, other in when.items():  # in_channels_eq = "groups": the field takes the other's value
        if name.endswith("_eq") and name[:-len("_eq")] in _PINNABLE and isinstance(other, str) and other in _PINNABLE:
            pins[name[:-len("_eq")]] = pins.get(other, getattr(config, other))
    if not pins:
        return config
    if pins.get("in_channels") == 0 or pins.get("groups"):
        pins.setdefault("groups", 1)
    try:
        return config.replace(**pins)
    except (InvalidConfig, TypeError, ValueError):
        return None


def _spread(cases: list, rng: random.Random) -> list:
    """The distinct cases in a seeded random order: Hypothesis's first draws are its simplest (the
    minimal call comes first, and repeats), so taking the first few would audit only the region's corner."""
    distinct = list({(case.config.to_json(), getattr(case, "rule", None)): case for case in cases}.values())
    rng.shuffle(distinct)
    return distinct


def _cases(entry, harness, target, kind, seed: int) -> list:
    """Distinct cases of one cell inside the entry's region, in a seeded random order."""
    from .strategies import INVALID_RULES, VALUE_PROFILES, ConvCase, conv_configs, invalid_cases

    when = entry.when
    dtypes = when.get("dtype")
    dtypes = tuple(dtypes if isinstance(dtypes, list) else [dtypes]) if dtypes else None
    region = harness.capabilities(target).region(target.op, target.device, kind.name)
    rng = random.Random(seed)
    cases = []
    if kind.raising_passes:
        rules = when.get("rule")
        rules = tuple(r for r in (rules if isinstance(rules, list) else [rules]) if r in INVALID_RULES) if rules \
            else None
        for case in _draw(invalid_cases(op=target.op, dtypes=dtypes, rules=rules, region=region), DRAWS_PER_CELL, seed):
            if entry.applies(target.implementation, target.op, target.device, case.config, rule=case.rule):
                cases.append(case)
        return _spread(cases, rng)
    for config in _draw(conv_configs(op=target.op, dtypes=dtypes, region=region), DRAWS_PER_CELL, seed):
        config = _pinned(config, when)
        if config is not None and entry.applies(target.implementation, target.op, target.device, config):
            cases.append(ConvCase(config, rng.randrange(2**32), rng.choice(VALUE_PROFILES)))
    return _spread(cases, rng)


def audit_entry(entry, harness, *, examples: int, seed: int, device: str = "cpu",
                plugins: dict[str, str] | None = None) -> EntryAudit:
    """Run up to `examples` calls inside `entry`'s region (spread over its cells) and sort them.
    plugins: {implementation name: --impl spec} for the entries of your own implementations."""
    from .harness import Target
    from .registry import BUILTIN

    started = time.perf_counter()
    result = EntryAudit(entry.id, entry.summary)
    wanted = entry.when.get("device")
    if wanted is not None and device not in (wanted if isinstance(wanted, list) else [wanted]):
        result.verdict = f"not audited on {device} (its region is on {wanted}: --device {wanted})"
        return result
    cells = []
    for name in entry.implementations:
        spec = name if name in BUILTIN else (plugins or {}).get(name)
        if spec is None:
            result.skipped.append(f"{name}: not a built-in implementation; pass its --impl module:NAME to audit it")
            continue
        for op in _ops_of(entry):
            for kind in _kinds_of(entry):
                cells.append((Target(op, name, device, spec), kind))
    random.Random(seed).shuffle(cells)
    result.cells = len(cells)
    pools: dict[int, list] = {}
    remaining = examples
    progress = True
    while remaining > 0 and progress:
        progress = False
        for index, (target, kind) in enumerate(cells):
            if remaining <= 0:
                break
            if index not in pools:
                try:
                    pools[index] = _cases(entry, harness, target, kind, seed + index)
                except Exception as err:  # an implementation that does not load here: say so, go on
                    result.skipped.append(f"{target.implementation}: {type(err).__name__}: {err}"[:300])
                    pools[index] = []
            if not pools[index]:
                continue
            case = pools[index].pop(0)
            progress = True
            remaining -= 1
            outcome = harness.check(target, kind, case, test_id=f"audit:{entry.id}:{result.drawn}", phase="generate")
            result.drawn += 1
            statuses = set(outcome.statuses.values())
            if any(record.known_id == entry.id for record in outcome.records):
                result.matches += 1
            elif statuses <= {"pass"}:
                result.passes += 1
            elif statuses <= {"unsupported"}:
                result.not_run += 1
            else:
                result.other += 1
                if len(result.others) < 3:
                    elsewhere = sorted({record.known_id for record in outcome.records if record.known_id})
                    said = outcome.message.strip()[:600] or str(case.config)
                    result.others.append(f"known as {', '.join(elsewhere)}: {said}" if elsewhere
                                         else outcome.message.strip()[:600] or ", ".join(sorted(statuses)))
    result.skipped = list(dict.fromkeys(result.skipped))
    result.seconds = round(time.perf_counter() - started, 2)
    result.decide(precision=entry.classification == "precision")
    machine = {k: v for k, v in entry.when.items() if k in ("cpu_has", "cpu_lacks", "tf_onednn", "tf_kernel", "versions")}
    if not result.reached and machine:
        result.verdict += f" (it needs {', '.join(f'{k} = {v!r}' for k, v in machine.items())}: this machine?)"
    return result


# ---- command line ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entry", nargs="+", default=None, metavar="ID", help="the entries to audit (default: all)")
    parser.add_argument("--examples", type=int, default=12, help="calls per entry (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the draws' seed (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    parser.add_argument("--known-divergences", default=None, metavar="FILE",
                        help="a file of your own entries, audited beside the built-in ones")
    parser.add_argument("--impl", action="append", default=[], metavar="MODULE:NAME",
                        help="your implementation, for the entries of your own file that name it (repeatable)")
    parser.add_argument("--json", default=None, metavar="OUT.json", help="also write the findings as JSON")


def run(args: argparse.Namespace) -> int:
    from .harness import Harness
    from .known import DEFAULT_PATH, load_known_divergences, merge_known

    collections = [load_known_divergences(DEFAULT_PATH)]
    if args.known_divergences:
        collections.append(load_known_divergences(args.known_divergences))
    known = merge_known(*collections)
    ids = {entry.id for entry in known.entries}
    wanted = args.entry or [entry.id for entry in known.entries]
    unknown = [i for i in wanted if i not in ids]
    if unknown:
        print(f"audit: no entry {', '.join(unknown)} (the entries are {min(ids)} ... {max(ids)}; "
              f"see conformance/known_divergences.toml)", file=sys.stderr)
        return 2
    if args.examples < 1:
        print(f"audit: --examples {args.examples} must be at least 1", file=sys.stderr)
        return 2
    from .registry import ImplementationLoadError, load_implementation_spec

    plugins = {}
    for spec in args.impl:
        try:
            plugins[str(load_implementation_spec(spec).name)] = spec
        except (ImplementationLoadError, ValueError) as err:
            print(f"audit: --impl {spec!r}: {err}", file=sys.stderr)
            return 2
    harness = Harness(writer=None, run_id="audit", isolation="process", call_timeout=60)
    harness.known = known
    results: list[EntryAudit] = []
    print(f"{'entry':8} {'reached':>7} {'matches':>8} {'passes':>7} {'other':>6} {'not run':>8} {'s':>6}  verdict")
    try:
        for entry in known.entries:
            if entry.id not in wanted:
                continue
            result = audit_entry(entry, harness, examples=args.examples, seed=args.seed, device=args.device,
                                 plugins=plugins)
            results.append(result)
            print(f"{result.id:8} {result.reached:7} {result.share(result.matches):>8} {result.share(result.passes):>7} "
                  f"{result.share(result.other):>6} {result.not_run:8} {result.seconds:6.1f}  {result.verdict}", flush=True)
            for other in result.others[:1]:
                print("         other: " + other.splitlines()[0][:200])
    finally:
        harness.close()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump([dict(asdict(r), reached=r.reached) for r in results], handle, indent=1)
    verdicts: Counter[str] = Counter(r.verdict for r in results)
    print("audit: " + ", ".join(f"{n} {v}" for v, n in verdicts.most_common()))
    return 0


