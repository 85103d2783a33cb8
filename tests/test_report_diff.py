"""conformance.report.diff and `python -m conformance report ... --baseline ...`: the four lists from
fabricated records, and two real nights in which one planted kernel is fixed and another breaks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.records import CheckRecord, ReadResult, RunRecord, SummaryRecord
from conformance.report.diff import FindingKey, compute_diff, insert_after_body, render_diff_section

REPO = Path(__file__).resolve().parent.parent


def _check(impl="k1", op="conv1d", check="forward", status="pass", kind=None, phase="generate", **fields):
    return CheckRecord(run_id="r", test_id=f"test_forward[{op}-{impl}-cpu]", implementation=impl, op=op, device="cpu",
                       check=check, status=status, kind=kind, phase=phase, **fields)


def _run(*records) -> ReadResult:
    return ReadResult(records=[RunRecord(run_id="r"), *records])


def _labels(entries):
    return [e.key.label() for e in entries]


# ---- the four lists ---------------------------------------------------------------------------------


def test_new_fixed_still_and_not_run():
    baseline = _run(
        _check("k1", status="mismatch", kind="value"),                    # fixed: k1 forward runs and passes tonight
        _check("k3", status="error"),                                       # still failing
        _check("k4", op="conv3d", status="crash"),                          # not run: no k4 conv3d tonight
    )
    tonight = _run(
        _check("k1"),
        _check("k2", status="mismatch", kind="shape", message="forward has shape (1, 2), expected (1, 3)"),
        _check("k3", status="error"),
        _check("k5", status="mismatch", phase="consensus"),                 # a replay for another's finding: no finding
    )
    diff = compute_diff(tonight, baseline, baseline_sources=["old.jsonl"])
    assert _labels(diff.new) == ["k2 conv1d cpu forward: mismatch (shape)"]
    assert _labels(diff.fixed) == ["k1 conv1d cpu forward: mismatch (value)"]
    assert _labels(diff.still_failing) == ["k3 conv1d cpu forward: error"]
    assert _labels(diff.not_run) == ["k4 conv3d cpu forward: crash"]
    assert diff.exit_status == 1
    assert diff.headline() == "1 new failure, 1 fixed, 1 still failing, 1 not run tonight"


def test_another_status_at_the_same_place_is_new_and_the_old_one_fixed():
    diff = compute_diff(_run(_check(status="error")), _run(_check(status="mismatch", kind="value")))
    assert _labels(diff.new) == ["k1 conv1d cpu forward: error"]
    assert _labels(diff.fixed) == ["k1 conv1d cpu forward: mismatch (value)"]


@pytest.mark.parametrize("tonight, expected", [
    # grad_bias compared tonight (in the summary's counts only: passes past the record cap) -> fixed
    pytest.param([SummaryRecord(run_id="r", test_id="t", implementation="k1", op="conv1d", device="cpu", check_kind="gradient",
                                examples=5, examples_run=5, counts={"grad_bias": {"pass": 5}})], "fixed", id="counted-in-summary"),
    # the gradient kind ran, but no config had a bias: grad_bias was not compared -> not run
    pytest.param([SummaryRecord(run_id="r", test_id="t", implementation="k1", op="conv1d", device="cpu", check_kind="gradient",
                                examples=5, examples_run=5, counts={"grad_input": {"pass": 5}})], "not_run", id="no-bias-drawn"),
    # everything unsupported tonight -> not run
    pytest.param([_check(check="grad_bias", status="unsupported")], "not_run", id="unsupported"),
])
def test_what_counts_as_run_tonight(tonight, expected):
    diff = compute_diff(_run(*tonight), _run(_check(check="grad_bias", status="mismatch", kind="value")))
    assert len(getattr(diff, expected)) == 1, diff
    assert diff.exit_status == 0


def test_a_whole_call_failure_is_fixed_when_its_check_kind_ran():
    baseline = _run(_check(check="gradient", status="error"))
    tonight = _run(SummaryRecord(run_id="r", test_id="t", implementation="k1", op="conv1d", device="cpu",
                                 check_kind="gradient", examples=3, examples_run=3, counts={"grad_input": {"pass": 3}}))
    assert _labels(compute_diff(tonight, baseline).fixed) == ["k1 conv1d cpu gradient: error"]


def test_the_section_is_escaped_and_goes_right_after_body():
    diff = compute_diff(_run(_check(status="mismatch", kind="value", message="<script>alert(1)</script>")), _run())
    section = render_diff_section(diff)
    assert "<script>alert" not in section and "&lt;script&gt;" in section
    page = insert_after_body('<html><head></head><body class="x">\n<main>report</main></body></html>', section)
    assert page.index('<body class="x">') < page.index('id="conformance-diff"') < page.index("<main>")
    assert insert_after_body("<p>no body</p>", "S").endswith("S")


def test_finding_key_label():
    assert FindingKey("torch", "conv2d", "cpu", "forward", "known", None, "KD-1").label() == \
        "torch conv2d cpu forward: known [KD-1]"


# ---- two real nights --------------------------------------------------------------------------------

PLANTED = '''
"""Two kernels, k1 and k2, each the naive reference plus 1 in its forward when its name is in PLANTED_BUGS."""
import os

import numpy as np

from conformance import Implementation
from conformance.dtypes import to_storage
from references.numpy.naive import NaiveReference

_naive = NaiveReference()


class _Kernel(Implementation):
    dtypes = ("float64",)

    def __init__(self, name):
        self.name = name

    def forward(self, config, x, w, b=None, device="cpu"):
        y = np.asarray(_naive.forward(config, x, w, b), np.float64)
        if self.name in os.environ.get("PLANTED_BUGS", "").split(","):
            y = y + 1.0
        return to_storage(y, config.dtype)


def k1():
    return _Kernel("k1")


def k2():
    return _Kernel("k2")
'''


def _night(tmp_path: Path, name: str, bugs: str) -> Path:
    report_dir = tmp_path / name
    env = {**os.environ, "CONFORMANCE_MAX_EXAMPLES": "5", "PLANTED_BUGS": bugs,
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "planted"), str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance/suite", "-q", "-p", "no:randomly", "--hypothesis-profile", "conformance-ci",
         "--impl", "planted_nightly:k1", "--impl", "planted_nightly:k2", "-k", "test_forward and conv1d and (k1 or k2)",
         "--report-dir", str(report_dir)],
        cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]  # one planted bug each night
    return report_dir


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("nights")
    (tmp_path / "planted").mkdir()
    (tmp_path / "planted" / "planted_nightly.py").write_text(textwrap.dedent(PLANTED))
    return _night(tmp_path, "night1", "k1"), _night(tmp_path, "night2", "k2"), tmp_path


def _report(results: Path, baseline: Path, out: Path):
    return subprocess.run(
        [sys.executable, "-m", "conformance", "report", *map(str, sorted(results.glob("results*.jsonl"))),
         "--baseline", *map(str, sorted(baseline.glob("results*.jsonl"))), "-o", str(out)],
        cwd=REPO, capture_output=True, text=True)


def test_a_new_failure_and_a_fix_between_two_nights(nights):
    night1, night2, tmp_path = nights
    out = tmp_path / "diff" / "conformance.html"
    result = _report(night2, night1, out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 new failure, 1 fixed, 0 still failing, 0 not run tonight" in result.stdout
    assert "new: k2 conv1d cpu forward: mismatch (value)" in result.stdout
    assert "fixed: k1 conv1d cpu forward: mismatch (value)" in result.stdout
    page = out.read_text()
    section = page[page.index('id="conformance-diff"'):page.index("</section>", page.index('id="conformance-diff"'))]
    new = section[section.index('id="diff-new"'):section.index('id="diff-fixed"')]
    fixed = section[section.index('id="diff-fixed"'):]
    assert "<td>k2</td>" in new and "<td>k1</td>" not in new
    assert "<td>k1</td>" in fixed and "<td>k2</td>" not in fixed
    assert page.index("<body") < page.index('id="conformance-diff"')


def test_no_new_failure_exits_0(nights):
    _, night2, tmp_path = nights
    result = _report(night2, night2, tmp_path / "same" / "conformance.html")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 new failures, 0 fixed, 1 still failing" in result.stdout
    assert "still failing: k2 conv1d cpu forward: mismatch (value)" in result.stdout


def test_a_missing_baseline_is_bad_input(nights, tmp_path):
    night1, _, _ = nights
    result = subprocess.run([sys.executable, "-m", "conformance", "report", str(night1 / "results.jsonl"),
                             "--baseline", str(tmp_path / "nothing.jsonl"), "-o", str(tmp_path / "x.html")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and "nothing.jsonl: no such file" in result.stderr
