"""What the nightly's wider bounds (conformance.bounds.NIGHTLY_BOUNDS) cost per example, and the
nightly's test-hours that follow.

    python benchmarks/nightly_bounds.py                       # a few minutes: 20 examples per test
    python benchmarks/nightly_bounds.py --examples 40 --impl torch --impl jax

Runs the same selection of suite tests twice in the nightly profile, with CONFORMANCE_MAX_EXAMPLES
examples per test and a fresh report directory and empty compilation caches each: once as the nightly runs (its own bounds) and
once with benchmarks/default_bounds_plugin.py (the default box, as the nightly drew before), in
turn `--repeats` times; each run draws with the same Hypothesis seed (--hypothesis-seed). It prints
seconds per example per implementation under each (the fastest of the repeats: a shared machine's
load only ever adds time), their ratio, and the nightly's CPU test-hours: each test of
benchmarks/durations.json (the nightly's per-test seconds at 1000 examples) scaled by its
implementation's ratio (by the median ratio where the implementation was not measured).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.costs import costs  # noqa: E402

DURATIONS = ROOT / "benchmarks" / "durations.json"
IMPLEMENTATIONS = ("naive", "torch", "torch.compile", "jax", "tensorflow", "onnxruntime")
OPS = ("conv1d", "conv2d", "conv3d", "conv_transpose2d")
KINDS = ("forward", "gradient")


def _node_ids(implementations, ops, kinds) -> list[str]:
    return [f"conformance/suite/test_conformance.py::test_{kind}[{op}-{impl}-cpu]"
            for kind in kinds for op in ops for impl in implementations]


def run_selection(node_ids: list[str], examples: int, default_bounds: bool, seed: int, timeout: float) -> dict:
    """One nightly-profile run of `node_ids`; {implementation: seconds, examples, s/example, wall}."""
    with tempfile.TemporaryDirectory() as report_dir:
        command = [sys.executable, "-m", "pytest", *node_ids, "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                   "--hypothesis-profile", "conformance-nightly", f"--hypothesis-seed={seed}", "--report-dir", report_dir]
        if default_bounds:
            command += ["-p", "benchmarks.default_bounds_plugin"]
        # Empty compilation caches for each run: a cache the other run filled would make its shapes free.
        env = dict(os.environ, CONFORMANCE_MAX_EXAMPLES=str(examples),
                   TORCHINDUCTOR_CACHE_DIR=str(Path(report_dir) / "inductor-cache"),
                   JAX_COMPILATION_CACHE_DIR=str(Path(report_dir) / "jax-cache"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - start
        table = costs([str(p) for p in Path(report_dir).glob("results*.jsonl")])
        tail = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    return {"wall_s": wall, "pytest": tail[0] if tail else f"exit {done.returncode}",
            "implementations": {name: {"tests": row["tests"], "examples": row["examples"], "seconds": row["seconds"],
                                       "s_per_example": row["seconds"] / row["examples"] if row["examples"] else 0.0}
                                for name, row in table.items()}}


def _walls(results: list[dict]) -> str:
    return ", ".join(f"{r['wall_s']:.0f}" for r in results)


def _fastest(results: list[dict]) -> dict:
    """One run's shape, each implementation's row taken from the run where it was fastest."""
    rows = {}
    for result in results:
        for name, row in result["implementations"].items():
            if name not in rows or row["s_per_example"] < rows[name]["s_per_example"]:
                rows[name] = row
    return {"wall_s": min(r["wall_s"] for r in results), "pytest": results[-1]["pytest"], "implementations": rows}


def test_hours(ratios: dict[str, float], durations: dict[str, float]) -> tuple[float, float]:
    """(default, nightly) CPU test-hours: durations.json as it is, and scaled per implementation."""
    fallback = statistics.median(ratios.values()) if ratios else 1.0
    nightly = 0.0
    for test_id, seconds in durations.items():
        implementation = test_id.split("[", 1)[1].split("-", 1)[1].rsplit("-", 1)[0]
        nightly += seconds * ratios.get(implementation, fallback)
    return sum(durations.values()) / 3600, nightly / 3600


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", action="append", help=f"implementation (repeatable; default {IMPLEMENTATIONS})")
    parser.add_argument("--op", action="append", help=f"op family (repeatable; default {OPS})")
    parser.add_argument("--examples", type=int, default=20, help="examples per test (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed of both runs (default 0)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per bounds set, in turn (default 2)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds each run may take (default 900)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    node_ids = _node_ids(args.impl or IMPLEMENTATIONS, args.op or OPS, KINDS)
    # The nightly bounds run first: it pays the cold caches (bytecode, JAX's compilation cache), so
    # that its ratio errs high rather than low.
    every = {"nightly": [], "default": []}
    for _ in range(args.repeats):
        for name in every:
            every[name].append(run_selection(node_ids, args.examples, name == "default", args.seed, args.timeout))
    runs = {name: _fastest(results) for name, results in every.items()}
    print(f"{len(node_ids)} tests x {args.examples} examples, nightly profile, {args.repeats} run(s) each; "
          + "; ".join(f"{name}: {results[-1]['pytest']} ({_walls(results)} s wall)" for name, results in every.items())
          + "\n")
    print("| implementation | s/example, default bounds | s/example, nightly bounds | ratio |")
    print("|---|---:|---:|---:|")
    ratios = {}
    for name, row in sorted(runs["default"]["implementations"].items()):
        wide = runs["nightly"]["implementations"].get(name)
        if not wide or not row["s_per_example"]:
            continue
        ratios[name] = wide["s_per_example"] / row["s_per_example"]
        print(f"| {name} | {row['s_per_example']:.3f} | {wide['s_per_example']:.3f} | {ratios[name]:.2f} |")
    default_hours, nightly_hours = test_hours(ratios, json.loads(DURATIONS.read_text()))
    print(f"\nnightly CPU test-hours (benchmarks/durations.json scaled by these ratios): "
          f"{default_hours:.1f} with the default box, {nightly_hours:.1f} with the nightly bounds")
    if args.json:
        args.json.write_text(json.dumps({"runs": every, "ratios": ratios, "test_hours": {
            "default": default_hours, "nightly": nightly_hours}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
