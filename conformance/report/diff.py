"""Night-to-night diff: which findings are new, fixed, still failing, or not run, against a baseline run.

    >>> diff = compute_diff(read_records(["reports/results.jsonl"]), read_records(["previous/results.jsonl"]))
    >>> diff.exit_status        # 1 when something fails tonight that did not fail on the baseline
    1

A finding is identified by (implementation, op, device, check, status, kind, known_id) over the
check records of phases "generate", "shrink" and "final" (a "consensus" replay of another
implementation is not a finding of its own, as in the report's cards). It is failing when its
status is one of conformance.vocabulary.FAILING_STATUSES. Against the baseline:

- new: failing tonight, not failing on the baseline;
- still failing: failing on both;
- fixed: failing on the baseline, not tonight, and its (implementation, op, device, check) ran
  tonight (some example got a verdict other than "unsupported": a result name such as grad_bias
  counts when that result was compared, a whole-call check such as "gradient" when its check kind ran);
- not run tonight: failing on the baseline, and its (implementation, op, device, check) did not run.

`write_report_with_diff` renders the usual report and puts the diff, rendered from its own small
autoescaped template (diff.html.j2), right after the page's opening <body> tag.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..checks import CHECK_KINDS
from ..records import CheckRecord, ReadResult, SummaryRecord
from ..vocabulary import FAILING_STATUSES, OP_NAMES, UNSUPPORTED

__all__ = ["DiffEntry", "FindingKey", "ReportDiff", "compute_diff", "insert_after_body", "read_results",
           "render_diff_section", "write_report_with_diff"]

TEMPLATE_NAME = "diff.html.j2"
_FINDING_PHASES = ("generate", "shrink", "final")
# The check kind each check name belongs to: its results ("grad_input" -> "gradient") and the kind
# itself (a whole-call event is recorded under the kind's name).
_KIND_OF_CHECK = {result: kind.name for kind in CHECK_KINDS.values() for result in kind.results}
_KIND_OF_CHECK.update({name: name for name in CHECK_KINDS})


@dataclass(frozen=True, order=True)
class FindingKey:
    """What makes two failing records the same finding."""

    implementation: str
    op: str
    device: str
    check: str
    status: str
    kind: str | None = None
    known_id: str | None = None

    @property
    def place(self) -> tuple[str, str, str, str]:
        return (self.implementation, self.op, self.device, self.check)

    def label(self) -> str:
        """"torch conv2d cpu forward: mismatch (value)"."""
        how = self.status + (f" ({self.kind})" if self.kind else "") + (f" [{self.known_id}]" if self.known_id else "")
        return f"{self.implementation} {self.op} {self.device} {self.check}: {how}"


@dataclass
class DiffEntry:
    """One finding in one list: its key, how many records showed it each night, and one example."""

    key: FindingKey
    tonight: int = 0
    baseline: int = 0
    message: str = ""
    config_str: str = ""
    repro: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**{name: getattr(self.key, name) for name in FindingKey.__dataclass_fields__},
                "label": self.key.label(), "tonight": self.tonight, "baseline": self.baseline,
                "message": self.message, "config_str": self.config_str, "repro": self.repro}


@dataclass
class ReportDiff:
    new: list[DiffEntry] = field(default_factory=list)
    fixed: list[DiffEntry] = field(default_factory=list)
    still_failing: list[DiffEntry] = field(default_factory=list)
    not_run: list[DiffEntry] = field(default_factory=list)
    baseline_sources: list[str] = field(default_factory=list)

    LISTS = (("new", "new"), ("fixed", "fixed"), ("still_failing", "still failing"),
             ("not_run", "not run tonight"))

    @property
    def exit_status(self) -> int:
        """1 when there are new failures, else 0."""
        return 1 if self.new else 0

    def headline(self) -> str:
        """"1 new failure, 2 fixed, 0 still failing, 0 not run tonight"."""
        n_new = len(self.new)
        parts = [f"{n_new} new failure{'s' * (n_new != 1)}"]
        parts += [f"{len(getattr(self, name))} {label}" for name, label in self.LISTS[1:]]
        return ", ".join(parts)

    def lines(self) -> list[str]:
        """What stdout shows: the headline, then one line per finding, list by list."""
        lines = [f"since the baseline ({', '.join(self.baseline_sources) or 'baseline'}): {self.headline()}"]
        for name, label in self.LISTS:
            for entry in getattr(self, name):
                counts = f"{entry.tonight} tonight, {entry.baseline} on the baseline"
                lines.append(f"  {label}: {entry.key.label()} ({counts})"
                             + (f": {entry.message}" if entry.message and name != "fixed" else ""))
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"headline": self.headline(), "state": "fail" if self.new else "pass",
                "baseline_sources": list(self.baseline_sources),
                "lists": [{"name": name, "title": "New failures" if name == "new" else label.capitalize(),
                           "entries": [e.to_dict() for e in getattr(self, name)]}
                          for name, label in self.LISTS]}


# ---- computing the diff -----------------------------------------------------------------------------


def _failing(read_result: ReadResult) -> dict[FindingKey, list[CheckRecord]]:
    found: dict[FindingKey, list[CheckRecord]] = defaultdict(list)
    for record in read_result.of_type(CheckRecord):
        if record.status in FAILING_STATUSES and record.phase in _FINDING_PHASES:
            key = FindingKey(record.implementation, record.op, record.device, record.check, record.status,
                             record.kind, record.known_id)
            found[key].append(record)
    return found


def _ran(read_result: ReadResult) -> set[tuple[str, str, str, str]]:
    """(implementation, op, device, check) that got a verdict other than unsupported; a check kind's
    name stands for the whole call, which ran when any example of that kind ran."""
    ran: set[tuple[str, str, str, str]] = set()
    for summary in read_result.of_type(SummaryRecord):
        cell = (summary.implementation, summary.op, summary.device)
        if summary.examples_run and summary.check_kind:
            ran.add((*cell, summary.check_kind))
        for check, per_status in summary.counts.items():
            if isinstance(per_status, dict) and any(s != UNSUPPORTED and n for s, n in per_status.items()):
                ran.add((*cell, check))
                ran.add((*cell, _KIND_OF_CHECK.get(check, check)))
    for record in read_result.of_type(CheckRecord):
        if record.status != UNSUPPORTED:
            cell = (record.implementation, record.op, record.device)
            ran.add((*cell, record.check))
            ran.add((*cell, _KIND_OF_CHECK.get(record.check, record.check)))
    return ran


def _example(records: list[CheckRecord]) -> CheckRecord:
    """The record to show: Hypothesis' shrunk example when there is one, else the first seen."""
    return next((r for r in records if r.phase == "final" or r.minimal), records[0])


def _entry(key: FindingKey, tonight: list[CheckRecord], baseline: list[CheckRecord]) -> DiffEntry:
    shown = _example(tonight or baseline)
    return DiffEntry(key, tonight=len(tonight), baseline=len(baseline), message=shown.message,
                     config_str=shown.config_str, repro=shown.repro)


def _order(key: FindingKey) -> tuple:
    op_rank = OP_NAMES.index(key.op) if key.op in OP_NAMES else len(OP_NAMES)
    return (key.implementation, op_rank, key.op, key.device, key.check, key.status, key.kind or "", key.known_id or "")


def compute_diff(tonight: ReadResult, baseline: ReadResult, *, baseline_sources: Iterable[str] = ()) -> ReportDiff:
    """The night-to-night diff of two runs' records (see the module docstring for the four lists).

    - tonight, baseline: `conformance.records.ReadResult`s (merged over all their files).
    - baseline_sources: the baseline's files, shown with the diff.
    """
    now, before = _failing(tonight), _failing(baseline)
    ran = _ran(tonight)
    diff = ReportDiff(baseline_sources=[str(s) for s in baseline_sources])
    for key in sorted(now.keys() | before.keys(), key=_order):
        entry = _entry(key, now.get(key, []), before.get(key, []))
        if key in now:
            (diff.still_failing if key in before else diff.new).append(entry)
        elif key.place in ran:
            diff.fixed.append(entry)
        else:
            diff.not_run.append(entry)
    return diff


# ---- reading, rendering, writing --------------------------------------------------------------------


def read_results(paths: Iterable[str | os.PathLike], *, what: str = "results") -> ReadResult:
    """All records of the files, merged; ReportInputError (one line) for a file that is missing,
    unreadable or holds no record."""
    from .render import ReportInputError, read_into

    merged = ReadResult()
    paths = list(paths)
    if not paths:
        raise ReportInputError(f"no {what} files given")
    for path in paths:
        read_into(merged, path, what)
    return merged


def render_diff_section(diff: ReportDiff) -> str:
    """The diff as one self-contained HTML <section> (its own scoped <style>), autoescaped."""
    import jinja2  # loaded on first render only

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE_NAME).render(diff=diff.to_dict())


def insert_after_body(page: str, section: str) -> str:
    """The page with `section` right after its opening <body ...> tag (at the end when it has none)."""
    start = page.lower().find("<body")
    end = page.find(">", start) if start >= 0 else -1
    if end < 0:
        return page + section
    return page[: end + 1] + "\n" + section + page[end + 1:]


def write_report_with_diff(results: list[str], baseline: list[str], out_path: str, *, title: str | None = None):
    """Render the report of `results` to out_path with the diff against `baseline` at the top of
    its body; returns (ReportSummary, ReportDiff). Bad input raises ReportInputError."""
    from .render import _write_atomically, render_records

    tonight = read_results(results, what="results")
    before = read_results(baseline, what="baseline")
    summary = render_records(tonight, out_path, title=title, sources=[str(p) for p in results])
    diff = compute_diff(tonight, before, baseline_sources=baseline)
    out = Path(out_path)
    page = insert_after_body(out.read_text(encoding="utf-8"), render_diff_section(diff))
    _write_atomically(out, page)
    return summary, diff
