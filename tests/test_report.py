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
from conformance.records import (
    CheckRecord,
    ImplementationRecord,
    KnownDivergencesRecord,
    KnownDivergenceState,
    ReadResult,
    RecordWriter,
    RunEndRecord,
    RunRecord,
    SummaryRecord,
    to_json,
)
from conformance.report import model as report_model
from conformance.report import render
from conformance.report.findings import heat_class, how_it_failed
from conformance.report.model import build_model
from conformance.report.render import ReportInputError, render_records, render_report
from conformance.vocabulary import MISMATCH_KINDS, RESULT_LABELS

try:
    from tests import report_fixtures as fixtures
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import report_fixtures as fixtures

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


# ---- helpers ----------------------------------------------------------------------------------------


def check(impl="torch", op="conv2d", device="cpu", check_name="forward", status="pass", *, test_id=None,
          config=None, **fields) -> CheckRecord:
    config = config or ConvConfig(ndim=int(op[-2]), transposed="transpose" in op, in_channels=2, out_channels=2,
                                  in_size=(5,) * int(op[-2]), kernel=3)
    return CheckRecord(run_id="r1", test_id=test_id or f"test_x[{op}-{impl}-{device}]", implementation=impl, op=op,
                       device=device, check=check_name, status=status, config=config.to_dict(), config_str=str(config),
                       **fields)


def summary(impl="torch", op="conv2d", device="cpu", *, counts, test_id=None, reasons=None, coverage=None,
            examples=1, examples_run=None, **fields) -> SummaryRecord:
    return SummaryRecord(run_id="r1", test_id=test_id or f"test_x[{op}-{impl}-{device}]", implementation=impl, op=op,
                         device=device, examples=examples, examples_run=examples if examples_run is None else examples_run,
                         counts=counts, unsupported_reasons=reasons or {}, coverage=coverage or {}, duration_s=1.0,
                         **fields)


def run_record(run_id="r1", worker="main", **fields) -> RunRecord:
    return RunRecord(run_id=run_id, worker=worker, **fields)


def run_end_record(run_id="r1", worker="main", **fields) -> RunEndRecord:
    return RunEndRecord(run_id=run_id, worker=worker, **fields)


def model_of(records, malformed=()):
    return build_model(ReadResult(records=list(records), malformed=list(malformed)))


def page_of(records, tmp_path, name="conformance.html"):
    """The page rendered from records written by the harness's own RecordWriter and read back."""
    writer = RecordWriter(tmp_path / f"{name}.jsonl")
    for record in records:
        writer.write(record)
    writer.close()
    render_report([str(tmp_path / f"{name}.jsonl")], str(tmp_path / name))
    return Page((tmp_path / name).read_text(encoding="utf-8"))


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


def test_the_headline_separates_known_per_entry_and_unsupported_from_what_passed():
    records = [check(status="pass"), check(status="known", known_id="KD-002"), check(status="known", known_id="KD-002"),
               check(status="known", known_id="KD-035"), check(status="unsupported")]
    verdict = model_of(records)["verdict"]
    assert verdict["text"] == "all 1 checks passed"
    assert verdict["breakdown"] == "3 known (KD-002 2, KD-035 1); 1 declared unsupported or not called"
    assert model_of([check(status="pass")])["verdict"]["breakdown"] == ""


# run_end's tests_failed is pytest's count of failed reports: those no failing check explains are errors.
@pytest.mark.parametrize("records, verdict_state, text, errors", [
    pytest.param([run_end_record(exitstatus=1, tests_failed=4)], "fail", "the run errored: 4 errors, no checks ran", 4,
                 id="errors-and-no-checks"),
    pytest.param([run_end_record(exitstatus=1, tests_failed=1), check(status="pass")], "fail",
                 "the run errored: 1 error, 1 checks passed", 1, id="an-error-beside-passing-checks"),
    pytest.param([run_end_record(exitstatus=1, tests_failed=3), check(status="mismatch")], "fail",
                 "1 finding in 1 implementation; the run errored: 2 errors", 2, id="errors-beside-a-finding"),
    pytest.param([run_end_record(exitstatus=1, tests_failed=1), check(status="mismatch")], "fail",
                 "1 finding in 1 implementation", 0, id="a-failure-the-finding-explains"),
    pytest.param([run_end_record(exitstatus=1, tests_failed=1), check(status="mismatch", phase="consensus"),
                  check(status="pass")], "fail", "the run errored: 1 error, 1 checks passed", 1,
                 id="a-consensus-replay-explains-no-failure"),
    pytest.param([run_end_record(exitstatus=0), check(status="pass")], "pass", "all 1 checks passed", 0, id="clean"),
])
def test_verdict_counts_failures_no_check_explains_as_errors(records, verdict_state, text, errors):
    verdict = model_of([run_record(), *records])["verdict"]
    seen = (verdict["state"], verdict["text"], verdict["n_errors"])
    assert seen == (verdict_state, text, errors), f"verdict {seen}, expected {(verdict_state, text, errors)}"


def test_an_errored_run_without_checks_has_a_failing_headline(tmp_path):
    """A run whose every test raised before any check (the nightly profile without its corpus file)."""
    records = [run_record(hypothesis_profile="conformance-nightly"), run_end_record(exitstatus=1, tests_failed=4)]
    result = render_records(_read(records), tmp_path / "conformance.html")
    headline = Page((tmp_path / "conformance.html").read_text(encoding="utf-8")).by_id("verdict")
    assert (result.verdict_state, headline["attrs"]["data-state"]) == ("fail", "fail"), \
        f"an errored run rendered as {result.verdict_state!r} / {headline['attrs']['data-state']!r}, expected 'fail'"
    assert "4 errors" in headline["text"] and "errored" in result.verdict_text, headline["text"]


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
        summary(impl="tensorflow", counts={"forward": {"pass": 7}, "grad_input": {"unsupported": 7}},
                reasons={"no groups": 7}, coverage={"ndim=2": 7, "bias": 3}, examples=7),
        check(impl="jax", op="conv_transpose1d", status="unsupported", reason="no grouped transpose", config=transposed),
        check(impl="jax", op="conv_transpose1d", status="unsupported", check_name="grad_input",
              reason="no grouped transpose", config=transposed),
        check(impl="jax", op="conv_transpose1d", check_name="grad_weight", config=transposed),  # same example: counted once
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
    common = dict(hypothesis_profile="conformance-ci", precision_mode="strict")
    runs = [
        run_record("a", "gw0", started="2026-01-01T10:00:00Z", devices=["cpu"], versions={"torch": "2.13.0"}, seed=1, **common),
        run_record("a", "gw1", started="2026-01-01T10:00:30Z", devices=["cpu"], versions={"torch": "2.13.0"}, seed=1, **common),
        run_record("b", "main", started="2026-01-02T10:00:00Z", devices=["cuda"], versions={"torch": "2.14.0"}, seed=2, **common),
        run_end_record("a", "gw0", finished="2026-01-01T10:02:00Z", interrupted=False),
        run_end_record("a", "gw1", finished="2026-01-01T10:01:00Z", interrupted=False),
        run_end_record("b", "main", finished="2026-01-02T10:01:00Z", interrupted=True),
    ]
    run = model_of(runs)["run"]
    assert run["devices"] == ["cpu", "cuda"]
    assert run["versions"] == [{"library": "torch", "versions": ["2.13.0", "2.14.0"]}]
    assert run["seeds"] == [1, 2] and run["hypothesis_profiles"] == ["conformance-ci"]
    assert run["duration_s"] == 180.0  # overlapping workers count once, separate runs add
    assert run["interrupted"] and not run["complete"] and run["missing_end"] == 0


def test_implementation_records_add_their_versions_and_settings_to_the_run():
    records = [
        run_record("a", "gw0", started="2026-01-01T10:00:00Z", devices=["cpu"], versions={"numpy": "2.3"}),
        ImplementationRecord(run_id="a", worker="gw0", implementation="torch", spec="torch",
                             versions={"torch": "2.13.0"},
                             settings={"torch (cpu)": {"torch.backends.mkldnn.enabled": True}}),
        ImplementationRecord(run_id="a", worker="gw0", implementation="jax", spec="jax", versions={"jax": "0.10.2"},
                             settings={"jax (cpu)": {"jax_enable_x64": True}}),
        run_end_record("a", "gw0", finished="2026-01-01T10:02:00Z", interrupted=False),
    ]
    run = model_of(records)["run"]
    assert run["versions"] == [{"library": "jax", "versions": ["0.10.2"]}, {"library": "numpy", "versions": ["2.3"]},
                               {"library": "torch", "versions": ["2.13.0"]}]
    assert {"implementation": "torch (cpu)", "name": "torch.backends.mkldnn.enabled", "values": [True]} in run["settings"]
    assert {"implementation": "jax (cpu)", "name": "jax_enable_x64", "values": [True]} in run["settings"]
    assert run["n_processes"] == 1  # an implementation record is not a process


def test_the_model_is_plain_json():
    model = build_model(_read(fixtures.sample_records()))
    json.dumps(model, allow_nan=False)


def _read(records):
    return ReadResult(records=list(records))


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
    assert len(failing_cells) == 8  # jax's grad_input error is one card in conv1d and conv_transpose1d
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
    outside = ("http:", "https:", "//")
    for element in page.elements:  # nothing is loaded from outside; the only links out are upstream reports
        assert not (element["attrs"].get("src") or "").startswith(outside), element
        if (element["attrs"].get("href") or "").startswith(outside):
            assert element["tag"] == "a" and "upstream" in element["attrs"]["class"].split(), element
    assert [e["attrs"]["href"] for e in page.find("a", class_="upstream")] == [
        "https://github.com/tensorflow/tensorflow/issues/99999"]
    assert not page.find("link")
    data = json.loads(page.by_id("report-data")["text"])
    assert data["verdict"]["n_findings"] == 7 and data["heatmaps"]


def test_page_header_of_the_sample_run(sample_page):
    _, html = sample_page
    page = Page(html)
    assert page.by_id("profile")["text"] == "conformance-nightly · seed 1234"
    assert [e["text"] for e in page.find("pre", class_="argv")] == [
        "pytest -n 2 --report-dir reports --hypothesis-profile conformance-nightly -k 'not slow'"]
    assert "1 of 2 processes wrote no run_end" in " ".join(page.by_id("incomplete")["text"].split())  # gw1 was killed


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


# ---- typed records, shown as written --------------------------------------------------------------------


@pytest.mark.parametrize("argv, shown", [
    pytest.param(["pytest", "--impl", "m:C"], "pytest --impl m:C", id="words"),
    pytest.param(["pytest", "-k", "jax and conv3d"], "pytest -k 'jax and conv3d'", id="quoted-like-a-shell"),
])
def test_command_lines_row_shows_the_argv_words_as_a_shell_takes_them(tmp_path, argv, shown):
    page = page_of([run_record(argv=argv), check()], tmp_path)
    assert [e["text"] for e in page.find("pre", class_="argv")] == [shown]


def test_a_run_line_with_argv_as_one_string_is_malformed_not_spaced_out_letters(tmp_path):
    line = json.loads(to_json(run_record()))
    line["argv"] = "pytest --impl m:C"  # what the old writer wrote
    (tmp_path / "results.jsonl").write_text(json.dumps(line) + "\n" + to_json(check()) + "\n", encoding="utf-8")
    summary = render_report([str(tmp_path / "results.jsonl")], str(tmp_path / "out.html"))
    html = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert summary.n_malformed == 1
    assert "run.argv" in html and "p y t e s t" not in html


@pytest.mark.parametrize("records, banner", [
    pytest.param([run_record(), run_end_record()], False, id="run-and-run_end"),
    pytest.param([run_record("r1", "gw0"), run_record("r1", "gw1"), run_end_record("r1", "gw1"), run_end_record("r1", "gw0")],
                 False, id="every-worker-ended"),
    pytest.param([run_record()], True, id="no-run_end"),
    pytest.param([run_record(), run_end_record(interrupted=True)], True, id="interrupted"),
    pytest.param([run_record("r1", "gw0"), run_end_record("r1", "gw1")], True, id="run_end-of-another-worker"),
    pytest.param([run_record("r1"), run_end_record("r2")], True, id="run_end-of-another-run"),
])
def test_the_did_not_finish_banner_shows_only_when_a_process_did_not_end(tmp_path, records, banner):
    page = page_of([*records, check()], tmp_path)
    assert any(e["attrs"].get("id") == "incomplete" for e in page.elements) is banner
    assert model_of([*records, check()])["run"]["complete"] is not banner


@pytest.mark.parametrize("fields, label", [
    pytest.param(dict(hypothesis_profile="conformance-ci", derandomize=True), "conformance-ci · derandomized", id="derandomized"),
    pytest.param(dict(hypothesis_profile="conformance-ci", derandomize=True, seed=7), "conformance-ci · derandomized", id="derandomize-wins"),
    pytest.param(dict(hypothesis_profile="conformance-nightly", seed=1234), "conformance-nightly · seed 1234", id="seed"),
    pytest.param(dict(hypothesis_profile="conformance-nightly", seed=0), "conformance-nightly · seed 0", id="seed-0"),
    pytest.param(dict(hypothesis_profile="conformance-dev"), "conformance-dev · random", id="random"),
])
def test_profile_label_says_how_examples_were_drawn(tmp_path, fields, label):
    page = page_of([run_record(**fields), run_end_record(), check()], tmp_path)
    assert page.by_id("profile")["text"] == label


# ---- counting examples, not replays ----------------------------------------------------------------------


def _shrunk_bug(**fields):
    """2 drawn examples that error, 37 failing replays while shrinking, the final shrunk example, and
    a consensus replay of another implementation that errors too."""
    small = ConvConfig(ndim=2, in_channels=1, out_channels=1, in_size=(2, 2), kernel=1)
    return [
        check(status="error", data_seed=1, **fields), check(status="error", data_seed=2, **fields),
        *[check(status="error", phase="shrink", data_seed=100 + n, **fields) for n in range(37)],
        check(status="pass", phase="shrink", data_seed=200, **fields),
        check(status="error", phase="final", minimal=True, data_seed=0, config=small, **fields),
        check(impl="naive", status="error", phase="consensus", data_seed=0, config=small,
              test_id="test_x[conv2d-torch-cpu]"),
    ]


def test_cells_and_cards_count_examples_and_show_shrink_replays_apart(tmp_path):
    records = [summary(counts={"forward": {"pass": 28, "error": 2}}, examples=30, shrink_replays=38), *_shrunk_bug()]
    model = model_of(records)
    torch = cell(model, "torch", "conv2d")
    assert counts_of(torch) == {"pass": 28, "error": 2}
    assert (torch["examples"], torch["shrink_replays"]) == (30, 38)
    [card] = model["findings"]
    assert (card["implementation"], card["count"], card["shrink_replays"]) == ("torch", 3, 37)  # 2 drawn + the shrunk one
    assert card["config_str"] == str(ConvConfig(ndim=2, in_channels=1, out_channels=1, in_size=(2, 2), kernel=1))
    assert not any(row["implementation"] == "naive" for row in model["matrix"]["rows"])  # consensus replays: no cell
    page = page_of(records, tmp_path)
    assert "+38 shrink replays" in page.find("td", class_="cell")[1]["text"]
    assert "+37 shrink replays" in page.find("article", class_="finding")[0]["text"]


def test_a_test_without_summary_counts_examples_from_its_lines_not_replays():
    model = model_of(_shrunk_bug())
    torch = cell(model, "torch", "conv2d")
    assert counts_of(torch) == {"error": 3}
    assert (torch["examples"], torch["shrink_replays"]) == (3, 38)
    assert model["findings"][0]["count"] == 3


def test_a_final_example_that_repeats_a_drawn_one_counts_once():
    records = [check(status="mismatch", kind="value", data_seed=5),
               check(status="mismatch", kind="value", data_seed=5, phase="final", minimal=True)]
    assert model_of(records)["findings"][0]["count"] == 1


def test_coverage_counts_the_examples_that_ran_and_warns_of_features_never_exercised():
    bf16 = ConvConfig(ndim=1, in_channels=2, out_channels=2, in_size=(5,), kernel=2, dtype="bfloat16")
    f32 = ConvConfig(ndim=1, in_channels=2, out_channels=2, in_size=(5,), kernel=2, dtype="float32")
    records = [
        summary(impl="tensorflow", counts={"forward": {"pass": 6, "unsupported": 4}}, reasons={"no bfloat16": 4},
                coverage={"ndim=2": 6, "float32": 6}, examples=10, examples_run=6),
        check(impl="jax", op="conv1d", status="unsupported", reason="no bfloat16", config=bf16),  # did not run
        check(impl="jax", op="conv1d", status="unsupported", check_name="grad_input", reason="no bfloat16", config=bf16),
        check(impl="jax", op="conv1d", config=f32),
    ]
    coverage = model_of(records)["coverage"]
    assert coverage["examples"] == [{"op": "conv1d", "n": 1}, {"op": "conv2d", "n": 6}]
    cells = {row["feature"]: {c["op"]: c for c in row["cells"]} for row in coverage["rows"]}
    assert cells["ndim=2"]["conv2d"]["share"] == 1.0
    assert cells["float32"]["conv1d"]["n"] == 1
    assert "bfloat16" in coverage["zero_features"] and "float32" not in coverage["zero_features"]


# ---- one card per divergence, across op families ------------------------------------------------------------


def test_one_divergence_in_several_op_families_is_one_card_on_the_smallest_config(tmp_path):
    tiny = ConvConfig(ndim=2, in_channels=1, out_channels=1, in_size=(2, 2), kernel=1)
    records = [
        *[check(op="conv1d", status="mismatch", kind="value", data_seed=n) for n in range(3)],
        *[check(op="conv2d", status="mismatch", kind="value", data_seed=n) for n in range(2)],
        check(op="conv2d", status="mismatch", kind="value", config=tiny, data_seed=9),
        check(op="conv2d", status="mismatch", kind="value", check_name="grad_input"),  # another check
        check(op="conv3d", status="mismatch", kind="shape"),  # another kind
        check(impl="jax", op="conv1d", status="mismatch", kind="value"),  # another implementation
        check(op="conv1d", device="cuda", status="mismatch", kind="value"),  # another device
        check(impl="tensorflow", op="conv1d", status="known", kind="value", known_id="KD-1"),
        check(impl="tensorflow", op="conv2d", status="known", kind="value", known_id="KD-1"),
        check(impl="tensorflow", op="conv3d", status="known", kind="value", known_id="KD-2"),  # another known divergence
    ]
    model = model_of(records)
    findings = model["findings"]
    assert len(findings) == 7
    [grouped] = [f for f in findings if f["implementation"] == "torch" and f["check"] == "forward"
                 and f["kind"] == "value" and f["device"] == "cpu"]
    assert [(o["op"], o["examples"]) for o in grouped["ops"]] == [("conv1d", 3), ("conv2d", 3)]
    assert grouped["count"] == 6 and grouped["config_str"] == str(tiny)
    assert grouped["title"] == "torch · conv1d, conv2d · cpu — forward: value mismatch"
    known = sorted((f["known_id"], f["op_names"]) for f in findings if f["status"] == "known")
    assert known == [("KD-1", ["conv1d", "conv2d"]), ("KD-2", ["conv3d"])]
    assert cell(model, "torch", "conv1d")["finding"] == cell(model, "torch", "conv2d")["finding"] == grouped["id"]
    assert cell(model, "tensorflow", "conv1d")["finding"] == cell(model, "tensorflow", "conv2d")["finding"]
    page = page_of(records, tmp_path)
    card = next(e for e in page.find("article", class_="finding") if e["attrs"]["id"] == grouped["id"])
    assert card["attrs"]["data-op"] == "conv1d conv2d"
    assert "conv1d: 3 examples" in card["text"] and "conv2d: 3 examples" in card["text"]


MISMATCH_TITLES = [("shape", "shape mismatch"), ("nonfinite", "nonfinite mismatch"), ("value", "value mismatch"),
                   ("dtype", "result not in bfloat16"), ("accepted", "accepts an invalid call")]


@pytest.mark.parametrize("kind, how", [pytest.param(k, h, id=k) for k, h in MISMATCH_TITLES])
def test_every_mismatch_kind_has_a_title(kind, how):
    record = check(status="mismatch", kind=kind, arithmetic={"output": "bfloat16", "label": "bfloat16"})
    assert how_it_failed(record) == how


def test_the_mismatch_kind_titles_cover_the_vocabulary():
    assert {kind for kind, _ in MISMATCH_TITLES} == set(MISMATCH_KINDS)


def test_a_dtype_mismatch_is_a_failing_card_titled_with_the_declared_format(tmp_path):
    config = ConvConfig(ndim=2, in_channels=1, out_channels=1, in_size=(3, 3), kernel=2, dtype="bfloat16")
    record = check(status="mismatch", kind="dtype", config=config, message="result not in bfloat16")
    model = model_of([record])
    assert model["verdict"]["state"] == "fail" and model["verdict"]["n_findings"] == 1
    assert model["findings"][0]["title"].endswith("forward: result not in bfloat16")  # from the config's dtype
    assert "result not in bfloat16" in page_of([record], tmp_path).find("h3")[0]["text"]


def test_a_check_name_outside_the_vocabulary_is_shown_as_itself():
    card = model_of([check(status="error", check_name="grad_offsets")])["findings"][0]
    assert "grad_offsets" not in RESULT_LABELS and card["check_label"] == "grad_offsets"
    assert model_of([check(status="error", check_name="grad_weight")])["findings"][0]["check_label"] == RESULT_LABELS["grad_weight"]


# ---- why a cell ran nothing; known divergences' upstream --------------------------------------------------------


def test_an_all_unsupported_cell_says_why(tmp_path):
    reason = "onnxruntime: no gradients (vjp not implemented)"
    long_reason = "onnxruntime: ConvTranspose with 3 spatial dims is not in the CPU execution provider"
    records = [
        summary(impl="onnxruntime", counts={"grad_input": {"unsupported": 30}, "grad_weight": {"unsupported": 30}},
                reasons={reason: 60, "onnxruntime: no float16": 2}, examples=30, examples_run=0),
        summary(impl="onnxruntime", op="conv_transpose3d", counts={"forward": {"unsupported": 5}},
                reasons={long_reason: 5}, examples=5, examples_run=0),
        summary(impl="onnxruntime", op="conv3d", counts={}, examples=0, skipped="onnxruntime not installed"),
    ]
    model = model_of(records)
    why = cell(model, "onnxruntime", "conv2d")["why"]
    assert why["text"] == f"unsupported: {reason}"
    assert why["title"].splitlines() == [f"{reason} (60)", "onnxruntime: no float16 (2)"]
    cut = cell(model, "onnxruntime", "conv_transpose3d")["why"]["text"]
    assert cut.startswith("unsupported: onnxruntime: ConvTranspose") and cut.endswith("…")
    assert len(cut) <= len("unsupported: ") + 60
    assert cell(model, "onnxruntime", "conv3d")["why"]["text"] == "skipped: onnxruntime not installed"
    td = next(e for e in page_of(records, tmp_path).find("td", class_="cell") if e["attrs"]["data-op"] == "conv2d")
    assert f"unsupported: {reason}" in td["text"]


def test_a_cell_that_ran_something_gives_no_reason():
    records = [check(status="unsupported", reason="no bias"), check(check_name="grad_input")]
    assert cell(model_of(records), "torch", "conv2d")["why"] is None


@pytest.mark.parametrize("upstream, draft, href, text", [
    pytest.param("https://github.com/x/y/issues/1", "docs/drafts/KD-1.md", "https://github.com/x/y/issues/1",
                 "https://github.com/x/y/issues/1", id="url"),
    pytest.param("not filed yet", "docs/drafts/KD-1.md", None, "draft: docs/drafts/KD-1.md", id="draft"),
    pytest.param("wontfix upstream", "", None, "wontfix upstream", id="text"),
    pytest.param("javascript:alert(1)", "", None, "javascript:alert(1)", id="no-other-scheme-links"),
])
def test_known_divergence_upstream_is_a_link_a_draft_or_text(tmp_path, upstream, draft, href, text):
    state = KnownDivergenceState(id="KD-1", implementations=["tensorflow"], upstream=upstream, draft=draft, matched=1,
                                 reproduced=1)
    page = page_of([KnownDivergencesRecord(run_id="r1", entries=[state]), check()], tmp_path)
    cell_ = page.find("td", class_="upstream")[0]
    assert " ".join(cell_["text"].split()) == text
    links = [e["attrs"]["href"] for e in page.find("a", class_="upstream")]
    assert links == ([href] if href else [])


def test_known_divergence_counts_merge_across_workers():
    rows = [KnownDivergencesRecord(run_id="r1", entries=[KnownDivergenceState(id="KD-1", matched=m, reproduced=r,
                                                                              draft=d)])
            for m, r, d in ((3, 0, ""), (2, 1, "docs/drafts/KD-1.md"))]
    [entry] = model_of(rows)["known_divergences"]
    assert (entry["matched"], entry["reproduced"], entry["state"]) == (5, 1, "reproduced")
    assert entry["upstream_link"] == {"href": None, "text": "docs/drafts/KD-1.md", "draft": True}


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
from datetime import datetime, timezone
from pathlib import Path
from conformance.config import ConvConfig
from conformance.records import CheckRecord, RecordWriter, RunRecord
from conformance.report.plugin import ReportPlugin

REPORT_DIR = Path("reports")

def pytest_configure(config):
    REPORT_DIR.mkdir(exist_ok=True)
    config.pluginmanager.register(ReportPlugin(REPORT_DIR, REPORT_DIR / "results.jsonl"), "conformance-report")

def write(name, records):
    writer = RecordWriter(REPORT_DIR / name)
    for record in records:
        writer.write(record)
    writer.close()

def run_line(run_id, worker, started=None):
    started = started or datetime.now(timezone.utc).isoformat()
    return RunRecord(run_id=run_id, worker=worker, started=started, devices=["cpu"])

def check(run_id, status, impl="torch"):
    config = ConvConfig(ndim=2, in_size=(4, 4), kernel=(2, 2))
    return CheckRecord(run_id=run_id, test_id="t[conv2d-torch-cpu]", implementation=impl, op="conv2d", device="cpu",
                       check="forward", status=status, config=config.to_dict(), config_str=str(config))
"""

# The harness's own sessionfinish, as conftest.py has it: it writes run_end when the session ends.
HARNESS_SESSIONFINISH = """
from conformance.records import RunEndRecord

def pytest_sessionfinish(session, exitstatus):
    write("results.jsonl", [RunEndRecord(run_id="r1", worker="main", exitstatus=int(exitstatus))])
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


def test_plugin_renders_after_the_harness_wrote_run_end(plugin_project):
    plugin_project.makeconftest(PLUGIN_CONFTEST + HARNESS_SESSIONFINISH)
    plugin_project.makepyfile(test_it="""
        from conftest import write, run_line, check
        def test_a():
            write("results.jsonl", [run_line("r1", "main"), check("r1", "pass")])
    """)
    result = plugin_project.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    page = Page((plugin_project.path / "reports" / "conformance.html").read_text(encoding="utf-8"))
    assert not any(e["attrs"].get("id") == "incomplete" for e in page.elements)  # no false "did not finish"
    assert "finished" in [e["text"] for e in page.find("td")]


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
    (plugin_project.path / "results.jsonl").write_text(to_json(check()) + "\n")
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


# ---- the capability table --------------------------------------------------------------------------------


def test_the_capability_table_shows_each_declared_gap_with_its_witness_verdicts(tmp_path):
    """The rows come from the implementation's own declarations (the README table's rows), and each
    framework gap says what this run's witness calls found: confirmed, or not (a finding)."""
    from conformance.capabilities import Gap, witness_example

    refused = Gap("groups>1", "mylib: no groups", refused_by="framework", message="groups unsupported")
    unmapped = Gap("unbatched", "mylib: batched inputs only")
    drifted = Gap("dilation>1", "mylib: no dilation", refused_by="framework", message="no dilation")
    described = ImplementationRecord(run_id="r1", implementation="mylib", spec="mymod:MyLib",
                                     gaps=[g.summary() for g in (refused, unmapped, drifted)])
    witnesses = [check(impl="mylib", status="pass", phase="explicit", example=witness_example(refused)),
                 check(impl="mylib", status="pass", phase="explicit", example=witness_example(refused)),
                 check(impl="mylib", status="error", phase="explicit", example=witness_example(drifted))]
    page = page_of([run_record(), described, described, *witnesses], tmp_path)
    rows = _table_rows(page, "declared-gaps")
    assert [(r[0], r[1], r[5]) for r in rows] == [("mylib", "groups>1", "2 confirmed"), ("mylib", "unbatched", "—"),
                                                  ("mylib", "dilation>1", "1 not confirmed")], rows
    assert "/groups unsupported/" in rows[0][3] and "no form in the API" in rows[1][3], rows


def _table_rows(page: Page, table_id: str | None = None, *, table: dict | None = None) -> list[list[str]]:
    """The td texts of each body row of a table: the one with this id, or `table` (one of page.elements,
    which are in document order)."""
    start = page.elements.index(table if table is not None else page.by_id(table_id))
    rows = []
    for element in page.elements[start + 1:]:
        if element["tag"] in ("table", "section", "article"):
            break
        if element["tag"] == "tr":
            rows.append([])
        elif element["tag"] == "td":
            rows[-1].append(" ".join(element["text"].split()))
    return [row for row in rows if row]


# ---- the consensus table ------------------------------------------------------------------------------

_SIX_MISSING = {name: "not installed" for name in ("jax", "keras", "onnxruntime", "tensorflow", "torch.compile",
                                                   "tensorflow.xla")}


@pytest.mark.parametrize("subject_status, others, odd", [
    pytest.param("mismatch", {"naive": "pass", "im2col": "pass", **_SIX_MISSING}, ["torch"],
                 id="missing-frameworks-are-no-majority"),
    pytest.param("mismatch", {"naive": "pass", "im2col": "pass", "jax": "unsupported", "keras": "unsupported",
                              "onnxruntime": "unsupported"}, ["torch"], id="unsupported-is-no-majority-and-never-odd"),
    pytest.param("mismatch", {"naive": "pass", **_SIX_MISSING}, [], id="two-that-ran-disagree"),
    pytest.param("mismatch", {"naive": "pass", "im2col": "error", "jax": "crash", **_SIX_MISSING}, [],
                 id="invalid-call-every-row-differs"),
    pytest.param("error", {"naive": "pass", "im2col": "pass", "jax": "pass", "keras": "error"}, ["keras", "torch"],
                 id="each-that-differs-from-a-majority"),
])
def test_consensus_marks_odd_only_against_a_majority_of_those_that_ran(subject_status, others, odd):
    record = check(status=subject_status, check_name="invalid_call", consensus=others)
    rows = model_of([record])["findings"][0]["consensus"]
    marked = [r["implementation"] for r in rows if r["odd"]]
    assert marked == odd, f"odd one out marked on {marked}, expected {odd}; rows {rows}"


def test_consensus_collapses_frameworks_not_installed_into_one_row(tmp_path):
    record = check(status="mismatch", kind="accepted", check_name="invalid_call",
                   consensus={"naive": "pass", "im2col": "pass", "jax": "not installed", "keras": "not installed"})
    card = model_of([record])["findings"][0]
    assert [r["implementation"] for r in card["consensus"]] == ["im2col", "naive", "torch"], card["consensus"]
    assert card["consensus_not_installed"] == ["jax", "keras"]
    assert _consensus_table(page_of([run_record(), record], tmp_path)) == [
        ["im2col", "✓ pass"], ["naive", "✓ pass"], ["torch (this card)", "✗ mismatch ← odd one out"],
        ["not installed: jax, keras"]]


def test_consensus_of_frameworks_all_missing_is_still_shown(tmp_path):
    record = check(status="mismatch", kind="value", consensus={"jax": "not installed"})
    assert _consensus_table(page_of([run_record(), record], tmp_path)) == [
        ["torch (this card)", "✗ mismatch"], ["not installed: jax"]]


def _consensus_table(page: Page) -> list[list[str]]:
    """The td texts of each row of the (one) consensus table of the page."""
    (table,) = page.find("table", class_="consensus")
    return _table_rows(page, table=table)
