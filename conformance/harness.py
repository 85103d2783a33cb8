"""One example through one implementation: call it, compare with the oracle, record, explain.

The suite's tests (conformance/suite) are thin: they draw a ConvCase with Hypothesis and hand it to
`Harness.check`, which returns an `Outcome`; a failing outcome raises `ConformanceFailure` so that
Hypothesis shrinks it to a minimal config.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import shlex
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import numpy as np

from .capabilities import Capabilities, Gap, capabilities_of
from .ceilings import within_ceiling
from .checks import CheckKind, check_kind
from .compare import Verdict, compare
from .coverage import features_of
from .definitions import DEFINED, Definition, NotComputable
from .isolation import (
    DECLARATION_RAISED,
    ImplementationCrashed,
    ImplementationRaised,
    ImplementationTimeout,
    IsolatedImplementation,
    declared_attribute,
    describe_exit,
    stop_workers,
)
from .machine import cpu_flags, cpu_model
from .oracle import OracleCache, OracleResult, compute_oracle, oracle_name_for
from .origin import describe_origin, refusal_origin
from .records import PASS_RECORD_CAP, CheckRecord, RecordWriter, RunRecord, SummaryRecord
from .registry import (
    BUILTIN,
    REFERENCES,
    ImplementationLoadError,
    capability_reason,
    declared_dtypes,
    get_implementation,
    missing_method_reason,
)
from .strategies import ConvCase
from .vocabulary import CRASH, ERROR, FAILING_STATUSES, KNOWN, NOT_INSTALLED, PASS, TIMEOUT, UNSUPPORTED

__all__ = ["Target", "Outcome", "Harness", "ConformanceFailure", "failure_type", "repro_command", "run_header",
           "PHASES"]

# Where an example comes from (CheckRecord.phase): drawn, replayed while shrinking, the shrunk one
# Hypothesis reports, a named explicit example (conformance.model_shapes), an entry of the upstream
# regression corpus (conformance.regressions: recorded, never failing the test), or another
# implementation replayed on a failing example.
PHASES = ("generate", "shrink", "final", "explicit", "regression", "consensus")

# Presuming a known crash (Harness._presumed_known_crash). A crash entry's calls are all made until
# it has crashed KNOWN_CRASH_REPLAYS times in a test, and for as long as fewer than
# PRESUME_CRASH_SHARE of the calls made in its region crashed: a region that mostly runs (jax's
# strided gradients, 1 call in 80 aborting) is tested call by call. Once presumed, every
# PRESUMED_SAMPLE_EVERY-th call it covers is still made, so a config in the region that does not
# crash is tested (and wrong values there are a finding), at the cost of a worker restart when it does.
KNOWN_CRASH_REPLAYS = 1
PRESUME_CRASH_SHARE = 0.5
PRESUMED_SAMPLE_EVERY = 4


class ConformanceFailure(AssertionError):
    """An implementation disagreed with the oracle (or crashed, hung, raised) on an example."""


@lru_cache(maxsize=None)
def failure_type(check: str, status: str, kind: str | None) -> type[ConformanceFailure]:
    """The exception class of one failure identity (check, status, kind).

    Hypothesis tells distinct bugs apart by exception type and origin: one class per identity lets
    one test report several distinct failures (report_multiple_bugs) instead of stopping at the first.
    """
    label = f"{check}: {status}" + (f" ({kind})" if kind else "")
    return type(f"ConformanceFailure[{label}]", (ConformanceFailure,), {"__module__": __name__})


@dataclass(frozen=True)
class Target:
    """What one test checks: an op family, an implementation name and a device."""

    op: str
    implementation: str
    device: str
    spec: str  # the built-in name or the --impl spec that loads it

    @property
    def id(self) -> str:
        return f"{self.op}-{self.implementation}-{self.device}"


@dataclass
class Outcome:
    statuses: dict[str, str]            # check -> status
    records: list[CheckRecord]
    message: str = ""

    @property
    def failed(self) -> bool:
        return any(s in FAILING_STATUSES for s in self.statuses.values())

    @property
    def ran(self) -> bool:
        """Some check ran (not everything unsupported)."""
        return any(s != UNSUPPORTED for s in self.statuses.values())

    @property
    def identity(self) -> tuple[str, str, str | None] | None:
        """(check, status, kind) of the first failing record: what makes this failure distinct."""
        for record in self.records:
            if record.status in FAILING_STATUSES:
                return (record.check, record.status, record.kind)
        return None

    def raise_if_failed(self) -> None:
        if self.failed:
            raise failure_type(*self.identity)(self.message)


def repro_command(spec: str, device: str, kind: str, case: ConvCase) -> str:
    config_json = json.dumps(case.config.to_dict(), sort_keys=True, separators=(",", ":"))
    command = (
        f"python -m conformance repro {shlex.quote(spec)} --device {device} --check {kind} "
        f"--seed {case.data_seed} --values {case.value_profile} --config {shlex.quote(config_json)}"
    )
    if getattr(case, "rule", None):  # an invalid call: the rule it breaks and its weight's shape
        command += f" --rule {shlex.quote(case.rule)} --weight-shape {shlex.quote(json.dumps(list(case.weight_shape)))}"
    return command


class _DeclarationRaised(Exception):
    """An implementation's capability or arithmetic declaration raised `err` (not its call)."""

    def __init__(self, err: BaseException) -> None:
        super().__init__(str(err))
        self.err = err


class _CallClock:
    """The seconds of an implementation's round trip for one example, less the time spent starting
    its worker (importing the framework), which goes to the test's tally as start_seconds."""

    def __init__(self, impl, tally: "_TestTally | None") -> None:
        self._impl, self._tally = impl, tally
        self._starts = getattr(impl, "start_seconds", 0.0)
        self._began = time.perf_counter()

    def stop(self) -> float:
        elapsed = time.perf_counter() - self._began
        starting = getattr(self._impl, "start_seconds", 0.0) - self._starts
        if self._tally is not None:
            self._tally.start_seconds += starting
        return max(0.0, elapsed - starting)


@dataclass
class _TestTally:
    kind: str = ""
    examples: int = 0
    examples_run: int = 0
    shrink_replays: int = 0
    call_seconds: float = 0.0
    start_seconds: float = 0.0
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    unsupported_reasons: Counter = field(default_factory=Counter)
    coverage: Counter = field(default_factory=Counter)
    written: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    skipped: str | None = None


def _not_installed_reason(name: str, err: Exception) -> str | None:
    """The reason for a framework that is not installed, or None when `err` is something else."""
    missing = (isinstance(err, ImplementationRaised) and err.type_name in ("ModuleNotFoundError", "ImportError")) \
        or isinstance(err, ImportError)
    if not missing:
        return None
    return f"{name}: not installed here ({getattr(err, 'message', err)})"


def _is_framework_refusal(err: Exception) -> bool:
    """Whether `err` is a library refusing a call (conformance.capabilities.FrameworkRefusal)."""
    return (isinstance(err, ImplementationRaised) and err.type_name == "FrameworkRefusal") \
        or type(err).__name__ == "FrameworkRefusal"


def _not_implemented_reason(name: str, kind: CheckKind, err: Exception) -> str | None:
    raised = (isinstance(err, ImplementationRaised) and err.type_name in ("NotImplementedError", "FrameworkRefusal")) \
        or isinstance(err, NotImplementedError)
    if not raised:
        return None
    text = getattr(err, "message", None) or str(err)
    return f"{name}: {kind.method}() raised NotImplementedError{f' ({text})' if text else ''}"


class Harness:
    """Holds the run's options, implementations (isolated where asked), the record writer and tallies."""

    def __init__(self, *, writer: RecordWriter | None, run_id: str, isolation: str = "process",
                 precision: str = "default", call_timeout: float = 60.0, known=None) -> None:
        self.writer = writer
        self.run_id = run_id
        self.isolation = isolation
        self.precision = precision
        self.call_timeout = call_timeout
        self.known = known
        self._implementations: dict[str, Any] = {}
        self._tallies: dict[str, _TestTally] = {}
        self._hung_tests: set[str] = set()
        self._known_crashes: Counter = Counter()  # (test_id, known id) -> crashes/hangs it reproduced
        self._crash_region_calls: Counter = Counter()  # (test_id, known id) -> calls made in its region
        self._presumed: Counter = Counter()  # (test_id, known id) -> calls presumed to crash
        self._oracles = OracleCache()
        self._capabilities: dict[str, Capabilities] = {}
        self.consensus_specs: list[str] = []

    # ---- implementations --------------------------------------------------------------------

    def implementation(self, spec: str):
        """The implementation for a built-in name or an --impl spec; frameworks and plugins in a worker."""
        if spec not in self._implementations:
            if spec in REFERENCES or self.isolation == "none":
                from .registry import load_implementation_spec

                impl = get_implementation(spec) if ":" not in spec else load_implementation_spec(spec)
                if self.precision != "default" and hasattr(impl, "precision"):
                    impl.precision = self.precision
            else:
                impl = IsolatedImplementation(spec, precision=self.precision, timeout=self.call_timeout)
            self._implementations[spec] = impl
        return self._implementations[spec]

    def _consensus_spec(self, spec: str) -> str:
        """The key to run `spec` under for a consensus. With --isolation none the implementations
        under test run in this process, but another framework replayed for the consensus runs in a
        worker all the same: its crash (TensorFlow aborts on some invalid calls) must not end the run."""
        if self.isolation != "none" or spec in REFERENCES or ":" in spec:
            return spec
        key = f"{spec}#consensus"
        if key not in self._implementations:
            self._implementations[key] = IsolatedImplementation(spec, precision=self.precision, timeout=self.call_timeout)
        return key

    def close(self) -> None:
        stop_workers(impl for impl in self._implementations.values() if isinstance(impl, IsolatedImplementation))

    def missing_method(self, target: Target, kind: CheckKind) -> str | None:
        """Why the target cannot run this check kind at all (it has no such method), or None."""
        impl = self.implementation(target.spec)
        try:
            if isinstance(impl, IsolatedImplementation):
                return impl.missing_method(kind)
            return missing_method_reason(impl, kind)
        except (ImplementationRaised, ImportError) as err:
            return _not_installed_reason(target.implementation, err) or f"{target.implementation}: {err}"

    def capabilities(self, target: Target) -> Capabilities:
        """The target's declared gaps and opt-in axes, asked of the implementation itself (an --impl
        factory's instance may set them); an implementation that does not load (a framework not
        installed) gives its class-level declaration. Asked once per implementation (declarations are data)."""
        found = self._capabilities.get(target.spec)
        if found is None:
            found = self._capabilities[target.spec] = self._declared_capabilities(target)
        return found

    def _declared_capabilities(self, target: Target) -> Capabilities:
        impl = self.implementation(target.spec)
        try:
            return impl.capabilities() if isinstance(impl, IsolatedImplementation) else capabilities_of(impl)
        except (ImplementationRaised, ImportError, ImplementationCrashed, ImplementationTimeout):
            class Declared:
                name = target.implementation
                gaps = declared_attribute(target.spec, "gaps", ())
                opt_in = declared_attribute(target.spec, "opt_in", ())
                defines = declared_attribute(target.spec, "defines", ())
            return capabilities_of(Declared)

    def declared_dtypes(self, target: Target, kind: CheckKind | str) -> tuple[str, ...]:
        """The dtypes the target's implementation declares for this device and check kind."""
        kind = check_kind(kind) if isinstance(kind, str) else kind
        impl = self.implementation(target.spec)
        try:
            if isinstance(impl, IsolatedImplementation):
                return tuple(impl.declared_dtypes(target.device, kind))
            return declared_dtypes(impl, target.device, kind.name)
        except (ImplementationRaised, ImportError) as err:
            if _not_installed_reason(target.implementation, err):
                from .config import DTYPES

                return DTYPES  # every example is then "not installed": the records say so
            raise

    # ---- one example ------------------------------------------------------------------------

    def check(self, target: Target, kind: CheckKind | str, case: ConvCase, *, test_id: str,
              phase: str = "generate", example: str | None = None, witness: Gap | None = None) -> Outcome:
        """Run check kind `kind` of target on case; record and return the outcome.

        phase (see PHASES): examples of the "generate" phase are counted as examples; "shrink"
        replays are counted apart and not written; a "final" failure gets the consensus of every
        other implementation on the same example. `witness`: the declared gap this call is a
        witness of (made past the declaration; it must be refused with the gap's message).
        """
        kind = check_kind(kind) if isinstance(kind, str) else kind
        tally = self._tallies.setdefault(test_id, _TestTally(kind=kind.name))
        outcome = self._evaluate(target, kind, case, test_id, phase, witness)
        if self.known is not None and not _presumed(outcome):
            self.known.observe(target, case.config, getattr(case, "rule", None), (kind.name, *kind.results),
                               frozenset(r.known_id for r in outcome.records if r.known_id))
        tally.call_seconds += next((r.seconds for r in outcome.records if r.seconds is not None), 0.0)
        for record in outcome.records:
            record.example = example
        if phase == "shrink":
            tally.shrink_replays += 1
            return outcome
        if outcome.failed and phase in ("final", "explicit"):
            consensus = self.consensus(target, kind, case)
            for record in outcome.records:
                record.consensus = consensus.get(record.check, {})
                record.minimal = phase == "final"
            outcome.message += _consensus_line(consensus, target.implementation)
        if phase == "generate":
            tally.examples += 1
            if outcome.ran:
                tally.examples_run += 1
                if not kind.raising_passes:  # an invalid config has no coverage features
                    tally.coverage.update(features_of(case.config))
        for record in outcome.records:
            if phase == "generate":
                tally.counts[record.check][record.status] += 1
                if record.status == UNSUPPORTED:
                    tally.unsupported_reasons[record.reason or "?"] += 1
            key = (record.check, record.status)
            if record.status in (PASS, UNSUPPORTED):
                tally.written[key] += 1
                if tally.written[key] > PASS_RECORD_CAP:
                    continue
            self._write(record)
        return outcome

    def _declare_and_call(self, impl, target: Target, kind: CheckKind, config, inputs, presumed: str | None,
                          gaps: bool = True, wants_arithmetic: bool | None = None):
        """(reason, arithmetic, returned): the implementation's declarations and its call.

        reason is why the call was not made (declared unsupported, or `presumed` a known crash), and
        then returned is None. An isolated implementation answers all three in one round trip
        (conformance.worker._evaluate). A declaration that raised raises _DeclarationRaised; a call
        that raised raises its own exception.
        """
        device = target.device
        wants_arithmetic = not kind.judge if wants_arithmetic is None else wants_arithmetic
        isolated = isinstance(impl, IsolatedImplementation)
        if isolated and presumed is None:
            answer = impl.evaluate(kind, config, inputs, device, wants_arithmetic, gaps)
            if answer[0] == DECLARATION_RAISED:
                raise _DeclarationRaised(ImplementationRaised(*answer[1:]))
            if answer[0] == "declared":
                return answer[1], None, None
            return None, answer[1], answer[2]
        try:
            reason = impl.capability(kind, config, device) if isolated else \
                capability_reason(impl, kind, config, device, gaps=gaps)
            arithmetic = impl.arithmetic(config, device) if reason is None and wants_arithmetic else None
        except (ImplementationRaised, ImportError, ImplementationCrashed, ImplementationTimeout) as err:
            raise _DeclarationRaised(err) from err
        if reason is not None or presumed is not None:
            return reason if reason is not None else presumed, None, None
        return None, arithmetic, kind.call(impl, config, inputs.in_layout(config), device)

    def _evaluate(self, target: Target, kind: CheckKind, case: ConvCase, test_id: str, phase: str,
                  witness: Gap | None = None) -> Outcome:
        config, device = case.config, target.device
        results = kind.results_for(config)
        base = self._base_record(target, kind, case, test_id, phase)
        impl = self.implementation(target.spec)
        if isinstance(impl, IsolatedImplementation):
            # Once a test has seen a hang, shrinking it replays many hanging calls: give them less time.
            impl.timeout = min(self.call_timeout, 5.0) if test_id in self._hung_tests else self.call_timeout

        def unsupported(reason: str, seconds: float | None = None) -> Outcome:
            """Not run (declared), or run and refused by the implementation (seconds: that call's time)."""
            records = [CheckRecord(**base, check=r, status=UNSUPPORTED, reason=reason, message=reason, seconds=seconds)
                       for r in results]
            return Outcome({r: UNSUPPORTED for r in results}, records, reason)

        presumed = self._presumed_known_crash(target, kind, case, test_id)
        tensors = case.tensors(kind.tangents)
        definition = self.capabilities(target).definition_for(config, getattr(case, "rule", None)) \
            if kind.raising_passes and witness is None else None
        defined = None
        if definition is not None:
            try:
                defined = self._read_definition(definition, case, tensors, target)
            except NotComputable as err:
                return unsupported(f"{target.implementation}: defines {definition.rule!r} as {definition.reading} "
                                   f"({definition.reason}), but {err}")
        # In the dtype's storage; the call gets them with the config's strides (in a worker, after
        # pickling, which makes every array contiguous).
        inputs = tensors.in_storage(config.dtype)
        clock = _CallClock(impl, self._tallies.get(test_id))
        try:
            reason, arithmetic, returned = self._declare_and_call(impl, target, kind, config, inputs, presumed,
                                                                  gaps=witness is None,
                                                                  wants_arithmetic=True if defined else None)
        except _DeclarationRaised as raised:
            clock.stop()
            reason = _not_installed_reason(target.implementation, raised.err)
            if reason is None:
                return self._event_from_exception(raised.err, base, kind, target, case, test_id)
            return unsupported(reason)
        except ImplementationLoadError:
            raise
        except (ImplementationCrashed, ImplementationTimeout, ImplementationRaised, Exception) as err:
            # A call that raised ran in the implementation too (a framework's refusal can cost a
            # compilation): its time counts as call time, as a returning call's does.
            seconds = clock.stop()
            installed = _not_installed_reason(target.implementation, err)
            if witness is not None and installed is None:
                return self._witnessed(witness, base, kind, target, err, seconds)
            reason = installed or _not_implemented_reason(target.implementation, kind, err)
            if reason is not None and _is_framework_refusal(err) and not kind.raising_passes:
                return self._undeclared_refusal(base, kind, target, reason, seconds)
            if reason is not None:
                return unsupported(reason, seconds)
            if defined is not None and not isinstance(err, (ImplementationCrashed, ImplementationTimeout)):
                return self._defined_but_refused(err, base, kind, target, definition, case, seconds)
            if kind.raising_passes and not isinstance(err, (ImplementationCrashed, ImplementationTimeout)):
                return self._refused(err, base, kind, target, seconds)
            return self._event_from_exception(err, base, kind, target, case, test_id, seconds)
        seconds = clock.stop()
        if witness is not None:
            return self._witnessed(witness, base, kind, target, reason, seconds)
        if reason is not None:
            return unsupported(str(reason))
        try:
            got = kind.unpack(returned) if not kind.judge else {kind.results[0]: returned}
        except TypeError as err:
            record = CheckRecord(**base, check=kind.name, status=ERROR,
                                 message=f"{err} [{target.implementation} {config} on {device}]")
            return Outcome({kind.name: ERROR}, [record], record.message + "\nreproduce: " + base["repro"])
        if defined is not None:
            return self._judge_defined(target, case, base, kind, definition, defined, returned, arithmetic, seconds)
        if kind.judge:
            verdicts = kind.judge(config, got)
            return self._outcome(target, case, base, kind, verdicts, got, None, None, seconds)
        reference = oracle_name_for(target.implementation)
        oracle = self._oracles.get(case, kind, reference, lambda: compute_oracle(config, tensors, kind, reference))
        arithmetic_dict = arithmetic.to_dict() if hasattr(arithmetic, "to_dict") else arithmetic
        terms = kind.reduction_lengths(config)
        partials = kind.partial_roundings(config)
        verdicts = {name: compare(name, got.get(name), oracle.expected[name], oracle.abs_sums[name], terms[name],
                                  arithmetic, partials.get(name, 0)) for name in results}
        return self._outcome(target, case, base, kind, verdicts, got, oracle, terms, seconds, arithmetic_dict)

    def _read_definition(self, definition: Definition, case, tensors, target: Target):
        """(values, absolute values) of what `definition` gives for an invalid call, or None where it
        refuses the call too (or the call it gives is a declared framework gap: refused); NotComputable
        where the references cannot compute it."""
        forward = get_implementation(oracle_name_for(target.implementation)).forward
        read = [definition.read(case.config, case.weight_shape, t.x, t.w, t.b, forward)
                for t in (tensors, tensors.absolute())]
        if read[0] is None:
            return None
        if self.capabilities(target).gap_for(read[0].call, target.device, "forward",
                                             refused_by=("framework",)) is not None:
            return None
        return tuple(read)

    def _known_of_defined(self, match, check: str, rule: str) -> str | None:
        """The known entry a defined call's result reproduces: one of the invalid call (its check and
        rule), else one of the forward call its definition makes. match(check, rule) -> id or None."""
        if self.known is None:
            return None
        return match(check, rule) or match("forward", None)

    def _judge_defined(self, target: Target, case, base, kind: CheckKind, definition: Definition, defined,
                       returned, arithmetic, seconds) -> Outcome:
        """An invalid call the implementation defines (conformance.definitions): its result against the
        definition's reading, with the forward bound."""
        name = kind.results[0]
        expected, absolute = defined
        verdict = compare(name, returned, expected.output, absolute.output, expected.terms, arithmetic)
        label = f"{oracle_name_for(target.implementation)}, read as {definition.reading}"
        record = CheckRecord(**base, check=name, status=verdict.status, kind=verdict.kind, stats=verdict.stats,
                             arithmetic=arithmetic.to_dict() if hasattr(arithmetic, "to_dict") else arithmetic,
                             heatmap=verdict.heatmap, seconds=seconds, reduction_length=expected.terms, oracle=label,
                             detail=DEFINED + definition.reading)
        if verdict.passed:
            record.message = f"defined by {target.implementation} ({definition.reason}): matches {definition.reading}"
            return Outcome({name: PASS}, [record], "")
        # TF's float16 bias rounding is the same in the invalid call and in the forward call it defines.
        def match(check, rule):
            oracle = OracleResult({check: expected.output}, {check: absolute.output}, label)
            config = case.config if rule is not None else expected.call
            return self.known.match(target, config, check, verdict,
                                    _ceiling(check, returned, oracle, expected.terms, expected.call), rule)

        known = self._known_of_defined(match, name, case.rule)
        if known is not None:
            record.status, record.known_id = KNOWN, known
            return Outcome({name: KNOWN}, [record], "")
        record.message = (f"{target.implementation} defines {definition.rule!r} as {definition.reading} "
                          f"({definition.reason}), and its result differs from that definition: "
                          + self._failure_message(verdict, target, case))
        stats_line = self._stats_line([record])
        return Outcome({name: record.status}, [record],
                       record.message + ("\n" + stats_line if stats_line else "") + "\nreproduce: " + base["repro"])

    def _defined_but_refused(self, err, base, kind: CheckKind, target: Target, definition: Definition, case,
                             seconds) -> Outcome:
        """A call the implementation declares defined raised: the declaration or the library is wrong
        (or a known entry's error: a wrong result that a later op of the call refuses)."""
        type_name = getattr(err, "type_name", type(err).__name__)
        text = getattr(err, "message", None) or str(err)
        message = (f"declared defined, but refused: {target.implementation} defines {definition.rule!r} as "
                   f"{definition.reading} ({definition.reason}), and the call raised {type_name}: {text[:300]} "
                   f"[{target.implementation} {base['config_str']} on {target.device}]; narrow the Definition "
                   f"(ops, dtypes) or remove it")
        name = kind.results[0]
        record = CheckRecord(**base, check=name, status=ERROR, message=message, detail=type_name, seconds=seconds)
        # KD-018's ZeroDivisionError on a zero-depth dilated call is the same in both.
        def match(check, rule):
            return self.known.match_event(target, case.config, {"check": check, "status": ERROR,
                                                                "message": f"{type_name}: {text}"}, rule)

        known = self._known_of_defined(match, name, case.rule)
        if known is not None:
            record.status, record.known_id = KNOWN, known
            return Outcome({name: KNOWN}, [record], "")
        return Outcome({name: ERROR}, [record], message + "\nreproduce: " + base["repro"])

    def _presumed_known_crash(self, target: Target, kind: CheckKind, case, test_id: str) -> str | None:
        """Why this call is not made: a known entry expects it to crash or hang, it has crashed in this
        test, most calls made in its region crashed, and this call is not one of the sampled ones (see
        PRESUME_CRASH_SHARE). Each crash costs a worker restart (seconds of framework import); the
        reproductions already seen are recorded as known, and the entry's matched count still grows
        (so "fixed upstream?" still shows)."""
        if self.known is None:
            return None
        entry = self.known.crash_entry(target, case.config, kind.name, getattr(case, "rule", None))
        if entry is None:
            return None
        key = (test_id, entry.id)
        seen, made = self._known_crashes[key], self._crash_region_calls[key]
        if seen >= KNOWN_CRASH_REPLAYS and seen >= PRESUME_CRASH_SHARE * made:
            self._presumed[key] += 1
            if self._presumed[key] % PRESUMED_SAMPLE_EVERY:
                return (f"not called: {entry.id} (a known {'/'.join(entry.expected)}) already reproduced in {seen} of "
                        f"{made} calls in this test; another call would likely only kill and restart "
                        f"{target.implementation}'s worker (every {PRESUMED_SAMPLE_EVERY}th such call is still made)")
        self._crash_region_calls[key] += 1
        return None

    def _witnessed(self, gap: Gap, base, kind: CheckKind, target: Target, refusal, seconds) -> Outcome:
        """The verdict on a declared gap's witness call: `refusal` is what refused it (an exception, or
        the reason supports() gave), None when the call ran."""
        where = f"{target.implementation}'s declared gap {gap.feature!r} ({gap.where()}: {gap.reason})"
        if refusal is None:
            status, message = ERROR, (f"declared unsupported, but the framework runs it: {where}; the call returned. "
                                      f"Narrow or remove the gap")
        else:
            text = str(getattr(refusal, "message", None) or refusal)
            if gap.matches(text):
                status, message = PASS, f"declared gap confirmed: refused with {text[:300]}"
            else:
                status, message = ERROR, (f"{where}: refused, but not with the declared message /{gap.message}/: "
                                          f"{getattr(refusal, 'type_name', type(refusal).__name__)}: {text[:300]}")
        if status == ERROR:
            message += f" [{target.implementation} {base['config_str']} on {target.device}]"
        record = CheckRecord(**base, check=kind.name, status=status, message=message, seconds=seconds)
        failure = "" if status == PASS else message + "\nreproduce: " + base["repro"]
        return Outcome({kind.name: status}, [record], failure)

    def _undeclared_refusal(self, base, kind: CheckKind, target: Target, reason: str, seconds) -> Outcome:
        """The library refused a call inside the declared region: a finding, not a gap."""
        message = (f"declared supported, but the framework refuses it: {reason} [{target.implementation} "
                   f"{base['config_str']} on {target.device}]; declare a Gap for it (conformance.capabilities) "
                   f"if the refusal is by design")
        record = CheckRecord(**base, check=kind.name, status=ERROR, message=message, seconds=seconds)
        return Outcome({kind.name: ERROR}, [record], message + "\nreproduce: " + base["repro"])

    def _refused(self, err, base, kind: CheckKind, target: Target, seconds: float | None = None) -> Outcome:
        """An invalid call that raised: a pass when the library refused it, with what it said (the
        error-parity table). A built-in adapter's exception raised before the call reached the library
        (conformance.origin) is an adapter error; a plugin's own check passes, marked as its own."""
        type_name = getattr(err, "type_name", type(err).__name__)
        text = getattr(err, "message", None) or str(err)
        origin = getattr(err, "origin", None) or refusal_origin(err)
        # A reference's own check is the definition's (it has no library beneath it).
        builtin = target.spec in BUILTIN and target.implementation not in REFERENCES
        name = kind.results[0]
        if builtin and origin != "library":
            message = (f"the invalid call never reached the library: {describe_origin(origin, builtin)} raised "
                       f"{type_name}: {text[:300]} [{target.implementation} {base['config_str']} on {target.device}]; "
                       f"the adapter must hand the call over as a user makes it")
            record = CheckRecord(**base, check=name, status=ERROR, message=message, detail=type_name, seconds=seconds)
            return Outcome({name: ERROR}, [record], message + "\nreproduce: " + base["repro"])
        by = "" if origin == "library" else f" (by {describe_origin(origin, builtin)})"
        record = CheckRecord(**base, check=name, status=PASS, message=f"raised {type_name}{by}: {text}"[:500],
                             detail=type_name if origin == "library" else f"{type_name} ({origin})", seconds=seconds)
        return Outcome({name: PASS}, [record], "")

    def _outcome(self, target, case, base, kind: CheckKind, verdicts, got, oracle, terms, seconds,
                 arithmetic_dict=None) -> Outcome:
        """Records, known-divergence matching and the failure message of one example's verdicts."""
        config = case.config
        statuses, records, problems = {}, [], []
        for name, verdict in verdicts.items():
            record = CheckRecord(**base, check=name, status=verdict.status, kind=verdict.kind, stats=verdict.stats,
                                 arithmetic=arithmetic_dict, heatmap=verdict.heatmap, seconds=seconds,
                                 reduction_length=terms[name] if terms else None,
                                 oracle=oracle.oracle if oracle else None)
            if not verdict.passed:
                known = None
                if self.known is not None:
                    fits = _ceiling(name, got.get(name), oracle, terms[name], config) if oracle else None
                    known = self.known.match(target, config, name, verdict, fits, getattr(case, "rule", None))
                if known is not None:
                    record.status, record.known_id = KNOWN, known
                else:
                    record.message = self._failure_message(verdict, target, case)
                    miss = self.known.near_miss(target, config, name, verdict.status, verdict.kind, fits,
                                                getattr(case, "rule", None)) if self.known is not None else None
                    if miss is not None:
                        record.message += f"\n{miss}"
                    problems.append(record.message)
            statuses[name] = record.status
            records.append(record)
        results = kind.results_for(config)
        for name in kind.results:
            if name not in results and got.get(name) is not None:
                # A result for something the call does not have (grad_bias without a bias) is a wrong answer.
                problems.append(f"{name} returned for a call without it [{target.implementation} {config}]")
        message = "\n".join(problems)
        if problems:
            stats_line = self._stats_line(records)
            message += ("\n" + stats_line if stats_line else "") + "\nreproduce: " + base["repro"]
        return Outcome(statuses, records, message)

    def _event_from_exception(self, err, base, kind: CheckKind, target, case, test_id,
                              seconds: float | None = None) -> Outcome:
        """The record of a call that crashed, hung or raised (seconds: how long it ran)."""
        call = f"[{target.implementation} {case.config} on {target.device}]"
        check = kind.name
        if isinstance(err, ImplementationCrashed):
            record = CheckRecord(**base, check=check, status=CRASH,
                                 message=f"{target.implementation} crashed: {describe_exit(err.returncode)} {call}",
                                 detail=_crash_detail(err.stderr_tail), returncode=err.returncode)
        elif isinstance(err, ImplementationTimeout):
            self._hung_tests.add(test_id)
            record = CheckRecord(**base, check=check, status=TIMEOUT, message=f"{target.implementation} hung: {err} {call}")
        elif isinstance(err, ImplementationRaised):
            record = CheckRecord(**base, check=check, status=ERROR,
                                 message=f"{target.implementation} raised {err.type_name}: {err.message} {call}",
                                 detail=err.traceback_text[-3000:])
        else:
            record = CheckRecord(**base, check=check, status=ERROR,
                                 message=f"{target.implementation} raised {type(err).__name__}: {err} {call}",
                                 detail=traceback.format_exc(limit=6)[-3000:])
        record.seconds = seconds
        outcome = Outcome({check: record.status}, [record], record.message)
        # The signature a known entry's `message` is matched against: "Type: message" of an error, the
        # exit line and stderr tail of a crash.
        text = record.message + ("\n" + record.detail if record.status == CRASH and record.detail else "")
        event = {"check": check, "status": record.status, "message": text, "returncode": record.returncode}
        rule = getattr(case, "rule", None)
        known = self.known.match_event(target, case.config, event, rule=rule) if self.known else None
        if known is not None:
            if record.status in (CRASH, TIMEOUT):
                self._known_crashes[(test_id, known)] += 1
            record.status, record.known_id = KNOWN, known
            outcome.statuses[check] = KNOWN
            return outcome
        miss = self.known.near_miss(target, case.config, check, record.status, rule=rule, text=text,
                                    returncode=record.returncode) if self.known else None
        if miss is not None:
            record.message += f"\n{miss}"
            outcome.message = record.message
        outcome.message += "\nreproduce: " + record.repro
        return outcome

    # ---- consensus --------------------------------------------------------------------------

    def consensus(self, target: Target, kind: CheckKind, case: ConvCase) -> dict[str, dict[str, str]]:
        """result -> {implementation: verdict} for every other implementation of the run on this example.

        A verdict is a status, or "not installed" for a framework missing on this machine.
        """
        table: dict[str, dict[str, str]] = defaultdict(dict)
        for spec in self.consensus_specs:
            if spec == target.spec:
                continue
            try:
                name = spec if ":" not in spec else self.implementation(spec).name
                other = Target(target.op, name, target.device, self._consensus_spec(spec))
                outcome = self._evaluate(other, kind, case, "consensus", "consensus")
            except Exception as err:  # consensus is advisory; never let it hide the finding
                table[kind.name][spec] = f"error ({type(err).__name__})"
                continue
            for record in outcome.records:
                not_installed = record.status == UNSUPPORTED and NOT_INSTALLED in (record.reason or "")
                table[record.check][name] = NOT_INSTALLED if not_installed else record.status
        if kind.name in table:  # an event that hit the whole call stands for each of its results
            for result in kind.results:
                for name, status in table[kind.name].items():
                    table[result].setdefault(name, status)
        return dict(table)

    # ---- records ----------------------------------------------------------------------------

    def _base_record(self, target: Target, kind: CheckKind, case: ConvCase, test_id: str, phase: str) -> dict[str, Any]:
        return dict(
            run_id=self.run_id,
            test_id=test_id,
            implementation=target.implementation,
            op=target.op,
            device=target.device,
            config=case.config.to_dict(),
            config_str=str(case.config),
            value_profile=case.value_profile,
            data_seed=case.data_seed,
            phase=phase,
            rule=getattr(case, "rule", None),
            repro=repro_command(target.spec, target.device, kind.name, case),
            time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def _write(self, record) -> None:
        if self.writer is not None:
            self.writer.write(record)

    def finish_test(self, test_id: str, target: Target, *, kind: CheckKind | None = None,
                    skipped: str | None = None) -> _TestTally | None:
        """Write the test's summary line and return its tally.

        A test whose examples were all unsupported is skipped (tally.skipped says why); one with a
        single example that ran is not, however many of its checks were unsupported.
        """
        tally = self._tallies.pop(test_id, None)
        if tally is None and skipped is None:
            return None
        tally = tally or _TestTally(kind=kind.name if kind else "")
        if skipped is None and tally.examples and not tally.examples_run:
            reasons = "; ".join(sorted(tally.unsupported_reasons))
            skipped = f"{target.implementation} supports no drawn {target.op} config on {target.device}: {reasons}"
        tally.skipped = skipped
        self._write(SummaryRecord(
            run_id=self.run_id,
            test_id=test_id,
            implementation=target.implementation,
            op=target.op,
            device=target.device,
            check_kind=tally.kind,
            examples=tally.examples,
            examples_run=tally.examples_run,
            shrink_replays=tally.shrink_replays,
            call_seconds=round(tally.call_seconds, 3),
            start_seconds=round(tally.start_seconds, 3),
            counts={check: dict(counter) for check, counter in tally.counts.items()},
            unsupported_reasons=dict(tally.unsupported_reasons),
            coverage=dict(tally.coverage),
            duration_s=round(time.monotonic() - tally.started, 3),
            skipped=skipped,
        ))
        return tally

    # ---- messages ---------------------------------------------------------------------------

    @staticmethod
    def _failure_message(verdict: Verdict, target: Target, case: ConvCase) -> str:
        return f"{verdict.problem} [{target.implementation} {case.config} on {target.device}]"

    @staticmethod
    def _stats_line(records: list[CheckRecord]) -> str:
        parts = []
        for record in records:
            stats = record.stats or {}
            if record.status == PASS or not stats:
                continue
            if record.kind == "shape":
                parts.append(f"{record.check}: shape {stats.get('shape_seen')} vs {stats.get('shape_expected')}")
                continue
            if "max_error_in_bounds" not in stats:  # not compared (not an array): its message says why
                continue
            parts.append(
                f"{record.check}: max error {stats['max_error_in_bounds']:.3g} x bound, "
                f"{stats['n_beyond']}/{stats['n_elements']} elements beyond "
                f"({100 * stats['share_beyond']:.1f}%), max abs error {stats['max_abs_error']:.3g}, "
                f"arithmetic {record.arithmetic.get('label') if record.arithmetic else '?'}"
            )
        return "; ".join(parts)


def _ceiling(check: str, result, oracle, terms: int, config):
    """fits(fields) for a known precision entry: does the arithmetic `fields` explain `result`?"""
    return functools.partial(within_ceiling, check=check, result=result, expected=oracle.expected[check],
                             abs_expected=oracle.abs_sums[check], terms=terms, config=config)


def _consensus_line(consensus: dict[str, dict[str, str]], name: str) -> str:
    if not consensus:
        return ""
    lines = []
    reference_trouble = []
    for check, verdicts in consensus.items():
        shown = ", ".join(f"{impl}: {status}" for impl, status in sorted(verdicts.items()))
        lines.append(f"  {check}: {name}: FAILS; {shown}")
        reference_trouble += [impl for impl, status in verdicts.items()
                              if impl in REFERENCES and status not in ("pass", "unsupported")]
    text = "\nconsensus on this config:\n" + "\n".join(lines)
    if reference_trouble:
        text += (f"\nREFERENCE DISAGREEMENT: {sorted(set(reference_trouble))} disagree with the oracle "
                 f"on this config; the references themselves may be wrong")
    return text


def run_header(run_id: str, worker: str, **fields: Any) -> RunRecord:
    """The run record of this process, with the versions every run has (python, numpy, hypothesis)."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        import hypothesis

        versions["hypothesis"] = hypothesis.__version__
    except ImportError:
        pass
    return RunRecord(run_id=run_id, worker=worker,
                     started=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                     pid=os.getpid(), versions=versions, platform=platform_info(), **fields)


# A native abort's cause is a line near the top of its stderr (glog's "F1207 ... Check failed: ...",
# "Fatal Python error"), above a stack trace longer than the tail a record keeps.
_FATAL_LINE = re.compile(r"^F\d{4} |Check failed|Fatal Python error|Segmentation fault|Floating point exception")


def _presumed(outcome: Outcome) -> bool:
    """Whether the call was not made: a known crash presumed (Harness._presumed_known_crash)."""
    return any((r.reason or "").startswith("not called: ") for r in outcome.records)


def _crash_detail(stderr: str, tail: int = 12, causes: int = 3) -> str:
    """What a crash record keeps of the worker's stderr: its first few fatal lines (what a known
    entry's `message` names), then its last `tail` lines."""
    lines = stderr.strip().splitlines()
    fatal = [line for line in lines[:-tail] if _FATAL_LINE.search(line)][:causes]
    return "\n".join(fatal + (["..."] if fatal else []) + lines[-tail:])


def platform_info() -> dict[str, Any]:
    """Machine, processor and CPU flags: some kernels are wrong only on some instruction sets."""
    info: dict[str, Any] = {"machine": platform.machine(), "system": platform.system(), "cpu": cpu_model()}
    flags = cpu_flags()
    if flags:
        info["cpu_flags"] = sorted(flags)
    return info
