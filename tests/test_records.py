"""Reading results files back: read_records over paths and directories, and its ReadResult as a list."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.records import CheckRecord, RecordWriter, RunRecord, read_records


def _write(path: Path, *test_ids: str) -> Path:
    """A results file as a process writes one: its run line, then one check record per test id."""
    writer = RecordWriter(path)
    writer.write(RunRecord(run_id="r1", worker=path.stem))
    for test_id in test_ids:
        writer.write(CheckRecord(run_id="r1", test_id=test_id, implementation="torch", op="conv1d", device="cpu",
                                 check="forward", status="pass"))
    writer.close()
    return path


@pytest.fixture
def xdist_report_dir(tmp_path) -> Path:
    """A report dir as `pytest -n 2` leaves it: one file per worker, and files that are not results."""
    _write(tmp_path / "results-gw0.jsonl", "t0")
    _write(tmp_path / "results-gw1.jsonl", "t1", "t2")
    (tmp_path / "conformance.html").write_text("<html></html>", encoding="utf-8")
    _write(tmp_path / "other.jsonl", "not-a-result")
    return tmp_path


def _test_ids(records) -> list[str]:
    return [r.test_id for r in records if isinstance(r, CheckRecord)]


@pytest.mark.parametrize("as_argument", [
    pytest.param(lambda d: d, id="a-Path"),
    pytest.param(str, id="a-str"),
    pytest.param(lambda d: [d], id="a-list-with-the-directory"),
    pytest.param(lambda d: sorted(d.glob("results*.jsonl")), id="the-glob-the-README-shows"),
])
def test_a_report_dir_reads_every_workers_results_file_and_nothing_else(xdist_report_dir, as_argument):
    result = read_records(as_argument(xdist_report_dir))
    assert _test_ids(result) == ["t0", "t1", "t2"], f"read {_test_ids(result)}, expected each worker's checks in name order"
    assert result.malformed == [], result.malformed


def test_a_directory_and_a_file_mix(xdist_report_dir, tmp_path_factory):
    extra = _write(tmp_path_factory.mktemp("elsewhere") / "results.jsonl", "t9")
    assert _test_ids(read_records([xdist_report_dir, extra])) == ["t0", "t1", "t2", "t9"]


def test_the_read_result_is_a_list_of_records_that_keeps_its_malformed_lines(tmp_path):
    path = _write(tmp_path / "results.jsonl", "t0", "t1")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"type": "check", "run_id"')  # cut short, as a killed run leaves it
    result = read_records(path)
    assert len(result) == 3, f"len() is {len(result)}, expected 3 records (a run line and two checks)"
    assert list(result) == result.records
    assert [type(r) for r in result] == [RunRecord, CheckRecord, CheckRecord]
    assert len(result.of_type(CheckRecord)) == 2
    assert [(Path(f).name, n) for f, n, _ in result.malformed] == [("results.jsonl", 4)], result.malformed


def test_an_empty_directory_reads_no_records(tmp_path):
    result = read_records(tmp_path)
    assert (list(result), result.malformed) == ([], [])


def test_a_missing_file_still_says_which(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.jsonl"):
        read_records(tmp_path / "results.jsonl")
