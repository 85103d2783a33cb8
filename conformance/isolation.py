"""Run an implementation in its own process, so that a crash or a hang becomes a finding.

Why a persistent worker per implementation: frameworks abort the process on some configs (XLA:CPU
"Check failed" aborts, segfaults in native kernels), and a run must survive them. A worker per
implementation keeps the common path fast (one import, warm caches, ~0.1 ms of pickling per call
for the small tensors the strategies draw) and costs one restart per crash. The worker is started in
its own session, so a Ctrl-C aimed at pytest is not mistaken for a crash of the implementation.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from .worker import DECLARATION_RAISED, read_frame, write_frame

__all__ = ["IsolatedImplementation", "declared_attribute", "worker_environment", "ImplementationCrashed",
           "ImplementationTimeout", "ImplementationRaised", "DECLARATION_RAISED",
           "describe_exit"]


class ImplementationCrashed(RuntimeError):
    def __init__(self, message: str, returncode: int | None, stderr_tail: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class ImplementationTimeout(RuntimeError):
    pass


class ImplementationRaised(RuntimeError):
    """The implementation raised an ordinary exception inside the worker."""

    def __init__(self, type_name: str, message: str, traceback_text: str, origin: str = "library") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text
        self.origin = origin  # conformance.origin.refusal_origin, computed in the worker


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name} ({-returncode})"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


_live: set["IsolatedImplementation"] = set()


def stop_workers(workers) -> None:
    """Stop several workers at once: each is told to exit (its input closed) before any is waited
    for, and all share one 2 s grace period, after which the ones still running are killed. One at
    a time, a run's end waited up to 2 s per framework (TensorFlow's exit takes seconds)."""
    workers = list(workers)
    for worker in workers:
        worker._ask_to_exit()
    deadline = time.monotonic() + 2
    for worker in workers:
        worker._reap(max(0.0, deadline - time.monotonic()))


@atexit.register
def _stop_all() -> None:
    stop_workers(_live)


def declared_attribute(spec: str, name: str, default: Any = None) -> Any:
    """A class-level declaration of an implementation (`environment`, `max_ci_examples`), read without
    starting it: importing an adapter module imports no framework, so this is cheap in the parent.

    `spec` is a built-in name or "module:NAME"; a spec that does not load gives `default` (the
    worker reports the load failure itself, with its own message).
    """
    import importlib

    from .registry import BUILTIN, registered_plugin

    plugin = registered_plugin(spec)
    if plugin is not None:
        return getattr(plugin, name, default)
    module_name, _, attribute = BUILTIN.get(spec, spec).partition(":")
    try:
        found = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except Exception:
        return default
    return getattr(found, name, default)


# A framework's OpenMP threads wait for the next parallel region by spinning (libgomp, bundled with
# torch, spins by default): between two calls a worker's idle threads would take the cores from the
# harness process waiting on it, and from the other xdist workers. PASSIVE makes them sleep; it
# changes no result, only how idle threads wait. A value set in the environment wins.
IDLE_THREADS_SLEEP = {"OMP_WAIT_POLICY": "PASSIVE"}


def worker_environment(spec: str) -> dict[str, str]:
    """The `environment` an implementation declares for its worker (e.g. {"KERAS_BACKEND": "jax"})."""
    environment = declared_attribute(spec, "environment", {})
    return {str(k): str(v) for k, v in environment.items()} if isinstance(environment, dict) else {}


class IsolatedImplementation:
    """Proxy with the Implementation interface; each call runs in the worker process.

    Raises ImplementationCrashed when the worker dies during a call, ImplementationTimeout when a call
    outlasts `timeout` seconds (the worker is killed and restarted on the next call), and
    ImplementationRaised when the implementation raised an exception.
    """

    def __init__(self, spec: str, *, precision: str = "default", timeout: float = 120.0) -> None:
        self.spec = spec
        self.precision = precision
        self.timeout = timeout
        self.name = spec
        self.is_reference = False
        self.devices: tuple[str, ...] = ("cpu",)
        self._process: subprocess.Popen | None = None
        self._stderr = None
        self.restarts = 0
        # Seconds spent starting workers (importing the framework), first start and restarts: the
        # harness leaves them out of an example's call time and reports them apart.
        self.start_seconds = 0.0

    # ---- process management -----------------------------------------------------------------

    def _start(self) -> None:
        began = time.monotonic()
        try:
            self._launch()
        finally:
            self.start_seconds += time.monotonic() - began

    def _launch(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        for name, value in IDLE_THREADS_SLEEP.items():
            env.setdefault(name, value)
        env.update(worker_environment(self.spec))
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "conformance.worker", self.spec, self.precision],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
            start_new_session=True,
        )
        _live.add(self)
        status, value = self._receive(self.timeout + 60, starting=True)
        info = value
        self.name = info["name"]
        self.is_reference = info["is_reference"]
        self.devices = info["devices"]

    def stop(self) -> None:
        stop_workers([self])

    def _ask_to_exit(self) -> None:
        """Close the worker's input: its loop reads end of file and exits."""
        if self._process is not None:
            try:
                self._process.stdin.close()
            except OSError:
                pass

    def _reap(self, grace_s: float) -> None:
        """Wait up to `grace_s` for the worker to exit, then kill it."""
        process = self._process
        self._process = None
        _live.discard(self)
        if process is None:
            return
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _stderr_tail(self, limit: int = 16000) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def _dead(self, what: str) -> ImplementationCrashed:
        process = self._process
        returncode = process.wait() if process else None
        tail = self._stderr_tail()
        self._process = None
        _live.discard(self)
        self.restarts += 1
        return ImplementationCrashed(f"{self.spec} worker {describe_exit(returncode)} during {what}", returncode, tail)

    def _receive(self, timeout: float, starting: bool = False, what: str = "startup"):
        process = self._process
        assert process is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            process.kill()
            process.wait()
            self._process = None
            _live.discard(self)
            self.restarts += 1
            raise ImplementationTimeout(f"{self.spec}: {what} did not return within {timeout:g} s (worker killed)")
        reply = read_frame(process.stdout)
        if reply is None:
            raise self._dead(what)
        if reply[0] == "raise":
            _, type_name, message, tb, *origin = reply
            if starting:
                self.stop()
                from .registry import ImplementationLoadError

                raise ImplementationLoadError(message if type_name == "ImplementationLoadError"
                                              else f"{self.spec}: {type_name}: {message}")
            raise ImplementationRaised(type_name, message, tb, *origin)
        return reply

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._process is None or self._process.poll() is not None:
            self._start()
        what = f"{method}()"
        try:
            write_frame(self._process.stdin, (method, args, kwargs))
        except (BrokenPipeError, OSError):
            raise self._dead(what) from None
        started = time.monotonic()
        _, value = self._receive(self.timeout, what=what)
        self.last_call_seconds = time.monotonic() - started
        return value

    # ---- the Implementation interface -------------------------------------------------------

    def capability(self, kind, config, device="cpu"):
        """conformance.checks.capability_reason, asked of the implementation in the worker."""
        return self.call("harness:capability", kind.name, config, device)

    def evaluate(self, kind, config, inputs, device="cpu", arithmetic=True, gaps=True):
        """conformance.worker._evaluate: capability, arithmetic and the call in one round trip
        (gaps=False: past the declared gaps, for a gap's witness call)."""
        return self.call("harness:evaluate", kind.name, config, inputs, device, arithmetic, gaps)

    def capabilities(self):
        """conformance.capabilities.capabilities_of, asked of the implementation in the worker."""
        return self.call("harness:capabilities")

    def missing_method(self, kind):
        return self.call("harness:missing_method", kind.name)

    def declared_dtypes(self, device, kind):
        return self.call("harness:dtypes", device, kind.name)

    def supports(self, config, device="cpu"):
        return self.call("supports", config, device)

    def forward(self, config, x, w, b=None, device="cpu"):
        return self.call("forward", config, x, w, b, device)

    def vjp(self, config, x, w, b, grad_out, device="cpu"):
        return self.call("vjp", config, x, w, b, grad_out, device)

    def arithmetic(self, config, device="cpu"):
        return self.call("arithmetic", config, device)

    def versions(self):
        return self.call("versions")

    def settings(self, device="cpu"):
        return self.call("settings", device)

    def __getattr__(self, method: str):
        # The methods of check kinds declared later (conformance.checks) go to the worker as they are.
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self.call(method, *args, **kwargs)
