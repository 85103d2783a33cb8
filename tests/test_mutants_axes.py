"""Planted kernels on the axes padding_mode, memory_format, batched=False and in_channels=0 are caught.

Two layers:
- each planted kernel (tests/mutants_axes.py) is wrong on a config with its trigger and right on the
  same config with that axis at its default, called directly (no suite);
- one suite run in the ci profile (derandomized, the examples CI draws), each planted kernel on the
  one test that catches it soonest, plugged in with `--impl tests.mutants:NAME` as a user would:
  each is caught with the planted result and kind named, on a config that shows its trigger, and
  the correct plugin passes every test of the same selection.

The run skips shrinking and consensus (tests/no_shrink_plugin.py, tests/no_consensus_plugin.py): they
do not change whether or when a bug is caught, only how long a finding takes (the generate phase is
the ci profile's). How many examples each needs: benchmarks/run.py (mutation score), or the run's
results.jsonl, which here holds every pass record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.config import MEMORY_FORMATS, ConvConfig
from conformance.strategies import make_tensors
from references.numpy.naive import NaiveReference
from tests.mutants import Mutant
from tests.mutants_axes import AXIS_MUTANTS, read_as_packed

ROOT = Path(__file__).resolve().parent.parent
RUN_LIMIT_S = 300

# A config every mutant handles right: padding on both sides of both dims, groups, bias.
BASE = dict(ndim=2, in_channels=4, out_channels=6, groups=2, in_size=(5, 6), kernel=(3, 2),
            padding=((1, 2), (2, 1)), bias=True)

# mutant, method, the trigger (fields changed from BASE). Without the trigger the mutant is correct.
TRIGGERS = [
    pytest.param("reflect_as_symmetric", "forward", dict(padding_mode="reflect"), id="reflect-as-symmetric"),
    pytest.param("replicate_as_reflect", "forward", dict(padding_mode="replicate"), id="replicate-as-reflect"),
    pytest.param("circular_from_wrong_side", "forward", dict(padding_mode="circular"), id="circular-wrong-side"),
    pytest.param("padding_mode_ignored", "forward", dict(padding_mode="reflect"), id="padding-mode-ignored"),
    pytest.param("padded_gradient_not_folded", "vjp", dict(padding_mode="replicate"), id="gradient-not-folded"),
    pytest.param("reads_memory_order", "forward", dict(memory_format="channels_last"), id="memory-order"),
    pytest.param("assumes_contiguous", "forward", dict(memory_format="strided"), id="assumes-contiguous"),
    pytest.param("expanded_weight_as_channels_last", "forward", dict(memory_format="strided", groups=4, out_channels=8),
                 id="expanded-weight"),
    pytest.param("grad_out_assumed_contiguous", "vjp", dict(memory_format="channels_last"),
                 id="grad-out-contiguous"),
    pytest.param("unbatched_keeps_batch_dim", "forward", dict(batched=False), id="unbatched-batch-dim"),
    pytest.param("unbatched_grad_input_batch_dim", "vjp", dict(batched=False), id="unbatched-grad-batch-dim"),
    pytest.param("unbatched_read_as_hwc", "forward", dict(batched=False), id="unbatched-hwc"),
    pytest.param("unbatched_grad_bias_axes", "vjp", dict(batched=False), id="unbatched-grad-bias-axes"),
    pytest.param("empty_channels_no_output_channels", "forward", dict(in_channels=0, groups=1),
                 id="empty-no-output-channels"),
    pytest.param("empty_channels_nan", "forward", dict(in_channels=0, groups=1), id="empty-nan"),
    pytest.param("empty_channels_drop_bias", "forward", dict(in_channels=0, groups=1), id="empty-drop-bias"),
    pytest.param("empty_channels_grad_bias_zero", "vjp", dict(in_channels=0, groups=1), id="empty-grad-bias"),
]

RIGHT_ON_LAYOUTS = {"reads_memory_order": ("contiguous", "strided"),
                    "expanded_weight_as_channels_last": ("contiguous", "channels_last")}
AXIS_DEFAULTS = dict(padding_mode="zeros", memory_format="contiguous", batched=True, in_channels=BASE["in_channels"])


def _call(name: str, method: str, config: ConvConfig) -> tuple[list, list]:
    """(the mutant's results, the naive reference's) for `config`, on arrays laid out as it says."""
    t = make_tensors(config, 1).in_layout(config)
    args = (t.x, t.w, t.b) if method == "forward" else (t.x, t.w, t.b, t.grad_out)
    got = getattr(Mutant(name, **AXIS_MUTANTS[name]), method)(config, *args)
    expected = getattr(NaiveReference(), method)(config, *args)
    return (list(got), list(expected)) if method == "vjp" else ([got], [expected])


def _agree(got: list, expected: list) -> bool:
    return all((g is None and e is None) or (g is not None and e is not None and np.shape(g) == np.shape(e)
                                             and np.allclose(g, e, rtol=1e-12, atol=1e-12))
               for g, e in zip(got, expected, strict=True))


def test_every_axis_mutant_has_a_trigger():
    assert sorted(p.values[0] for p in TRIGGERS) == sorted(AXIS_MUTANTS)


@pytest.mark.parametrize("name, method, trigger", TRIGGERS)
def test_mutant_is_wrong_on_its_trigger_only(name, method, trigger):
    config = ConvConfig(**{**BASE, **trigger})
    assert not _agree(*_call(name, method, config)), f"{name} agrees with the reference on {config}"
    untriggered = {**trigger, **{field: AXIS_DEFAULTS[field] for field in trigger if field in AXIS_DEFAULTS}}
    # A mutant of one layout is right on the others it does not misread (a real channels-last
    # weight takes expanded_weight_as_channels_last's fast path and is read right).
    formats = RIGHT_ON_LAYOUTS.get(name, ("contiguous",)) if "memory_format" in trigger else MEMORY_FORMATS
    for memory_format in formats:
        config = ConvConfig(**{**BASE, **untriggered, "memory_format": memory_format})
        assert _agree(*_call(name, method, config)), f"{name} is wrong without its trigger, on {config}"


def test_read_as_packed_reads_each_layout_as_a_kernel_would():
    from conformance.layouts import in_layout

    values = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    channels_last = in_layout(values, "channels_last", "activation")
    assert np.array_equal(read_as_packed(values), values)
    assert np.array_equal(read_as_packed(channels_last, [0, 2, 1]), values)  # read in its own order: right
    assert np.array_equal(read_as_packed(channels_last), np.moveaxis(values, 1, 2).reshape(2, 3, 4))
    strided = in_layout(values, "strided", "activation")
    assert not np.array_equal(read_as_packed(strided), values)


# ---- the suite, in the ci profile ---------------------------------------------------------------------


def node(kind: str, op: str, implementation: str) -> str:
    return f"conformance/suite/test_conformance.py::test_{kind}[{op}-{implementation}-cpu]"


def _has_padding(c: dict) -> bool:
    return ConvConfig.from_dict(c).resolved_padding != ((0, 0),) * c["ndim"]


# mutant, the test that catches it soonest in the ci profile, the (result, kind) it fails, what the
# failing config must show.
CAUGHT = [
    pytest.param("reflect_as_symmetric", "forward", "conv1d", ("forward", "value"),
                 lambda c: c["padding_mode"] == "reflect" and _has_padding(c), id="reflect-as-symmetric"),
    pytest.param("replicate_as_reflect", "forward", "conv1d", ("forward", "value"),
                 lambda c: c["padding_mode"] == "replicate" and _has_padding(c), id="replicate-as-reflect"),
    pytest.param("circular_from_wrong_side", "forward", "conv2d", ("forward", "value"),
                 lambda c: c["padding_mode"] == "circular" and _has_padding(c), id="circular-wrong-side"),
    pytest.param("padding_mode_ignored", "forward", "conv1d", ("forward", "value"),
                 lambda c: c["padding_mode"] != "zeros" and _has_padding(c), id="padding-mode-ignored"),
    pytest.param("padded_gradient_not_folded", "gradient", "conv1d", ("grad_input", "value"),
                 lambda c: c["padding_mode"] != "zeros" and _has_padding(c), id="gradient-not-folded"),
    pytest.param("reads_memory_order", "forward", "conv1d", ("forward", "value"),
                 lambda c: c["memory_format"] == "channels_last", id="memory-order"),
    pytest.param("assumes_contiguous", "forward", "conv1d", ("forward", "value"),
                 lambda c: c["memory_format"] != "contiguous", id="assumes-contiguous"),
    # The weight's axis 1 is C_in/groups (C_out/groups when transposed); size 1 gives it stride 0.
    pytest.param("expanded_weight_as_channels_last", "forward", "conv_transpose2d", ("forward", "value"),
                 lambda c: c["memory_format"] == "strided"
                 and (c["out_channels"] if c["transposed"] else c["in_channels"]) == c["groups"], id="expanded-weight"),
    pytest.param("grad_out_assumed_contiguous", "gradient", "conv1d", ("grad_input", "value"),
                 lambda c: c["memory_format"] != "contiguous", id="grad-out-contiguous"),
    pytest.param("unbatched_keeps_batch_dim", "forward", "conv1d", ("forward", "shape"),
                 lambda c: not c["batched"], id="unbatched-batch-dim"),
    pytest.param("unbatched_grad_input_batch_dim", "gradient", "conv1d", ("grad_input", "shape"),
                 lambda c: not c["batched"], id="unbatched-grad-batch-dim"),
    pytest.param("unbatched_read_as_hwc", "forward", "conv1d", ("forward", "value"),
                 lambda c: not c["batched"], id="unbatched-hwc"),
    pytest.param("unbatched_grad_bias_axes", "gradient", "conv1d", ("grad_bias", "shape"),
                 lambda c: not c["batched"] and c["bias"], id="unbatched-grad-bias-axes"),
    pytest.param("empty_channels_no_output_channels", "forward", "conv2d", ("forward", "shape"),
                 lambda c: c["in_channels"] == 0, id="empty-no-output-channels"),
    pytest.param("empty_channels_nan", "forward", "conv2d", ("forward", "nonfinite"),
                 lambda c: c["in_channels"] == 0, id="empty-nan"),
    pytest.param("empty_channels_drop_bias", "forward", "conv3d", ("forward", "value"),
                 lambda c: c["in_channels"] == 0 and c["bias"], id="empty-drop-bias"),
    pytest.param("empty_channels_grad_bias_zero", "gradient", "conv3d", ("grad_bias", "value"),
                 lambda c: c["in_channels"] == 0 and c["bias"], id="empty-grad-bias"),
]
CORRECT_NODES = sorted({(p.values[1], p.values[2]) for p in CAUGHT})


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, list[dict]]:
    report_dir = tmp_path_factory.mktemp("axis-mutants")
    names = [p.values[0] for p in CAUGHT] + ["correct"]
    nodes = [node(p.values[1], p.values[2], p.values[0]) for p in CAUGHT]
    nodes += [node(kind, op, "correct") for kind, op in CORRECT_NODES]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_", "CONFORMANCE_"))}
    env.update(NO_COLOR="1", TF_CPP_MIN_LOG_LEVEL="2", PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", *nodes, "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
               "-p", "tests.no_shrink_plugin", "-p", "tests.no_consensus_plugin", "--hypothesis-profile",
               "ci-no-shrink", "--isolation", "none", "--no-conformance-report", "--report-dir", str(report_dir),
               *[arg for name in names for arg in ("--impl", f"tests.mutants:{name}")]]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    records = [json.loads(line) for line in (report_dir / "results.jsonl").read_text().splitlines() if line.strip()]
    return done, records


@pytest.mark.parametrize("mutant, kind, op, failure, config_shows", CAUGHT)
def test_axis_mutant_is_caught_in_the_ci_profile(ci_run, mutant, kind, op, failure, config_shows):
    done, records = ci_run
    test_id = node(kind, op, mutant).rpartition("::")[2]
    checks = [r for r in records if r["type"] == "check" and r["test_id"] == test_id]
    failing = [r for r in checks if r["status"] == "mismatch"]
    assert failing, (f"{test_id} was not caught in {sum(r['phase'] == 'generate' for r in checks)} records; "
                     f"statuses {sorted({r['status'] for r in checks})}\n{done.stdout[-2000:]}")
    assert failure in {(r["check"], r["kind"]) for r in failing}, {(r["check"], r["kind"]) for r in failing}
    for record in failing:
        assert config_shows(record["config"]), f"{record['config_str']} does not show the planted trigger"
    assert f"FAILED {node(kind, op, mutant)}" in done.stdout, done.stdout[-2000:]


def test_correct_plugin_passes_the_same_selection(ci_run):
    done, records = ci_run
    assert done.returncode == 1, f"exit status {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    summaries = {r["test_id"]: r for r in records if r["type"] == "summary" and r["implementation"] == "correct"}
    assert sorted(summaries) == sorted(node(kind, op, "correct").rpartition("::")[2] for kind, op in CORRECT_NODES)
    for test_id, summary in summaries.items():
        assert summary["examples"] >= 100, summary  # the whole ci budget drawn
        assert set(summary["counts"]) and all(set(counts) == {"pass"} for counts in summary["counts"].values()), \
            f"{test_id}: {summary['counts']}"
    assert f"{len(CAUGHT)} failed, {len(CORRECT_NODES)} passed" in done.stdout, done.stdout[-3000:]
