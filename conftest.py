"""pytest wiring: options, Hypothesis profiles, the conformance targets and the report plugin.

Options (all under "conformance" in `pytest --help`):
  --device cpu|cuda|all   --impl package.module:NAME (repeatable)   --report-dir DIR
  --precision default|highest   --isolation process|none   --call-timeout SECONDS   --dtypes LIST
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conformance.profiles import register_profiles

register_profiles()
if os.environ.get("HYPOTHESIS_PROFILE"):
    from hypothesis import settings as _settings

    _settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
else:
    from hypothesis import settings as _settings

    _settings.load_profile("dev")

ROOT = Path(__file__).resolve().parent
SUITE = ROOT / "conformance" / "suite"


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "conformance harness")
    group.addoption("--device", default="cpu", choices=("cpu", "cuda", "all"),
                    help="device(s) to check implementations on (default: cpu)")
    group.addoption("--impl", action="append", default=[], metavar="package.module:NAME",
                    help="add an implementation: an Implementation instance or zero-argument factory (repeatable)")
    group.addoption("--report-dir", default="reports", metavar="DIR",
                    help="where results.jsonl and conformance.html go (default: reports)")
    group.addoption("--precision", default="default", choices=("default", "highest"),
                    help="'highest' turns reduced-precision paths (TF32) off in the framework adapters")
    group.addoption("--isolation", default="process", choices=("process", "none"),
                    help="run framework and --impl implementations in a worker process that may crash "
                         "(default), or in-process ('none': faster to debug, a crash ends the run)")
    group.addoption("--call-timeout", default=60.0, type=float, metavar="SECONDS",
                    help="a call that takes longer is recorded as a timeout (default: 60)")
    group.addoption("--dtypes", default="float64,float32,float16,bfloat16", metavar="LIST",
                    help="comma-separated dtypes to draw (default: all four)")
    group.addoption("--no-conformance-report", action="store_true", help="do not write conformance.html")
    group.addoption("--known-divergences", default=None, metavar="TOML",
                    help="known divergences file (default: conformance/known_divergences.toml); "
                         "'none' reports every divergence as a failure")


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _is_conformance_run(config) -> bool:
    """True when the run collects the conformance suite (its results replace the last run's)."""
    for arg in config.args:
        path = Path(str(arg).split("::")[0])
        path = path if path.is_absolute() else Path(config.invocation_params.dir) / path
        try:
            path = path.resolve()
        except OSError:
            continue
        if path == SUITE or SUITE in path.parents or path in SUITE.parents:
            return True
    return False


def pytest_configure(config):
    from conformance.config import DTYPES
    from conformance.harness import Harness, run_header
    from conformance.records import RecordWriter

    config.addinivalue_line("markers", "conformance: a differential conformance test")
    _handle_sigterm_as_interrupt(config)
    dtypes = tuple(d.strip() for d in config.getoption("dtypes").split(",") if d.strip())
    bad = [d for d in dtypes if d not in DTYPES]
    if bad or not dtypes:
        raise pytest.UsageError(f"--dtypes {config.getoption('dtypes')!r}: unknown {bad or 'empty list'}; "
                                f"choose from {', '.join(DTYPES)}")
    if config.getoption("call_timeout") <= 0:
        raise pytest.UsageError(f"--call-timeout {config.getoption('call_timeout')} must be positive")
    report_dir = Path(config.getoption("report_dir"))
    # --collect-only runs nothing: it must neither delete the last results nor write a report.
    conformance_run = _is_conformance_run(config) and not config.getoption("collectonly")
    if _is_worker(config):
        run_id = config.workerinput["conformance_run_id"]
        worker = config.workerinput["workerid"]
        results_path = report_dir / f"results-{worker}.jsonl"
    else:
        run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        worker = "main"
        results_path = report_dir / "results.jsonl"
        if conformance_run:
            report_dir.mkdir(parents=True, exist_ok=True)
            for stale in list(report_dir.glob("results*.jsonl")) + [report_dir / "conformance.html"]:
                stale.unlink(missing_ok=True)
    config._conformance = state = _ConformanceState(
        run_id=run_id, worker=worker, results_path=results_path, dtypes=dtypes, conformance_run=conformance_run)
    state.harness = Harness(writer=None, run_id=run_id, isolation=config.getoption("isolation"),
                            precision=config.getoption("precision"),
                            call_timeout=config.getoption("call_timeout"))
    state.harness.known = _load_known(config)
    state.header = run_header(
        run_id, worker, argv=" ".join(sys.argv), devices=_devices(config),
        precision_mode=config.getoption("precision"), hypothesis_profile=_hypothesis_profile(config),
        seed=config.getoption("hypothesis_seed", None), isolation=config.getoption("isolation"),
        dtypes=list(dtypes))
    if conformance_run:
        state.targets = _targets(config, state)
        state.harness.consensus_specs = sorted({t.spec for t in state.targets})
    if (conformance_run and not _is_worker(config) and not config.getoption("no_conformance_report")):
        try:
            from conformance.report.plugin import ReportPlugin
        except ImportError:  # the report package is optional for the harness itself
            ReportPlugin = None
        if ReportPlugin is not None:
            config.pluginmanager.register(ReportPlugin(report_dir, results_path, run_id=run_id), "conformance-report")
    _ = RecordWriter  # imported here so a broken install fails at configure, not mid-run


def _load_known(config):
    from conformance.known import DEFAULT_PATH, KnownDivergenceError, load_known_divergences

    option = config.getoption("known_divergences")
    if option == "none":
        return None
    path = Path(option) if option else DEFAULT_PATH
    if option and not path.is_file():
        raise pytest.UsageError(f"--known-divergences {option}: no such file")
    try:
        known = load_known_divergences(path)
        known.precision = config.getoption("precision")
        return known
    except KnownDivergenceError as err:
        raise pytest.UsageError(f"--known-divergences: {err}") from None


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


def _hypothesis_profile(config) -> str:
    """The profile the run uses: Hypothesis' plugin loads --hypothesis-profile after this conftest's configure."""
    return config.getoption("--hypothesis-profile", None) or _settings._current_profile


def pytest_configure_node(node):
    """xdist controller: hand the run id to each worker so their records form one run."""
    node.workerinput["conformance_run_id"] = node.config._conformance.run_id


class _ConformanceState:
    def __init__(self, **fields):
        self.__dict__.update(fields)
        self.targets = []
        self.writer = None
        self.selected_specs = set()

    def writer_for(self, config):
        from conformance.records import RecordWriter

        if self.writer is None:
            self.writer = RecordWriter(self.results_path)
            versions = {}
            settings = {}
            for spec in sorted(self.selected_specs or {t.spec for t in self.targets}):
                impl = self.harness.implementation(spec)
                try:
                    versions.update(impl.versions() or {})
                    for device in _devices(config):
                        settings[f"{impl.name} ({device})"] = impl.settings(device) or {}
                except Exception as err:  # a broken versions() must not stop the run
                    settings[spec] = {"error": f"{type(err).__name__}: {err}"}
            self.header["versions"].update(versions)
            self.header["settings"] = settings
            self.header["implementations"] = sorted(
                {t.implementation for t in self.targets if not self.selected_specs or t.spec in self.selected_specs})
            self.writer.write(self.header)
            self.harness.writer = self.writer
            self.started = time.monotonic()
        return self.writer


def _devices(config) -> list[str]:
    device = config.getoption("device")
    return ["cpu", "cuda"] if device == "all" else [device]


def _targets(config, state):
    from conformance.harness import Target
    from conformance.registry import BUILTIN, ImplementationLoadError
    from conformance.strategies import OP_FAMILIES

    specs = list(BUILTIN)
    names = dict((spec, spec) for spec in specs)
    for spec in config.getoption("impl"):
        try:
            impl = state.harness.implementation(spec)
            impl.name if not hasattr(impl, "call") else impl.call("versions")  # start the worker: load errors surface now
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
    return [Target(op, names[spec], device, spec) for spec in specs for device in devices for op in OP_FAMILIES]


def _require_some_gpu(state, specs, names):
    """--device cuda: stop with a usage error when no implementation can use a GPU, saying why for each."""
    from conformance.config import ConvConfig

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
                                f"(see README, 'GPU runs'), or use --device cpu.")


def pytest_generate_tests(metafunc):
    if "target" not in metafunc.fixturenames:
        return
    state = metafunc.config._conformance
    if not state.conformance_run:
        state.targets = _targets(metafunc.config, state)
        state.conformance_run = True
    metafunc.parametrize("target", state.targets, ids=[t.id for t in state.targets])


def pytest_terminal_summary(terminalreporter):
    state = getattr(terminalreporter.config, "_conformance", None)
    known = state.harness.known if state is not None else None
    if known is None or state.writer is None or _is_worker(terminalreporter.config):
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
    if not getattr(terminalreporter.config, "workerinput", None) and not terminalreporter.config.option.keyword:
        devices = set(_devices(terminalreporter.config))
        by_id = {entry.id: entry for entry in known.entries}
        unmatched = [r["id"] for r in rows if r["state"] == "matched nothing collected"
                     and _device_condition(by_id[r["id"]]) & devices]
        if unmatched and state.harness._implementations:
            terminalreporter.write_line("known divergences that matched nothing in this run: " + ", ".join(unmatched))


def _device_condition(entry) -> set[str]:
    device = entry.when.get("device", ["cpu", "cuda"])
    return {device} if isinstance(device, str) else set(device)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Remember which implementations the selected tests use: only those are asked for versions."""
    state = getattr(config, "_conformance", None)
    if state is None:
        return
    for item in items:
        target = getattr(item, "callspec", None) and item.callspec.params.get("target")
        if target is not None:
            state.selected_specs.add(target.spec)


@pytest.fixture
def conformance(request):
    """The run's state: harness, dtypes, writer (opened on first use)."""
    state = request.config._conformance
    state.writer_for(request.config)
    return state


def pytest_sessionfinish(session, exitstatus):
    state = getattr(session.config, "_conformance", None)
    if state is None:
        return
    state.harness.close()
    if state.writer is not None and state.harness.known is not None and state.harness.known.entries:
        state.writer.write(state.harness.known.status_record(state.run_id))
    if state.writer is not None:
        state.writer.write({
            "type": "run_end", "run_id": state.run_id, "worker": state.worker,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "duration_s": round(time.monotonic() - state.started, 3),
            "exitstatus": int(exitstatus), "interrupted": int(exitstatus) == 2,
        })
        state.writer.close()


_ = shutil
