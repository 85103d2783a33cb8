"""results.jsonl: one JSON object per line, appended and flushed as the run goes.

Line types (key "type"):

- "run": once per process at start. Fields: run_id, worker (xdist worker id or "main"), started
  (ISO 8601 UTC), argv, hypothesis_profile, seed, devices, precision_mode, versions
  ({library: version}), settings ({implementation: {setting: value}}), implementations (names).
- "check": one check of one implementation on one example. Fields:
    run_id, test_id ("test_forward[conv2d-torch-cpu]"), implementation, op ("conv2d" ...),
    device ("cpu"/"cuda"), check ("forward" | "grad_input" | "grad_weight" | "grad_bias" |
    "gradient" for an event that hit the whole VJP call), status ("pass" | "mismatch" | "error" |
    "unsupported" | "crash" | "timeout" | "known"), kind (for a mismatch: "shape" | "value" |
    "nonfinite"; else null), config (ConvConfig.to_dict()), config_str (str(config)),
    value_profile ("normal" | "small_int" | "mixed"), data_seed (int), arithmetic
    (Arithmetic.to_dict(): accumulation, output, operands, label), stats (see below, null when not
    compared), message (one line: seen, expected, the call), detail (error text / traceback tail,
    crash signal), reason (why unsupported), repro (one shell command that re-runs just this
    config), heatmap ({"shape": [rows, cols], "values": [[ratio, ...], ...], "axes": "H x W"}: per
    spatial position, the max over batch and channels (and leading spatial dims beyond two) of
    |error| / bound, downsampled to at most 48 x 48; null when not a value mismatch),
    consensus ({implementation: status on this same config and check}; filled on failures),
    known_id (id of a known divergence, for status "known"), time (ISO 8601).
  stats: max_abs_error, max_error_in_bounds (max |error| / bound), n_beyond (elements whose error
  exceeds the bound), n_elements, share_beyond, worst_index (list of ints), worst_value,
  worst_expected, worst_bound, nonfinite (NaN/Inf where the oracle has none), shape_seen,
  shape_expected.
  Passes and unsupported checks are written whole for the first PASS_RECORD_CAP examples of each
  (test_id, check); after that they only count in the summary. Every other status is written whole.
- "summary": once per test when it ends (also after a failure). Fields: run_id, test_id,
  implementation, op, device, examples (int), counts ({check: {status: n}} over ALL examples,
  including those written whole), unsupported_reasons ({reason: n}), coverage ({feature: n}: see
  conformance.coverage.FEATURES), duration_s.
- "run_end": once per process at the end (not there when the run was killed). Fields: run_id,
  worker, finished, duration_s, exitstatus, interrupted (bool).

A reader must accept files cut short (a killed run) and skip malformed lines, counting them.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator

__all__ = ["PASS_RECORD_CAP", "RecordWriter", "read_records", "ReadResult"]

PASS_RECORD_CAP = 50


class RecordWriter:
    """Appends JSON lines to a file, flushing and fsync-free (the OS keeps flushed data on a crash)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=_json_default, allow_nan=True, separators=(",", ":"))
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


class ReadResult:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.malformed: list[tuple[str, int, str]] = []  # (file, line number, why)


def read_records(paths: Iterable[str | os.PathLike]) -> ReadResult:
    """Read one or more results files; malformed lines (a truncated last line too) are counted and skipped."""
    result = ReadResult()
    for path in paths:
        for number, line in _lines(Path(path)):
            text = line.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                result.malformed.append((str(path), number, f"not JSON ({err.msg})"))
                continue
            if not isinstance(record, dict) or "type" not in record:
                result.malformed.append((str(path), number, "not an object with a 'type'"))
                continue
            result.records.append(record)
    return result


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line
