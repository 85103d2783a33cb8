"""The run's last words: one line per failing finding (test id, how it failed, error/bound, repro).

Two end-to-end runs with a planted bug (tests.mutants:missing_bias), without and with xdist (the
controller prints the lines from the workers' files), and the line rules on records written here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import pytest_plugin
from conformance.records import CheckRecord, RecordWriter, read_records

ROOT = Path(__file__).resolve().parent.parent
HEADER = "conformance findings (one line each)"


# ---- end to end --------------------------------------------------------------------------------------


def _run_suite(report_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_"))}
    env.update(CONFORMANCE_MAX_EXAMPLES="8", NO_COLOR="1", TF_CPP_MIN_LOG_LEVEL="2", COLUMNS="200")
    # No consensus: replaying the failure on every framework is beside the point here, and slow.
    command = [sys.executable, "-m", "pytest", "conformance/suite", "-q", "-p", "no:randomly",
               "-p", "tests.no_consensus_plugin", "--hypothesis-profile", "conformance-ci", "--isolation", "none",
               "--report-dir", str(report_dir), "--impl", "tests.mutants:missing_bias",
               "-k", "missing_bias and test_forward and conv1d", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _summary_section(stdout: str) -> list[str]:
    """The lines after the findings header (which follows the report's verdict), up to pytest's own short summary."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if HEADER in line]
    assert len(starts) == 1, f"expected one {HEADER!r} header, found {len(starts)} in:\n{stdout[-3000:]}"
    verdicts = [i for i, line in enumerate(lines) if line.startswith("verdict: ")]
    assert verdicts and verdicts[-1] < starts[0], f"the findings do not follow the report's verdict:\n{stdout[-3000:]}"
    section = []
    for line in lines[starts[0] + 1:]:
        if line.startswith("=") or line.startswith("FAILED "):
            break
        section.append(line)
    return section


@pytest.mark.parametrize("xdist_args", [
    pytest.param((), id="one-process"),
    pytest.param(("-n", "2"), id="xdist-controller-prints-the-workers-findings"),
])
def test_a_run_with_a_planted_bug_ends_with_one_line_for_its_finding(tmp_path, xdist_args):
    if xdist_args:
        pytest.importorskip("xdist", reason="pytest-xdist not installed")
    done = _run_suite(tmp_path, *xdist_args)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    section = _summary_section(done.stdout)
    test_id = "test_forward[conv1d-missing_bias-cpu]"
    assert len(section) == 1, f"expected one line for the one finding, got {section}"
    (line,) = section
    expected_start = f"{test_id} forward: value mismatch, error "
    assert line.startswith(expected_start) and " x bound | repro: python -m conformance repro " in line, \
        f"line {line!r}, expected it to start {expected_start!r} and name the error bound and the repro"
    repros = {r.repro for r in read_records(tmp_path).of_type(CheckRecord) if r.phase == "final" and r.status == "mismatch"}
    assert line.split(" | repro: ", 1)[1] in repros, f"the repro shown is not the shrunk example's: {line!r} vs {repros}"


# ---- the line rules ----------------------------------------------------------------------------------


def _failure(test_id="test_forward[conv1d-mine-cpu]", status="mismatch", kind="value", *, run_id="r1", check="forward",
             implementation="mine", error=9.6, known_id=None, in_size=5) -> CheckRecord:
    return CheckRecord(run_id=run_id, test_id=test_id, implementation=implementation, op="conv1d", device="cpu",
                       check=check, status=status, kind=kind, known_id=known_id, phase="final", minimal=True,
                       config={}, config_str=f"conv1d(in={in_size})", repro=f"python -m conformance repro {test_id}",
                       stats={"max_error_in_bounds": error} if error is not None else None)


def _lines(tmp_path: Path, *records: CheckRecord, worker_files: int = 1) -> list[str]:
    """What the summary prints for run "r1" when the records are spread over `worker_files` files."""
    writers = [RecordWriter(tmp_path / f"results-gw{n}.jsonl") for n in range(worker_files)]
    for number, record in enumerate(records):
        writers[number % worker_files].write(record)
    for writer in writers:
        writer.close()
    reporter = _Reporter()
    pytest_plugin._summarize_findings(reporter, _State(tmp_path))
    return reporter.lines


class _Reporter:
    """The part of pytest's TerminalReporter the summary uses."""

    def __init__(self):
        self.lines: list[str] = []
        self.config = _Config()

    def write_sep(self, sep, title, **markup):
        self.lines.append(f"--- {title}")

    def write_line(self, line, **markup):
        self.lines.append(line)


class _Config:
    def getoption(self, name):
        assert name == "collectonly", name
        return False


class _State:
    def __init__(self, report_dir: Path):
        self.report_dir, self.run_id = report_dir, "r1"


@pytest.mark.parametrize("records, expected", [
    pytest.param([_failure()], ["test_forward[conv1d-mine-cpu] forward: value mismatch, error 9.6 x bound"],
                 id="value-mismatch-names-its-error-in-bounds"),
    pytest.param([_failure(kind="shape", error=None)], ["test_forward[conv1d-mine-cpu] forward: shape mismatch"],
                 id="shape-mismatch-has-no-error"),
    pytest.param([_failure(status="crash", kind=None, error=None)], ["test_forward[conv1d-mine-cpu] forward: crash"],
                 id="crash"),
    pytest.param([_failure(status="known", known_id="KD-1"), _failure(status="pass", kind=None),
                  _failure(status="unsupported", kind=None), _failure(run_id="an-earlier-run")], [],
                 id="known-pass-unsupported-and-other-runs-are-no-finding"),
    pytest.param([_failure("test_forward[conv1d-mine-cpu]", in_size=3), _failure("test_forward[conv2d-mine-cpu]", in_size=9),
                  _failure("test_forward[conv3d-mine-cpu]", in_size=9)],
                 ["test_forward[conv1d-mine-cpu] (+2 other tests) forward: value mismatch, error 9.6 x bound"],
                 id="one-finding-over-three-tests-is-one-line"),
])
def test_each_failing_finding_is_one_line(tmp_path, records, expected):
    lines = _lines(tmp_path, *records)
    shown = [line.split(" | repro: ")[0] for line in lines if not line.startswith("--- ")]
    assert shown == expected, f"printed {lines}"
    for line, record in zip(lines[1:], records):
        assert line.endswith(f" | repro: {record.repro}"), line
    assert lines[:1] == ([f"--- {HEADER}"] if expected else []), lines


def test_the_summary_reads_every_workers_file(tmp_path):
    records = [_failure(implementation=f"impl{n}", test_id=f"test_forward[conv1d-impl{n}-cpu]") for n in range(3)]
    lines = _lines(tmp_path, *records, worker_files=3)
    assert sorted(line.split()[0] for line in lines[1:]) == [r.test_id for r in records], lines


def test_the_summary_is_capped_with_how_many_more(tmp_path):
    cap = pytest_plugin._FINDING_LINES_SHOWN
    records = [_failure(implementation=f"impl{n:03d}", test_id=f"test_forward[conv1d-impl{n:03d}-cpu]")
               for n in range(cap + 3)]
    lines = _lines(tmp_path, *records)
    assert len(lines) == 1 + cap + 1, f"{len(lines)} lines, expected the header, {cap} findings and the rest's count"
    assert lines[-1] == "... and 3 more (see the report)", lines[-1]
