"""One example through one implementation: call it, compare with the oracle, record, explain.

The suite's tests (conformance/suite) are thin: they draw a ConvCase with Hypothesis and hand it to
`Harness.check`, which returns an `Outcome`; a failing outcome raises `ConformanceFailure` so that
Hypothesis shrinks it to a minimal config.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .arithmetic import Arithmetic
from .compare import Verdict, compare
from .coverage import features_of
from .isolation import (
    ImplementationCrashed,
    ImplementationRaised,
    ImplementationTimeout,
    IsolatedImplementation,
    describe_exit,
)
from .oracle import compute_oracle, oracle_name_for
from .records import PASS_RECORD_CAP, RecordWriter
from .registry import REFERENCES, get_implementation
from .strategies import ConvCase
from .tolerance import reduction_lengths

__all__ = ["Target", "Outcome", "Harness", "ConformanceFailure", "FAILING_STATUSES", "repro_command"]

FAILING_STATUSES = ("mismatch", "error", "crash", "timeout")
GRADIENT_CHECKS = ("grad_input", "grad_weight", "grad_bias")


class ConformanceFailure(AssertionError):
    """An implementation disagreed with the oracle (or crashed, hung, raised) on an example."""


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
    records: list[dict[str, Any]]
    message: str = ""

    @property
    def failed(self) -> bool:
        return any(s in FAILING_STATUSES for s in self.statuses.values())

    @property
    def unsupported(self) -> bool:
        return bool(self.statuses) and all(s == "unsupported" for s in self.statuses.values())


def repro_command(spec: str, device: str, kind: str, case: ConvCase) -> str:
    config_json = json.dumps(case.config.to_dict(), sort_keys=True, separators=(",", ":"))
    return (
        f"python -m conformance repro {shlex.quote(spec)} --device {device} --check {kind} "
        f"--seed {case.data_seed} --values {case.value_profile} --config {shlex.quote(config_json)}"
    )


@dataclass
class _TestTally:
    examples: int = 0
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    unsupported_reasons: Counter = field(default_factory=Counter)
    coverage: Counter = field(default_factory=Counter)
    written: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)


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

    def close(self) -> None:
        for impl in self._implementations.values():
            if isinstance(impl, IsolatedImplementation):
                impl.stop()

    # ---- one example ------------------------------------------------------------------------

    def check(self, target: Target, kind: str, case: ConvCase, *, test_id: str, final: bool = False) -> Outcome:
        """Run `kind` ("forward" or "gradient") of target on case; record and return the outcome."""
        tally = self._tallies.setdefault(test_id, _TestTally())
        tally.examples += 1
        tally.coverage.update(features_of(case.config))
        if self.known is not None:
            self.known.observe(target, case.config)
        outcome = self._evaluate(target, kind, case, test_id)
        if outcome.failed and final:
            consensus = self.consensus(target, kind, case)
            for record in outcome.records:
                record["consensus"] = consensus.get(record["check"], {})
                record["minimal"] = True
            outcome.message += _consensus_line(consensus, target.implementation)
        for record in outcome.records:
            tally.counts[record["check"]][record["status"]] += 1
            if record["status"] == "unsupported":
                tally.unsupported_reasons[record.get("reason") or "?"] += 1
            key = (record["check"], record["status"])
            if record["status"] in ("pass", "unsupported"):
                tally.written[key] += 1
                if tally.written[key] > PASS_RECORD_CAP:
                    continue
            self._write(record)
        return outcome

    def _evaluate(self, target: Target, kind: str, case: ConvCase, test_id: str) -> Outcome:
        config, device = case.config, target.device
        checks = ("forward",) if kind == "forward" else tuple(
            c for c in GRADIENT_CHECKS if c != "grad_bias" or config.bias)
        base = self._base_record(target, kind, case, test_id)
        impl = self.implementation(target.spec)
        if isinstance(impl, IsolatedImplementation):
            # Once a test has seen a hang, shrinking it replays many hanging calls: give them less time.
            impl.timeout = min(self.call_timeout, 5.0) if test_id in self._hung_tests else self.call_timeout

        def event(status: str, check: str, message: str, detail: str = "", **extra) -> Outcome:
            record = dict(base, check=check, status=status, message=message, detail=detail, **extra)
            return Outcome({check: status}, [record], message)

        try:
            reason = impl.supports(config, device)
            arithmetic = impl.arithmetic(config, device) if reason is None else None
        except (ImplementationRaised, ImportError) as err:
            if not _is_missing_module(err):
                return self._event_from_exception(err, event, kind, target, case, test_id)
            # A framework that is not installed is a capability gap of this machine, not a finding.
            reason = f"{target.implementation}: not installed here ({getattr(err, 'message', err)})"
        except (ImplementationCrashed, ImplementationTimeout) as err:
            return self._event_from_exception(err, event, kind, target, case, test_id)
        if reason is not None:
            records = [dict(base, check=c, status="unsupported", reason=str(reason), message=str(reason))
                       for c in checks]
            return Outcome({c: "unsupported" for c in checks}, records, str(reason))

        tensors = case.tensors()
        inputs = tensors.in_storage(config.dtype)
        oracle = compute_oracle(config, tensors, kind, oracle_name_for(target.implementation))
        started = time.perf_counter()
        try:
            if kind == "forward":
                results = {"forward": impl.forward(config, inputs.x, inputs.w, inputs.b, device)}
            else:
                returned = impl.vjp(config, inputs.x, inputs.w, inputs.b, inputs.grad_out, device)
                if not isinstance(returned, (tuple, list)) or len(returned) != 3:
                    return event("error", "gradient",
                                 f"vjp returned {type(returned).__name__}, expected a tuple "
                                 f"(grad_x, grad_w, grad_b or None) [{target.implementation} {config} on {device}]")
                results = dict(zip(GRADIENT_CHECKS, returned))
        except (ImplementationCrashed, ImplementationTimeout, ImplementationRaised, Exception) as err:
            return self._event_from_exception(err, event, kind, target, case, test_id)
        seconds = time.perf_counter() - started

        arithmetic_dict = arithmetic.to_dict() if hasattr(arithmetic, "to_dict") else arithmetic
        terms = reduction_lengths(config)
        statuses, records, problems = {}, [], []
        for check in checks:
            verdict = compare(check, results.get(check), oracle.expected[check], oracle.abs_sums[check],
                              terms[check], arithmetic)
            record = dict(base, check=check, status=verdict.status, kind=verdict.kind, stats=verdict.stats,
                          arithmetic=arithmetic_dict, heatmap=verdict.heatmap, seconds=seconds,
                          reduction_length=terms[check], oracle=oracle.oracle)
            if not verdict.passed:
                known = None
                if self.known is not None:
                    def fits(fields, check=check):
                        # "dtype" in an entry's arithmetic stands for the config's own dtype.
                        alternative = Arithmetic(**{k: config.dtype if v == "dtype" else v for k, v in fields.items()})
                        return compare(check, results.get(check), oracle.expected[check], oracle.abs_sums[check],
                                       terms[check], alternative).passed
                    known = self.known.match(target, config, check, verdict, fits)
                if known is not None:
                    record.update(status="known", known_id=known)
                else:
                    message = self._failure_message(verdict, target, case)
                    record["message"] = message
                    problems.append(message)
            statuses[check] = record["status"]
            records.append(record)
        if kind == "gradient" and not config.bias and results.get("grad_bias") is not None:
            # A bias gradient for a call without bias is a wrong type of answer, not a crash.
            problems.append(f"grad_bias returned for a call without bias [{target.implementation} {config}]")
        message = "\n".join(problems)
        if problems:
            stats_line = self._stats_line(records)
            message += ("\n" + stats_line if stats_line else "") + "\nreproduce: " + base["repro"]
        return Outcome(statuses, records, message)

    def _event_from_exception(self, err, event, kind, target, case, test_id) -> Outcome:
        call = f"[{target.implementation} {case.config} on {target.device}]"
        check = "forward" if kind == "forward" else "gradient"
        if isinstance(err, ImplementationCrashed):
            tail = err.stderr_tail.strip().splitlines()[-12:]
            outcome = event("crash", check, f"{target.implementation} crashed: {describe_exit(err.returncode)} {call}",
                            "\n".join(tail), returncode=err.returncode)
        elif isinstance(err, ImplementationTimeout):
            self._hung_tests.add(test_id)
            outcome = event("timeout", check, f"{target.implementation} hung: {err} {call}")
        elif isinstance(err, ImplementationRaised):
            outcome = event("error", check, f"{target.implementation} raised {err.type_name}: {err.message} {call}",
                            err.traceback_text[-3000:])
        else:
            import traceback

            outcome = event("error", check, f"{target.implementation} raised {type(err).__name__}: {err} {call}",
                            traceback.format_exc(limit=6)[-3000:])
        known = self.known.match_event(target, case.config, outcome.records[0]) if self.known else None
        if known is not None:
            outcome.records[0].update(status="known", known_id=known)
            outcome.statuses[check] = "known"
            return outcome
        outcome.message += "\nreproduce: " + outcome.records[0]["repro"]
        return outcome

    # ---- consensus --------------------------------------------------------------------------

    def consensus(self, target: Target, kind: str, case: ConvCase) -> dict[str, dict[str, str]]:
        """check -> {implementation: status} for every implementation of the run on this same case."""
        table: dict[str, dict[str, str]] = defaultdict(dict)
        for spec in self.consensus_specs:
            name = spec if ":" not in spec else self.implementation(spec).name
            if spec == target.spec:
                continue
            other = Target(target.op, name, target.device, spec)
            try:
                outcome = self._evaluate(other, kind, case, test_id="consensus")
            except Exception as err:  # consensus is advisory; never let it hide the finding
                table["forward" if kind == "forward" else "gradient"][name] = f"error ({type(err).__name__})"
                continue
            for check, status in outcome.statuses.items():
                table[check][name] = status
        if kind == "gradient" and "gradient" in table:
            for check in GRADIENT_CHECKS:
                for name, status in table["gradient"].items():
                    table[check].setdefault(name, status)
        return dict(table)

    # ---- records ----------------------------------------------------------------------------

    def _base_record(self, target: Target, kind: str, case: ConvCase, test_id: str) -> dict[str, Any]:
        return {
            "type": "check",
            "run_id": self.run_id,
            "test_id": test_id,
            "implementation": target.implementation,
            "op": target.op,
            "device": target.device,
            "config": case.config.to_dict(),
            "config_str": str(case.config),
            "value_profile": case.value_profile,
            "data_seed": case.data_seed,
            "kind": None,
            "stats": None,
            "heatmap": None,
            "repro": repro_command(target.spec, target.device, kind, case),
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def _write(self, record: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.write(record)

    def finish_test(self, test_id: str, target: Target) -> _TestTally | None:
        """Write the test's summary line; returns its tally."""
        tally = self._tallies.pop(test_id, None)
        if tally is None:
            return None
        self._write({
            "type": "summary",
            "run_id": self.run_id,
            "test_id": test_id,
            "implementation": target.implementation,
            "op": target.op,
            "device": target.device,
            "examples": tally.examples,
            "counts": {check: dict(counter) for check, counter in tally.counts.items()},
            "unsupported_reasons": dict(tally.unsupported_reasons),
            "coverage": dict(tally.coverage),
            "duration_s": round(time.monotonic() - tally.started, 3),
        })
        return tally

    # ---- messages ---------------------------------------------------------------------------

    @staticmethod
    def _failure_message(verdict: Verdict, target: Target, case: ConvCase) -> str:
        return f"{verdict.problem} [{target.implementation} {case.config} on {target.device}]"

    @staticmethod
    def _stats_line(records: list[dict[str, Any]]) -> str:
        parts = []
        for record in records:
            stats = record.get("stats") or {}
            if record["status"] == "pass" or not stats:
                continue
            if record.get("kind") == "shape":
                parts.append(f"{record['check']}: shape {stats.get('shape_seen')} vs {stats.get('shape_expected')}")
                continue
            if "max_error_in_bounds" not in stats:  # not compared (not an array): its message says why
                continue
            parts.append(
                f"{record['check']}: max error {stats['max_error_in_bounds']:.3g} x bound, "
                f"{stats['n_beyond']}/{stats['n_elements']} elements beyond "
                f"({100 * stats['share_beyond']:.1f}%), max abs error {stats['max_abs_error']:.3g}, "
                f"arithmetic {record['arithmetic'].get('label') if record.get('arithmetic') else '?'}"
            )
        return "; ".join(parts)


def _is_missing_module(err: Exception) -> bool:
    if isinstance(err, ImplementationRaised):
        return err.type_name in ("ModuleNotFoundError", "ImportError")
    return isinstance(err, ImportError)


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


def run_header(run_id: str, worker: str, **fields: Any) -> dict[str, Any]:
    import platform

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        import hypothesis

        versions["hypothesis"] = hypothesis.__version__
    except ImportError:
        pass
    return {"type": "run", "run_id": run_id, "worker": worker,
            "started": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "pid": os.getpid(), "versions": versions, **fields}

