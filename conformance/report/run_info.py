"""The report's header: every process's RunRecord and RunEndRecord merged into one set of facts
(with the versions and settings of each ImplementationRecord).

A run is complete when every RunRecord (one per process: the controller, each xdist worker, each
merged run) has a RunEndRecord with the same (run_id, worker) and interrupted False. A process
without one was killed, or the page was rendered before it finished: the page says so.
"""

from __future__ import annotations

import json
import shlex
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable

from ..records import CheckRecord, ImplementationRecord, Record, RunEndRecord, RunRecord

__all__ = ["busy_seconds", "parse_time", "profile_label", "run_info"]

FINISHED, INTERRUPTED, NO_RUN_END = "finished", "interrupted", "no run_end (killed?)"


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 timestamp ("2026-01-01T10:00:00Z", "...+0000") as an aware datetime; None if not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def profile_label(run: RunRecord) -> str:
    """How a process drew its examples: "conformance-ci · derandomized", "conformance-nightly · seed 1234" or
    "conformance-dev · random"."""
    profile = run.hypothesis_profile or "unknown profile"
    if run.derandomize:
        return f"{profile} · derandomized"
    if run.seed is not None and run.seed != "":
        return f"{profile} · seed {run.seed}"
    return f"{profile} · random"


def command_line(run: RunRecord) -> str:
    """The command as a shell would take it back: shlex.join of the argv words."""
    return shlex.join(str(word) for word in run.argv)


def run_info(runs: list[RunRecord], ends: list[RunEndRecord], records: list[Record]) -> dict[str, Any]:
    """Merge the run lines of every process (xdist workers, CPU and GPU runs) into one header."""
    ended = {(end.run_id, end.worker): end for end in ends}
    intervals, processes = [], []
    for run in runs:
        end = ended.get((run.run_id, run.worker))
        start = parse_time(run.started)
        finish = parse_time(end.finished) if end else None
        if start and finish is None and end and end.duration_s:
            finish = datetime.fromtimestamp(start.timestamp() + end.duration_s, timezone.utc)
        if start and finish:
            intervals.append((start, finish))
        processes.append({
            "run_id": run.run_id,
            "worker": run.worker,
            "started": run.started,
            "devices": list(run.devices),
            "duration_s": end.duration_s if end else None,
            "exitstatus": end.exitstatus if end else None,
            "state": (INTERRUPTED if end.interrupted else FINISHED) if end else NO_RUN_END,
        })
    if not intervals:  # every process was killed: the span of the records' own timestamps
        times = [parse_time(r.time) for r in records if isinstance(r, CheckRecord)]
        times += [parse_time(r.started) for r in runs]
        times = [t for t in times if t]
        if times:
            intervals.append((min(times), max(times)))
    versions: dict[str, list] = defaultdict(list)
    settings: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    described = [r for r in records if isinstance(r, ImplementationRecord)]
    for run in [*runs, *described]:
        for lib, version in run.versions.items():
            versions[str(lib)].append(version)
        for impl, values in run.settings.items():
            for name, value in (values.items() if isinstance(values, dict) else ()):
                settings[str(impl)][str(name)].append(value)
    starts = [s for s, _ in intervals]
    return {
        "n_processes": len(runs),
        "run_ids": _unique(r.run_id for r in runs),
        "started": min(starts).strftime("%Y-%m-%d %H:%M UTC") if starts else None,
        "duration_s": busy_seconds(intervals),
        "hypothesis_profiles": _unique(r.hypothesis_profile for r in runs),
        "profile_labels": _unique(profile_label(r) for r in runs),
        "seeds": _unique(r.seed for r in runs),
        "devices": _unique(d for r in runs for d in r.devices),
        "precision_modes": _unique(r.precision_mode for r in runs),
        "implementations": _unique(i for r in runs for i in r.implementations),
        "versions": [{"library": lib, "versions": _unique(v)} for lib, v in sorted(versions.items())],
        "settings": [
            {"implementation": impl, "name": name, "values": _unique(values)}
            for impl, named in sorted(settings.items())
            for name, values in sorted(named.items())
        ],
        "argv": _unique(command_line(r) for r in runs if r.argv),
        "processes": processes,
        "complete": bool(runs) and all(p["state"] == FINISHED for p in processes),
        "interrupted": any(p["state"] == INTERRUPTED for p in processes),
        "missing_end": sum(p["state"] == NO_RUN_END for p in processes),
    }


def _unique(values: Iterable[Any]) -> list[Any]:
    seen, out = set(), []
    for value in values:
        if value is None or value == "" or value == []:
            continue
        marker = json.dumps(value, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            out.append(value)
    return out


def busy_seconds(intervals: list[tuple[datetime, datetime]]) -> float | None:
    """Length of the union of the processes' intervals: parallel workers overlap, separate runs add."""
    if not intervals:
        return None
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    total += (current_end - current_start).total_seconds()
    return total
