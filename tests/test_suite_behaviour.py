"""How the suite reports what it finds, run end to end in subprocesses from the repository root.

- one test reports several distinct bugs (a failure's identity is its result, status and kind);
- shrink replays are counted apart from the examples drawn, and are not written as findings;
- implementations declared per check kind and per dtype draw only what they run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_suite(report_dir: Path, *args: str, examples: int = 30) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_"))}
    env.update(CONFORMANCE_MAX_EXAMPLES=str(examples), NO_COLOR="1", TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", "pytest", "conformance/suite", "-q", "-p", "no:randomly",
               "--hypothesis-profile", "conformance-ci", "--report-dir", str(report_dir), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def read(report_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (report_dir / "results.jsonl").read_text().splitlines() if line.strip()]


def test_one_test_reports_two_distinct_bugs(tmp_path):
    done = run_suite(tmp_path, "--impl", "tests.planted_two_bugs:two_bugs", "--isolation", "none",
                     "-k", "two_bugs and test_forward and conv1d")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "ConformanceFailure[forward: mismatch (shape)]" in done.stdout
    assert "ConformanceFailure[forward: mismatch (value)]" in done.stdout
    minimal = {(r["check"], r["kind"]) for r in read(tmp_path) if r["type"] == "check" and r.get("minimal")}
    assert minimal == {("forward", "shape"), ("forward", "value")}


def test_shrink_replays_are_counted_apart(tmp_path):
    done = run_suite(tmp_path, "--impl", "tests.mutants:missing_bias", "--isolation", "none",
                     "-k", "missing_bias and test_forward and conv1d", examples=20)
    assert done.returncode == 1, done.stdout[-3000:]
    records = read(tmp_path)
    summary = next(r for r in records if r["type"] == "summary")
    assert summary["examples"] <= 20 + 10, summary  # the budget, plus the few Hypothesis adds after a bug
    assert summary["shrink_replays"] > 0
    assert sum(summary["counts"]["forward"].values()) == summary["examples"]
    phases = {r["phase"] for r in records if r["type"] == "check"}
    assert "shrink" not in phases and "final" in phases


def test_each_implementation_is_described_once_when_its_first_test_starts(tmp_path):
    """The run header asks no implementation anything; each one's versions and settings come in one
    ImplementationRecord per process, written when its first test starts. A CUDA-only variant on a
    CPU run skips without one: its worker is never started."""
    done = run_suite(tmp_path, "-k", "test_forward and conv1d and (naive or im2col or torch.cudnn_off)", examples=2)
    assert done.returncode == 0, done.stdout[-3000:]
    records = read(tmp_path)
    described = [r for r in records if r["type"] == "implementation"]
    assert sorted(r["implementation"] for r in described) == ["im2col", "naive"]
    assert all(r["settings"] and set(r["settings"]) <= {"naive (cpu)", "im2col (cpu)"} for r in described)
    first_check = next(i for i, r in enumerate(records) if r["type"] == "check" and r["implementation"] == "naive")
    assert any(r["type"] == "implementation" and r["implementation"] == "naive" for r in records[:first_check])
    summaries = {r["implementation"]: r for r in records if r["type"] == "summary"}
    assert "CUDA" in summaries["torch.cudnn_off"]["skipped"] or "cuda" in summaries["torch.cudnn_off"]["skipped"]


def test_each_implementation_s_tests_are_collected_together():
    """xdist hands each worker a contiguous block: grouped, a worker starts only its block's frameworks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "conformance/suite", "--collect-only", "-q", "-p", "no:randomly"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    ids = [line for line in done.stdout.splitlines() if "::test_" in line]
    assert len(ids) > 100, done.stdout[-2000:]
    implementations = [line.rsplit("[", 1)[1].rstrip("]").split("-")[1] for line in ids]
    runs = [name for i, name in enumerate(implementations) if i == 0 or implementations[i - 1] != name]
    assert len(runs) == len(set(runs)), f"an implementation's tests are split: {runs}"
    compiled = ["torch.compile", "torch.compile.max_autotune", "jax", "jax.jit", "tensorflow.xla",
                "keras.torch", "keras.jax", "keras.tensorflow"]  # they declare max_ci_examples
    assert sorted(runs[:len(compiled)]) == sorted(compiled), runs
    assert runs[len(compiled):len(compiled) + 3] == ["naive", "im2col", "matrix"], runs


def _drawn_configs(records: list[dict], test: str, implementation: str) -> set[str]:
    return {r["config_str"] for r in records
            if r["type"] == "check" and r["phase"] == "generate"
            and r["test_id"] == f"{test}[conv1d-{implementation}-cpu]"}


def test_a_ci_run_draws_the_same_configs_for_tests_with_alike_strategies(tmp_path):
    """The ci profile derandomizes every test from one seed: the check kinds of an implementation,
    and implementations of one op family with the same dtypes, check the same configs (a shorter
    budget a prefix of a longer one). So a compiled path compiles a shape once for all its kinds'
    caches, and a config that fails one implementation was also checked on the others."""
    done = run_suite(tmp_path, "-k", "conv1d and (naive or im2col) and (test_forward or test_gradient or test_determinism)",
                     examples=20)
    assert done.returncode == 0, done.stdout[-3000:]
    records = read(tmp_path)
    forward = _drawn_configs(records, "test_forward", "naive")
    assert len(forward) >= 10, forward
    assert _drawn_configs(records, "test_gradient", "naive") == forward
    assert _drawn_configs(records, "test_determinism", "naive") <= forward
    assert _drawn_configs(records, "test_forward", "im2col") == forward
