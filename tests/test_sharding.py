"""conformance.sharding: the split is a partition, balanced, stable as tests are added, deterministic;
--shard errors; the durations file; and `pytest --shard I/K` end to end."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import sharding
from conformance.checks import CHECK_KINDS
from conformance.records import RecordWriter, RunRecord, SummaryRecord
from conformance.registry import BUILTIN
from conformance.vocabulary import OP_NAMES

REPO = Path(__file__).resolve().parent.parent
MEASURED = REPO / "benchmarks" / "durations.json"
SUITE_IDS = [f"test_{kind}[{op}-{impl}-cpu]" for kind in CHECK_KINDS for impl in BUILTIN for op in OP_NAMES]


def _measured() -> dict[str, float]:
    if not MEASURED.is_file():
        pytest.skip(f"{MEASURED} not found (python -m conformance.sharding durations ... builds it)")
    return sharding.load_durations(MEASURED)


def _cost_tables():
    """(name, {key: cost}) of the realistic tables: the measured durations and the cost model's."""
    return [("measured", _measured()), ("cost model", sharding.expected_costs(SUITE_IDS))]


SHARD_COUNTS = [pytest.param(k, id=f"K={k}") for k in (1, 2, 3, 4, 8)]


# ---- the split ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", SHARD_COUNTS)
def test_shards_are_disjoint_and_cover_everything(count):
    for name, costs in _cost_tables():
        plan = sharding.plan_shards(costs, count)
        parts = [set(plan.keys_in(index)) for index in range(count)]
        assert set().union(*parts) == set(costs), name
        assert sum(len(part) for part in parts) == len(costs), f"{name}: a key is in two shards"
        assert all(0 <= shard < count for shard in plan.shard_of.values())


@pytest.mark.parametrize("count", SHARD_COUNTS)
def test_shards_are_balanced_by_cost(count):
    for name, costs in _cost_tables():
        plan = sharding.plan_shards(costs, count)
        mean = sum(costs.values()) / count
        worst = max(max(costs.values()), 1.25 * mean)  # one test alone may exceed the mean
        assert max(plan.loads) <= worst, f"{name}, K={count}: shard costs {plan.loads}, mean {mean:.1f}"


@pytest.mark.parametrize("count", SHARD_COUNTS[1:])
def test_adding_tests_moves_few_old_ones(count):
    costs = _measured()
    before = sharding.assign_shards(costs, count)
    moved = []
    for seed in range(10):
        rng = random.Random(seed)
        grown = dict(costs)
        for n in range(len(costs) // 10):  # 10% new tests, costing what existing ones cost
            grown[f"test_new_kind{n}[conv2d-newimpl{seed}-cpu]"] = rng.choice(list(costs.values()))
        after = sharding.assign_shards(grown, count)
        moved.append(sum(before[key] != after[key] for key in costs) / len(costs))
    # Rendezvous hashing alone would move none; the cost cap moves some to keep the balance.
    assert max(moved) <= 0.15 and sum(moved) / len(moved) <= 0.08, f"share of old tests moved: {moved}"


def test_split_is_deterministic_whatever_the_order_and_the_process():
    costs = _measured()
    shuffled = dict(sorted(costs.items(), key=lambda item: random.Random(1).random()))
    expected = sharding.assign_shards(costs, 4)
    assert sharding.assign_shards(shuffled, 4) == expected
    program = ("import json, sys; from conformance import sharding; "
               "costs = json.load(open(sys.argv[1])); print(json.dumps(sharding.assign_shards(costs, 4), sort_keys=True))")
    for seed in ("0", "12345"):  # Python's str hash changes with PYTHONHASHSEED; the split must not
        out = subprocess.run([sys.executable, "-c", program, str(MEASURED)], capture_output=True, text=True, check=True,
                             cwd=REPO, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        assert json.loads(out) == expected


def test_unmeasured_tests_get_the_cost_model_scaled_to_the_measurements():
    model = sharding.model_cost("test_forward[conv2d-jax-cpu]")
    durations = {key: 3 * sharding.model_cost(key) for key in SUITE_IDS if "conv2d-jax" not in key}
    costs = sharding.expected_costs(SUITE_IDS, durations)
    assert costs["test_forward[conv2d-jax-cpu]"] == pytest.approx(3 * model)
    assert costs["test_forward[conv1d-torch-cpu]"] == durations["test_forward[conv1d-torch-cpu]"]


@pytest.mark.parametrize("key, expected", [
    pytest.param("test_gradient[conv_transpose2d-jax-cpu]", ("gradient", "conv_transpose2d", "jax", "cpu"), id="builtin"),
    pytest.param("test_forward[conv1d-my-kernel-cuda]", ("forward", "conv1d", "my-kernel", "cuda"), id="dash-in-name"),
    pytest.param("test_forward[conv4d-torch-cpu]", None, id="unknown-op"),
    pytest.param("test_something_else", None, id="not-conformance"),
])
def test_parse_test_id(key, expected):
    parsed = sharding.parse_test_id(key)
    assert (parsed and (parsed.check_kind, parsed.op, parsed.implementation, parsed.device)) == expected


def test_shard_key_drops_the_file_path():
    assert sharding.shard_key("conformance/suite/test_conformance.py::test_forward[conv2d-torch-cpu]") == \
        "test_forward[conv2d-torch-cpu]"
    assert sharding.shard_key("tests/test_x.py::TestA::test_b") == "TestA::test_b"


# ---- --shard and the durations file -------------------------------------------------------------


@pytest.mark.parametrize("text, needle", [
    pytest.param("0/2", "count from 1", id="zero"),
    pytest.param("3/2", "shard 3 is beyond the shard count 2", id="beyond"),
    pytest.param("x", "is not I/K", id="no-slash"),
    pytest.param("1/x", "is not I/K", id="not-a-number"),
    pytest.param("1/0", "must be at least 1", id="no-shards"),
])
def test_bad_shard_values_say_what_and_how_to_fix(text, needle):
    with pytest.raises(pytest.UsageError, match="--shard") as info:
        sharding.parse_shard(text)
    assert needle in str(info.value) and text in str(info.value)


def test_good_shard_value():
    assert sharding.parse_shard("2/4") == sharding.Shard(2, 4)


def test_durations_from_summary_records(tmp_path):
    writer = RecordWriter(tmp_path / "results.jsonl")
    writer.write(RunRecord(run_id="r"))
    for seconds in (1.0, 3.0):  # the same test in two runs: the mean
        writer.write(SummaryRecord(run_id="r", test_id="test_forward[conv1d-naive-cpu]", implementation="naive",
                                   op="conv1d", device="cpu", duration_s=seconds))
    writer.write(SummaryRecord(run_id="r", test_id="test_gradient[conv1d-jax-cpu]", implementation="jax",
                               op="conv1d", device="cpu", duration_s=5.5))
    writer.close()
    out = tmp_path / "durations.json"
    assert sharding.main(["durations", str(tmp_path / "results.jsonl"), "-o", str(out)]) == 0
    assert sharding.load_durations(out) == {"test_forward[conv1d-naive-cpu]": 2.0, "test_gradient[conv1d-jax-cpu]": 5.5}


@pytest.mark.parametrize("content, needle", [
    pytest.param("[1, 2]", "expected an object", id="list"),
    pytest.param("{", "is not JSON", id="not-json"),
    pytest.param('{"t": "fast"}', "'t' = 'fast' is not a duration", id="text"),
    pytest.param('{"t": -1}', "is not a duration", id="negative"),
])
def test_bad_durations_files(tmp_path, content, needle):
    path = tmp_path / "d.json"
    path.write_text(content)
    with pytest.raises(sharding.DurationsError, match=needle):
        sharding.load_durations(path)


# ---- end to end ---------------------------------------------------------------------------------


def _pytest(*args, env=None, check_rc=True):
    result = subprocess.run([sys.executable, "-m", "pytest", "conformance/suite", "-p", "conformance.sharding",
                             "-p", "no:randomly", *args], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if check_rc:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _collected(*args, report_dir) -> tuple[list[str], str]:
    result = _pytest("--collect-only", "-q", "--report-dir", str(report_dir), *args)
    lines = result.stdout.splitlines()
    return [line for line in lines if "::" in line], "\n".join(line for line in lines if line.startswith("shard "))


@pytest.mark.parametrize("selection", [pytest.param([], id="whole-suite"), pytest.param(["-k", "jax or gradient"], id="with-k")])
def test_collect_only_shards_partition_the_collection(tmp_path, selection):
    everything, _ = _collected(*selection, report_dir=tmp_path)
    shards = []
    for number in (1, 2, 3):
        ids, summary = _collected(*selection, "--shard", f"{number}/3", report_dir=tmp_path)
        assert f"shard {number}/3: {len(ids)} of {len(everything)} tests" in summary  # split after -k
        shards.append(ids)
    assert sorted(sum(shards, [])) == sorted(everything)
    assert all(shards), "an empty shard"
    with_durations, _ = _collected(*selection, "--shard", "2/3", "--shard-durations", str(MEASURED), report_dir=tmp_path)
    assert set(with_durations) <= set(everything)


def test_bad_shard_is_a_usage_error(tmp_path):
    result = _pytest("--collect-only", "-q", "--shard", "3/2", "--report-dir", str(tmp_path), check_rc=False)
    assert result.returncode == 4 and "--shard 3/2" in result.stderr


def test_xdist_workers_agree_on_the_shard(tmp_path):
    pytest.importorskip("xdist")
    result = _pytest("-q", "-n", "2", "-k", "test_determinism and (naive or im2col)", "--shard", "1/2",
                     "--report-dir", str(tmp_path), env={"CONFORMANCE_MAX_EXAMPLES": "2"})
    assert "passed" in result.stdout and "Different tests were collected" not in result.stdout + result.stderr


def test_durations_scaled_to_the_nightly_budget(tmp_path):
    """--scale-to projects each passing test from the examples it drew to the nightly's (the check
    kind's share of max_examples, no ci cap); failing and skipped tests keep their measured seconds."""
    from conformance.records import RecordWriter, SummaryRecord
    from conformance.sharding import durations_from_results, main

    path = tmp_path / "results.jsonl"
    writer = RecordWriter(path)
    rows = [
        SummaryRecord("r", "test_forward[conv2d-torch.compile-cpu]", "torch.compile", "conv2d", "cpu",
                      check_kind="forward", examples=20, duration_s=2.0, counts={"forward": {"pass": 20}}),
        SummaryRecord("r", "test_jvp[conv2d-jax-cpu]", "jax", "conv2d", "cpu",
                      check_kind="jvp", examples=30, duration_s=3.0, counts={"jvp": {"pass": 30}}),
        SummaryRecord("r", "test_gradient[conv2d-torch-cpu]", "torch", "conv2d", "cpu",
                      check_kind="gradient", examples=7, duration_s=40.0,
                      counts={"grad_input": {"pass": 6, "mismatch": 1}}),
        SummaryRecord("r", "test_forward[conv2d-torch.cudnn_off-cpu]", "torch.cudnn_off", "conv2d", "cpu",
                      check_kind="forward", examples=0, duration_s=0.01, skipped="cuda only"),
    ]
    for row in rows:
        writer.write(row)
    writer.close()
    measured = durations_from_results([path])
    scaled = durations_from_results([path], scale_to=1000)
    assert measured["test_forward[conv2d-torch.compile-cpu]"] == 2.0
    assert scaled["test_forward[conv2d-torch.compile-cpu]"] == 100.0  # 1000 examples at 0.1 s
    assert scaled["test_jvp[conv2d-jax-cpu]"] == 30.0  # jvp's share: 300 examples at 0.1 s
    assert scaled["test_gradient[conv2d-torch-cpu]"] == 40.0  # failing: as measured
    assert scaled["test_forward[conv2d-torch.cudnn_off-cpu]"] == 0.01
    out = tmp_path / "durations.json"
    assert main(["durations", str(path), "--scale-to", "1000", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["test_forward[conv2d-torch.compile-cpu]"] == 100.0
