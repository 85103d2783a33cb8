"""Tests of the HTML report: the model's counting rules, the page, the CLI and the pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.config import ConvConfig
from conformance.records import ReadResult
from conformance.report import model as report_model
from conformance.report import render
from conformance.report.model import build_model, heat_class
from conformance.report.render import ReportInputError, render_records, render_report

try:
    from tests import report_fixtures as fixtures
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import report_fixtures as fixtures

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


# ---- helpers ----------------------------------------------------------------------------------------


def check(impl="torch", op="conv2d", device="cpu", check_name="forward", status="pass", *, test_id=None,
          config=None, **fields):
    config = config or ConvConfig(ndim=2, in_channels=2, out_channels=2, in_size=(5, 5), kernel=3)
    record = {"type": "check", "run_id": "r1", "test_id": test_id or f"test_x[{op}-{impl}-{device}]",
              "implementation": impl, "op": op, "device": device, "check": check_name, "status": status,
              "kind": None, "config": config.to_dict(), "config_str": str(config), "stats": None}
    record.update(fields)
    return record


def summary(impl="torch", op="conv2d", device="cpu", *, counts, test_id=None, reasons=None, coverage=None, examples=1):
    return {"type": "summary", "run_id": "r1", "test_id": test_id or f"test_x[{op}-{impl}-{device}]",
            "implementation": impl, "op": op, "device": device, "examples": examples, "counts": counts,
            "unsupported_reasons": reasons or {}, "coverage": coverage or {}, "duration_s": 1.0}


def model_of(records, malformed=()):
    result = ReadResult()
    result.records = list(records)
    result.malformed = list(malformed)
    return build_model(result)


def cell(model, impl, op, device="cpu"):
    for row in model["matrix"]["rows"]:
        if (row["implementation"], row["device"]) == (impl, device):
            return next(c for c in row["cells"] if c["op"] == op)
    raise AssertionError(f"no matrix row for {impl} on {device}")


def counts_of(model_cell):
    return {c["status"]: c["n"] for c in model_cell["counts"]}


class Page(HTMLParser):
    """A page parsed into elements (tag, attrs, text) so tests read it the way a browser would."""

    VOID = {"meta", "link", "br", "hr", "img", "input", "rect"}

    def __init__(self, text):
        super().__init__()
        self.elements, self._open = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": ""})

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def by_id(self, element_id):
        return next(e for e in self.elements if e["attrs"].get("id") == element_id)

    def find(self, tag, **attrs):
        return [e for e in self.elements if e["tag"] == tag and all(
            value in (e["attrs"].get(name.rstrip("_")) or "").split() for name, value in attrs.items())]


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    results = fixtures.write_results(folder / "results.jsonl", fixtures.sample_records(), garbage_line=True)
    summary = render_report([str(results)], str(folder / "conformance.html"))
    return summary, (folder / "conformance.html").read_text(encoding="utf-8")


# ---- the model's counting rules -----------------------------------------------------------------------


def test_summary_counts_win_over_check_lines_and_tests_without_summary_count_their_lines():
    records = [
        check(status="pass"), check(status="pass"),  # only the first few passes are written whole
        summary(counts={"forward": {"pass": 120, "mismatch": 1}, "grad_input": {"pass": 121}}),
        check(impl="jax", status="pass"), check(impl="jax", status="error", check_name="grad_weight"),  # no summary
    ]
    model = model_of(records)
    assert counts_of(cell(model, "torch", "conv2d")) == {"pass": 241, "mismatch": 1}
    assert counts_of(cell(model, "jax", "conv2d")) == {"pass": 1, "error": 1}


@pytest.mark.parametrize("statuses, state", [
    pytest.param(["pass", "pass"], "pass", id="all-pass"),
    pytest.param(["pass", "mismatch"], "fail", id="mismatch"),
    pytest.param(["pass", "timeout"], "fail", id="timeout"),
    pytest.param(["pass", "known"], "known", id="known-only"),
    pytest.param(["unsupported"], "unsupported", id="unsupported-only"),
    pytest.param(["pass", "unsupported"], "pass", id="unsupported-is-no-failure"),
])
def test_matrix_cell_state(statuses, state):
    model = model_of([check(status=s) for s in statuses])
    assert cell(model, "torch", "conv2d")["state"] == state
    assert cell(model, "torch", "conv3d")["state"] == "empty"


@pytest.mark.parametrize("statuses, verdict_state, text", [
    pytest.param(["pass"] * 3, "pass", "all 3 checks passed", id="green"),
    pytest.param(["pass", "known"], "pass", "all 1 checks passed", id="known-is-not-failing"),
    pytest.param(["pass", "unsupported"], "pass", "all 1 checks passed", id="unsupported-is-not-failing"),
    pytest.param(["mismatch", "crash"], "fail", "2 findings in 1 implementation", id="red"),
    pytest.param([], "empty", "no checks ran", id="nothing"),
])
def test_verdict(statuses, verdict_state, text):
    verdict = model_of([check(status=s) for s in statuses])["verdict"]
    assert (verdict["state"], verdict["text"]) == (verdict_state, text)


def test_a_thousand_examples_of_one_bug_are_one_card_shown_on_the_smallest_config():
    big = ConvConfig(ndim=2, batch=4, in_channels=4, out_channels=4, in_size=(9, 9), kernel=3)
    small = ConvConfig(ndim=2, batch=1, in_channels=1, out_channels=2, in_size=(4, 3), kernel=2)
    records = [check(status="mismatch", kind="value", config=big, stats={"max_error_in_bounds": 3.0 + i})
               for i in range(1000)]
    records.insert(500, check(status="mismatch", kind="value", config=small, stats={"max_error_in_bounds": 2.0}))
    records.append(check(status="mismatch", kind="value", check_name="grad_input", config=small))
    findings = model_of(records)["findings"]
    forward = [f for f in findings if f["check"] == "forward"]
    assert len(findings) == 2 and len(forward) == 1
    assert forward[0]["count"] == 1001
    assert forward[0]["config_str"] == str(small)
    assert forward[0]["max_error_in_bounds"] == 1002.0  # the group's worst, not the minimal one's
    assert {c["check"] for c in forward[0]["failing_checks_on_config"]} == {"forward", "grad_input"}


def test_findings_sort_by_status_then_error_size():
    records = [
        check(impl="a", status="mismatch", kind="value", stats={"max_error_in_bounds": 5.0}),
        check(impl="b", status="mismatch", kind="value", stats={"max_error_in_bounds": 500.0}),
        check(impl="c", status="crash"),
        check(impl="d", status="known"),
    ]
    assert [f["implementation"] for f in model_of(records)["findings"]] == ["c", "b", "a", "d"]


def test_consensus_marks_the_odd_one_out():
    record = check(status="mismatch", kind="value", consensus={"naive": "pass", "jax": "pass", "torch": "mismatch"})
    rows = model_of([record])["findings"][0]["consensus"]
    assert [(r["implementation"], r["odd"], r["is_subject"]) for r in rows] == [
        ("jax", False, False), ("naive", False, False), ("torch", True, True)]


@pytest.mark.parametrize("ratio, cls", [
    pytest.param(0.0, "h0", id="exact"), pytest.param(0.1, "h0", id="0.1"), pytest.param(0.5, "h1", id="under"),
    pytest.param(1.0, "h1", id="at-bound"), pytest.param(1.01, "h2", id="just-beyond"), pytest.param(10.0, "h2", id="10"),
    pytest.param(11.0, "h3", id="11"), pytest.param(999.0, "h4", id="999"), pytest.param(1e6, "h5", id="1e6"),
    pytest.param(float("nan"), "hn", id="nan"), pytest.param(float("inf"), "hn", id="inf"),
    pytest.param(None, "hx", id="missing"),
])
def test_heat_class(ratio, cls):
    assert heat_class(ratio) == cls


def test_heatmap_border_and_lattice_patterns_survive_run_length_encoding():
    record = check(status="mismatch", kind="value", heatmap=fixtures.border_heatmap(6, 5))
    heat = model_of([record])["findings"][0]["heatmap"]
    grid = [[None] * heat["cols"] for _ in range(heat["rows"])]
    for x, y, width, cls in heat["rects"]:
        for dx in range(width):
            grid[y][x + dx] = cls
    beyond = {(y, x) for y in range(6) for x in range(5) if grid[y][x] not in ("h0", "h1")}
    assert beyond == {(y, x) for y in range(6) for x in range(5) if y in (0, 5) or x in (0, 4)}
    assert heat["beyond"] == len(beyond)


def test_capabilities_and_coverage_fall_back_to_check_lines_without_a_summary():
    transposed = ConvConfig(ndim=1, transposed=True, in_channels=2, out_channels=2, groups=2, in_size=(5,), kernel=2)
    records = [
        summary(impl="tensorflow", counts={"forward": {"unsupported": 7}}, reasons={"no groups": 7},
                coverage={"ndim=2": 7, "bias": 3}, examples=7),
        check(impl="jax", op="conv_transpose1d", status="unsupported", reason="no grouped transpose", config=transposed),
        check(impl="jax", op="conv_transpose1d", status="unsupported", check_name="grad_input",
              reason="no grouped transpose", config=transposed),  # same example: counted once for coverage
    ]
    model = model_of(records)
    assert [(c["implementation"], c["reason"], c["count"]) for c in model["capabilities"]] == [
        ("jax", "no grouped transpose", 2), ("tensorflow", "no groups", 7)]
    coverage = {row["feature"]: {c["op"]: c for c in row["cells"]} for row in model["coverage"]["rows"]}
    assert coverage["ndim=2"]["conv2d"]["n"] == 7
    assert coverage["groups>1"]["conv_transpose1d"]["n"] == 1
    assert coverage["ndim=2"]["conv_transpose1d"]["applies"] is False
    assert "bfloat16" in model["coverage"]["zero_features"]


def test_run_lines_of_workers_and_merged_runs_merge():
    runs = [
        {"type": "run", "run_id": "a", "worker": "gw0", "started": "2026-01-01T10:00:00Z", "devices": ["cpu"],
         "versions": {"torch": "2.13.0"}, "hypothesis_profile": "ci", "seed": 1, "precision_mode": "strict"},
        {"type": "run", "run_id": "a", "worker": "gw1", "started": "2026-01-01T10:00:30Z", "devices": ["cpu"],
         "versions": {"torch": "2.13.0"}, "hypothesis_profile": "ci", "seed": 1, "precision_mode": "strict"},
        {"type": "run", "run_id": "b", "worker": "main", "started": "2026-01-02T10:00:00Z", "devices": ["cuda"],
         "versions": {"torch": "2.14.0"}, "hypothesis_profile": "ci", "seed": 2, "precision_mode": "strict"},
        {"type": "run_end", "run_id": "a", "worker": "gw0", "finished": "2026-01-01T10:02:00Z", "interrupted": False},
        {"type": "run_end", "run_id": "a", "worker": "gw1", "finished": "2026-01-01T10:01:00Z", "interrupted": False},
        {"type": "run_end", "run_id": "b", "worker": "main", "finished": "2026-01-02T10:01:00Z", "interrupted": True},
    ]
    run = model_of(runs)["run"]
    assert run["devices"] == ["cpu", "cuda"]
    assert run["versions"] == [{"library": "torch", "versions": ["2.13.0", "2.14.0"]}]
    assert run["seeds"] == [1, 2] and run["hypothesis_profiles"] == ["ci"]
    assert run["duration_s"] == 180.0  # overlapping workers count once, separate runs add
    assert run["interrupted"] and not run["complete"] and run["missing_end"] == 0


def test_the_model_is_plain_json():
    model = build_model(_read(fixtures.sample_records()))
    json.dumps(model, allow_nan=False)


def _read(records):
    result = ReadResult()
    result.records = records
    return result


# ---- the page ------------------------------------------------------------------------------------------


def test_page_shows_verdict_matrix_and_finding_cards(sample_page):
    summary, html = sample_page
    page = Page(html)
    assert summary.verdict_state == "fail"
    assert page.by_id("verdict")["text"].split() == ["✗", *summary.verdict_text.split()]
    assert summary.verdict_text == "7 findings in 3 implementations"
    cards = page.find("article", class_="finding")
    assert len(cards) == 8  # seven failing and one known
    statuses = {c["attrs"]["data-status"] for c in cards}
    assert statuses == {"mismatch", "error", "crash", "timeout", "known"}
    failing_cells = [e for e in page.find("td", class_="cell") if e["attrs"]["data-state"] == "fail"]
    assert len(failing_cells) == 7
    for element in failing_cells:  # the status is in the text, not in the colour alone
        assert any(status in element["text"] for status in ("mismatch", "error", "crash", "timeout")), element
    heat = page.find("figure", class_="heat")
    assert len(heat) >= 2 and len(page.find("rect")) > 20
    assert page.find("button", class_="copy")


def test_page_is_self_contained_and_escapes_record_text(sample_page):
    _, html = sample_page
    page = Page(html)
    assert "<script>alert(1)</script>" not in html  # planted in a crash's detail text
    assert any("<script>alert(1)</script>" in e["text"] for e in page.find("pre", class_="detail"))
    for element in page.elements:
        for name in ("src", "href"):
            assert not (element["attrs"].get(name) or "").startswith(("http:", "https:", "//")), element
    assert not page.find("link")
    data = json.loads(page.by_id("report-data")["text"])
    assert data["verdict"]["n_findings"] == 7 and data["heatmaps"]


def test_page_lists_malformed_lines(sample_page):
    summary, html = sample_page
    rows = Page(html).find("td", class_="mono")
    assert summary.n_malformed == 2
    assert any(e["text"].endswith(":252") or "results.jsonl:" in e["text"] for e in rows)
    assert "2 malformed lines skipped" in summary.line()


def test_render_records_of_an_all_pass_run_is_green(tmp_path):
    records = [check(status="pass") for _ in range(3)]
    result = render_records(_read(records), tmp_path / "out" / "conformance.html")
    page = Page((tmp_path / "out" / "conformance.html").read_text(encoding="utf-8"))
    assert result.verdict_state == "pass"
    assert page.by_id("verdict")["attrs"]["data-state"] == "pass"
    assert page.by_id("no-findings")


@pytest.mark.parametrize("make, message", [
    pytest.param(lambda d: d / "missing.jsonl", "no such file", id="missing"),
    pytest.param(lambda d: d, "is a directory", id="directory"),
    pytest.param(lambda d: _write(d / "empty.jsonl", ""), "no records in", id="empty"),
    pytest.param(lambda d: _write(d / "junk.jsonl", '{"a": 1}\nnot json\n'), "is this a results.jsonl?", id="no-records"),
])
def test_render_report_rejects_bad_input(tmp_path, make, message):
    with pytest.raises(ReportInputError, match=message):
        render_report([str(make(tmp_path))], str(tmp_path / "out.html"))


def test_render_report_rejects_an_unreadable_file(tmp_path, monkeypatch):
    path = _write(tmp_path / "results.jsonl", '{"type": "run"}\n')

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(render, "open", refuse, raising=False)
    with pytest.raises(ReportInputError, match="cannot read it"):
        render_report([str(path)], str(tmp_path / "out.html"))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ---- the command line ------------------------------------------------------------------------------------


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "conformance", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_cli_report_writes_the_page_and_says_what_it_skipped(tmp_path):
    results = fixtures.write_results(tmp_path / "results.jsonl", fixtures.sample_records())
    done = _cli("report", results, "-o", tmp_path / "site" / "c.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    n = len(fixtures.sample_records()) - 1  # the truncated last line is skipped
    assert done.stdout.splitlines()[0] == f"wrote {tmp_path / 'site' / 'c.html'} ({n} records, 1 malformed line skipped)"
    assert (tmp_path / "site" / "c.html").is_file()


def test_cli_report_default_output(tmp_path):
    fixtures.write_results(tmp_path / "results.jsonl", [check()], truncate_last=False)
    done = _cli("report", "results.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "reports" / "conformance.html").is_file()


@pytest.mark.parametrize("name, content, message", [
    pytest.param("missing.jsonl", None, "missing.jsonl: no such file", id="missing"),
    pytest.param("folder", "<dir>", "folder is a directory; give the results.jsonl file inside it", id="directory"),
    pytest.param("junk.jsonl", "\x89PNG\r\n\x1a\n", "no records in junk.jsonl: is this a results.jsonl?", id="not-results"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, name, content, message):
    if content == "<dir>":
        (tmp_path / name).mkdir()
    elif content is not None:
        (tmp_path / name).write_text(content, encoding="utf-8")
    done = _cli("report", name, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"python -m conformance report: error: {message}"]
    assert "Traceback" not in done.stderr


# ---- the pytest plugin -------------------------------------------------------------------------------------

PLUGIN_CONFTEST = """
import json, time
from datetime import datetime, timezone
from pathlib import Path
from conformance.report.plugin import ReportPlugin

REPORT_DIR = Path("reports")

def pytest_configure(config):
    REPORT_DIR.mkdir(exist_ok=True)
    config.pluginmanager.register(ReportPlugin(REPORT_DIR, REPORT_DIR / "results.jsonl"), "conformance-report")

def write(name, records):
    with open(REPORT_DIR / name, "a") as f:
        for r in records:
            f.write(json.dumps(r) + "\\n")

def run_line(run_id, worker, started=None):
    started = started or datetime.now(timezone.utc).isoformat()
    return {"type": "run", "run_id": run_id, "worker": worker, "started": started, "devices": ["cpu"]}

def check(run_id, status, impl="torch"):
    return {"type": "check", "run_id": run_id, "test_id": "t[conv2d-torch-cpu]", "implementation": impl,
            "op": "conv2d", "device": "cpu", "check": "forward", "status": status, "config": {"ndim": 2,
            "in_size": [4, 4], "kernel": [2, 2]}, "config_str": "conv2d(...)"}
"""


@pytest.fixture
def plugin_project(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(PLUGIN_CONFTEST)
    return pytester


def test_plugin_renders_from_every_results_file_of_this_session(plugin_project):
    plugin_project.makepyfile(test_it="""
        from conftest import write, run_line, check
        def test_a():
            write("results.jsonl", [run_line("old", "main", "2020-01-01T00:00:00Z"), check("old", "crash", "stale")])
            write("results.jsonl", [run_line("r1", "gw0"), check("r1", "pass")])
            write("results-gw1.jsonl", [run_line("r1", "gw1"), check("r1", "mismatch")])
    """)
    result = plugin_project.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    report = plugin_project.path / "reports" / "conformance.html"
    result.stdout.fnmatch_lines([f"conformance report: {Path('reports') / 'conformance.html'}",
                                 "verdict: 1 finding in 1 implementation"])
    html = report.read_text(encoding="utf-8")
    assert "stale" not in html  # the earlier run appended to the same file is left out


def test_plugin_renders_after_keyboard_interrupt(plugin_project):
    plugin_project.makepyfile(test_it="""
        from conftest import write, run_line, check
        def test_a():
            write("results.jsonl", [run_line("r1", "main"), check("r1", "pass")])
            raise KeyboardInterrupt
        def test_b():
            pass
    """)
    result = plugin_project.runpytest_subprocess()
    assert result.ret == 2  # interrupted
    result.stdout.fnmatch_lines(["*conformance report: *conformance.html", "verdict: all 1 checks passed"])
    assert (plugin_project.path / "reports" / "conformance.html").is_file()


def test_a_broken_report_warns_and_leaves_the_test_results_alone(plugin_project):
    plugin_project.makepyfile(test_it="""
        from conftest import REPORT_DIR
        def test_a():
            (REPORT_DIR / "results.jsonl").write_text("garbage\\n")
    """)
    result = plugin_project.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*WARNING: conformance report not written: no records in*"])
    assert not (plugin_project.path / "reports" / "conformance.html").exists()


def test_plugin_survives_a_failing_renderer(plugin_project, monkeypatch):
    from conformance.report.plugin import ReportPlugin

    plugin = ReportPlugin(plugin_project.path, plugin_project.path / "results.jsonl")
    (plugin_project.path / "results.jsonl").write_text(json.dumps(check()) + "\n")
    monkeypatch.setattr(report_model, "build_model", _explode)
    monkeypatch.setattr(render, "build_model", _explode)
    plugin.pytest_sessionfinish(session=None, exitstatus=0)  # must not raise
    assert plugin.problem == "RuntimeError: template exploded"


def _explode(*args, **kwargs):
    raise RuntimeError("template exploded")


def test_importing_the_report_package_stays_light():
    code = textwrap.dedent("""
        import sys
        import conformance.report
        heavy = [m for m in ("jinja2", "torch", "jax", "tensorflow", "pytest", "selenium") if m in sys.modules]
        print(heavy)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
