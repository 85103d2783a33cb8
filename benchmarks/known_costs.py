"""What the known-entry machinery costs (issue #33): the audit, and the sampled calls of a presumed crash.

    python benchmarks/known_costs.py                       # both, with the defaults below
    python benchmarks/known_costs.py --audit-entries KD-017 KD-035 --audit-examples 12
    python benchmarks/known_costs.py --only presumption

- audit: `python -m conformance audit` over the given entries (default: all), its wall seconds and
  seconds per example, and the verdicts.
- presumption: a planted kernel that aborts on every call of a known crash's region
  (tests.mutants:crashes_on_stride_3), called CALLS times in one test, under the harness's policy
  (the crash is presumed after it reproduces, every PRESUMED_SAMPLE_EVERY-th presumed call is still
  made) and under "never presume" (every call made): worker restarts and wall seconds of each. The
  difference is what the sampled share costs against calling nothing (the old wholesale presumption
  made 1 call and KNOWN_CRASH_REPLAYS restarts).

Prints a table; --json OUT writes it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CALLS = 24


def presumption(calls: int = CALLS) -> dict:
    from conformance import harness as harness_module
    from conformance.checks import CHECK_KINDS
    from conformance.config import ConvConfig
    from conformance.harness import Harness, Target
    from conformance.known import load_known_divergences
    from conformance.strategies import ConvCase

    with tempfile.TemporaryDirectory() as tmp:
        entries = Path(tmp) / "known.toml"
        entries.write_text('[[divergence]]\nid = "BENCH-1"\nimplementations = ["crashes_on_stride_3"]\n'
                           'summary = "aborts on stride >= 3"\nclassification = "bug"\nexpected = "crash"\n'
                           'signal = "SIGABRT"\nwhen = { any_stride_ge = 3 }\nupstream = "planted"\n')
        rows = {}
        for policy, every in (("sampled (the harness's)", harness_module.PRESUMED_SAMPLE_EVERY), ("every call made", 1)):
            harness_module.PRESUMED_SAMPLE_EVERY, saved = every, harness_module.PRESUMED_SAMPLE_EVERY
            harness = Harness(writer=None, run_id="bench", isolation="process", call_timeout=60)
            harness.known = load_known_divergences(entries)
            target = Target("conv1d", "crashes_on_stride_3", "cpu", "tests.mutants:crashes_on_stride_3")
            case = ConvCase(ConvConfig(ndim=1, batch=1, in_channels=1, out_channels=1, in_size=(7,), kernel=(1,),
                                       stride=(3,)), 0, "normal")
            started = time.perf_counter()
            try:
                statuses = [harness.check(target, CHECK_KINDS["forward"], case, test_id="t").statuses["forward"]
                            for _ in range(calls)]
                restarts = harness.implementation(target.spec).restarts
            finally:
                harness.close()
                harness_module.PRESUMED_SAMPLE_EVERY = saved
            rows[policy] = {"calls_asked": calls, "calls_made": statuses.count("known"),
                            "worker_restarts": restarts, "seconds": round(time.perf_counter() - started, 2)}
    return rows


def audit(entries: list[str] | None, examples: int) -> dict:
    done = [sys.executable, "-m", "conformance", "audit", "--examples", str(examples)]
    if entries:
        done += ["--entry", *entries]
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        started = time.perf_counter()
        subprocess.run(done + ["--json", str(out)], check=True, cwd=Path(__file__).resolve().parents[1],
                       capture_output=True, text=True)
        seconds = time.perf_counter() - started
        rows = json.loads(out.read_text())
    drawn = sum(r["drawn"] for r in rows)
    verdicts: dict[str, int] = {}
    for row in rows:
        verdicts[row["verdict"].split(" (")[0]] = verdicts.get(row["verdict"].split(" (")[0], 0) + 1
    return {"entries": len(rows), "examples_run": drawn, "seconds": round(seconds, 1),
            "seconds_per_example": round(seconds / max(drawn, 1), 2), "verdicts": verdicts}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("audit", "presumption"), default=None)
    parser.add_argument("--audit-entries", nargs="+", default=None)
    parser.add_argument("--audit-examples", type=int, default=8)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    found = {}
    if args.only in (None, "presumption"):
        found["presumption"] = presumption()
        for policy, row in found["presumption"].items():
            print(f"presumed crash, {policy:24s}: {row['calls_made']:3d} of {row['calls_asked']} calls made, "
                  f"{row['worker_restarts']:3d} worker restarts, {row['seconds']:6.1f} s")
    if args.only in (None, "audit"):
        found["audit"] = audit(args.audit_entries, args.audit_examples)
        row = found["audit"]
        print(f"audit: {row['entries']} entries, {row['examples_run']} examples in {row['seconds']} s "
              f"({row['seconds_per_example']} s an example); verdicts {row['verdicts']}")
    if args.json:
        Path(args.json).write_text(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
