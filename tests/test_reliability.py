"""Nothing lost, nothing hidden: the conformance suite run end to end, in subprocesses.

Each test starts `python -m pytest conformance/suite ...` (or `python -m conformance ...`) from the
repository root with few examples and asserts on what the run leaves behind: results.jsonl, the
exit status, the one-line messages. What they pin down:

- a crashing, hanging or wrongly answering implementation is a finding with its config, its cause
  and a repro command, and the rest of the run goes on;
- Ctrl-C and SIGTERM end a run in order: every record written so far kept, run_end and
  conformance.html written;
- bad input gets one line naming the problem and a non-zero exit, never a traceback;
- the same seed gives the same records; xdist workers write one run.

Runs that find a crash or a hang use the `ci` profile without shrinking (tests/no_shrink_plugin.py):
shrinking restarts the worker, or waits out the call timeout, at every step.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.registry import Implementation

ROOT = Path(__file__).resolve().parent.parent
RUN_LIMIT_S = 900  # a run that takes longer than this is itself a failure (a hang the harness missed); 240 s was too
# little on a loaded 2-core machine running the other tests beside it


# ---- running the suite -------------------------------------------------------------------------------


def _env(examples: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_"))}
    env.update(CONFORMANCE_MAX_EXAMPLES=str(examples), TF_CPP_MIN_LOG_LEVEL="2", NO_COLOR="1",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def suite_command(report_dir: Path, *args: str, profile: str = "conformance-ci") -> list[str]:
    plugin = ["-p", "tests.no_shrink_plugin"] if profile == "ci-no-shrink" else []
    return [sys.executable, "-m", "pytest", "conformance/suite", "-p", "no:randomly", "-q", *plugin,
            "--hypothesis-profile", profile, "--report-dir", str(report_dir), *args]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    def records(self, name: str = "results.jsonl") -> list[dict]:
        return read_jsonl(self.report_dir / name)

    def checks(self, test_id: str | None = None) -> list[dict]:
        return [r for r in self.records() if r["type"] == "check" and test_id in (None, r["test_id"])]


def run_suite(report_dir: Path, *args: str, examples: int = 5, profile: str = "conformance-ci") -> Run:
    done = subprocess.run(suite_command(report_dir, *args, profile=profile), cwd=ROOT, env=_env(examples),
                          capture_output=True, text=True, timeout=RUN_LIMIT_S)
    return Run(done.returncode, done.stdout, done.stderr, report_dir)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=ROOT, env=_env(5),
                          capture_output=True, text=True, timeout=RUN_LIMIT_S)


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a results file, failing on the first line that is not a complete JSON object."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), f"{path}: last line cut short: {text[-200:]!r}"
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            pytest.fail(f"{path}:{number} is not JSON ({err.msg}): {line[:200]!r}")
    return records


def node_name(kind: str, implementation: str, op: str = "conv1d") -> str:
    """The test id a suite test records, e.g. test_forward[conv1d-naive-cpu]."""
    return f"test_{kind}[{op}-{implementation}-cpu]"


# ---- 1, 2 and wrong answers: one run with every kind of misbehaving implementation ---------------------
# One run, so that the framework workers the consensus starts are started once; and a stronger claim:
# the crash, the hangs and the wrong answers all happen in the same run, and the references still pass.

MISBEHAVING = ("tests.mutants:crashes_on_stride_3", "tests.mutants:hangs_on_dilation_3",
               "tests.planted_bad_returns:returns_text", "tests.planted_bad_returns:wrong_shape")
CALL_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def misbehaving_run(tmp_path_factory) -> Run:
    impls = [arg for spec in MISBEHAVING for arg in ("--impl", spec)]
    names = " or ".join(spec.partition(":")[2] for spec in MISBEHAVING)
    return run_suite(tmp_path_factory.mktemp("misbehaving"), *impls, "--call-timeout", str(CALL_TIMEOUT_S),
                     "-k", f"(test_forward or test_gradient) and conv1d and (naive or {names})", examples=45,
                     profile="ci-no-shrink")


FINDINGS = [
    # (test, status, kind, message substring, what the config must show)
    pytest.param(node_name("forward", "crashes_on_stride_3"), "crash", None, "killed by signal SIGABRT (6)",
                 lambda c: max(c["stride"]) >= 3, id="crash:SIGABRT-on-stride=3"),
    pytest.param(node_name("forward", "hangs_on_dilation_3"), "timeout", None,
                 f"did not return within {CALL_TIMEOUT_S} s", lambda c: 3 in c["dilation"],
                 id="hang:timeout-on-dilation=3"),
    pytest.param(node_name("forward", "returns_text"), "error", None, "forward is a str, expected a float ndarray",
                 lambda c: True, id="forward-returns-str"),
    pytest.param(node_name("gradient", "returns_text"), "error", None, "vjp returned str, expected a tuple",
                 lambda c: True, id="vjp-returns-str"),
    pytest.param(node_name("forward", "wrong_shape"), "mismatch", "shape", "forward has shape",
                 lambda c: True, id="forward-wrong-shape"),
    pytest.param(node_name("gradient", "wrong_shape"), "mismatch", "shape", "grad_input has shape",
                 lambda c: True, id="grad_input-wrong-shape"),
]


@pytest.mark.parametrize("test, status, kind, message, config_shows", FINDINGS)
def test_misbehaviour_is_recorded_with_config_cause_and_repro(misbehaving_run, test, status, kind, message,
                                                              config_shows):
    findings = [r for r in misbehaving_run.checks(test) if r["status"] == status]
    seen = sorted({r["status"] for r in misbehaving_run.checks(test)})
    assert findings, f"no {status!r} record for {test}; statuses seen: {seen}\n{misbehaving_run.stdout[-3000:]}"
    for record in findings:
        assert record["kind"] == kind
        assert message in record["message"], record["message"]
        assert config_shows(record["config"]), f"{record['config_str']} does not show the planted trigger"
        repro = shlex.split(record["repro"])
        assert repro[:4] == ["python", "-m", "conformance", "repro"]
        assert json.loads(repro[repro.index("--config") + 1]) == record["config"]
    assert any(r.get("minimal") for r in findings), "the final (minimal) example was not marked minimal"
    if status == "crash":
        assert all(r["returncode"] == -signal.SIGABRT for r in findings)


def test_the_run_goes_on_after_crashes_and_hangs(misbehaving_run):
    run = misbehaving_run
    assert run.returncode == 1, f"exit status {run.returncode} (1 = tests failed)\n{run.stderr[-3000:]}"
    records = run.records()
    assert records[0]["type"] == "run" and records[-1]["type"] == "run_end"
    assert records[-1]["exitstatus"] == 1 and not records[-1]["interrupted"]
    # Every selected test ran to its summary, the references' tests passed after the crash and the hangs.
    summaries = {r["test_id"]: r for r in records if r["type"] == "summary"}
    names = ["naive"] + [spec.partition(":")[2] for spec in MISBEHAVING]
    assert sorted(summaries) == sorted(node_name(kind, name) for kind in ("forward", "gradient") for name in names)
    for kind in ("forward", "gradient"):
        passes = run.checks(node_name(kind, "naive"))
        assert passes and all(r["status"] == "pass" for r in passes)
    # The crash and the hangs are in forward only: their gradient tests ran on restarted workers and passed.
    for name in ("crashes_on_stride_3", "hangs_on_dilation_3"):
        assert {r["status"] for r in run.checks(node_name("gradient", name))} == {"pass"}
    assert "6 failed, 4 passed" in run.stdout, run.stdout[-3000:]
    assert "INTERNALERROR" not in run.stdout + run.stderr


@pytest.mark.parametrize("test, status, exit_status", [
    pytest.param(node_name("forward", "crashes_on_stride_3"), "crash", -signal.SIGABRT, id="crash"),
    pytest.param(node_name("forward", "wrong_shape"), "mismatch", 1, id="wrong-shape"),
])
def test_repro_command_reproduces_the_finding(misbehaving_run, test, status, exit_status):
    record = next(r for r in misbehaving_run.checks(test) if r["status"] == status)
    command = shlex.split(record["repro"])
    done = subprocess.run([sys.executable, *command[1:]], cwd=ROOT, env=_env(5), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == exit_status, done.stdout + done.stderr


# ---- 3. interrupts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: signal.Signals(s).name)
def test_an_interrupted_run_keeps_its_records_and_writes_the_report(tmp_path, signum):
    from conformance.report.plugin import REPORT_NAME

    results = tmp_path / "results.jsonl"
    slow_test = node_name("forward", "slow")
    command = suite_command(tmp_path, "--impl", "tests.planted_bad_returns:slow", "-k", "conv1d and (naive or slow)")
    # SIGINT restored in the child: a background job (CI's shell, an xdist worker) may start with it
    # ignored, and Python then installs no KeyboardInterrupt handler.
    process = subprocess.Popen(command, cwd=ROOT, env=_env(500), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        before = _wait_for_checks(results, slow_test, at_least=3, process=process)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, (
        f"exit status {process.returncode} after {signal.Signals(signum).name}\n{stdout[-2000:]}\n{stderr[-2000:]}")
    after = read_jsonl(results)
    assert after[:len(before)] == before, "records written before the signal were changed or lost"
    assert after[-1]["type"] == "run_end" and after[-1]["interrupted"] is True
    page = tmp_path / REPORT_NAME
    assert page.is_file() and page.stat().st_size > 0, f"{REPORT_NAME} not written after it\n{stdout[-2000:]}"


def _wait_for_checks(results: Path, test: str, *, at_least: int, process: subprocess.Popen) -> list[dict]:
    """The complete lines of results once `at_least` check records of `test` are there."""
    deadline = time.monotonic() + RUN_LIMIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the run ended (status {process.returncode}) before it could be interrupted:\n"
                        f"{process.stdout.read()[-3000:]}")
        text = results.read_text(encoding="utf-8") if results.exists() else ""
        lines = text.splitlines()[:text.count("\n")]  # complete lines only
        records = [json.loads(line) for line in lines]
        if sum(r["type"] == "check" and r["test_id"] == test for r in records) >= at_least:
            return records
        time.sleep(0.05)
    pytest.fail(f"no {at_least} check records of {test} in {results} after {RUN_LIMIT_S} s")


# ---- 4. bad input: one line, non-zero exit, no traceback ------------------------------------------------

USAGE_ERROR = int(pytest.ExitCode.USAGE_ERROR)
CLI_BAD_INPUT = 2
CONFIG_1D = '{"ndim": 1, "in_size": [5], "kernel": [3]}'

BAD_SUITE_OPTIONS = [
    pytest.param(["--device", "tpu"], "argument --device: invalid choice: 'tpu'", id="device=tpu"),
    pytest.param(["--impl", "nosuchmodule:X"], "cannot import module 'nosuchmodule'", id="impl=unknown-module"),
    pytest.param(["--impl", "tests.mutants:NO_SUCH_NAME"], "has no attribute 'NO_SUCH_NAME'", id="impl=unknown-name"),
    pytest.param(["--impl", "tests.mutants"], "must look like 'package.module:NAME'", id="impl=no-colon"),
    pytest.param(["--impl", "conformance.config:DTYPES"], "gave tuple, not a conformance.Implementation",
                 id="impl=not-an-implementation"),
    pytest.param(["--dtypes", "int8"], "--dtypes 'int8': unknown ['int8']", id="dtypes=int8"),
    pytest.param(["--call-timeout", "0"], "--call-timeout 0.0 must be positive", id="call-timeout=0"),
]


@pytest.mark.parametrize("options, message", BAD_SUITE_OPTIONS)
def test_bad_suite_option_is_one_line_and_a_usage_error(tmp_path, options, message):
    run = run_suite(tmp_path, "-k", "naive and conv1d", *options)
    assert run.returncode == USAGE_ERROR, f"exit status {run.returncode}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    assert message in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


BAD_CLI_INPUT = [
    pytest.param(["report", "missing.jsonl"], "missing.jsonl: no such file", id="report:missing-file"),
    pytest.param(["repro", "naive", "--config", '{"ndim": 4}'], "invalid --config: ndim=4 must be 1, 2 or 3",
                 id="repro:ndim=4"),
    pytest.param(["repro", "naive", "--config", "{not json"], "invalid --config: config is not valid JSON",
                 id="repro:config-not-json"),
    pytest.param(["repro", "nosuch", "--config", CONFIG_1D], "unknown implementation 'nosuch'",
                 id="repro:unknown-implementation"),
    pytest.param(["repro", "naive", "--config", CONFIG_1D, "--seed", "-1"], "--seed -1 must be between 0 and",
                 id="repro:seed=-1"),
    pytest.param(["repro", "naive", "--config", CONFIG_1D, "--values", "huge"], "--values 'huge' is not one of",
                 id="repro:values=huge"),
]


@pytest.mark.parametrize("arguments, message", BAD_CLI_INPUT)
def test_bad_cli_input_is_one_line_and_exit_2(arguments, message):
    done = run_cli(*arguments)
    assert done.returncode == CLI_BAD_INPUT, f"exit status {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_report_skips_malformed_lines_and_counts_them(tmp_path):
    results = tmp_path / "results.jsonl"
    _write_real_records(results)
    with open(results, "a", encoding="utf-8") as handle:
        handle.write("not json at all\n[1, 2, 3]\n")
        handle.write('{"type": "check", "run_id": "cut sh')  # the last line of a killed run
    done = run_cli("report", str(results), "-o", str(tmp_path / "page.html"))
    assert done.returncode == 0, done.stderr
    assert "3 malformed lines skipped" in done.stdout
    assert "Traceback" not in done.stderr
    assert (tmp_path / "page.html").stat().st_size > 0


def _write_real_records(path: Path) -> None:
    """A run line and the records of one real naive check, written by the harness itself."""
    from conformance.config import ConvConfig
    from conformance.harness import Harness, Target, run_header
    from conformance.records import RecordWriter
    from conformance.strategies import ConvCase

    writer = RecordWriter(path)
    writer.write(run_header("r1", "main"))
    harness = Harness(writer=writer, run_id="r1", isolation="none")
    config = ConvConfig(ndim=1, in_size=(5,), kernel=(3,))
    outcome = harness.check(Target("conv1d", "naive", "cpu", "naive"), "forward", ConvCase(config, 0, "normal"),
                            test_id=node_name("forward", "naive"))
    assert not outcome.failed, outcome.message
    writer.close()


# ---- 5. determinism -----------------------------------------------------------------------------------

VOLATILE = ("time", "run_id", "seconds")


def test_same_seed_same_records(tmp_path):
    def stable_checks(run: Run) -> list[dict]:
        assert run.returncode == 0, run.stdout[-3000:]
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in run.checks()]

    first = stable_checks(run_suite(tmp_path / "first", "-k", "conv1d and (naive or im2col)"))
    second = stable_checks(run_suite(tmp_path / "second", "-k", "conv1d and (naive or im2col)"))
    assert first, "no check records"
    assert first == second


# ---- 6. xdist -----------------------------------------------------------------------------------------


def test_xdist_workers_write_one_run_that_the_report_merges(tmp_path):
    pytest.importorskip("xdist", reason="pytest-xdist not installed")
    run = run_suite(tmp_path, "-n", "2", "-k", "(test_forward or test_gradient) and conv1d and (naive or im2col or matrix)")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    files = sorted(p.name for p in tmp_path.glob("results*.jsonl"))
    assert files == ["results-gw0.jsonl", "results-gw1.jsonl"]
    records = [r for name in files for r in run.records(name)]
    assert len({r["run_id"] for r in records}) == 1, "the workers' records are not one run"
    assert {r["worker"] for r in records if r["type"] == "run"} == {"gw0", "gw1"}
    assert {r["test_id"] for r in records if r["type"] == "summary"} == {
        node_name(kind, name) for kind in ("forward", "gradient") for name in ("naive", "im2col", "matrix")}

    from conformance.report.plugin import REPORT_NAME

    page = (tmp_path / REPORT_NAME).read_text(encoding="utf-8")
    checks = sum(n for r in records if r["type"] == "summary" for counts in r["counts"].values()
                 for n in counts.values())
    assert f'"n_checks":{checks},' in page, "the report does not count the checks of both workers"


# ---- known crashes are not called again and again ----------------------------------------------------


def _crash_harness(tmp_path, when: str, implementation: str):
    from conformance.harness import Harness, Target
    from conformance.known import load_known_divergences

    entries = tmp_path / "known.toml"
    entries.write_text(f'[[divergence]]\nid = "USER-1"\nimplementations = ["{implementation}"]\n'
                       f'summary = "aborts on stride >= 3"\nclassification = "bug"\nexpected = "crash"\n'
                       f'signal = "SIGABRT"\nwhen = {{ {when} }}\nupstream = "internal"\n', encoding="utf-8")
    harness = Harness(writer=None, run_id="t", isolation="process", call_timeout=60)
    harness.known = load_known_divergences(entries)
    return harness, Target("conv1d", implementation, "cpu", f"tests.mutants:{implementation}")


def _stride_case(stride: int):
    from conformance.config import ConvConfig
    from conformance.strategies import ConvCase

    return ConvCase(ConvConfig(ndim=1, batch=1, in_channels=1, out_channels=1, in_size=(7,), kernel=(1,),
                               stride=(stride,)), 0, "normal")


def test_a_known_crash_is_presumed_after_it_reproduces_but_a_sampled_share_is_still_called(tmp_path):
    """Each crash restarts the worker (seconds of framework import): once a known crash has reproduced
    in a test and most calls in its region crash, a call the entry covers is recorded as not called,
    saying why, except every PRESUMED_SAMPLE_EVERY-th, which is made; a call outside the region is made,
    and another test starts afresh."""
    from conformance.checks import CHECK_KINDS
    from conformance.harness import PRESUMED_SAMPLE_EVERY

    harness, target = _crash_harness(tmp_path, "any_stride_ge = 3", "crashes_on_stride_3")
    forward, crashing = CHECK_KINDS["forward"], _stride_case(3)
    try:
        outcomes = [harness.check(target, forward, crashing, test_id="t1") for _ in range(PRESUMED_SAMPLE_EVERY + 1)]
        assert [o.statuses["forward"] for o in outcomes] == \
            ["known"] + ["unsupported"] * (PRESUMED_SAMPLE_EVERY - 1) + ["known"]
        reason = outcomes[1].records[0].reason
        assert reason.startswith("not called: USER-1") and "already reproduced in 1 of 1 calls" in reason
        assert harness.check(target, forward, _stride_case(1), test_id="t1").statuses["forward"] == "pass"
        assert harness.check(target, forward, crashing, test_id="t2").statuses["forward"] == "known"
        assert harness.known.reproduced["USER-1"] == 3
    finally:
        harness.close()


def test_a_crash_region_that_mostly_runs_is_tested_call_by_call(tmp_path):
    """One crash in a region whose other calls run (jax's strided gradients: 1 call in 80 aborts) presumes
    nothing: every later call is made and judged."""
    from conformance.checks import CHECK_KINDS

    harness, target = _crash_harness(tmp_path, "any_stride_ge = 1", "crashes_on_stride_3")
    forward = CHECK_KINDS["forward"]
    try:
        strides = [1, 2, 1, 3, 1, 2, 1, 2]
        statuses = [harness.check(target, forward, _stride_case(s), test_id="t1").statuses["forward"] for s in strides]
        assert statuses == ["pass", "pass", "pass", "known", "pass", "pass", "pass", "pass"]
    finally:
        harness.close()


def test_wrong_values_inside_a_crash_entrys_region_are_a_finding(tmp_path):
    """A second bug in a known crash's region (the kernel aborts at stride 3 and doubles its output at
    stride 2) is flagged even after the crash is presumed: the sampled calls reach it, and its message
    says whose region it is in and how it differs from the entry."""
    from conformance.checks import CHECK_KINDS
    from conformance.harness import PRESUMED_SAMPLE_EVERY

    harness, target = _crash_harness(tmp_path, "any_stride_ge = 2", "crashes_on_stride_3_wrong_on_stride_2")
    forward = CHECK_KINDS["forward"]
    try:
        assert harness.check(target, forward, _stride_case(3), test_id="t1").statuses["forward"] == "known"
        later = [harness.check(target, forward, _stride_case(2), test_id="t1") for _ in range(PRESUMED_SAMPLE_EVERY)]
        assert [o.statuses["forward"] for o in later] == ["unsupported"] * (PRESUMED_SAMPLE_EVERY - 1) + ["mismatch"]
        assert "inside USER-1's region" in later[-1].message and "a mismatch, where USER-1 expects crash" in \
            later[-1].message
    finally:
        harness.close()


def test_a_different_error_inside_an_error_entrys_region_is_a_finding(tmp_path):
    """An entry's `message` is its signature: another error in its region fails, naming the entry."""
    from conformance.checks import CHECK_KINDS
    from conformance.harness import Harness, Target
    from conformance.known import load_known_divergences

    entries = tmp_path / "known.toml"
    entries.write_text('[[divergence]]\nid = "USER-2"\nimplementations = ["raises_on_stride_2_or_3"]\n'
                       'summary = "refuses stride 3"\nclassification = "bug"\nexpected = "error"\n'
                       'message = "RuntimeError: planted: stride 3 is unsupported"\n'
                       'when = { any_stride_ge = 2 }\nupstream = "internal"\n', encoding="utf-8")
    harness = Harness(writer=None, run_id="t", isolation="process", call_timeout=60)
    harness.known = load_known_divergences(entries)
    target = Target("conv1d", "raises_on_stride_2_or_3", "cpu", "tests.mutants:raises_on_stride_2_or_3")
    forward = CHECK_KINDS["forward"]
    try:
        assert harness.check(target, forward, _stride_case(3), test_id="t1").statuses["forward"] == "known"
        other = harness.check(target, forward, _stride_case(2), test_id="t1")
        assert other.statuses["forward"] == "error"
        assert "inside USER-2's region" in other.message and "a different error: USER-2 expects" in other.message
        assert "IndexError" in other.message
    finally:
        harness.close()


class _EnvironmentProbe(Implementation):
    """An implementation whose versions() tells what its worker's environment holds."""

    name = "environment_probe"

    def forward(self, config, x, w, b=None, device="cpu"):
        raise NotImplementedError

    def versions(self):
        return {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "unset")}


def test_workers_let_idle_openmp_threads_sleep(monkeypatch):
    """A framework's spinning OpenMP threads would take the cores from the harness between calls;
    the worker gets OMP_WAIT_POLICY=PASSIVE unless the user's environment says otherwise."""
    from conformance.isolation import IsolatedImplementation

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    for expected in ("PASSIVE", "ACTIVE"):
        if expected == "ACTIVE":
            monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
        worker = IsolatedImplementation(f"{__name__}:_EnvironmentProbe")
        try:
            assert worker.versions() == {"OMP_WAIT_POLICY": expected}
        finally:
            worker.stop()


class _SlowToExit(_EnvironmentProbe):
    """A worker whose interpreter takes 30 s to exit (an atexit handler that sleeps)."""

    def __init__(self):
        import atexit

        atexit.register(time.sleep, 30)


def test_workers_are_stopped_together_and_a_slow_one_is_killed_after_the_grace():
    """At a run's end every worker is told to exit before any is waited for, and they share one
    grace period: one that does not exit in it is killed, the others exit on their own."""
    from conformance.isolation import IsolatedImplementation, stop_workers

    events = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def _ask_to_exit(self):
            events.append(("ask", self.name))

        def _reap(self, grace_s):
            events.append(("reap", self.name))

    stop_workers([Fake("a"), Fake("b")])
    assert events == [("ask", "a"), ("ask", "b"), ("reap", "a"), ("reap", "b")]

    slow = IsolatedImplementation(f"{__name__}:_SlowToExit")
    quick = IsolatedImplementation(f"{__name__}:_EnvironmentProbe")
    slow.versions(), quick.versions()
    processes = (slow._process, quick._process)
    stop_workers([slow, quick])
    assert processes[0].returncode == -signal.SIGKILL
    assert processes[1].returncode == 0
