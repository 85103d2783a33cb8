"""`python -m conformance audit`: calls drawn inside each known entry's region, sorted into matches,
passes and other results, with a verdict per entry. Planted kernels (tests/mutants.py) and entries of
our own, so no framework is needed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ENTRIES = """
[[divergence]]
id = "AUD-1"
implementations = ["missing_bias"]
summary = "the bias is never added"
classification = "bug"
expected = "mismatch"
kind = "value"
checks = ["forward"]
when = { bias = true, op = "conv1d" }
upstream = "planted"

[[divergence]]
id = "AUD-2"
implementations = ["raises_on_stride_2_or_3"]
summary = "refuses stride 3 (and, a second bug, raises IndexError at stride 2)"
classification = "bug"
expected = "error"
message = "stride 3 is unsupported"
checks = ["forward"]
when = { op = "conv1d", any_stride_ge = 2 }
upstream = "planted"

[[divergence]]
id = "AUD-3"
implementations = ["correct"]
summary = "filed once, no longer reproduces"
classification = "bug"
expected = "mismatch"
checks = ["forward"]
when = { op = "conv2d" }
upstream = "planted"
"""


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    """The audit of the three entries: {id: its JSON row}, and the command's stdout."""
    tmp = tmp_path_factory.mktemp("audit")
    (tmp / "mine.toml").write_text(ENTRIES, encoding="utf-8")
    out = tmp / "audit.json"
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "audit", "--entry", "AUD-1", "AUD-2", "AUD-3", "--examples", "16",
         "--known-divergences", str(tmp / "mine.toml"), "--impl", "tests.mutants:missing_bias",
         "--impl", "tests.mutants:raises_on_stride_2_or_3", "--impl", "tests.mutants:correct", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {row["id"]: row for row in json.loads(out.read_text())}, done.stdout


def test_an_entry_whose_region_is_its_bug_holds(audit):
    rows, _ = audit
    row = rows["AUD-1"]
    # (an empty output hides a missing bias: such a call passes)
    assert row["reached"] >= 10 and row["matches"] >= 0.8 * row["reached"] and row["other"] == 0, row
    assert row["verdict"] == "holds"


def test_a_second_bug_in_the_region_is_other_and_named(audit):
    """AUD-2's region (stride >= 2) holds its bug at stride 3 and another error at stride 2."""
    rows, _ = audit
    row = rows["AUD-2"]
    assert row["matches"] > 0 and row["other"] > 0, row
    assert any("inside AUD-2's region" in o and "IndexError" in o for o in row["others"]), row["others"]


def test_an_entry_that_never_reproduces_says_fixed_upstream(audit):
    rows, stdout = audit
    row = rows["AUD-3"]
    assert (row["matches"], row["passes"], row["verdict"]) == (0, row["reached"], "fixed upstream?"), row
    assert "AUD-3" in stdout and "fixed upstream?" in stdout


def test_an_over_wide_entry_is_flagged(tmp_path):
    """The planted kernel refuses stride 3 only; an entry claiming every conv1d call mostly passes."""
    (tmp_path / "wide.toml").write_text(
        '[[divergence]]\nid = "AUD-4"\nimplementations = ["raises_on_stride_2_or_3"]\nsummary = "claims every call"\n'
        'classification = "bug"\nexpected = "error"\nmessage = "stride"\nchecks = ["forward"]\n'
        'when = { op = "conv1d" }\nupstream = "planted"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "audit", "--entry", "AUD-4", "--examples", "16", "--known-divergences",
         str(tmp_path / "wide.toml"), "--impl", "tests.mutants:raises_on_stride_2_or_3", "--json",
         str(tmp_path / "a.json")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = json.loads((tmp_path / "a.json").read_text())
    assert row["verdict"] == "over-wide" and row["passes"] > row["matches"], row


@pytest.mark.parametrize("args, message", [
    pytest.param(["--entry", "KD-999"], "no entry KD-999", id="unknown-entry"),
    pytest.param(["--examples", "0"], "must be at least 1", id="no-examples"),
    pytest.param(["--impl", "nomodule"], "must look like 'package.module:NAME'", id="bad-impl"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    done = subprocess.run([sys.executable, "-m", "conformance", "audit", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_audit_pins_per_dim_values_and_fields_named_by_another():
    """KD-026's region (1x1 input and kernel, one channel per group) is reached only by pinning it: a
    draw from the whole space lands there almost never."""
    from conformance import ConvConfig
    from conformance.audit import _pinned

    drawn = ConvConfig(ndim=2, transposed=True, batch=2, in_channels=6, out_channels=9, groups=3, in_size=(4, 5),
                       kernel=(2, 3), stride=(2, 2), output_padding=(1, 0))
    when = {"all_in_size_eq": 1, "all_kernel_eq": 1, "in_channels_eq": "groups", "out_channels_eq": "groups"}
    pinned = _pinned(drawn, when)
    assert (pinned.in_size, pinned.kernel, pinned.in_channels, pinned.out_channels) == ((1, 1), (1, 1), 3, 3)
    assert pinned.stride == drawn.stride and pinned.output_padding == drawn.output_padding
