"""Render the report model to one self-contained HTML file with an autoescaped Jinja2 template.

    >>> summary = render_report(["reports/results.jsonl"], "reports/conformance.html")
    >>> summary.line()
    'wrote reports/conformance.html (1234 records, 2 malformed lines skipped)'

Bad input raises `ReportInputError` with a one-line message (missing file, a directory, an
unreadable file, a file without a single valid record); malformed lines are skipped and listed.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..records import ReadResult, read_records
from .model import build_model

__all__ = ["ReportInputError", "ReportSummary", "check_readable", "render_records", "render_report"]

TEMPLATE_NAME = "template.html.j2"


class ReportInputError(ValueError):
    """Input the report cannot use; the message is one line naming the file and what is wrong."""


@dataclass(frozen=True)
class ReportSummary:
    """What was written: the path, how much went in, and the verdict shown at the top of the page."""

    out_path: str
    n_records: int
    n_malformed: int
    verdict_state: str  # "pass" | "fail" | "empty"
    verdict_text: str
    n_findings: int
    page_bytes: int
    render_seconds: float
    breakdown: str = ""  # what was known (per entry) and declared unsupported, apart from what passed

    def line(self) -> str:
        malformed = f", {self.n_malformed} malformed line{'s' * (self.n_malformed != 1)} skipped" if self.n_malformed else ""
        return f"wrote {self.out_path} ({self.n_records} records{malformed})"


def check_readable(path: str | os.PathLike) -> Path:
    """The path, if it is a readable regular file; else ReportInputError saying why not."""
    path = Path(path)
    if not path.exists():
        raise ReportInputError(f"{path}: no such file")
    if path.is_dir():
        raise ReportInputError(f"{path} is a directory; give the results.jsonl file inside it")
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise ReportInputError(f"{path}: cannot read it ({err.strerror or err})") from None
    return path


def render_report(paths: list[str], out_path: str, *, title: str | None = None) -> ReportSummary:
    """Read one or more results.jsonl files and write the HTML report to out_path.

    - paths: results files; each must hold at least one valid record.
    - out_path: the page to write (parent folders are created; the file is replaced atomically).
    - title: the page title.
    """
    if not paths:
        raise ReportInputError("no results files given")
    merged = ReadResult()
    with _gc_paused():
        for path in paths:
            read_into(merged, path)
    return render_records(merged, out_path, title=title, sources=[str(p) for p in paths])


def read_into(merged: ReadResult, path: str, what: str = "") -> None:
    """Add the records of one results file to `merged`; ReportInputError when it is unreadable or empty."""
    check_readable(path)
    try:
        result = read_records([path])
    except OSError as err:
        raise ReportInputError(f"{path}: cannot read it ({err.strerror or err})") from None
    if not result.records:
        raise ReportInputError(f"no records in {path}{f' ({what})' if what else ''}: is this a results.jsonl?")
    merged.records.extend(result.records)
    merged.malformed.extend(result.malformed)


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector: parsing 50,000 records makes millions of acyclic objects,
    and the collector's repeated full scans of them double the read time (measured)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def render_records(read_result: ReadResult, out_path: str | os.PathLike, *, title: str | None = None,
                   sources: Iterable[str] = ()) -> ReportSummary:
    """Write the report for records already read (a `conformance.records.ReadResult`)."""
    started = time.perf_counter()
    with _gc_paused():
        model = build_model(read_result, title=title, sources=sources)
    page = render_html(model)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(out, page)
    return ReportSummary(
        out_path=str(out_path),
        n_records=model["n_records"],
        n_malformed=model["malformed"]["count"],
        verdict_state=model["verdict"]["state"],
        verdict_text=model["verdict"]["text"], breakdown=model["verdict"]["breakdown"],
        n_findings=model["verdict"]["n_findings"],
        page_bytes=len(page.encode("utf-8")),
        render_seconds=time.perf_counter() - started,
    )


def render_html(model: dict[str, Any]) -> str:
    """The page for a model from `build_model`."""
    page_data = {
        "verdict": model["verdict"],
        "heatmaps": {
            card["id"]: {"rows": card["heatmap"]["rows"], "cols": card["heatmap"]["cols"], "values": card["heatmap"]["values"]}
            for card in model["findings"]
            if card["heatmap"]
        },
    }
    return _environment().get_template(TEMPLATE_NAME).render(report=model, page_data=page_data)


def _environment():
    import jinja2  # loaded on first render only

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # tojson escapes <, >, & and ' as \u003c etc., so the JSON is safe inside <script>; JSON has
    # no NaN: the model carries non-finite numbers as text, and allow_nan=False proves it.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "allow_nan": False, "separators": (",", ":")}
    env.filters.update(num=format_number, count=format_count, pct=format_share, duration=format_duration,
                       listing=format_listing)
    return env


def _write_atomically(out: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=str(out.parent))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, out)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# ---- formatting filters -------------------------------------------------------------------------


def format_number(value: Any, digits: int = 3) -> str:
    """3 significant digits; text (e.g. "nan", "inf") and None pass through readably."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def format_count(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def format_share(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    if 0 < value < 0.001:
        return "<0.1%"
    return f"{value * 100:.1f}%"


def format_duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "unknown"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def format_listing(values: Any, empty: str = "—") -> str:
    if not values:
        return empty
    return ", ".join(str(v) for v in values)
