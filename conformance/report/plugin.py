"""The pytest plugin object that writes conformance.html when a session ends.

conftest.py registers it in pytest_configure only when a report is asked for, and never on xdist
workers (the controller renders once, from every worker's file):

    if config.getoption("--report-dir") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ReportPlugin(report_dir, report_dir / "results.jsonl"), "conformance-report")

It renders in pytest_sessionfinish, which pytest calls after a KeyboardInterrupt too, and prints
the page's path in pytest_terminal_summary. Its sessionfinish runs last (trylast): the harness's own
sessionfinish writes the known-divergence counts and the run_end record first, so a run that
finished is shown as finished. A broken report never hides the test results: every
failure here becomes a warning line, never an exception out of a hook.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ..records import ReadResult, RunRecord, read_records
from .run_info import parse_time

__all__ = ["REPORT_NAME", "ReportPlugin"]

REPORT_NAME = "conformance.html"
# Files and runs older than the session start by more than this are a previous run's leftovers.
_CLOCK_SLACK_S = 5.0


class ReportPlugin:
    """Renders report_dir/conformance.html from this session's results files.

    - report_dir: where conformance.html goes; results*.jsonl files there (written by xdist
      workers) are merged in when they were written during this session.
    - results_path: the main results file (always read when it exists).
    """

    def __init__(self, report_dir: Path | str, results_path: Path | str, run_id: str | None = None) -> None:
        self.report_dir = Path(report_dir)
        self.results_path = Path(results_path)
        self.run_id = run_id
        self.started = time.time()
        self.summary: Any = None
        self.problem: str | None = None
        self._rendered = False

    # ---- hooks ----------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> None:
        self._render()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self._render()  # no-op when sessionfinish already rendered
        try:
            if self.summary is not None:
                terminalreporter.write_sep("-", "conformance report")
                terminalreporter.write_line(f"conformance report: {self.summary.out_path}")
                terminalreporter.write_line(f"verdict: {self.summary.verdict_text}", **_markup(self.summary.verdict_state))
                if self.summary.breakdown:
                    terminalreporter.write_line(f"besides what passed: {self.summary.breakdown}")
                if self.summary.n_malformed:
                    terminalreporter.write_line(f"({self.summary.n_malformed} malformed lines skipped)")
            elif self.problem:
                terminalreporter.write_line(f"WARNING: conformance report not written: {self.problem}", yellow=True)
        except Exception as err:  # a report must never break the terminal summary
            print(f"WARNING: conformance report: {type(err).__name__}: {err}", file=sys.stderr)

    # ---- work -----------------------------------------------------------------------------------

    def results_files(self) -> list[Path]:
        """results.jsonl plus the results*.jsonl in report_dir written since this session began."""
        found: list[Path] = []
        if self.results_path.is_file():
            found.append(self.results_path)
        if self.report_dir.is_dir():
            for path in sorted(self.report_dir.glob("results*.jsonl")):
                if path.resolve() == self.results_path.resolve() or not path.is_file():
                    continue
                if path.stat().st_mtime >= self.started - _CLOCK_SLACK_S:
                    found.append(path)
        return [p for p in found if p.stat().st_size > 0]

    def _render(self) -> None:
        if self._rendered:
            return
        self._rendered = True
        try:
            paths = self.results_files()
            if not paths:
                self.problem = f"no results in {self.results_path} (did any conformance test run?)"
                return
            from .render import _gc_paused, render_records

            with _gc_paused():
                result = read_records(paths)
            if self.run_id is not None:
                # The run id is shared by this run's xdist workers: keep exactly this run's records.
                result.records = [r for r in result.records if r.run_id == self.run_id]
            else:
                _keep_this_session(result, self.started - _CLOCK_SLACK_S)
            if not result.records:
                self.problem = f"no records in {', '.join(map(str, paths))}"
                return
            self.summary = render_records(result, self.report_dir / REPORT_NAME, sources=[str(p) for p in paths])
        except Exception as err:  # never raise out of a hook: warn instead
            self.problem = f"{type(err).__name__}: {err}"
            print(f"WARNING: conformance report not written: {self.problem}", file=sys.stderr)


def _keep_this_session(result: ReadResult, since: float) -> None:
    """Drop records of earlier runs appended to the same file (their run line started before `since`).

    Records of a run whose "run" line is missing (cut off) are kept: better shown than lost.
    """
    old_runs = set()
    current_runs = set()
    for run in result.of_type(RunRecord):
        started = parse_time(run.started)
        (old_runs if started is not None and started.timestamp() < since else current_runs).add(run.run_id)
    old_runs -= current_runs
    if old_runs:
        result.records = [r for r in result.records if r.run_id not in old_runs]


def _markup(state: str) -> dict[str, bool]:
    if os.environ.get("NO_COLOR"):
        return {}
    return {"pass": {"green": True, "bold": True}, "fail": {"red": True, "bold": True}}.get(state, {})
