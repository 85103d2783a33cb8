"""Known divergences: declarative matching, precision ceilings, fixed-upstream detection, merging, file errors.

The ceiling itself (conformance.ceilings.within_ceiling) is tested in tests/test_ceilings.py.
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance import ConvConfig
from conformance.compare import Verdict
from conformance.harness import Target
from conformance.known import KnownDivergenceError, load_known_divergences, merge_known
from conformance.records import KnownDivergenceState

ROOT = Path(__file__).resolve().parents[1]

ENTRY = """
[[divergence]]
id = "KD-T1"
implementations = ["torch"]
summary = "half weight gradients rounded"
classification = "precision"
expected = "mismatch"
kind = "value"
checks = ["grad_weight"]
when = { device = "cpu", dtype = ["float16", "bfloat16"], any_stride_gt = 1, batch_ge = 2 }
within_arithmetic = { accumulation = "dtype", output = "dtype" }
upstream = "not reported yet"

[[divergence]]
id = "KD-T2"
implementations = ["jax"]
summary = "abort"
classification = "bug"
expected = ["crash", "error"]
checks = ["gradient"]
when = { op = ["conv_transpose2d"] }
upstream = "not reported yet"
draft = "docs/upstream/KD-T2.md"
"""

USER_ENTRY = """
[[divergence]]
id = "USER-1"
implementations = ["torch"]
summary = "our own finding"
classification = "bug"
expected = "mismatch"
upstream = "not reported yet"
"""


@pytest.fixture
def known(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(ENTRY)
    return load_known_divergences(path)


def cfg(**fields):
    base = dict(ndim=2, batch=2, in_size=(5, 5), kernel=(2, 2), stride=(2, 1), dtype="float16")
    base.update(fields)
    return ConvConfig(**base)


MISMATCH = Verdict("mismatch", "value", {"max_error_in_bounds": 3.0})

CASES = [
    pytest.param("torch", "cpu", cfg(), "grad_weight", MISMATCH, True, "KD-T1", id="matches"),
    pytest.param("torch", "cpu", cfg(), "grad_weight", MISMATCH, False, None, id="error-beyond-measured-arithmetic"),
    pytest.param("torch", "cuda", cfg(), "grad_weight", MISMATCH, True, None, id="other-device"),
    pytest.param("torch", "cpu", cfg(dtype="float32"), "grad_weight", MISMATCH, True, None, id="other-dtype"),
    pytest.param("torch", "cpu", cfg(stride=(1, 1)), "grad_weight", MISMATCH, True, None, id="any_stride_gt"),
    pytest.param("torch", "cpu", cfg(batch=1), "grad_weight", MISMATCH, True, None, id="batch_ge"),
    pytest.param("torch", "cpu", cfg(), "grad_input", MISMATCH, True, None, id="other-check"),
    pytest.param("torch", "cpu", cfg(), "grad_weight", Verdict("mismatch", "shape", {}), True, None, id="other-kind"),
    pytest.param("jax", "cpu", cfg(), "grad_weight", MISMATCH, True, None, id="other-implementation"),
    pytest.param("torch", "cpu", cfg(), "grad_weight", MISMATCH, None, None, id="precision-entry-without-fits"),
]


@pytest.mark.parametrize("impl, device, config, check, verdict, fits, expected", CASES)
def test_matching(known, impl, device, config, check, verdict, fits, expected):
    target = Target(config.op_name, impl, device, impl)
    asked = []

    def ceiling(fields):
        asked.append(fields)
        return fits

    assert known.match(target, config, check, verdict, None if fits is None else ceiling) == expected
    if expected is not None:
        # A precision entry asks the ceiling about its own arithmetic.
        assert asked == [{"accumulation": "dtype", "output": "dtype"}]


def test_events_and_lists_of_statuses(known):
    config = cfg(transposed=True, stride=(2, 2), dtype="float32")
    target = Target("conv_transpose2d", "jax", "cpu", "jax")
    assert known.match_event(target, config, {"check": "gradient", "status": "crash"}) == "KD-T2"
    assert known.match_event(target, config, {"check": "gradient", "status": "error"}) == "KD-T2"
    assert known.match_event(target, config, {"check": "gradient", "status": "timeout"}) is None
    assert known.match_event(target, config, {"check": "forward", "status": "crash"}) is None


def test_fixed_upstream_and_unmatched_states(known):
    target = Target("conv2d", "torch", "cpu", "torch")
    known.observe(target, cfg())
    known.observe(target, cfg())
    rows = {row["id"]: row for row in known.status_record("r")["entries"]}
    assert rows["KD-T1"]["state"] == "fixed upstream?" and rows["KD-T1"]["matched"] == 2
    assert rows["KD-T2"]["state"] == "matched nothing collected"
    known.match(target, cfg(), "grad_weight", MISMATCH, lambda fields: True)
    assert known.status_record("r")["entries"][0]["state"] == "reproduced"


def test_status_rows_are_known_divergence_states(known, tmp_path):
    """One row per entry, with exactly the fields of the typed record, draft and source included."""
    rows = known.status_record("r")["entries"]
    names = {f.name for f in dataclasses.fields(KnownDivergenceState)}
    assert all(set(row) == names for row in rows)
    assert [KnownDivergenceState(**row).id for row in rows] == ["KD-T1", "KD-T2"]
    by_id = {row["id"]: row for row in rows}
    assert by_id["KD-T2"]["draft"] == "docs/upstream/KD-T2.md" and by_id["KD-T1"]["draft"] == ""
    assert by_id["KD-T1"]["source"] == str(tmp_path / "known.toml")


def test_merge_keeps_order_and_sources(known, tmp_path):
    path = tmp_path / "ours.toml"
    path.write_text(USER_ENTRY)
    merged = merge_known(known, load_known_divergences(path))
    assert [e.id for e in merged.entries] == ["KD-T1", "KD-T2", "USER-1"]
    assert [e.source for e in merged.entries] == [str(tmp_path / "known.toml")] * 2 + [str(path)]
    target = Target("conv2d", "torch", "cpu", "torch")
    merged.observe(target, cfg())
    assert merged.match(target, cfg(), "grad_input", MISMATCH) == "USER-1"
    assert {row["id"]: row["matched"] for row in merged.status_record("r")["entries"]} == {
        "KD-T1": 1, "KD-T2": 0, "USER-1": 1}


def test_merge_refuses_an_id_defined_in_two_files(known, tmp_path):
    path = tmp_path / "ours.toml"
    path.write_text(USER_ENTRY.replace('"USER-1"', '"KD-T2"'))
    with pytest.raises(KnownDivergenceError, match="duplicate id 'KD-T2'") as caught:
        merge_known(known, load_known_divergences(path))
    assert str(tmp_path / "known.toml") in str(caught.value) and str(path) in str(caught.value)


def test_the_built_in_file_merges_with_a_users_file(tmp_path):
    path = tmp_path / "ours.toml"
    path.write_text(USER_ENTRY)
    merged = merge_known(load_known_divergences(), load_known_divergences(path))
    assert merged.entries[0].id == "KD-001" and merged.entries[-1].id == "USER-1"
    assert merge_known().entries == []


@pytest.mark.parametrize("text, message", [
    pytest.param("[[divergence]]\nid = 'x'\n", "missing field", id="missing-field"),
    pytest.param(ENTRY.replace('"precision"', '"flaky"', 1), "classification 'flaky'", id="classification"),
    pytest.param(ENTRY.replace('expected = "mismatch"', 'expected = "wrong"'), "each must be one of", id="expected"),
    pytest.param(ENTRY.replace('"KD-T2"', '"KD-T1"'), "duplicate id", id="duplicate"),
    pytest.param("[[divergence]\n", "not valid TOML", id="toml"),
    pytest.param(ENTRY.replace('within_arithmetic = { accumulation = "dtype", output = "dtype" }\n', ""),
                 "a precision entry needs within_arithmetic", id="precision-without-arithmetic"),
    pytest.param(ENTRY.replace('accumulation = "dtype"', 'accumulation = "float8"'), "not a format",
                 id="arithmetic-format"),
    pytest.param(ENTRY.replace('accumulation = "dtype"', 'accumulate = "dtype"'), "unknown field",
                 id="arithmetic-field"),
    pytest.param(ENTRY.replace('draft = "docs/upstream/KD-T2.md"', "draft = 2"), "draft = 2 must be a string",
                 id="draft"),
])
def test_malformed_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(KnownDivergenceError, match=message):
        load_known_divergences(path)


def test_project_file_loads_and_minimal_configs_are_valid():
    known = load_known_divergences()
    assert known.entries, "conformance/known_divergences.toml has no entries"
    for entry in known.entries:
        assert entry.reproducer and (ROOT / entry.reproducer).is_file(), entry.id
        assert not entry.draft or (ROOT / entry.draft).is_file(), f"{entry.id}: draft {entry.draft} is missing"
        if entry.minimal_config:
            ConvConfig.from_dict(entry.minimal_config)


def test_suite_records_known_and_stays_green(tmp_path):
    """A planted divergence filed as known is recorded as `known`; the run passes; without the file it fails."""
    toml = tmp_path / "known.toml"
    toml.write_text("""
[[divergence]]
id = "KD-P1"
implementations = ["missing_bias"]
summary = "planted: bias not added"
classification = "bug"
expected = "mismatch"
kind = "value"
checks = ["forward"]
when = { bias = true }
upstream = "planted"
""")
    env = dict(os.environ, CONFORMANCE_MAX_EXAMPLES="15")
    args = [sys.executable, "-m", "pytest", "conformance/suite", "-q", "-p", "no:randomly",
            "--hypothesis-profile", "conformance-ci", "--impl", "tests.mutants:missing_bias", "-k",
            "test_forward and conv1d and missing_bias", "--report-dir", str(tmp_path / "r")]
    run = subprocess.run(args + ["--known-divergences", str(toml)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    records = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    assert any(r.get("status") == "known" and r.get("known_id") == "KD-P1" for r in records)
    entries = [r for r in records if r["type"] == "known_divergences"][0]["entries"]
    # A user's file adds to the built-in entries; it does not replace them.
    assert {"KD-001", "KD-P1"} <= {e["id"] for e in entries}
    status = next(e for e in entries if e["id"] == "KD-P1")
    assert status["state"] == "reproduced"
    strict = subprocess.run(args + ["--known-divergences", "none"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert strict.returncode == 1
    _ = np


UPSTREAM_CASES = [
    pytest.param('upstream = "https://github.com/pytorch/pytorch/issues/163347"', None, id="issue-url"),
    pytest.param('upstream = "https://github.com/pytorch/pytorch/pull/186524"', None, id="pull-url"),
    pytest.param('upstream = "not reported yet"\ndraft = "docs/KD-X.md"', None, id="existing-draft"),
    pytest.param('upstream = "not reported yet"', "is not an issue or pull-request URL", id="neither"),
    pytest.param('upstream = "https://github.com/pytorch/pytorch/issues/"', "no draft", id="url-without-number"),
    pytest.param('upstream = "http://github.com/pytorch/pytorch/issues/1"', "no draft", id="not-https"),
    pytest.param('upstream = "https://github.com/pytorch/issues/1"', "no draft", id="no-repo"),
    pytest.param('upstream = "https://github.com/pytorch/pytorch/issues/1 (and more)"', "no draft", id="trailing-text"),
    pytest.param('upstream = "x"\ndraft = "docs/missing.md"', "does not exist", id="missing-draft"),
]


@pytest.mark.parametrize("lines, error", UPSTREAM_CASES)
def test_require_upstream_link_or_draft(tmp_path, lines, error):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "KD-X.md").write_text("# draft\n")
    path = tmp_path / "known.toml"
    path.write_text(USER_ENTRY.replace('upstream = "not reported yet"', lines))
    load_known_divergences(path)  # a user's own file may say anything in `upstream`
    if error is None:
        load_known_divergences(path, require_upstream=True, draft_root=tmp_path)
    else:
        with pytest.raises(KnownDivergenceError, match=error) as info:
            load_known_divergences(path, require_upstream=True, draft_root=tmp_path)
        assert "USER-1" in str(info.value)


def test_builtin_entries_link_upstream_or_a_draft():
    """Every built-in divergence links its upstream thread or a drafted report in docs/upstream/."""
    known = load_known_divergences(require_upstream=True)
    assert len(known.entries) >= 16
    for entry in known.entries:
        assert entry.upstream_status, f"{entry.id}: say what the upstream thread says (or 'not filed')"
        if entry.draft:
            text = (ROOT / entry.draft).read_text()
            assert entry.id in text and "```python" in text, f"{entry.id}: {entry.draft} lacks its id or script"


def test_a_crash_on_an_invalid_call_matches_an_entry_by_its_rule():
    """KD-020 (`when = { rule = ... }`): tensorflow.xla's SIGFPE on groups that do not divide the
    channels matches only when the harness passes the rule the invalid call breaks."""
    known = load_known_divergences()
    config = ConvConfig.unchecked(ndim=1, batch=1, in_channels=1, out_channels=1, in_size=(1,), kernel=(1,),
                                  groups=2, transposed=True, dtype="float64")
    target = Target("conv_transpose1d", "tensorflow.xla", "cpu", "tensorflow.xla")
    event = {"check": "invalid_call", "status": "crash"}
    assert known.match_event(target, config, event, rule="groups must divide the channels") == "KD-020"
    assert known.match_event(target, config, event, rule="stride must be >= 1") is None
    assert known.match_event(target, config, event) is None


def test_anisotropic_dilation_condition():
    """`anisotropic_dilation = true` (KD-021) holds when the spatial dilations are not all equal."""
    known = load_known_divergences()
    (entry,) = [e for e in known.entries if e.id == "KD-021"]
    config = ConvConfig(ndim=3, transposed=True, in_channels=1, out_channels=1, in_size=(1, 1, 1), kernel=(1, 1, 2),
                        dilation=(1, 2, 1))
    assert entry.applies("tensorflow.xla", "conv_transpose3d", "cpu", config)
    same = ConvConfig(ndim=3, transposed=True, in_channels=1, out_channels=1, in_size=(3, 3, 3), kernel=(2, 2, 2),
                      dilation=2)
    assert not entry.applies("tensorflow.xla", "conv_transpose3d", "cpu", same)


@pytest.mark.parametrize("fields, empty", [
    ({"batch": 0}, True), ({"in_channels": 0}, True), ({"batched": False}, False), ({}, False),
])
def test_empty_input_condition(fields, empty):
    """`empty_input = true` (KD-038) holds for an input with no elements, an empty batch or zero channels alike."""
    config = ConvConfig(**{"ndim": 2, "in_size": (3, 3), "kernel": (1, 1), **fields})
    assert config.input_shape.count(0) == (1 if empty else 0)  # the case is what it says
    (kd038,) = [e for e in load_known_divergences().entries if e.id == "KD-038"]
    entry = dataclasses.replace(kd038, when={"empty_input": True})
    assert entry.applies("onnxruntime", "conv2d", "cpu", config) == empty


# In every dim, and relations between two per-dim fields (#34: user entries came out wider than their bugs).
_RELATION_CONFIG = ConvConfig(ndim=2, transposed=True, in_size=(3, 4), kernel=(2, 5), stride=(1, 2), dilation=(2, 1),
                              output_padding=(1, 0), padding=((0, 1), (2, 0)))


@pytest.mark.parametrize("condition, want, holds", [
    pytest.param("any_output_padding_ge_stride", True, True, id="relation-in-some-dim"),
    pytest.param("all_output_padding_ge_stride", True, False, id="relation-in-every-dim"),
    pytest.param("all_output_padding_ge_stride", False, True, id="relation-false"),
    pytest.param("any_kernel_gt_in_size", True, True, id="kernel-larger-than-input-somewhere"),
    pytest.param("all_kernel_gt_in_size", True, False, id="kernel-larger-than-input-everywhere"),
    pytest.param("all_stride_ge", 1, True, id="every-dim-number"),
    pytest.param("all_dilation_gt", 1, False, id="not-every-dim-number"),
    pytest.param("any_padding_hi_gt", 0, True, id="padding-hi"),
    pytest.param("all_padding_lo_eq", 0, False, id="padding-lo"),
    # output_padding (1, 0) less padding_hi (1, 0): (0, 0), under the strides (1, 2) in every dim (KD-041)
    pytest.param("any_output_padding_past_hi_gt", 0, False, id="output-padding-past-hi"),
    pytest.param("all_output_padding_past_hi_lt_stride", True, True, id="output-padding-past-hi-under-stride"),
])
def test_per_dim_conditions_and_relations(tmp_path, condition, want, holds):
    path = tmp_path / "mine.toml"
    value = str(want).lower() if isinstance(want, bool) else want
    path.write_text(f'[[divergence]]\nid = "MY-1"\nimplementations = ["mine"]\nsummary = "s"\nclassification = "bug"\n'
                    f'expected = "error"\nupstream = "u"\nwhen = {{ {condition} = {value} }}\n')
    (entry,) = load_known_divergences(path).entries
    assert entry.applies("mine", "conv_transpose2d", "cpu", _RELATION_CONFIG) == holds, (condition, want)


@pytest.mark.parametrize("out_channels, groups, holds", [(1, 2, True), (2, 2, False), (4, 2, False)])
def test_a_field_compared_with_another_field(tmp_path, out_channels, groups, holds):
    """`out_channels_lt = "groups"` (KD-019: a transposed filter of output depth C_out // groups = 0)."""
    path = tmp_path / "mine.toml"
    path.write_text('[[divergence]]\nid = "MY-1"\nimplementations = ["mine"]\nsummary = "s"\nclassification = "bug"\n'
                    'expected = "error"\nupstream = "u"\nwhen = { out_channels_lt = "groups" }\n')
    (entry,) = load_known_divergences(path).entries
    config = ConvConfig.unchecked(ndim=1, transposed=True, in_channels=2, out_channels=out_channels, groups=groups,
                                  in_size=(3,), kernel=(1,))
    assert entry.applies("mine", "conv_transpose1d", "cpu", config) == holds


def test_a_misspelt_field_to_compare_with_fails_at_load(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[[divergence]]\nid = "MY-1"\nimplementations = ["mine"]\nsummary = "s"\nclassification = "bug"\n'
                    'expected = "error"\nupstream = "u"\nwhen = { out_channels_lt = "grups" }\n')
    with pytest.raises(KnownDivergenceError, match="grups"):
        load_known_divergences(path)


@pytest.mark.parametrize("condition, value, message", [
    pytest.param("any_output_padding_ge_stride", 1, "must be true or false", id="relation-needs-a-bool"),
    pytest.param("all_groups_gt", 1, "not a per-dim field", id="not-per-dim"),
    pytest.param("kernal", 1, "unknown condition field", id="a-misspelt-field"),
])
def test_malformed_conditions_fail_at_load_naming_the_entry_and_field(tmp_path, condition, value, message):
    path = tmp_path / "mine.toml"
    path.write_text(f'[[divergence]]\nid = "MY-1"\nimplementations = ["mine"]\nsummary = "s"\nclassification = "bug"\n'
                    f'expected = "error"\nupstream = "u"\nwhen = {{ {condition} = {value} }}\n')
    with pytest.raises(KnownDivergenceError, match=rf"MY-1.*when.{condition}: .*{message}"):
        load_known_divergences(path)


def test_the_schema_document_lists_every_invalid_rule():
    """Users write `rule = ...` conditions from docs/KNOWN_DIVERGENCES.md: it names every rule there is."""
    from conformance.strategies import INVALID_RULES

    text = (Path(__file__).resolve().parent.parent / "docs" / "KNOWN_DIVERGENCES.md").read_text(encoding="utf-8")
    missing = [rule for rule in INVALID_RULES if f"`{rule}`" not in text]
    assert not missing, f"docs/KNOWN_DIVERGENCES.md does not name the invalid rules {missing}"


# ---- signatures: a result inside an entry's region that is not its bug is a finding (#33) ----------------


@pytest.mark.parametrize("check, verdict, fits, expected", [
    pytest.param("grad_weight", MISMATCH, False, "an error beyond KD-T1's ceiling", id="beyond-the-ceiling"),
    pytest.param("grad_weight", Verdict("mismatch", "shape", {}), True, "a shape mismatch, where KD-T1 expects a value",
                 id="another-kind"),
    pytest.param("grad_weight", MISMATCH, True, None, id="its-own-bug-is-no-near-miss"),
    pytest.param("grad_input", MISMATCH, False, None, id="a-check-the-entry-is-not-about"),
])
def test_a_mismatch_inside_a_region_that_is_not_its_bug_names_the_entry(known, check, verdict, fits, expected):
    target = Target("conv2d", "torch", "cpu", "torch")
    assert known.match(target, cfg(), check, verdict, lambda arithmetic: fits) is None or expected is None
    miss = known.near_miss(target, cfg(), check, verdict.status, verdict.kind, lambda arithmetic: fits)
    if expected is None:
        assert miss is None
    else:
        assert miss.startswith("inside KD-T1's region (half weight gradients rounded), but ") and expected in miss


SIGNED = """
[[divergence]]
id = "KD-S1"
implementations = ["jax"]
summary = "aborts in the simplifier"
classification = "bug"
expected = ["crash"]
signal = "SIGABRT"
message = "Window dimensions do not match"
upstream = "u"
"""


@pytest.mark.parametrize("text, returncode, reproduces, why", [
    pytest.param("jax crashed: SIGABRT\nCheck failed: Window dimensions do not match RHS shape", -6, True, None,
                 id="its-signature"),
    pytest.param("jax crashed: SIGSEGV\nSegmentation fault", -11, False, "expects /Window dimensions", id="another-text"),
    pytest.param("jax crashed\nCheck failed: Window dimensions do not match RHS shape", -11, False, "expects SIGABRT, got SIGSEGV",
                 id="another-signal"),
])
def test_a_crash_entry_matches_its_signal_and_text_only(tmp_path, text, returncode, reproduces, why):
    path = tmp_path / "signed.toml"
    path.write_text(SIGNED)
    known = load_known_divergences(path)
    target = Target("conv2d", "jax", "cpu", "jax")
    event = {"check": "gradient", "status": "crash", "message": text, "returncode": returncode}
    assert (known.match_event(target, cfg(), event) == "KD-S1") is reproduces
    miss = known.near_miss(target, cfg(), "gradient", "crash", text=text, returncode=returncode)
    assert (miss is None) is reproduces
    if why:
        assert why in miss


@pytest.mark.parametrize("lines, message", [
    pytest.param('expected = "mismatch"\nmessage = "x"', "describes an error", id="message-on-a-mismatch-entry"),
    pytest.param('expected = "error"\nmessage = "("', "not a regular expression", id="bad-regex"),
    pytest.param('expected = "crash"\nsignal = "SIGKABOOM"', "not a signal's name", id="bad-signal"),
    pytest.param('expected = "error"\nsignal = "SIGABRT"', 'does not expect "crash"', id="signal-without-crash"),
])
def test_malformed_signatures_fail_at_load(tmp_path, lines, message):
    path = tmp_path / "mine.toml"
    path.write_text(f'[[divergence]]\nid = "MY-1"\nimplementations = ["mine"]\nsummary = "s"\n'
                    f'classification = "bug"\nupstream = "u"\n{lines}\n')
    with pytest.raises(KnownDivergenceError, match=rf"MY-1.*{message}"):
        load_known_divergences(path)


# ---- hit rates: an entry whose region mostly passes is flagged over-wide (#33) ---------------------------


@pytest.mark.parametrize("classification, hits, state", [
    pytest.param("bug", 5, "over-wide? (reproduced in 5 of 30 examples in its region)", id="mostly-passing-region"),
    pytest.param("bug", 20, "reproduced", id="mostly-its-bug"),
    pytest.param("bug", 0, "fixed upstream?", id="never"),
    pytest.param("precision", 5, "reproduced", id="a-precision-entrys-passes-are-lucky-sums"),
])
def test_an_entrys_hit_rate_decides_over_wide(tmp_path, classification, hits, state):
    path = tmp_path / "mine.toml"
    ceiling = 'within_arithmetic = { accumulation = "dtype", output = "dtype" }\n' if classification == "precision" else ""
    path.write_text(f'[[divergence]]\nid = "MY-1"\nimplementations = ["torch"]\nsummary = "s"\n'
                    f'classification = "{classification}"\nexpected = "mismatch"\nupstream = "u"\n{ceiling}')
    known = load_known_divergences(path)
    target = Target("conv2d", "torch", "cpu", "torch")
    for n in range(30):
        reproduced = frozenset({"MY-1"}) if n < hits else frozenset()
        known.reproduced["MY-1"] += bool(reproduced)
        known.observe(target, cfg(), None, ("forward",), reproduced)
    (row,) = known.status_record("run")["entries"]
    assert (row["matched"], row["hits"], row["state"]) == (30, hits, state)


def test_an_example_counts_for_an_entry_only_for_the_checks_it_is_about(known):
    """KD-T1 is about grad_weight: a forward example in its region is not one of its examples."""
    target = Target("conv2d", "torch", "cpu", "torch")
    known.observe(target, cfg(), None, ("forward",))
    assert known.matched["KD-T1"] == 0
    known.observe(target, cfg(), None, ("gradient", "grad_input", "grad_weight", "grad_bias"))
    assert known.matched["KD-T1"] == 1


def test_a_planted_value_error_beyond_a_precision_entrys_ceiling_is_flagged_inside_its_region(tmp_path):
    """A second bug in a precision entry's region (weight gradients doubled, far beyond what bfloat16
    accumulation explains) fails, and its message names the entry whose region it is in."""
    from conformance.checks import CHECK_KINDS
    from conformance.harness import Harness
    from conformance.strategies import ConvCase
    from tests.mutants_precision import USER_ENTRY

    path = tmp_path / "user.toml"
    path.write_text(USER_ENTRY)
    harness = Harness(writer=None, run_id="t", isolation="none")
    harness.known = load_known_divergences(path)
    target = Target("conv1d", "doubled_grad_weight", "cpu", "tests.mutants_precision:doubled_grad_weight")
    config = ConvConfig(ndim=1, batch=20, in_channels=1, out_channels=1, in_size=(20,), kernel=(1,), dtype="bfloat16")
    try:
        outcome = harness.check(target, CHECK_KINDS["gradient"], ConvCase(config, 0, "normal"), test_id="t")
    finally:
        harness.close()
    assert outcome.statuses["grad_weight"] == "mismatch" and outcome.statuses["grad_input"] == "pass"
    assert "inside USER-001's region" in outcome.message and "beyond USER-001's ceiling" in outcome.message


def _entry_when(tmp_path, when: str):
    path = tmp_path / "mine.toml"
    path.write_text('[[divergence]]\nid = "MY-1"\nimplementations = ["mine"]\nsummary = "s"\nclassification = "bug"\n'
                    f'expected = "error"\nupstream = "u"\nwhen = {when}\n')
    (entry,) = load_known_divergences(path).entries
    return entry


# conv_transpose2d, k (2, 2), pads (2, 0) and (0, 0): direct padding lo (1-2, 1-0) = (-1, 1), hi (1, 1).
_TWO_DIMS = dict(ndim=2, transposed=True, in_channels=8, out_channels=2, in_size=(6, 6), kernel=(2, 2),
                 padding=((2, 0), (0, 0)))


@pytest.mark.parametrize("padding, holds", [
    (((2, 0), (0, 0)), True),    # dim 0: direct padding (-1, 1)
    (((2, 2), (0, 0)), False),   # dim 0: (-1, -1); dim 1: (1, 1): negative low and positive high, not in one dim
    (((2, 2), (0, 2)), False),
    (((0, 0), (2, 1)), False),   # dim 1: (-1, 0): a high padding of 0
])
def test_some_dim_holds_only_when_one_dim_meets_every_condition(tmp_path, padding, holds):
    """KD-054: the XLA bug needs negative low and positive high padding in the same dim."""
    entry = _entry_when(tmp_path, "{ some_dim = { direct_padding_lo_lt = 0, direct_padding_hi_gt = 0 } }")
    config = ConvConfig.unchecked(**{**_TWO_DIMS, "padding": padding})
    assert entry.applies("mine", "conv_transpose2d", "cpu", config) == holds, padding


def test_some_dim_that_is_not_a_table_says_how_to_write_one(tmp_path):
    with pytest.raises(KnownDivergenceError, match=r"some_dim = 1: give a table .* e\.g\. \{ direct_padding_lo_lt"):
        _entry_when(tmp_path, "{ some_dim = 1 }").applies("mine", "conv_transpose2d", "cpu",
                                                          ConvConfig.unchecked(**_TWO_DIMS))


def test_some_dim_names_a_bad_field_at_load(tmp_path):
    with pytest.raises(KnownDivergenceError, match="some_dim.kernal_gt"):
        _entry_when(tmp_path, "{ some_dim = { kernal_gt = 1 } }").applies(
            "mine", "conv_transpose2d", "cpu", ConvConfig.unchecked(**_TWO_DIMS))


@pytest.mark.parametrize("dilation, in_size, holds", [
    ((1, 2, 1), (1, 1, 1), True),    # W kernel 2 dilated by H's 2 spans 2 >= the uncropped width 2
    ((1, 1, 2), (1, 1, 1), False),   # the height's kernel is 1: swapping reaches nothing
    ((1, 2, 1), (1, 1, 2), False),   # width 3 fits the swapped span 2
    ((1, 2, 2), (1, 1, 1), False),   # equal H/W dilations: the swap changes nothing
])
def test_uncropped_size_against_the_hw_swapped_kernel(tmp_path, dilation, in_size, holds):
    """KD-021: TF's Conv3D shape function swaps the H and W dilations."""
    entry = _entry_when(tmp_path, "{ any_uncropped_size_le_kernel_span_hw_swapped = true }")
    config = ConvConfig.unchecked(ndim=3, transposed=True, in_channels=1, out_channels=1, in_size=in_size,
                                  kernel=(1, 1, 2), dilation=dilation)
    assert entry.applies("mine", "conv_transpose3d", "cpu", config) == holds


@pytest.mark.parametrize("in_channels, groups, holds", [(8, 2, True), (6, 2, False), (4, 1, True)])
def test_channels_per_group(tmp_path, in_channels, groups, holds):
    entry = _entry_when(tmp_path, "{ in_channels_per_group_ge = 4 }")
    config = ConvConfig.unchecked(ndim=1, in_channels=in_channels, out_channels=2, groups=groups, in_size=(3,),
                                  kernel=(1,))
    assert entry.applies("mine", "conv1d", "cpu", config) == holds
