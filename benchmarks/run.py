"""Benchmarks of the harness: throughput, overhead, reference speed, startup, JAX compile cost, mutation score.

    python benchmarks/run.py [--quick] [--out reports/benchmarks.json] [--only SECTION ...]

Prints a table and writes the JSON described in benchmarks/README.md. Every subprocess run of the
suite gets its own --report-dir in a temporary directory (the suite deletes results*.jsonl there).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.configs import MEDIUM, MEDIUM_TRANSPOSED, SEED, as_float64, fixed_cases  # noqa: E402
from conformance.profiles import CI, canonical_profile  # noqa: E402

IMPLEMENTATIONS = ("naive", "im2col", "matrix", "torch", "jax", "tensorflow")
REFERENCE_NAMES = ("naive", "im2col", "matrix")
SECTIONS = ("harness", "references", "jax_compile", "startup", "mutants", "suite")
FAILING = ("mismatch", "error", "crash", "timeout")

QUICK = dict(name="quick", per_family=4, reference_per_family=4, suite_examples=4, mutant_examples=10,
             mutant_parallel=2, jax_shapes=3,
             repeats=2)
FULL = dict(name="full", per_family=12, reference_per_family=12, suite_examples=20, mutant_examples=None,
            mutant_parallel=2, jax_shapes=6,
            repeats=3)


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _read_jsonl(paths) -> list[dict]:
    """The records of results files as plain dicts with their "type" (the analyses below index them)."""
    import dataclasses

    from conformance.records import read_records

    return [{"type": record.type, **dataclasses.asdict(record)} for record in read_records(sorted(paths)).records]


# ---- 1. checks per second through the real Harness ---------------------------------------------


class _Timers:
    """Wraps the harness's oracle, comparison, tensor generation and record writing with timers."""

    def __init__(self):
        self.seconds = Counter()

    def wrap(self, owner, attribute, key):
        original = getattr(owner, attribute)
        timers = self

        def timed(*args, **kwargs):
            tick = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers.seconds[key] += time.perf_counter() - tick

        setattr(owner, attribute, timed)
        return original


def bench_harness(params) -> dict:
    """Every implementation through Harness.check (frameworks in a worker process, as the suite runs them)."""
    import conformance.harness as harness_module
    from conformance.harness import Harness, Target
    from conformance.records import RecordWriter
    from conformance.strategies import ConvCase

    cases = fixed_cases(per_family=params["per_family"], seed=SEED)
    results = {}
    tmp = tempfile.mkdtemp(prefix="bench-harness-")
    for name in IMPLEMENTATIONS:
        timers = _Timers()
        originals = [
            (harness_module, "compute_oracle", timers.wrap(harness_module, "compute_oracle", "oracle")),
            (harness_module, "compare", timers.wrap(harness_module, "compare", "compare")),
            (ConvCase, "tensors", timers.wrap(ConvCase, "tensors", "tensors")),
        ]
        writer = RecordWriter(Path(tmp) / f"{name}.jsonl")
        originals.append((writer, "write", timers.wrap(writer, "write", "records")))
        harness = Harness(writer=writer, run_id="bench", isolation="process")
        try:
            tick = time.perf_counter()
            try:
                impl = harness.implementation(name)
                if hasattr(impl, "call"):
                    impl.call("versions")
            except Exception as err:
                results[name] = {"measured": False, "reason": f"could not load: {type(err).__name__}: {err}"}
                continue
            start_seconds = time.perf_counter() - tick
            statuses, call_seconds, checks = Counter(), 0.0, 0
            tick = time.perf_counter()
            for op, op_cases in cases.items():
                for case in op_cases:
                    for kind in ("forward", "gradient"):
                        target = Target(op, name, "cpu", name)
                        outcome = harness.check(target, kind, case, test_id=f"bench_{kind}[{op}-{name}-cpu]")
                        checks += 1
                        statuses.update(outcome.statuses.values())
                        call_seconds += outcome.records[0].get("seconds") or 0.0
            wall = time.perf_counter() - tick
        finally:
            harness.close()
            writer.close()
            for owner, attribute, original in originals:
                if owner is writer:
                    continue
                setattr(owner, attribute, original)
        breakdown = {key: round(value / wall, 4) for key, value in timers.seconds.items()}
        breakdown["implementation_calls"] = round(call_seconds / wall, 4)
        breakdown["other"] = round(1 - sum(breakdown.values()), 4)
        results[name] = {
            "measured": True,
            "checks": checks,
            "wall_seconds": round(wall, 3),
            "checks_per_second": round(checks / wall, 2),
            "worker_start_seconds": round(start_seconds, 3),
            "isolated": name not in REFERENCE_NAMES,
            "statuses": dict(statuses),
            "time_share": breakdown,
        }
    measured = [r for r in results.values() if r.get("measured")]
    overall = {
        "checks": sum(r["checks"] for r in measured),
        "wall_seconds": round(sum(r["wall_seconds"] for r in measured), 3),
    }
    overall["checks_per_second"] = round(overall["checks"] / max(overall["wall_seconds"], 1e-9), 2)
    return {"overall": overall, "per_implementation": results,
            "configs": {op: len(v) for op, v in cases.items()},
            "note": "one check = one forward or one gradient example (oracle, call, comparison, records); "
                    "the same fixed cases (all dtypes and value profiles) for every implementation; "
                    "worker start-up (framework import) excluded and reported separately; time_share splits "
                    "the wall time (implementation_calls includes pickling and the pipe for isolated ones)"}


# ---- 2. reference speed vs torch (in-process, float64) ---------------------------------------


def _best_of(fn, repeats):
    best = math.inf
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tick)
    return best


def _time_calls(impl, config, tensors, repeats):
    t = tensors
    return (_best_of(lambda: impl.forward(config, t.x, t.w, t.b), repeats),
            _best_of(lambda: impl.vjp(config, t.x, t.w, t.b, t.grad_out), repeats))


def bench_references(params) -> dict:
    from conformance.registry import get_implementation
    from conformance.strategies import make_tensors
    from references.numpy.matrix import convolution_matrix_entries

    try:
        torch_impl = get_implementation("torch")
        torch_impl.forward(MEDIUM, *[make_tensors(MEDIUM, 0).x, make_tensors(MEDIUM, 0).w])
    except Exception as err:
        return {"measured": False, "reason": f"torch adapter unavailable: {type(err).__name__}: {err}"}
    repeats = params["repeats"]
    cases = fixed_cases(per_family=params["reference_per_family"], seed=SEED)
    configs = [as_float64(c).config for op_cases in cases.values() for c in op_cases]
    sets = {"medium": [MEDIUM], "medium_transposed": [MEDIUM_TRANSPOSED], "drawn": configs}
    if params.get("medium_only"):
        sets.pop("drawn")
    result = {}
    matrix_points = []
    for set_name, set_configs in sets.items():
        totals = defaultdict(lambda: [0.0, 0.0])
        for config in set_configs:
            tensors = make_tensors(config, 0)
            for name in REFERENCE_NAMES + ("torch",):
                impl = torch_impl if name == "torch" else get_implementation(name)
                forward, vjp = _time_calls(impl, config, tensors, repeats)
                totals[name][0] += forward
                totals[name][1] += vjp
                if name == "matrix":
                    geometry = ((config.out_channels, config.in_channels, config.out_size, config.in_size)
                                if config.transposed else
                                (config.in_channels, config.out_channels, config.in_size, config.out_size))
                    rows, _, _ = convolution_matrix_entries(
                        geometry[0], geometry[1], config.groups, geometry[2], geometry[3], config.kernel,
                        config.stride, config.dilation, config.resolved_padding)
                    matrix_points.append((len(rows), max(config.batch, 1), forward + vjp))
        torch_forward, torch_vjp = totals["torch"]
        result[set_name] = {
            "configs": len(set_configs),
            "seconds": {name: {"forward": round(f, 5), "vjp": round(v, 5)} for name, (f, v) in totals.items()},
            "ratio_to_torch": {name: {"forward": round(totals[name][0] / torch_forward, 2),
                                      "vjp": round(totals[name][1] / torch_vjp, 2)} for name in REFERENCE_NAMES},
        }
    if params.get("medium_only"):
        return {"measured": True, **result}
    result["matrix_cost_vs_nonzeros"] = _fit_matrix(matrix_points)
    result["single_thread"] = _single_thread_medium(params)
    result["note"] = ("best of {} calls per config, summed over the set; torch through its adapter in this process "
                      "(NumPy in and out, like the references); float64; threads: library defaults".format(repeats))
    return {"measured": True, **result}


SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1, "MKL_NUM_THREADS": 1}


def _single_thread_medium(params) -> dict:
    """The medium configs again in a process where NumPy's BLAS and torch each use one thread.

    On a loaded machine a multi-threaded BLAS waits for its slowest thread on every GEMM; one
    thread each is the like-for-like comparison of the algorithms.
    """
    with tempfile.TemporaryDirectory(prefix="bench-1thread-") as tmp:
        out = Path(tmp) / "single.json"
        command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--only", "references", "--medium-only",
                   "--out", str(out)] + (["--quick"] if params["name"] == "quick" else [])
        completed = subprocess.run(command, cwd=ROOT, env=_env(**SINGLE_THREAD_ENV), capture_output=True,
                                   text=True, timeout=900)
        if completed.returncode != 0 or not out.exists():
            return {"measured": False, "reason": f"exit {completed.returncode}: {completed.stderr[-600:]}"}
        data = json.loads(out.read_text())["reference_speed_vs_torch"]
    data["env"] = SINGLE_THREAD_ENV
    return data


def _fit_matrix(points) -> dict:
    """log-log slope of matrix time against nonzeros x batch on the configs with enough work to time."""
    import numpy as np

    usable = [(nnz * batch, seconds) for nnz, batch, seconds in points if nnz * batch >= 2000]
    if len(usable) < 4:
        return {"measured": False, "reason": f"only {len(usable)} configs with >= 2000 nonzeros x batch"}
    work = np.log([u[0] for u in usable])
    seconds = np.log([u[1] for u in usable])
    slope, intercept = np.polyfit(work, seconds, 1)
    correlation = float(np.corrcoef(work, seconds)[0, 1])
    per_million = [s / w * 1e6 for w, s in usable]
    return {"measured": True, "configs": len(usable), "loglog_slope": round(float(slope), 3),
            "loglog_correlation": round(correlation, 3),
            "seconds_per_million_nonzeros_x_batch_median": round(statistics.median(per_million), 4),
            "note": "forward+vjp time against nnz(M) x batch; slope near 1 and high correlation = cost follows "
                    "the nonzeros (small configs are dominated by a fixed per-call cost, so only those with "
                    ">= 2000 nonzeros x batch are fitted)"}


# ---- 3. JAX compile cost, 4. startup (fresh processes) -----------------------------------------


def _probe(args, timeout) -> dict:
    completed = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "probes.py"), *args], cwd=ROOT,
                               env=_env(), capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        return {"measured": False, "reason": f"probe exited {completed.returncode}: {completed.stderr[-600:]}"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench_jax_compile(params) -> dict:
    try:
        import importlib.util

        if importlib.util.find_spec("jax") is None:
            return {"measured": False, "reason": "jax not installed"}
        return _probe(["jax_compile", str(params["jax_shapes"])], timeout=600)
    except subprocess.TimeoutExpired:
        return {"measured": False, "reason": "probe took over 600 s"}


def bench_startup(params) -> dict:
    result = {"in_process_probe": _probe(["startup", repr(time.time())], timeout=300)}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        probe_out = Path(tmp) / "probe.json"
        env = _env(CONFORMANCE_MAX_EXAMPLES=1, BENCH_PROBE_OUT=probe_out)
        env["PYTHONPATH"] = str(ROOT / "benchmarks") + os.pathsep + env["PYTHONPATH"]
        command = [sys.executable, "-m", "pytest", "conformance/suite", "-q", "-k", "naive", "--hypothesis-profile",
                   "conformance-ci", "-p", "no:randomly", "-p", "probes", "--report-dir", str(Path(tmp) / "reports"),
                   "--no-conformance-report"]
        collect = [c for c in command if c != "--no-conformance-report"] + ["--collect-only"]
        tick = time.time()
        subprocess.run(collect, cwd=ROOT, env=env, capture_output=True, timeout=600)
        collect_seconds = time.time() - tick
        tick = time.time()
        completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        total = time.time() - tick
        records = _read_jsonl((Path(tmp) / "reports").glob("results*.jsonl"))
        header = next((r for r in records if r["type"] == "run"), {})
        checks = [r for r in records if r["type"] == "check"]
        from datetime import datetime

        def epoch(text):
            return datetime.fromisoformat(text).timestamp()

        probe = json.loads(probe_out.read_text()) if probe_out.exists() else {}
        result["pytest_naive"] = {
            "command": " ".join(["CONFORMANCE_MAX_EXAMPLES=1"] + command[2:]),
            "exit_code": completed.returncode,
            "collect_only_seconds": round(collect_seconds, 3),
            "total_seconds": round(total, 3),
            "to_run_header_seconds": round(epoch(header["started"]) - tick, 1) if header else None,
            "to_first_check_record_seconds": round(epoch(checks[0]["time"]) - tick, 1) if checks else None,
            "checks": len(checks),
            "frameworks_imported": probe.get("frameworks_imported"),
            "note": "record times have 1 s resolution; collect_only_seconds is interpreter start + imports + "
                    "collection, the better startup figure",
        }
    result["startup_seconds"] = result["pytest_naive"]["collect_only_seconds"]
    result["imported_a_framework"] = bool(result["in_process_probe"].get("frameworks_imported")
                                          or result["pytest_naive"]["frameworks_imported"])
    return result


# ---- 5. a conformance-like run: overhead and the 100-example estimate ---------------------------


def _examples_in_order(records):
    """Check records grouped into examples (consecutive records of one test with the same case)."""
    examples = []
    for record in records:
        key = (record["test_id"], json.dumps(record["config"], sort_keys=True), record["data_seed"],
               record["value_profile"])
        if examples and examples[-1]["key"] == key and record["check"] not in examples[-1]["checks"]:
            examples[-1]["records"].append(record)
            examples[-1]["checks"].add(record["check"])
        else:
            examples.append({"key": key, "records": [record], "checks": {record["check"]}})
    return examples


def analyse_suite_run(report_dir: Path, target_examples: int = 100) -> dict:
    records = _read_jsonl(report_dir.glob("results*.jsonl"))
    checks = [r for r in records if r["type"] == "check"]
    summaries = [r for r in records if r["type"] == "summary"]
    # Each xdist worker ends its session with a run_end; the run lasts as long as the longest.
    run_end = max((r for r in records if r["type"] == "run_end"), key=lambda r: r["duration_s"], default=None)
    header = next((r for r in records if r["type"] == "run"), {})
    examples = _examples_in_order(checks)
    call_seconds = Counter()
    recorded = Counter()
    for example in examples:
        seconds = next((r.get("seconds") for r in example["records"] if r.get("seconds") is not None), 0.0)
        call_seconds[example["records"][0]["implementation"]] += seconds
        recorded[example["records"][0]["test_id"]] += 1
    # Passes beyond PASS_RECORD_CAP per (test, check) are only counted, not written: their call
    # time is unknown. Scaling the recorded calls up gives the other bound of the overhead.
    scaled_calls = Counter(call_seconds)
    capped = []
    for summary in summaries:
        if recorded[summary["test_id"]] < summary["examples"]:
            capped.append(summary["test_id"])
            test_calls = sum(next((r.get("seconds") for r in e["records"] if r.get("seconds") is not None), 0.0)
                             for e in examples if e["records"][0]["test_id"] == summary["test_id"])
            unrecorded = summary["examples"] - recorded[summary["test_id"]]
            scaled_calls[summary["implementation"]] += test_calls / max(recorded[summary["test_id"]], 1) * unrecorded
    test_seconds = Counter()
    estimate = Counter()
    failed_tests = []
    for summary in summaries:
        implementation = summary["implementation"]
        test_seconds[implementation] += summary["duration_s"]
        failed = any(status in FAILING for counts in summary["counts"].values() for status in counts)
        if failed:
            failed_tests.append(summary["test_id"])
            estimate[implementation] += summary["duration_s"]  # stops at the failure and shrinks: no scaling
        else:
            estimate[implementation] += summary["duration_s"] * target_examples / max(summary["examples"], 1)
    missing = _estimate_missing_tests(records, summaries, estimate, target_examples)
    total_test = sum(test_seconds.values())
    # Steady state: the tests that passed (no shrinking, no crash restarts).
    passing = {s["test_id"] for s in summaries if s["test_id"] not in failed_tests}
    passing_seconds = sum(s["duration_s"] for s in summaries if s["test_id"] in passing)
    passing_calls = 0.0
    for example in examples:
        if example["records"][0]["test_id"] in passing:
            passing_calls += next((r.get("seconds") for r in example["records"] if r.get("seconds") is not None), 0.0)
    per_impl = {}
    for name in sorted(test_seconds):
        per_impl[name] = {
            "test_seconds": round(test_seconds[name], 2),
            "implementation_call_seconds": round(call_seconds[name], 2),
            "overhead_fraction": round(1 - call_seconds[name] / max(test_seconds[name], 1e-9), 3),
            f"estimated_seconds_at_{target_examples}": round(estimate[name], 1),
        }
    # Since the summaries carry call_seconds (every call of the test, shrink replays included) and
    # start_seconds (worker starts: importing the framework, first and after each crash or hang), the
    # overhead is exact: the harness's seconds are the test's less both, and the fraction is of the
    # test seconds. Worker restarts are the implementations' doing (a crash costs one), so they are
    # left out of the harness's share, and reported apart (and in a second fraction that counts them).
    summed_calls = sum(s.get("call_seconds") or 0.0 for s in summaries)
    summed_starts = sum(s.get("start_seconds") or 0.0 for s in summaries)
    harness_seconds = total_test - summed_calls - summed_starts
    harness_by_impl = Counter()
    for summary in summaries:
        harness_by_impl[summary["implementation"]] += (summary["duration_s"] - (summary.get("call_seconds") or 0.0)
                                                       - (summary.get("start_seconds") or 0.0))
    for name, row in per_impl.items():
        row["harness_seconds"] = round(harness_by_impl[name], 2)
    exact = {
        "harness_overhead_fraction_exact": round(harness_seconds / max(total_test, 1e-9), 3) if summed_calls else None,
        "harness_overhead_fraction_with_restarts": round((harness_seconds + summed_starts) / max(total_test, 1e-9), 3)
        if summed_calls else None,
        "summed_call_seconds": round(summed_calls, 2),
        "summed_worker_start_seconds": round(summed_starts, 2),
        "harness_seconds": round(harness_seconds, 2),
    }
    return {
        **exact,
        "tests": len(summaries),
        "examples": sum(s["examples"] for s in summaries),
        "failed_tests": failed_tests,
        "test_seconds": round(total_test, 2),
        "run_seconds": run_end["duration_s"] if run_end else None,
        "argv": header.get("argv"),
        "hypothesis_profile": header.get("hypothesis_profile"),
        "implementation_call_seconds": round(sum(call_seconds.values()), 2),
        "harness_overhead_fraction": round(1 - sum(call_seconds.values()) / max(total_test, 1e-9), 3),
        "overhead_is_exact": not capped,
        "harness_overhead_fraction_lower_bound": round(
            max(0.0, 1 - sum(scaled_calls.values()) / max(total_test, 1e-9)), 3),
        "tests_with_unrecorded_passes": len(capped),
        "passing_tests_overhead_fraction": round(1 - passing_calls / max(passing_seconds, 1e-9), 3),
        "passing_tests_seconds": round(passing_seconds, 2),
        f"estimated_test_seconds_at_{target_examples}": round(sum(estimate.values()), 1),
        "missing_tests": missing,
        "per_implementation": per_impl,
    }


def _estimate_missing_tests(records, summaries, estimate, target_examples) -> dict:
    """Tests of the run that never finished (a run cut short): estimated from finished ones, added to `estimate`.

    A missing test counts as the mean (scaled) duration of the finished tests of the same implementation
    and kind; with none finished, twice the same implementation's forward tests (a VJP does about
    twice the work of a forward call).
    """
    from conformance.strategies import OP_FAMILIES

    header = next((r for r in records if r["type"] == "run"), {})
    implementations = header.get("implementations") or sorted({s["implementation"] for s in summaries})
    finished = {s["test_id"] for s in summaries}
    scaled = defaultdict(list)
    for summary in summaries:
        kind = summary["test_id"].split("[")[0]
        failed = any(status in FAILING for counts in summary["counts"].values() for status in counts)
        factor = 1 if failed else target_examples / max(summary["examples"], 1)
        scaled[(summary["implementation"], kind)].append(summary["duration_s"] * factor)
    missing = {}
    for name in implementations:
        for kind in ("test_forward", "test_gradient"):
            for op in OP_FAMILIES:
                test_id = f"{kind}[{op}-{name}-cpu]"
                if test_id in finished:
                    continue
                same = scaled.get((name, kind))
                if same:
                    guess, basis = statistics.mean(same), f"mean of {len(same)} finished {kind} tests of {name}"
                elif scaled.get((name, "test_forward")):
                    guess = 2 * statistics.mean(scaled[(name, "test_forward")])
                    basis = f"2 x mean of {name}'s forward tests"
                else:
                    continue
                estimate[name] += guess
                missing[test_id] = {"estimated_seconds": round(guess, 1), "basis": basis}
    return missing


def bench_suite(params) -> dict:
    if params.get("suite_100_results"):
        # The 10-minute target is about 100 examples per test: a real (possibly cut short) 100-example run.
        suite_100 = analyse_suite_run(Path(params["suite_100_results"]))
        suite_100.update({"source": params["suite_100_results"], "max_examples": 100,
                          "complete": suite_100["run_seconds"] is not None})
        params["suite_100_analysis"] = suite_100
    if params.get("suite_results"):
        # An existing conformance run (for instance a full 100-example run made separately).
        report_dir = Path(params["suite_results"])
        analysis = analyse_suite_run(report_dir)
        examples = os.environ.get("CONFORMANCE_MAX_EXAMPLES_OF_RESULTS")
        analysis.update({"source": str(report_dir),
                         "max_examples": int(examples) if examples else None,
                         "complete": analysis["run_seconds"] is not None,
                         "note": "analysed from an existing run (--suite-results); see the fields' meaning in "
                                 "benchmarks/README.md"})
        return analysis
    examples = params["suite_examples"]
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        report_dir = Path(tmp) / "reports"
        command = [sys.executable, "-m", "pytest", "conformance/suite", "-q", "--hypothesis-profile", "conformance-ci",
                   "-p", "no:randomly", "--report-dir", str(report_dir), "--no-conformance-report"]
        tick = time.time()
        completed = subprocess.run(command, cwd=ROOT, env=_env(CONFORMANCE_MAX_EXAMPLES=examples),
                                   capture_output=True, text=True, timeout=3600)
        wall = time.time() - tick
        analysis = analyse_suite_run(report_dir)
    analysis.update({
        "command": f"CONFORMANCE_MAX_EXAMPLES={examples} pytest conformance/suite -q --hypothesis-profile conformance-ci",
        "max_examples": examples,
        "exit_code": completed.returncode,
        "process_wall_seconds": round(wall, 1),
        "note": "harness_overhead_fraction = 1 - (sum of implementation call seconds, one per example) / (sum of "
                "test durations); calls of isolated implementations include pickling and the pipe. The 100-example "
                "estimate scales each passing test linearly and keeps failing tests (which stop at the failure "
                "and shrink) as measured; process start, imports and collection are not included.",
    })
    return analysis


# ---- 6. mutation score -------------------------------------------------------------------------


def _run_mutant(name: str, examples: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-mutant-{name}-") as tmp:
        report_dir = Path(tmp) / "reports"
        command = [sys.executable, "-m", "pytest", "conformance/suite", "-q", "--impl", f"tests.mutants:{name}",
                   "-k", name, "--hypothesis-profile", "conformance-ci", "-p", "no:randomly", "--report-dir", str(report_dir),
                   "--no-conformance-report"]
        env = _env(**({"CONFORMANCE_MAX_EXAMPLES": examples} if examples else {}))
        tick = time.time()
        completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.time() - tick
        records = _read_jsonl(report_dir.glob("results*.jsonl"))
    checks = [r for r in records if r["type"] == "check" and r["implementation"] == name]
    by_test = defaultdict(list)
    for record in checks:
        by_test[record["test_id"]].append(record)
    to_first_failure = {}
    statuses = Counter(r["status"] for r in checks)
    for test_id, test_records in by_test.items():
        for index, example in enumerate(_examples_in_order(test_records), start=1):
            if any(r["status"] in FAILING for r in example["records"]):
                to_first_failure[test_id] = index
                break
    caught = bool(to_first_failure)
    return {
        "caught": caught,
        "failing_tests": len(to_first_failure),
        "examples_to_first_failure": min(to_first_failure.values()) if caught else None,
        "examples_to_first_failure_per_test": to_first_failure,
        "statuses": dict(statuses),
        "exit_code": completed.returncode,
        "seconds": round(wall, 1),
    }


def bench_mutants(params) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from tests.mutants import MUTANTS

    examples = params["mutant_examples"]
    names = list(MUTANTS) + ["correct"]
    # Two pytest processes at a time (2 cores): each spends much of its time starting up and shrinking.
    with ThreadPoolExecutor(max_workers=params["mutant_parallel"]) as pool:
        runs = dict(zip(names, pool.map(lambda name: _run_mutant(name, examples), names), strict=True))
    correct = runs.pop("correct")
    details = {}
    for name, run in runs.items():
        details[name] = dict(run, description=MUTANTS[name].get("description", ""))
        print(f"  mutant {name}: {'caught' if run['caught'] else 'NOT caught'} ({run['seconds']} s)", file=sys.stderr)
    caught = sum(d["caught"] for d in details.values())
    firsts = [d["examples_to_first_failure"] for d in details.values() if d["caught"]]
    return {
        "caught": caught,
        "total": len(details),
        "score": round(caught / len(details), 3),
        "median_examples_to_first_failure": statistics.median(firsts) if firsts else None,
        "correct_flagged": correct["caught"] or correct["exit_code"] != 0,
        "correct": correct,
        "max_examples": examples or "ci profile (40)",
        "mutants": details,
        "command": "pytest conformance/suite -q --impl tests.mutants:NAME -k NAME --hypothesis-profile conformance-ci",
        "note": "caught = any mismatch/error/crash/timeout record; examples_to_first_failure = examples drawn in "
                "the first test (in run order) that failed, up to and including the failing one, minimum over "
                "the mutant's failing tests",
    }


# ---- targets and the table ---------------------------------------------------------------------


def evaluate_targets(data: dict) -> dict:
    targets = {}
    suite = data.get("suite") or {}
    if "harness_overhead_fraction" in suite:
        exact = suite.get("harness_overhead_fraction_exact")
        value = exact if exact is not None else suite["harness_overhead_fraction"]
        targets["harness_overhead_below_25_percent"] = {
            "holds": value < 0.25, "value": value, "limit": 0.25,
            "exact": exact is not None or suite.get("overhead_is_exact"),
            "passing_tests_value": suite.get("passing_tests_overhead_fraction"),
            "per_implementation": {n: r["overhead_fraction"] for n, r in suite["per_implementation"].items()}}
    references = data.get("reference_speed_vs_torch") or {}
    if references.get("measured"):
        ratios = {set_name: references[set_name]["ratio_to_torch"]["im2col"]
                  for set_name in ("medium", "medium_transposed")}
        worst = max(v for r in ratios.values() for v in r.values())
        single = references.get("single_thread") or {}
        single_ratios = ({set_name: single[set_name]["ratio_to_torch"]["im2col"]
                          for set_name in ("medium", "medium_transposed")} if single.get("measured") else None)
        single_worst = (max(v for r in single_ratios.values() for v in r.values()) if single_ratios else None)
        targets["im2col_within_5x_of_torch_medium_float64"] = {
            "holds": worst <= 5, "worst_ratio": worst, "ratios": ratios, "limit": 5,
            "single_thread_holds": None if single_worst is None else single_worst <= 5,
            "single_thread_worst_ratio": single_worst, "single_thread_ratios": single_ratios}
        fit = references.get("matrix_cost_vs_nonzeros", {})
        if fit.get("measured"):
            targets["matrix_cost_follows_nonzeros"] = {
                "holds": 0.7 <= fit["loglog_slope"] <= 1.3 and fit["loglog_correlation"] >= 0.8,
                "loglog_slope": fit["loglog_slope"], "loglog_correlation": fit["loglog_correlation"],
                "criterion": "log-log slope in [0.7, 1.3] and correlation >= 0.8"}
    harness = data.get("checks_per_second") or {}
    per_impl = harness.get("per_implementation", {})
    if per_impl.get("naive", {}).get("measured"):
        rates = {n: r["checks_per_second"] for n, r in per_impl.items() if r.get("measured")}
        slowest = min(rates, key=rates.get)
        naive_share = per_impl["naive"]["time_share"].get("implementation_calls")
        targets["naive_never_the_bottleneck"] = {
            "holds": slowest != "naive", "slowest_implementation": slowest, "checks_per_second": rates,
            "naive_call_share_of_its_own_checks": naive_share,
            "oracle_share_in_framework_checks": {n: per_impl[n]["time_share"].get("oracle")
                                                 for n in per_impl if per_impl[n].get("measured")}}
    if suite.get("source") and suite.get("run_seconds") is not None:
        # A whole run given with --suite-results: judged on its own wall time when it is the default
        # run (conformance-ci, every implementation at its own budget, CONFORMANCE_MAX_EXAMPLES unset);
        # the previous release's records name it "ci".
        default = canonical_profile(suite.get("hypothesis_profile")) == CI and not suite.get("max_examples")
        targets["default_conformance_under_10_min"] = {
            "holds": default and suite["run_seconds"] < 600, "measured_seconds": suite["run_seconds"],
            "limit_seconds": 600, "judged": default,
            "basis": "the longest xdist worker's session of the run in --suite-results (pytest's own start and "
                     "the report's writing, a few seconds, not included)" if default else
                     f"not the default run (profile {suite.get('hypothesis_profile')!r}, max_examples "
                     f"{suite.get('max_examples')!r}): not judged"}
    basis = data.get("suite_100") or suite
    # The estimate (every test at 100 examples, summed on one core) is for the benchmark's own short
    # suite run; a whole default run given with --suite-results was judged above on its wall time.
    if "estimated_test_seconds_at_100" in basis and (basis is not suite or "default_conformance_under_10_min" not in targets):
        estimate = basis["estimated_test_seconds_at_100"] + (data.get("startup", {}).get("startup_seconds") or 0)
        per_impl = {n: r["estimated_seconds_at_100"] for n, r in basis["per_implementation"].items()}
        targets["default_conformance_under_10_min_at_100_examples"] = {
            "holds": estimate < 600, "estimated_seconds": round(estimate, 1), "limit_seconds": 600,
            "per_implementation_seconds": {n: round(v, 1) for n, v in per_impl.items()},
            "measured_with_max_examples": basis.get("max_examples"),
            "estimated": basis.get("max_examples") != 100 or not basis.get("complete", False),
            # Hypothesis draws the simplest (and, for JAX, already compiled) shapes first: a few examples
            # per test extrapolate far too low. --quick measures 4.
            "reliable": (basis.get("max_examples") or 0) >= 20}
    return targets


def _row(label, value):
    return f"  {label:<58} {value}"


def print_table(data: dict) -> None:
    print("\nconv-conformance benchmarks" + (" (--quick)" if data["quick"] else ""))
    harness = data.get("checks_per_second") or {}
    if harness:
        print(_row("checks/s overall (Harness, process isolation)", harness["overall"]["checks_per_second"]))
        for name, r in harness["per_implementation"].items():
            text = (f"{r['checks_per_second']:>8}  (impl calls {100 * r['time_share']['implementation_calls']:.0f}% "
                    f"of wall, oracle {100 * r['time_share'].get('oracle', 0):.0f}%)") if r.get("measured") \
                else f"not measured: {r['reason']}"
            print(_row(f"  checks/s {name}", text))
    suite = data.get("suite") or {}
    if "harness_overhead_fraction" in suite:
        print(_row(f"harness overhead fraction (suite, {suite['max_examples']} ex/test)",
                   suite["harness_overhead_fraction"]))
        print(_row("suite test seconds / estimated at 100 ex/test",
                   f"{suite['test_seconds']} / {suite['estimated_test_seconds_at_100']}"))
    references = data.get("reference_speed_vs_torch") or {}
    if references.get("measured"):
        for set_name in ("medium", "medium_transposed", "drawn"):
            if set_name not in references:
                continue
            ratios = references[set_name]["ratio_to_torch"]
            print(_row(f"time / torch, {set_name} (fwd, vjp)",
                       "  ".join(f"{n} {r['forward']}, {r['vjp']}" for n, r in ratios.items())))
        single = references.get("single_thread") or {}
        if single.get("measured"):
            for set_name in ("medium", "medium_transposed"):
                ratios = single[set_name]["ratio_to_torch"]
                print(_row(f"time / torch, {set_name}, 1 thread (fwd, vjp)",
                           "  ".join(f"{n} {r['forward']}, {r['vjp']}" for n, r in ratios.items())))
        fit = references.get("matrix_cost_vs_nonzeros") or {}
        if fit.get("measured"):
            print(_row("matrix: log-log slope of time vs nonzeros (corr)",
                       f"{fit['loglog_slope']} ({fit['loglog_correlation']})"))
    startup = data.get("startup") or {}
    if startup:
        print(_row("startup seconds (pytest -k naive --collect-only)", startup["startup_seconds"]))
        print(_row("references-only run imported a framework", startup["imported_a_framework"]))
    jax = data.get("jax_compile") or {}
    if jax.get("measured"):
        print(_row("jax first/repeat call at a new shape, forward (s)",
                   f"{jax['forward_first_s']} / {jax['forward_repeat_s']}"))
        print(_row("jax first/repeat call at a new shape, vjp (s)", f"{jax['vjp_first_s']} / {jax['vjp_repeat_s']}"))
    mutants = data.get("mutation_score") or {}
    if mutants:
        print(_row("mutation score", f"{mutants['caught']}/{mutants['total']} = {mutants['score']}, "
                                     f"median examples to first failure {mutants['median_examples_to_first_failure']}"))
        print(_row("correct implementation flagged", mutants["correct_flagged"]))
    for name, target in data.get("targets", {}).items():
        caveat = "" if target.get("reliable", True) else " (unreliable: too few examples, run without --quick)"
        if "measured_seconds" in target:
            caveat = f" ({target['measured_seconds']:.0f} s)" if target["judged"] else f" ({target['basis']})"
        print(_row(f"target {name}", ("holds" if target["holds"] else "MISSES") + caveat))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer configs and examples (a few minutes)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmarks.json"), help="JSON output path")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--suite-results", metavar="DIR",
                        help="take the suite section from an existing run's results*.jsonl in DIR instead of running "
                             "the suite (set CONFORMANCE_MAX_EXAMPLES_OF_RESULTS to the max_examples it used)")
    parser.add_argument("--merge", action="store_true",
                        help="start from the existing --out file and replace only the sections run now")
    parser.add_argument("--suite-100-results", metavar="DIR",
                        help="also analyse a 100-example conformance run in DIR (CONFORMANCE_MAX_EXAMPLES=100), "
                             "for the 10-minute target")
    parser.add_argument("--medium-only", action="store_true", help=argparse.SUPPRESS)  # the single-thread rerun
    args = parser.parse_args(argv)
    params = QUICK if args.quick else FULL
    if args.medium_only:
        params = dict(params, medium_only=True)
    if args.suite_results:
        params = dict(params, suite_results=args.suite_results)
    if args.suite_100_results:
        params = dict(params, suite_100_results=args.suite_100_results)
    sections = args.only or SECTIONS
    import hypothesis
    import numpy

    previous = {}
    if args.merge and Path(args.out).exists():
        previous = json.loads(Path(args.out).read_text())
    data = {
        **previous,
        "quick": args.quick,
        "parameters": params,
        "machine": {"python": platform.python_version(), "numpy": numpy.__version__,
                    "hypothesis": hypothesis.__version__, "cpus": os.cpu_count(),
                    "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    runners = {
        "harness": ("checks_per_second", bench_harness),
        "references": ("reference_speed_vs_torch", bench_references),
        "jax_compile": ("jax_compile", bench_jax_compile),
        "startup": ("startup", bench_startup),
        "suite": ("suite", bench_suite),
        "mutants": ("mutation_score", bench_mutants),
    }
    for section in SECTIONS:
        if section not in sections:
            continue
        key, runner = runners[section]
        print(f"[{time.strftime('%H:%M:%S')}] {section} ...", file=sys.stderr)
        tick = time.time()
        try:
            data[key] = runner(params)
        except Exception as err:  # one broken section must not lose the others' numbers
            import traceback

            data[key] = {"measured": False, "reason": f"{type(err).__name__}: {err}",
                         "traceback": traceback.format_exc(limit=6)}
        data.setdefault("section_seconds", {})[section] = round(time.time() - tick, 1)
    if params.get("suite_100_analysis"):
        data["suite_100"] = params["suite_100_analysis"]
    suite = data.get("suite") or {}
    if "harness_overhead_fraction" in suite:
        data["harness_overhead_fraction"] = suite["harness_overhead_fraction"]
    if "startup" in data and "startup_seconds" in data["startup"]:
        data["startup_seconds"] = data["startup"]["startup_seconds"]
    data["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    data["targets"] = evaluate_targets(data)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print_table(data)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
