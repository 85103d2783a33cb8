"""The conformance pytest plugin: options, Hypothesis profiles, targets, the harness and the report hook.

Installed as a `pytest11` entry point (see pyproject.toml), so its options exist wherever pytest
runs once the package is installed: `pytest --pyargs conformance.suite --impl mymod:MyConv` works
from any directory, and an existing `--report-dir` directory cannot make pytest lose them.

Options (all under "conformance" in `pytest --help`):
  --device cpu|cuda|all   --impl package.module:NAME (repeatable)   --report-dir DIR
  --precision default|highest   --isolation process|none   --call-timeout SECONDS   --dtypes LIST
  --known-divergences FILE (repeatable; adds to the built-in entries; 'none': strict)

It does nothing beyond adding options unless the run collects the conformance suite (tests that
use the `target` fixture): a user's own Hypothesis tests keep their own settings. Installed but not
used, it costs nothing: pytest starting in another project imports no Hypothesis, no NumPy and no
framework through it, and registers no Hypothesis profile (tests/test_plugin_startup.py;
benchmarks/README.md, "Start-up"). The suite's profiles (conformance.profiles) are registered in
this plugin's pytest_configure, which runs first (tryfirst), for a run that collects the suite or
names a conformance-* profile: Hypothesis' own pytest_configure loads --hypothesis-profile after it.
pytest-xdist is optional: its hook is an optionalhook.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from .profiles import DEFAULT_PROFILE, LEGACY_NAMES, PROFILES, canonical_profile

__all__ = ["ConformanceState", "SUITE", "profile_name"]

SUITE = Path(__file__).resolve().parent / "suite"


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "conformance harness")
    group.addoption("--device", default="cpu", choices=("cpu", "cuda", "all"),
                    help="device(s) to check implementations on (default: cpu)")
    group.addoption("--impl", action="append", default=[], metavar="package.module:NAME",
                    help="add an implementation: an Implementation instance, class or zero-argument factory (repeatable)")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where the results (results.jsonl; results-gw0.jsonl, ... one per xdist worker), conformance.html "
                         "and Hypothesis' files go (default: reports)")
    group.addoption("--precision", default="default", choices=("default", "highest"),
                    help="'highest' turns reduced-precision paths (TF32) off in the framework adapters")
    group.addoption("--isolation", default="process", choices=("process", "none"),
                    help="run framework and --impl implementations in a worker process that may crash "
                         "(default), or in-process ('none': faster to debug, a crash ends the run)")
    group.addoption("--call-timeout", default=60.0, type=float, metavar="SECONDS",
                    help="a call that takes longer is recorded as a timeout (default: 60)")
    group.addoption("--dtypes", default="float64,float32,float16,bfloat16", metavar="LIST",
                    help="comma-separated dtypes to draw (default: all four), intersected with what each "
                         "implementation declares")
    group.addoption("--no-conformance-report", action="store_true", help="do not write conformance.html")
    group.addoption("--known-divergences", action="append", default=[], metavar="TOML",
                    help="a known-divergences file of your own, added to the built-in one (repeatable); "
                         "'none' reports every divergence as a failure")


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _arg_paths(config) -> list[Path]:
    """The paths the command line asks pytest to collect (module names resolved under --pyargs)."""
    paths = []
    for arg in config.args:
        text = str(arg).split("::")[0]
        if config.getoption("pyargs", False) and not os.path.exists(text):
            try:
                spec = importlib.util.find_spec(text)
            except (ImportError, ValueError):
                spec = None
            if spec is not None and spec.origin:
                origin = Path(spec.origin)
                paths.append(origin.parent if origin.name == "__init__.py" else origin)
            continue
        path = Path(text)
        paths.append(path if path.is_absolute() else Path(config.invocation_params.dir) / path)
    return paths


def _is_conformance_run(config) -> bool:
    """True when the run collects the conformance suite (its results replace the last run's)."""
    for path in _arg_paths(config):
        try:
            path = path.resolve()
        except OSError:
            continue
        if path == SUITE or SUITE in path.parents or path in SUITE.parents:
            return True
    return False


def _requested_profile(config) -> str:
    """The profile name as given: --hypothesis-profile, HYPOTHESIS_PROFILE or conformance-dev."""
    return config.getoption("hypothesis_profile", None) or os.environ.get("HYPOTHESIS_PROFILE") or DEFAULT_PROFILE


def profile_name(config) -> str:
    """The Hypothesis profile of the conformance tests (a legacy name as the profile it stands for)."""
    return canonical_profile(_requested_profile(config))


@pytest.hookimpl(tryfirst=True)  # before Hypothesis' own pytest_configure loads --hypothesis-profile
def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: a differential conformance test")
    state = ConformanceState.from_config(config)
    config._conformance = state
    if state.conformance_run:
        _start_conformance_run(config, state)
    elif config.getoption("hypothesis_profile", None) in PROFILES:
        # A run that names no path of the suite but may collect it (a user's module importing its
        # tests): the named profile must exist when Hypothesis loads it.
        from .profiles import register_profiles

        register_profiles(state.report_dir / ".hypothesis")


def _register_profiles(config, hypothesis_home: Path) -> None:
    """The suite's profiles, and the legacy name --hypothesis-profile gives (`dev`) for Hypothesis to
    load; a legacy name, from the option or HYPOTHESIS_PROFILE, warns."""
    from .profiles import ProfileNameDeprecationWarning, legacy_name_message, register_profiles

    requested = _requested_profile(config)
    option = config.getoption("hypothesis_profile", None)
    register_profiles(hypothesis_home, legacy=option if option in LEGACY_NAMES else None)
    if requested in LEGACY_NAMES and not _is_worker(config):
        config.issue_config_time_warning(ProfileNameDeprecationWarning(legacy_name_message(requested)), stacklevel=2)


def _parse_dtypes(config) -> tuple[str, ...]:
    from .config import DTYPES

    dtypes = tuple(d.strip() for d in config.getoption("dtypes").split(",") if d.strip())
    bad = [d for d in dtypes if d not in DTYPES]
    if bad or not dtypes:
        raise pytest.UsageError(f"--dtypes {config.getoption('dtypes')!r}: unknown {bad or 'empty list'}; "
                                f"choose from {', '.join(DTYPES)}")
    return dtypes


def _start_conformance_run(config, state) -> None:
    """Everything a run of the suite needs: options checked, stale results removed, harness, report."""
    from hypothesis.configuration import set_hypothesis_home_dir

    from .harness import Harness, run_header
    if state.started_run:
        return
    state.started_run = True
    dtypes = _parse_dtypes(config)
    if config.getoption("call_timeout") <= 0:
        raise pytest.UsageError(f"--call-timeout {config.getoption('call_timeout')} must be positive")
    name = profile_name(config)
    _handle_sigterm_as_interrupt(config)
    report_dir = state.report_dir
    # Hypothesis keeps its files (example database, caches) next to the results, not in the
    # user's working directory; the nightly database lives there too.
    hypothesis_home = report_dir / ".hypothesis"
    set_hypothesis_home_dir(hypothesis_home)
    _register_profiles(config, hypothesis_home)
    collect_only = config.getoption("collectonly")
    if not _is_worker(config) and not collect_only:
        report_dir.mkdir(parents=True, exist_ok=True)
        # --collect-only runs nothing: it must neither delete the last results nor write a report.
        for stale in list(report_dir.glob("results*.jsonl")) + [report_dir / "conformance.html"]:
            stale.unlink(missing_ok=True)
    state.dtypes = dtypes
    state.harness = Harness(writer=None, run_id=state.run_id, isolation=config.getoption("isolation"),
                            precision=config.getoption("precision"), call_timeout=config.getoption("call_timeout"))
    state.harness.known = _load_known(config)
    state.header = run_header(
        state.run_id, state.worker, argv=["pytest", *map(str, config.invocation_params.args)],
        devices=_devices(config), precision_mode=config.getoption("precision"), hypothesis_profile=name,
        seed=config.getoption("hypothesis_seed", None),
        isolation=config.getoption("isolation"), dtypes=list(dtypes))
    state.targets = _targets(config, state)
    state.harness.consensus_specs = sorted({t.spec for t in state.targets})
    if not _is_worker(config) and not collect_only and not config.getoption("no_conformance_report"):
        from .report.plugin import ReportPlugin

        config.pluginmanager.register(ReportPlugin(report_dir, state.results_path, run_id=state.run_id),
                                      "conformance-report")


def _load_known(config):
    from . import known as known_module

    options = config.getoption("known_divergences")
    if "none" in options:
        if len(options) > 1:
            raise pytest.UsageError("--known-divergences none (a strict run) cannot be combined with files")
        return None
    collections = []
    try:
        collections.append(known_module.load_known_divergences(known_module.DEFAULT_PATH))
        for option in options:
            path = Path(option)
            if not path.is_file():
                raise pytest.UsageError(f"--known-divergences {option}: no such file")
            collections.append(known_module.load_known_divergences(path))
        merge = getattr(known_module, "merge_known", None)
        if merge is not None:
            known = merge(*collections)
        else:
            known = known_module.KnownDivergences([e for c in collections for e in c.entries])
    except known_module.KnownDivergenceError as err:
        raise pytest.UsageError(f"--known-divergences: {err}") from None
    known.precision = config.getoption("precision")
    return known


# ---- SIGTERM ends the run like Ctrl-C ---------------------------------------------------------------
# pytest handles SIGINT only. CI runners and `timeout` send SIGTERM, whose default action kills the
# process before pytest_sessionfinish: no run_end record, no conformance.html. Raising
# KeyboardInterrupt instead gives the same orderly end as Ctrl-C (exit status 2, report written).


def _handle_sigterm_as_interrupt(config) -> None:
    """Until unconfigure, a first SIGTERM raises KeyboardInterrupt; a second gets the previous handler."""
    if _is_worker(config) or threading.current_thread() is not threading.main_thread():
        return  # xdist workers are ended by their controller; signals reach the main thread only
    previous = signal.getsignal(signal.SIGTERM)
    if previous is None:  # installed outside Python: nothing to restore but the default
        previous = signal.SIG_DFL

    def interrupt(signum, frame):
        signal.signal(signal.SIGTERM, previous)  # insisting ends the process the usual way
        raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, interrupt)
    config.add_cleanup(lambda: signal.signal(signal.SIGTERM, previous))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist controller: hand the run id to each worker so their records form one run."""
    node.workerinput["conformance_run_id"] = node.config._conformance.run_id


class ConformanceState:
    """The run's state, on config._conformance: ids, paths, harness, targets, the record writer."""

    def __init__(self, *, run_id: str, worker: str, report_dir: Path, results_path: Path, conformance_run: bool):
        self.run_id = run_id
        self.worker = worker
        self.report_dir = report_dir
        self.results_path = results_path
        self.conformance_run = conformance_run
        self.started_run = False
        self.dtypes: tuple[str, ...] = ()
        self.harness = None
        self.header = None
        self.targets: list = []
        self.writer = None
        self.selected_specs: set[str] = set()
        self.described: set[str] = set()
        self.started = time.monotonic()

    @classmethod
    def from_config(cls, config) -> "ConformanceState":
        report_dir = Path(config.getoption("report_dir"))
        if _is_worker(config):
            run_id = config.workerinput["conformance_run_id"]
            worker = config.workerinput["workerid"]
            results_path = report_dir / f"results-{worker}.jsonl"
        else:
            run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
            worker = "main"
            results_path = report_dir / "results.jsonl"
        return cls(run_id=run_id, worker=worker, report_dir=report_dir, results_path=results_path,
                   conformance_run=_is_conformance_run(config))

    def writer_for(self, config):
        """The record writer, opened (and the run header written) on first use.

        The header asks no implementation anything: versions and settings come per implementation
        when its first test starts (describe_implementation), so a process starts only the framework
        workers its own tests use.
        """
        from .records import RecordWriter

        if self.writer is None:
            self.writer = RecordWriter(self.results_path)
            from hypothesis import settings as hypothesis_settings

            try:
                self.header.derandomize = bool(hypothesis_settings.get_profile(self.header.hypothesis_profile).derandomize)
            except Exception:  # an unregistered profile fails in the tests themselves, with Hypothesis' message
                pass
            self.header.implementations = sorted(
                {t.implementation for t in self.targets if not self.selected_specs or t.spec in self.selected_specs})
            self.writer.write(self.header)
            self.harness.writer = self.writer
            self.started = time.monotonic()
        return self.writer

    def describe_implementation(self, config, spec: str) -> None:
        """Write the ImplementationRecord of `spec` once in this process: its versions and its settings
        on each of the run's devices it runs on (this starts its worker, which its test needs anyway)."""
        from .records import ImplementationRecord

        if spec in self.described:
            return
        self.described.add(spec)
        impl = self.harness.implementation(spec)
        record = ImplementationRecord(run_id=self.run_id, worker=self.worker, implementation=impl.name, spec=spec)
        try:
            record.versions = dict(impl.versions() or {})
            for device in _devices(config):
                if may_run_on(spec, device):
                    record.settings[f"{impl.name} ({device})"] = impl.settings(device) or {}
        except Exception as err:  # a broken versions() must not stop the run
            record.settings[f"{impl.name}"] = {"error": f"{type(err).__name__}: {err}"}
        record.gaps = self._declared_gaps(impl.name, spec)
        self.writer_for(config).write(record)

    def _declared_gaps(self, name: str, spec: str) -> list[dict[str, str]]:
        """The implementation's declared gaps (conformance.capabilities), for the report's capability table."""
        from .harness import Target

        return [gap.summary() for gap in self.harness.capabilities(Target("conv2d", name, "cpu", spec)).all_gaps()]


def may_run_on(spec: str, device: str) -> bool:
    """False for an implementation that declares `devices` without this one (the CUDA-only switches
    on a CPU run): its tests skip at once, and its worker is never started."""
    from .isolation import declared_attribute

    devices = declared_attribute(spec, "devices")
    return not (isinstance(devices, (tuple, list)) and devices and device not in devices)


def _devices(config) -> list[str]:
    device = config.getoption("device")
    return ["cpu", "cuda"] if device == "all" else [device]


def _targets(config, state):
    from .harness import Target
    from .registry import BUILTIN, ImplementationLoadError
    from .vocabulary import OP_NAMES

    specs = list(BUILTIN)
    names = {spec: spec for spec in specs}
    invocation_dir = str(config.invocation_params.dir)
    if config.getoption("impl") and invocation_dir not in sys.path:
        # `pytest --impl mykernels.conv:MyConv` from the user's repo finds mykernels there, as
        # `python -m pytest` would; the worker processes inherit this path.
        sys.path.append(invocation_dir)
    for spec in config.getoption("impl"):
        try:
            impl = state.harness.implementation(spec)
            if hasattr(impl, "call"):
                impl.call("versions")  # start the worker: load errors surface now
        except ImplementationLoadError as err:
            raise pytest.UsageError(str(err)) from None
        except Exception as err:
            raise pytest.UsageError(f"--impl {spec!r} could not be loaded: {type(err).__name__}: {err}") from None
        if impl.name in names.values():
            raise pytest.UsageError(f"--impl {spec!r} is named {impl.name!r}, which is taken; give it another name")
        specs.append(spec)
        names[spec] = impl.name
    devices = _devices(config)
    if "cuda" in devices and not _is_worker(config):
        _require_some_gpu(state, specs, names)
    return [Target(op, names[spec], device, spec) for spec in specs for device in devices for op in OP_NAMES]


def _require_some_gpu(state, specs, names):
    """--device cuda: stop with a usage error when no implementation can use a GPU, saying why for each."""
    from .config import ConvConfig

    probe = ConvConfig(ndim=1, in_size=(1,), kernel=(1,))
    reasons = {}
    for spec in specs:
        try:
            reasons[names[spec]] = state.harness.implementation(spec).supports(probe, "cuda")
        except Exception as err:
            reasons[names[spec]] = f"{type(err).__name__}: {err}"
    if all(reason is not None for reason in reasons.values()):
        lines = "\n".join(f"  {name}: {reason}" for name, reason in reasons.items())
        raise pytest.UsageError(f"--device cuda: no implementation can use a GPU on this machine:\n{lines}\n"
                                f"Run on a machine with a CUDA GPU and CUDA builds of the frameworks "
                                f"(see docs/RUNNING.md, 'GPU runs'), or use --device cpu.")


def pytest_generate_tests(metafunc):
    if "target" not in metafunc.fixturenames:
        return
    state = metafunc.config._conformance
    if not state.conformance_run:  # the suite collected through a path the command line did not name
        state.conformance_run = True
        _start_conformance_run(metafunc.config, state)
    metafunc.parametrize("target", state.targets, ids=[t.id for t in state.targets])


def pytest_terminal_summary(terminalreporter):
    """After the report's path and verdict: the known divergences, then one line per failing finding."""
    config = terminalreporter.config
    state = getattr(config, "_conformance", None)
    if state is None or state.harness is None or _is_worker(config):
        return
    _summarize_known_divergences(terminalreporter, state)
    _summarize_findings(terminalreporter, state)


def _summarize_known_divergences(terminalreporter, state) -> None:
    known = state.harness.known
    if known is None or state.writer is None:
        return
    rows = known.status_record(state.run_id)["entries"]
    stale = [r for r in rows if r["state"] == "fixed upstream?"]
    reproduced = [r for r in rows if r["state"] == "reproduced"]
    if reproduced:
        terminalreporter.write_line("known divergences reproduced: " + ", ".join(
            f"{r['id']} x{r['reproduced']}" for r in reproduced))
    for row in stale:
        terminalreporter.write_line(f"known divergence {row['id']} matched {row['matched']} examples but did not "
                                    f"reproduce: fixed upstream? ({row['summary']})", yellow=True)
    if not terminalreporter.config.option.keyword:
        devices = set(_devices(terminalreporter.config))
        by_id = {entry.id: entry for entry in known.entries}
        unmatched = [r["id"] for r in rows if r["state"] == "matched nothing collected"
                     and _device_condition(by_id[r["id"]]) & devices]
        if unmatched and state.harness._implementations:
            terminalreporter.write_line("known divergences that matched nothing in this run: " + ", ".join(unmatched))


_FINDING_LINES_SHOWN = 50  # the one-line-per-finding summary stops here, with "... and N more"


def _summarize_findings(terminalreporter, state) -> None:
    """One line per failing finding of this run (the report's cards), read from every process's
    results file: under xdist the workers wrote them and this controller prints them."""
    if terminalreporter.config.getoption("collectonly"):
        return
    try:
        lines = _finding_lines(state.report_dir, state.run_id)
    except Exception as err:  # the summary must never break the terminal summary
        terminalreporter.write_line(f"WARNING: conformance findings summary: {type(err).__name__}: {err}", yellow=True)
        return
    if not lines:
        return
    terminalreporter.write_sep("-", "conformance findings (one line each)")
    for line in lines[:_FINDING_LINES_SHOWN]:
        terminalreporter.write_line(line)
    if len(lines) > _FINDING_LINES_SHOWN:
        terminalreporter.write_line(f"... and {len(lines) - _FINDING_LINES_SHOWN} more (see the report)")


def _finding_lines(report_dir: Path, run_id: str) -> list[str]:
    """"test_forward[conv1d-mine-cpu] forward: value mismatch, error 9.6 x bound | repro: python -m ...",
    one per failing finding of run `run_id` in report_dir's results files, worst first."""
    from .records import CheckRecord, read_records
    from .report.findings import build_findings
    from .vocabulary import FAILING_STATUSES

    if not report_dir.is_dir():
        return []
    checks = [r for r in read_records(report_dir) if isinstance(r, CheckRecord) and r.run_id == run_id]
    return [_finding_line(card) for card in build_findings(checks, scripts=False) if card["status"] in FAILING_STATUSES]


def _finding_line(card: dict) -> str:
    others = card["n_tests"] - 1
    where = card["test_id"] + (f" (+{others} other test{'s' if others > 1 else ''})" if others else "")
    how = f"{card['check']}: {card['how']}"
    error = (card["stats"] or {}).get("max_error_in_bounds")  # of the example the repro command replays
    if card["kind"] == "value" and error is not None:
        how += f", error {error:.3g} x bound" if isinstance(error, (int, float)) else f", error {error} x bound"
    return f"{where} {how} | repro: {card['repro'] or '(none recorded)'}"


def _device_condition(entry) -> set[str]:
    device = entry.when.get("device", ["cpu", "cuda"])
    return {device} if isinstance(device, str) else set(device)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(session, config, items):
    """After -k, -m and --shard deselected theirs: remember which implementations the selected tests
    use, and put each implementation's tests together (each kept in its order), the implementations
    that compile each new shape (they declare `max_ci_examples`) first, then in registry order.

    Grouped, a process runs one implementation's tests one after another: xdist hands each worker a
    contiguous block of the collection (and steals from a block's end), so each process starts the
    framework workers of about its own share of implementations instead of all of them, and keeps
    one framework's in-process caches warm. Expensive first, the run ends on the cheap tests that
    work stealing spreads over the workers, instead of one worker finishing torch.compile's long
    tests alone (in a cold ci run torch.compile is half the test time).
    """
    result = yield
    state = getattr(config, "_conformance", None)
    if state is None or state.harness is None:  # not a conformance run: nothing to import or order
        return result
    order = {}
    for target in state.targets:
        order.setdefault(target.spec, len(order))
    specs = []
    for item in items:
        target = getattr(item, "callspec", None) and item.callspec.params.get("target")
        specs.append(target.spec if target is not None else None)
        if target is not None:
            state.selected_specs.add(target.spec)
    from .isolation import declared_attribute

    cheap = {spec: not declared_attribute(spec, "max_ci_examples") for spec in order}
    ranked = sorted(range(len(items)), key=lambda i: (cheap.get(specs[i], False), order.get(specs[i], -1)))
    items[:] = [items[i] for i in ranked]
    return result


@pytest.fixture
def conformance(request):
    """The run's state: harness, dtypes, writer (opened on first use)."""
    state = request.config._conformance
    state.writer_for(request.config)
    return state


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Close the harness and write run_end before the report plugin renders (it runs trylast).

    run_end carries pytest's exit status and its count of failed reports, so the report's verdict
    counts the failures no check explains (a collection error, a missing data file) as errors."""
    state = getattr(session.config, "_conformance", None)
    if state is None or state.harness is None:
        return
    from .records import KnownDivergencesRecord, KnownDivergenceState, RunEndRecord

    state.harness.close()
    if state.writer is None:
        return
    known = state.harness.known
    if known is not None and known.entries:
        rows = known.status_record(state.run_id)["entries"]
        fields = set(KnownDivergenceState.__dataclass_fields__)
        state.writer.write(KnownDivergencesRecord(
            run_id=state.run_id, entries=[KnownDivergenceState(**{k: v for k, v in row.items() if k in fields})
                                          for row in rows]))
    state.writer.write(RunEndRecord(
        run_id=state.run_id, worker=state.worker, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        duration_s=round(time.monotonic() - state.started, 3), exitstatus=int(exitstatus),
        interrupted=int(exitstatus) == 2, tests_failed=int(session.testsfailed)))
    state.writer.close()
