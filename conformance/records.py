"""results.jsonl: typed records, one JSON object per line, appended and flushed as the run goes.

The harness writes these dataclasses, the report reads them back into the same dataclasses, and the
tests build their fixtures from them: a field cannot mean one thing to the writer and another to
the reader. Every line carries `type` (which class) and `schema` (SCHEMA_VERSION).

- RunRecord ("run"): once per process at start: what ran, where, with which options.
- ImplementationRecord ("implementation"): once per implementation per process, when its first test
  starts: its library versions and settings (asking them starts a framework's worker, so the run
  header does not wait for every framework to import).
- CheckRecord ("check"): one result (or one whole call) of one implementation on one example.
- SummaryRecord ("summary"): once per test when it ends (also after a failure): counts over every
  example, including those whose records were not written whole.
- KnownDivergencesRecord ("known_divergences"): per process, how often each known divergence matched
  and reproduced.
- RunEndRecord ("run_end"): once per process at the end; missing when the run was killed.

Passes and unsupported checks are written whole for the first PASS_RECORD_CAP examples of each
(test_id, check); after that they only count in the summary. Every other status is written whole.

A reader accepts files cut short (a killed run): a line that does not parse, or does not match its
record type, is counted and listed, then skipped. Unknown fields (a newer writer) are ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Union, get_args, get_origin, get_type_hints

__all__ = [
    "SCHEMA_VERSION",
    "PASS_RECORD_CAP",
    "RunRecord",
    "ImplementationRecord",
    "CheckRecord",
    "SummaryRecord",
    "KnownDivergenceState",
    "KnownDivergencesRecord",
    "RunEndRecord",
    "Record",
    "RECORD_TYPES",
    "MalformedRecord",
    "to_json",
    "from_json",
    "from_dict",
    "RecordWriter",
    "ReadResult",
    "read_records",
]

SCHEMA_VERSION = 2
PASS_RECORD_CAP = 50


@dataclass
class RunRecord:
    """Once per process at start.

    - argv: the command as a list of words (shlex.join it to show it).
    - hypothesis_profile, derandomize, seed: how examples were drawn (derandomize: the same
      examples every run, as in the ci profile; seed: --hypothesis-seed when given).
    - devices, precision_mode, isolation, dtypes: the run's options.
    - versions: {library: version} of the harness itself; settings: {"impl (device)": {setting:
      value}} (both also come per implementation, in ImplementationRecord).
    - implementations: the names under test; platform: machine, processor, CPU flags.
    """

    type: ClassVar[str] = "run"
    run_id: str
    worker: str = "main"
    started: str = ""
    pid: int = 0
    argv: list[str] = field(default_factory=list)
    hypothesis_profile: str | None = None
    derandomize: bool = False
    seed: Any = None
    devices: list[str] = field(default_factory=list)
    precision_mode: str = "default"
    isolation: str = "process"
    dtypes: list[str] = field(default_factory=list)
    versions: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    implementations: list[str] = field(default_factory=list)
    platform: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION


@dataclass
class ImplementationRecord:
    """Once per implementation per process, when its first test starts (after the RunRecord).

    - implementation: its name; spec: how it was loaded ("torch", "mykernels:MyConv").
    - versions: {library: version}; settings: {"impl (device)": {setting: value}}, the RunRecord's
      keys, so a reader merges the two. A versions()/settings() that raised gives {"error": ...}.
    - gaps: its declared gaps, each conformance.capabilities.Gap.summary() (feature, where,
      refused_by, message, reason, witness: the `example` name of its witness calls' records).
    """

    type: ClassVar[str] = "implementation"
    run_id: str
    worker: str = "main"
    implementation: str = ""
    spec: str = ""
    versions: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    gaps: list[dict[str, str]] = field(default_factory=list)
    schema: int = SCHEMA_VERSION


@dataclass
class CheckRecord:
    """One result of one implementation on one example (or one event that hit the whole call).

    - test_id: "test_forward[conv2d-torch-cpu]"; check: a result name ("forward", "grad_input",
      ...) or, for an event that hit the whole call, the check kind's name ("gradient").
    - status: one of conformance.vocabulary.STATUSES; kind: for a mismatch, one of MISMATCH_KINDS.
    - config: ConvConfig.to_dict(); config_str: str(config); value_profile, data_seed: the data.
    - phase: "generate" (an example Hypothesis drew), "shrink" (a replay while shrinking a failure),
      "final" (the shrunk example Hypothesis reports), "explicit" (a named example run beside the
      drawn ones, see `example`) or "consensus" (another implementation replayed on a failing
      example). Counts of examples use "generate" only.
    - arithmetic: Arithmetic.to_dict(); stats: the comparison's statistics (see conformance.compare),
      null when not compared; heatmap: error/bound per spatial position, downsampled.
    - message: one line: seen, expected, the call; detail: error text / traceback tail;
      reason: why unsupported; repro: a shell command that re-runs this example.
    - seconds: wall time of the implementation's call, also when it raised (a refusal, an invalid
      call refused); None when no call was made (declared unsupported) or it crashed or hung.
    - consensus: {implementation: status on this same example and check} (final failures only).
    - known_id: the known divergence reproduced (status "known").
    - rule: for an invalid call (check "invalid_call"), the validity rule it breaks; its message
      (what the implementation raised) is in `detail`.
    - example: the name of the explicit example this record comes from (phase "explicit": a
      real-model layer shape of conformance.model_shapes), None for a drawn one.
    """

    type: ClassVar[str] = "check"
    run_id: str
    test_id: str
    implementation: str
    op: str
    device: str
    check: str
    status: str
    kind: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    config_str: str = ""
    value_profile: str = "normal"
    data_seed: int = 0
    phase: str = "generate"
    arithmetic: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    heatmap: dict[str, Any] | None = None
    message: str = ""
    detail: str = ""
    reason: str | None = None
    repro: str = ""
    seconds: float | None = None
    reduction_length: int | None = None
    oracle: str | None = None
    consensus: dict[str, str] = field(default_factory=dict)
    known_id: str | None = None
    minimal: bool = False
    returncode: int | None = None
    rule: str | None = None
    example: str | None = None
    time: str = ""
    schema: int = SCHEMA_VERSION


@dataclass
class SummaryRecord:
    """Once per test when it ends.

    - check_kind: the test's check kind ("forward", "gradient", ...).
    - examples: examples Hypothesis drew (the generate phase); examples_run: those of them on which
      at least one check ran (not unsupported); shrink_replays: calls made while shrinking.
    - call_seconds: wall seconds inside the implementation's own calls, over every example of the
      test, shrink replays and explicit examples included (duration_s minus it is the harness's
      share: generation, oracle, comparison, records, consensus replays of other implementations).
      A call's round trip to its worker counts; the worker's start (importing the framework, on the
      first call and after each crash or hang) does not, and is start_seconds.
    - counts: {result name: {status: n}} over the drawn examples; unsupported_reasons: {reason: n};
      coverage: {feature: n} over the examples that ran (conformance.coverage).
    - skipped: the reason the test was skipped, if it was.
    """

    type: ClassVar[str] = "summary"
    run_id: str
    test_id: str
    implementation: str
    op: str
    device: str
    check_kind: str = ""
    examples: int = 0
    examples_run: int = 0
    shrink_replays: int = 0
    call_seconds: float = 0.0
    start_seconds: float = 0.0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    unsupported_reasons: dict[str, int] = field(default_factory=dict)
    coverage: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    skipped: str | None = None
    schema: int = SCHEMA_VERSION

    @property
    def failed(self) -> bool:
        """Some drawn example of the test had a failing status (it then stopped there and shrank)."""
        from .vocabulary import FAILING_STATUSES

        return any(status in FAILING_STATUSES and n for counts in self.counts.values() for status, n in counts.items())


@dataclass
class KnownDivergenceState:
    """How one known divergence fared in one process."""

    id: str
    implementations: list[str] = field(default_factory=list)
    summary: str = ""
    classification: str = ""
    upstream: str = ""
    draft: str = ""
    matched: int = 0      # examples (calls made) in its region, for the checks it is about
    reproduced: int = 0   # results recorded known for it
    hits: int = 0         # examples in its region that reproduced it: hit rate = hits / matched
    state: str = ""
    min_matches: int = 1
    reproducer: str = ""
    source: str = ""


@dataclass
class KnownDivergencesRecord:
    type: ClassVar[str] = "known_divergences"
    run_id: str
    entries: list[KnownDivergenceState] = field(default_factory=list)
    schema: int = SCHEMA_VERSION


@dataclass
class RunEndRecord:
    """Once per process at the end (missing when the process was killed).

    - exitstatus: pytest's exit status for this process; interrupted: it was 2 (Ctrl-C, SIGTERM).
    - tests_failed: the reports pytest counted as failed in this process (session.testsfailed):
      tests failed by a check, and also tests that raised something else, setup and teardown
      errors, collection errors. The report counts those no failing check explains as errors.
    """

    type: ClassVar[str] = "run_end"
    run_id: str
    worker: str = "main"
    finished: str = ""
    duration_s: float = 0.0
    exitstatus: int = 0
    interrupted: bool = False
    tests_failed: int = 0
    schema: int = SCHEMA_VERSION


Record = Union[RunRecord, ImplementationRecord, CheckRecord, SummaryRecord, KnownDivergencesRecord, RunEndRecord]
RECORD_TYPES: dict[str, type] = {cls.type: cls for cls in (RunRecord, ImplementationRecord, CheckRecord, SummaryRecord,
                                                           KnownDivergencesRecord, RunEndRecord)}


class MalformedRecord(ValueError):
    """A line that is not JSON, or not a record of a known type with fields of the right types."""


# ---- serialisation ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars and arrays to Python, tuples to lists, non-finite floats kept."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def to_json(record: Record) -> str:
    """One line of JSON for a record, with its "type" first and every field (readers such as jq
    need no knowledge of the defaults)."""
    data = {"type": record.type, **_plain(record)}
    return json.dumps(data, allow_nan=True, separators=(",", ":"), default=str)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _allowed_types(hint: Any) -> tuple[type, ...] | None:
    """The runtime types a field's annotation admits; None when it admits anything."""
    if hint is Any:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        allowed: list[type] = []
        for option in get_args(hint):
            option_types = _allowed_types(option)
            if option_types is None:
                return None
            allowed.extend(option_types)
        return tuple(allowed)
    if origin is not None:
        return (origin,)
    if hint is float:
        return (float, int)
    return (hint,)


@functools.cache
def _field_types(cls: type, name: str) -> tuple[type, ...] | None:
    """_allowed_types of one field, worked out once per record type (a report reads ~30,000 records)."""
    return _allowed_types(_hints(cls)[name])


def _check_type(cls: type, name: str, value: Any) -> Any:
    """The value if it fits the field's declared type; MalformedRecord naming the field if not."""
    allowed = _field_types(cls, name)
    if allowed is None:
        return value
    is_bool_for_number = isinstance(value, bool) and bool not in allowed
    if isinstance(value, allowed) and not is_bool_for_number:
        return value
    raise MalformedRecord(f"{cls.type}.{name} = {value!r:.60} is a {type(value).__name__}, "
                          f"expected {_hints(cls)[name]}")


def from_dict(data: dict[str, Any]) -> Record:
    """The record a JSON object describes; MalformedRecord naming what is wrong."""
    if not isinstance(data, dict):
        raise MalformedRecord(f"not a JSON object but {type(data).__name__}")
    kind = data.get("type")
    cls = RECORD_TYPES.get(kind)
    if cls is None:
        raise MalformedRecord(f"unknown record type {kind!r}; known: {', '.join(RECORD_TYPES)}")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _check_type(cls, f.name, data[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise MalformedRecord(f"{kind} record without its {f.name!r} field")
    if cls is KnownDivergencesRecord:
        values["entries"] = [_known_state(row) for row in values.get("entries", [])]
    return cls(**values)


def _known_state(row: Any) -> KnownDivergenceState:
    if not isinstance(row, dict) or "id" not in row:
        raise MalformedRecord(f"known_divergences entry {row!r:.60} is not an object with an 'id'")
    names = {f.name for f in dataclasses.fields(KnownDivergenceState)}
    return KnownDivergenceState(**{k: v for k, v in row.items() if k in names})


def from_json(line: str) -> Record:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise MalformedRecord(f"not JSON ({err.msg})") from None
    return from_dict(data)


# ---- writing and reading ----------------------------------------------------------------------------


class RecordWriter:
    """Appends records as JSON lines, flushing each (the OS keeps flushed data when the process dies)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: Record) -> None:
        if type(record) not in RECORD_TYPES.values():
            raise TypeError(f"RecordWriter.write takes a record dataclass, got {type(record).__name__}")
        line = to_json(record)
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()


@dataclass
class ReadResult:
    """The records read, in file order, and the lines skipped. Iterates and counts like its records:
    `list(read_records(paths))` is `read_records(paths).records`."""

    records: list[Record] = field(default_factory=list)
    malformed: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line number, why)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def of_type(self, cls: type) -> list:
        return [r for r in self.records if isinstance(r, cls)]


_RESULTS_GLOB = "results*.jsonl"  # a run's files: results.jsonl, and results-gw0.jsonl, ... under xdist


def read_records(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> ReadResult:
    """Read results files; malformed lines (a truncated last line too) are counted and skipped.

    - paths: one path or several; a directory stands for every results*.jsonl in it (a run's main
      file and each xdist worker's), read in name order.

        >>> records = list(read_records("reports"))  # == read_records(Path("reports").glob("results*.jsonl"))
    """
    result = ReadResult()
    for path in _results_files(paths):
        for number, line in _lines(path):
            text = line.strip()
            if not text:
                continue
            try:
                result.records.append(from_json(text))
            except MalformedRecord as err:
                result.malformed.append((str(path), number, str(err)))
    return result


def _results_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Each path of `paths` (a single str is one path, not its letters), directories expanded."""
    for path in map(Path, [paths] if isinstance(paths, (str, os.PathLike)) else paths):
        if path.is_dir():
            yield from sorted(path.glob(_RESULTS_GLOB))
        else:
            yield path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        yield from enumerate(handle, start=1)


def finite_or_none(value: Any) -> Any:
    """A float that JSON can carry without extensions: NaN/Inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
