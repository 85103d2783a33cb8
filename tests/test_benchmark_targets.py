"""benchmarks/run.py's 10-minute target, judged on a whole default run given with --suite-results."""

from __future__ import annotations

import json

from benchmarks.run import analyse_suite_run, evaluate_targets


def _worker_records(worker: str, seconds: float, profile: str = "conformance-ci") -> list[dict]:
    return [{"type": "run", "run_id": "r", "worker": worker, "argv": ["pytest", "conformance/suite"],
             "hypothesis_profile": profile},
            {"type": "run_end", "run_id": "r", "worker": worker, "duration_s": seconds, "exitstatus": 0}]


def _suite(tmp_path, seconds_per_worker, profile="conformance-ci", max_examples=None) -> dict:
    tmp_path.mkdir(exist_ok=True)
    for i, seconds in enumerate(seconds_per_worker):
        (tmp_path / f"results-gw{i}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in _worker_records(f"gw{i}", seconds, profile)), encoding="utf-8")
    suite = analyse_suite_run(tmp_path)
    suite.update({"source": str(tmp_path), "max_examples": max_examples})  # as bench_suite adds them
    return suite


def test_a_default_run_is_judged_on_its_longest_worker(tmp_path):
    suite = _suite(tmp_path, [430.0, 598.0])
    assert suite["run_seconds"] == 598.0 and suite["hypothesis_profile"] == "conformance-ci"
    target = evaluate_targets({"suite": suite})["default_conformance_under_10_min"]
    assert target["judged"] and target["holds"] and target["measured_seconds"] == 598.0


def test_a_default_run_of_the_previous_release_s_profile_name_is_judged(tmp_path):
    target = evaluate_targets({"suite": _suite(tmp_path, [598.0], profile="ci")})["default_conformance_under_10_min"]
    assert target["judged"] and target["holds"]


def test_a_default_run_over_ten_minutes_misses(tmp_path):
    target = evaluate_targets({"suite": _suite(tmp_path, [612.0, 590.0])})["default_conformance_under_10_min"]
    assert target["judged"] and not target["holds"]


def test_a_run_with_fewer_examples_or_another_profile_is_not_judged(tmp_path):
    short = evaluate_targets({"suite": _suite(tmp_path / "a", [100.0], max_examples=5)})
    other = evaluate_targets({"suite": _suite(tmp_path / "b", [100.0], profile="conformance-dev")})
    for targets in (short, other):
        target = targets["default_conformance_under_10_min"]
        assert not target["judged"] and not target["holds"] and "not judged" in target["basis"]
