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
               "--hypothesis-profile", "ci", "--report-dir", str(report_dir), *args]
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
