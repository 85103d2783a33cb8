"""Known divergences as data: conformance/known_divergences.toml, matched declaratively.

An entry says which implementation(s) diverge, on which configs (a `when` table of declarative
conditions), how (the expected status and, for a mismatch, its kind and checks), how we classify it
and where it is reported upstream. An example that matches an entry and diverges as described is
recorded as `known` instead of failing; the run counts, per entry, how many examples matched its
conditions and how many reproduced it, so an entry that no longer reproduces shows as
"fixed upstream?" and one that matched nothing is warned about.

Conditions in `when` (all must hold; a list means "any of"):
- op, device, implementation, precision (the run's --precision: "default" or "highest"): names;
- any ConvConfig field or property (dtype, batch, groups, transposed, bias, padding, ndim, ...):
  equal to the value, or in the list;
- NAME_gt / NAME_ge / NAME_lt / NAME_le: a numeric field or property compared with the value, or with
  another field named as a string (out_channels_lt = "groups");
- any_NAME_gt / any_NAME_eq ... : true when some spatial dim of a per-dim field (stride, dilation,
  kernel, in_size, out_size, output_padding, padding_lo, padding_hi, kernel_span = dilation*(kernel-1),
  output_padding_past_hi = output_padding - padding_hi, uncropped_size = a transposed call's output
  before its padding crop, (in-1)*stride + kernel_span + 1 + max(output_padding_past_hi, 0), and
  kernel_span_hw_swapped = kernel_span with a 3-d call's H and W dilations swapped, direct_padding_lo /
  direct_padding_hi = a transposed call's padding as the direct convolution of its stride-dilated input,
  kernel_span - padding_lo and kernel_span - padding_hi + output_padding) satisfies it;
  all_NAME_...: every dim;
- some_dim = { direct_padding_lo_lt = 0, direct_padding_hi_gt = 0 }: one spatial dim meets every
  condition of the table (per-dim fields compared with a number or with another per-dim field);
- any_A_OP_B / all_A_OP_B = true / false, A and B per-dim fields: the relation holds in some (every)
  dim, e.g. any_output_padding_ge_stride = true, all_kernel_gt_in_size = true;
- asymmetric_padding: true / false; depthwise: true / false (conformance.capabilities.is_depthwise);
- anisotropic_dilation: true / false (the spatial dims' dilations are not all equal);
- empty_input: true / false (the input has no elements: an empty batch or zero channels);
- in_channels_per_group, out_channels_per_group: numbers, for NAME_gt ... (in_channels_per_group_ge = 4).

Machine conditions (conformance.machine), for bugs that live in one instruction set's kernels:
- cpu_has = "avx512_bf16" or a list: the CPU has every flag (as /proc/cpuinfo spells them);
- cpu_lacks = "avx512_bf16" or a list: the CPU has none of them;
- tf_onednn = true / false: TensorFlow runs its oneDNN kernels in the implementation's process (its
  declared `environment`, e.g. tensorflow.onednn_off's TF_ENABLE_ONEDNN_OPTS=0, over this one's);
- tf_kernel = "onednn" / "eigen": the family of TensorFlow CPU kernels that takes the config's dtype
  there (conformance.machine.tf_onednn_takes: float64 always Eigen; float16 Eigen without
  AVX512-FP16; bfloat16 Eigen without AVX-512; every dtype Eigen where oneDNN is off);
- versions = { torch = ">=2.13,<2.15" }: each installed distribution's version is in the range (a
  distribution that is not installed fails the condition).

A precision entry's `within_arithmetic` (e.g. {accumulation = "dtype", output = "dtype"}, "dtype"
standing for the config's dtype) is its ceiling: the harness passes `fits(fields)`, built on
conformance.ceilings.within_ceiling, and a diverging result is known only when that arithmetic
explains its error (a probabilistic bound, stagnation of sums without cancellation, and a guard
against errors the size of the result; never the worst-case bound, which is infinite for long
half-format sums). Other fields: `draft` (the path of an upstream report drafted but not filed,
shown next to `upstream`) and `upstream_status` ("open", "fixed in X.Y", "unknown", ...).

`upstream` is free text for a user's own file; `load_known_divergences(..., require_upstream=True)`
(what the built-in file's test uses) insists that every entry either links its upstream issue or
pull request (https://github.com/<org>/<repo>/issues/N or /pull/N) or names a `draft` that exists.

Several files (the built-in one, then a user's own) combine with `merge_known`; each entry keeps
the file it came from (`source`), and an id defined twice is an error naming both files.
"""

from __future__ import annotations

import operator
import os
import re
import signal as signal_module
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import machine
from .ceilings import resolve_arithmetic
from .config import ConvConfig

__all__ = ["KnownDivergence", "KnownDivergences", "load_known_divergences", "merge_known", "DEFAULT_PATH",
           "KnownDivergenceError", "is_upstream_url", "entry_state", "OVER_WIDE_HIT_RATE"]

DEFAULT_PATH = Path(__file__).with_name("known_divergences.toml")
REPO_ROOT = DEFAULT_PATH.parents[1]  # where the built-in entries' drafts (docs/upstream/...) live
UPSTREAM_URL = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/(issues|pull)/[1-9][0-9]*")
CLASSIFICATIONS = ("bug", "semantic difference", "unsupported", "precision")
EXPECTED = ("mismatch", "error", "crash", "timeout")
_OPS = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le, "eq": operator.eq}


class KnownDivergenceError(ValueError):
    """A malformed entry in the known-divergences file."""


@dataclass
class KnownDivergence:
    id: str
    implementations: tuple[str, ...]
    summary: str
    classification: str
    expected: tuple[str, ...]
    checks: tuple[str, ...]
    kind: str | None
    when: dict[str, Any]
    upstream: str
    reproducer: str = ""
    minimal_config: dict[str, Any] | None = None
    who_is_right: str = ""
    # A precision entry covers only errors that this (measured) arithmetic explains, e.g.
    # {accumulation = "float16", output = "float16"}, judged by conformance.ceilings.within_ceiling:
    # anything else is a new finding.
    within_arithmetic: dict[str, Any] | None = None
    # A rare divergence (a crash on 1 config in 80) says "fixed upstream?" only after this many matches.
    min_matches: int = 1
    draft: str = ""   # a drafted upstream report, e.g. "docs/upstream/KD-002.md", until `upstream` links it
    upstream_status: str = ""  # what the upstream thread says: "open", "fixed in 2.14", "unknown"
    source: str = ""  # the file the entry was read from
    # The signature of an error or crash entry: a regular expression its text must contain (searched
    # case-insensitively in "ExceptionType: message", or in a crash's exit line and stderr tail), and
    # the signal a crash dies of ("SIGABRT"). Another error, or another signal, in the region is a finding.
    message: str = ""
    signal: str = ""

    def applies(self, implementation: str, op: str, device: str, config: ConvConfig,
                precision: str = "default", rule: str | None = None, environment: dict | None = None) -> bool:
        """rule: for an invalid call, the validity rule it breaks (a condition entries may name);
        environment: what the implementation's process adds to os.environ (for tf_onednn)."""
        if implementation not in self.implementations:
            return False
        context = {"op": op, "device": device, "implementation": implementation, "precision": precision, "rule": rule,
                   "environment": environment}
        try:
            return all(_holds(name, want, config, context) for name, want in self.when.items())
        except (ArithmeticError, ValueError) as err:
            if isinstance(err, KnownDivergenceError):
                raise
            return False  # a property of an invalid config that cannot be computed: no match

    def reproduces(self, check: str, status: str, kind: str | None, fits=None, text: str | None = None,
                   returncode: int | None = None) -> bool:
        """fits(within_arithmetic) -> bool is asked only of a precision entry; without it such an entry
        never matches. text / returncode: an error's or crash's text and exit status, for the signature."""
        return self.covers(check) and self.difference(check, status, kind, fits, text, returncode) is None

    def covers(self, check: str) -> bool:
        """Whether the entry is about check (result) `check` at all."""
        if check == "invalid_call" and "invalid_call" not in self.checks:
            return False  # accepting an invalid call is filed explicitly, never by an entry about values
        return not self.checks or check in self.checks

    def difference(self, check: str, status: str, kind: str | None, fits=None, text: str | None = None,
                   returncode: int | None = None) -> str | None:
        """How a result of a check the entry covers differs from its signature, in words, or None when
        it is the entry's divergence. Used for the finding "inside KD-018's region, but ..."."""
        if status not in self.expected:
            return f"a {status}, where {self.id} expects {' or '.join(self.expected)}"
        if self.within_arithmetic is not None and status == "mismatch" and (fits is None or not fits(self.within_arithmetic)):
            arithmetic = ", ".join(f"{k} {v}" for k, v in self.within_arithmetic.items())
            return f"an error beyond {self.id}'s ceiling (what {arithmetic} explains)"
        if self.kind is not None and status == "mismatch" and kind != self.kind:
            return f"a {kind} mismatch, where {self.id} expects a {self.kind} mismatch"
        if self.message and status in ("error", "crash", "timeout") and text is not None \
                and re.search(self.message, text, re.IGNORECASE) is None:
            return f"a different {status}: {self.id} expects /{self.message}/, got {_first_line(text)[:200]!r}"
        if self.signal and status == "crash" and returncode is not None and returncode != -_SIGNALS[self.signal]:
            return f"a different crash: {self.id} expects {self.signal}, got {_describe_returncode(returncode)}"
        return None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


_SIGNALS = {item.name: int(item.value) for item in signal_module.Signals}


def _describe_returncode(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal_module.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def _value(name: str, config: ConvConfig, context: dict[str, str]) -> Any:
    if name in context:
        return context[name]
    if name == "asymmetric_padding":
        return config.is_asymmetric and not isinstance(config.padding, str)
    if name == "anisotropic_dilation":
        return len(set(config.dilation)) > 1
    if name == "empty_input":
        return 0 in config.input_shape
    if name in ("in_channels_per_group", "out_channels_per_group"):
        return (config.in_channels if name.startswith("in_") else config.out_channels) // max(config.groups, 1)
    if name == "depthwise":
        from .capabilities import is_depthwise

        return is_depthwise(config)
    if not hasattr(config, name):
        raise KnownDivergenceError(f"unknown condition field {name!r}")
    value = getattr(config, name)
    return list(value) if isinstance(value, tuple) and name != "padding" else value


# Fields with one value per spatial dim, for any_/all_ conditions and the relations between two of them.
_PER_DIM = ("stride", "dilation", "kernel", "in_size", "out_size", "output_padding", "padding_lo", "padding_hi",
            "kernel_span", "output_padding_past_hi", "uncropped_size", "kernel_span_hw_swapped",
            "direct_padding_lo", "direct_padding_hi")


def _per_dim(name: str, config: ConvConfig) -> list:
    if name == "kernel_span":  # how far the dilated kernel reaches past its first tap: dilation * (kernel - 1)
        return [d * (k - 1) for d, k in zip(config.dilation, config.kernel)]
    if name == "output_padding_past_hi":  # what output_padding adds beyond the high padding's crop: op - hi
        return [op - hi for op, (_, hi) in zip(config.output_padding, config.resolved_padding)]
    if name == "uncropped_size":  # a transposed call's output before its padding crop (what VALID gives)
        return [(n - 1) * s + d * (k - 1) + 1 + max(op - hi, 0) for n, s, d, k, op, (_, hi) in zip(
            config.in_size, config.stride, config.dilation, config.kernel, config.output_padding, config.resolved_padding)]
    if name in ("direct_padding_lo", "direct_padding_hi"):  # a transposed call as the direct convolution of its
        # stride-dilated input (lax.conv_transpose's padding): span - lo low, span - hi + output_padding high
        spans = [d * (k - 1) for d, k in zip(config.dilation, config.kernel)]
        if name == "direct_padding_lo":
            return [span - lo for span, (lo, _) in zip(spans, config.resolved_padding)]
        return [span - hi + op for span, (_, hi), op in zip(spans, config.resolved_padding, config.output_padding)]
    if name == "kernel_span_hw_swapped":  # kernel_span with the last two dims' dilations swapped (3-d: H and W)
        dilation = list(config.dilation)
        if len(dilation) == 3:
            dilation[1], dilation[2] = dilation[2], dilation[1]
        return [d * (k - 1) for d, k in zip(dilation, config.kernel)]
    if name in ("padding_lo", "padding_hi"):
        return [pair[0 if name == "padding_lo" else 1] for pair in config.resolved_padding]
    if name not in _PER_DIM:
        raise KnownDivergenceError(f"any_/all_ condition on {name!r}: not a per-dim field (one of {_PER_DIM})")
    return list(getattr(config, name))


def _relation(rest: str) -> tuple[str, str, str] | None:
    """("output_padding", "ge", "stride") for "output_padding_ge_stride": two per-dim fields and an operator."""
    for op in _OPS:
        left, found, right = rest.partition(f"_{op}_")
        if found and left in _PER_DIM and right in _PER_DIM:
            return left, op, right
    return None


def _flags(name: str, want: Any) -> set[str]:
    flags = [want] if isinstance(want, str) else want
    if not isinstance(flags, list) or not flags or not all(isinstance(f, str) for f in flags):
        raise KnownDivergenceError(f"{name} = {want!r}: give a CPU flag or a list of them, e.g. [\"avx512_bf16\"]")
    return {f.lower() for f in flags}


def _machine_holds(name: str, want: Any, config: ConvConfig, context: dict) -> bool:
    """A machine condition (cpu_has, cpu_lacks, tf_onednn, tf_kernel, versions) on this machine."""
    if name == "cpu_has":
        return _flags(name, want) <= machine.cpu_flags()
    if name == "cpu_lacks":
        return not _flags(name, want) & machine.cpu_flags()
    if name == "tf_onednn":
        if not isinstance(want, bool):
            raise KnownDivergenceError(f"tf_onednn = {want!r}: it must be true or false")
        return machine.tf_onednn({**os.environ, **(context.get("environment") or {})}) == want
    if name == "tf_kernel":
        if want not in ("onednn", "eigen"):
            raise KnownDivergenceError(f"tf_kernel = {want!r}: it must be \"onednn\" or \"eigen\"")
        takes = machine.tf_onednn_takes(config.dtype, {**os.environ, **(context.get("environment") or {})})
        return takes == (want == "onednn")
    if not isinstance(want, dict) or not want:
        raise KnownDivergenceError(f"versions = {want!r}: give a table such as {{ torch = \">=2.13,<2.15\" }}")
    for distribution, specifier in want.items():
        try:
            machine.version_in("0", specifier)  # the specifier's syntax, whatever is installed
        except (ValueError, AttributeError) as err:
            raise KnownDivergenceError(f"versions.{distribution} = {specifier!r}: {err}") from None
        installed = machine.library_version(distribution)
        if installed is None or not machine.version_in(installed, specifier):
            return False
    return True


_MACHINE = ("cpu_has", "cpu_lacks", "tf_onednn", "tf_kernel", "versions")


def _some_dim(want: Any, config: ConvConfig) -> bool:
    """some_dim = { direct_padding_lo_lt = 0, direct_padding_hi_gt = 0 }: one spatial dim meets all of them."""
    if not isinstance(want, dict) or not want:
        raise KnownDivergenceError(f"some_dim = {want!r}: give a table of per-dim conditions, "
                                   "e.g. { direct_padding_lo_lt = 0, direct_padding_hi_gt = 0 }")
    tests = []
    for key, value in want.items():
        field_name, _, op = key.rpartition("_")
        if op not in _OPS or field_name not in _PER_DIM:
            raise KnownDivergenceError(f"some_dim.{key}: give a per-dim field ({', '.join(_PER_DIM)}) and an "
                                       f"operator ({', '.join(_OPS)}), e.g. kernel_gt = 1")
        other = _per_dim(value, config) if isinstance(value, str) else [value] * config.ndim
        tests.append((_per_dim(field_name, config), _OPS[op], other))
    return any(all(op(values[dim], other[dim]) for values, op, other in tests) for dim in range(config.ndim))


def _holds(name: str, want: Any, config: ConvConfig, context: dict[str, str]) -> bool:
    if name in _MACHINE:
        return _machine_holds(name, want, config, context)
    if name == "some_dim":
        return _some_dim(want, config)
    if name.startswith(("any_", "all_")):
        quantifier, rest = (any if name.startswith("any_") else all), name[4:]
        relation = _relation(rest)
        if relation is not None:  # any_output_padding_ge_stride = true: the relation holds in some (every) dim
            if not isinstance(want, bool):
                raise KnownDivergenceError(f"{name} relates two fields: its value must be true or false, not {want!r}")
            left, op, right = relation
            return quantifier(_OPS[op](a, b) for a, b in zip(_per_dim(left, config), _per_dim(right, config))) == want
        field_name, _, op = rest.rpartition("_")
        if op not in _OPS:
            raise KnownDivergenceError(f"condition {name!r}: the operator {op!r} is not one of {tuple(_OPS)}")
        return quantifier(_OPS[op](v, want) for v in _per_dim(field_name, config))
    base, _, op = name.rpartition("_")
    if op in _OPS and base:
        if isinstance(want, str):  # out_channels_lt = "groups": compared with another field
            want = _value(want, config, context)
        return _OPS[op](_value(base, config, context), want)
    value = _value(name, config, context)
    if isinstance(want, list) and not isinstance(value, list):
        return value in want
    return value == want


@dataclass
class KnownDivergences:
    entries: list[KnownDivergence]
    precision: str = "default"  # the run's --precision, a condition entries may name
    matched: Counter = field(default_factory=Counter)      # examples whose config matched an entry's conditions
    reproduced: Counter = field(default_factory=Counter)   # ... and diverged as described (per result)
    hits: Counter = field(default_factory=Counter)         # examples matched that reproduced it (hit rate: hits / matched)
    _environments: dict = field(default_factory=dict, repr=False)  # implementation spec -> its declared environment

    def _environment(self, target) -> dict[str, str]:
        """What the target implementation's process adds to os.environ (its declared `environment`)."""
        spec = getattr(target, "spec", None) or target.implementation
        if spec not in self._environments:
            from .isolation import worker_environment

            self._environments[spec] = worker_environment(spec)
        return self._environments[spec]

    def _applies(self, entry: KnownDivergence, target, config: ConvConfig, rule=None) -> bool:
        return entry.applies(target.implementation, target.op, target.device, config, self.precision, rule,
                             self._environment(target))

    def _match(self, target, config, check, status, kind, fits=None, rule=None, text=None,
               returncode=None) -> str | None:
        for entry in self.entries:
            if self._applies(entry, target, config, rule) \
                    and entry.reproduces(check, status, kind, fits, text, returncode):
                self.reproduced[entry.id] += 1
                return entry.id
        return None

    def match(self, target, config: ConvConfig, check: str, verdict, fits=None, rule: str | None = None) -> str | None:
        """The id of the entry this verdict reproduces, or None.

        fits(arithmetic_fields) -> bool says whether that arithmetic explains the result: the harness passes
        functools.partial(conformance.ceilings.within_ceiling, check=..., result=..., expected=...,
        abs_expected=..., terms=..., config=...).
        """
        return self._match(target, config, check, verdict.status, verdict.kind, fits, rule)

    def match_event(self, target, config: ConvConfig, record: dict, rule: str | None = None) -> str | None:
        """The id of the entry this crash/error/timeout reproduces, or None; `rule` is the validity
        rule an invalid call breaks (an entry's `when = { rule = ... }` matches on it). record:
        {"check", "status", and for the signature "message" (the error's or crash's text) and "returncode"}."""
        return self._match(target, config, record["check"], record["status"], None, rule=rule,
                           text=record.get("message"), returncode=record.get("returncode"))

    def near_miss(self, target, config: ConvConfig, check: str, status: str, kind: str | None = None, fits=None,
                  rule: str | None = None, text: str | None = None, returncode: int | None = None) -> str | None:
        """For a failure no entry reproduces: "inside KD-018's region, but a different error: ..." when an
        entry's region holds the call and the check, naming how the result differs from its signature."""
        for entry in self.entries:
            if entry.covers(check) and self._applies(entry, target, config, rule):
                why = entry.difference(check, status, kind, fits, text, returncode)
                if why is not None:
                    return f"inside {entry.id}'s region ({entry.summary[:120]}), but {why}"
        return None

    def crash_entry(self, target, config: ConvConfig, check: str, rule: str | None = None) -> KnownDivergence | None:
        """The entry, if any, that expects this call to crash or hang (it applies to the config and
        expects "crash" or "timeout" for check kind `check`); asked before calling, counts nothing."""
        for entry in self.entries:
            if not {"crash", "timeout"} & set(entry.expected):
                continue
            if self._applies(entry, target, config, rule) and any(
                    entry.reproduces(check, status, None) for status in ("crash", "timeout")):
                return entry
        return None

    def observe(self, target, config: ConvConfig, rule: str | None = None, checks: tuple[str, ...] = (),
                reproduced: frozenset[str] = frozenset()) -> None:
        """Count an example (one call made) for every entry whose conditions it meets and that is about one
        of its `checks` (results and check kind; all when empty), and a hit for each entry in `reproduced`
        (the ids its results were recorded known for): an entry's hit rate is hits / matched."""
        for entry in self.entries:
            if (not checks or any(entry.covers(c) for c in checks)) and self._applies(entry, target, config, rule):
                self.matched[entry.id] += 1
                self.hits[entry.id] += entry.id in reproduced

    def status_record(self, run_id: str) -> dict:
        rows = []
        for entry in self.entries:
            matched, reproduced, hits = self.matched[entry.id], self.reproduced[entry.id], self.hits[entry.id]
            state = entry_state(matched, reproduced, hits, entry.min_matches, entry.classification == "precision")
            # The keys are the fields of conformance.records.KnownDivergenceState, no more, no less.
            rows.append({"id": entry.id, "implementations": list(entry.implementations), "summary": entry.summary,
                         "classification": entry.classification, "upstream": entry.upstream,
                         "draft": entry.draft, "matched": matched, "reproduced": reproduced, "hits": hits,
                         "state": state,
                         "min_matches": entry.min_matches, "reproducer": entry.reproducer,
                         "source": entry.source})
        return {"type": "known_divergences", "run_id": run_id, "entries": rows}


# An entry whose region mostly passes is wider than its bug: below this hit rate (examples in its region
# that reproduced it, over those that reached it), with at least OVER_WIDE_MIN_MATCHES of them, its
# state says "over-wide?". Half: "most of the examples that reach it" must be its bug (issue #33).
OVER_WIDE_HIT_RATE = 0.5
OVER_WIDE_MIN_MATCHES = 20


def entry_state(matched: int, reproduced: int, hits: int, min_matches: int = 1, precision: bool = False) -> str:
    """An entry's state in one run, from its counts (the writer's and the report's one rule). A
    precision entry is never called over-wide for its passes: a half-format sum is sometimes lucky."""
    if matched == 0:
        return "matched nothing collected"
    if reproduced == 0 and matched < min_matches:
        return f"not reproduced in {matched} matching examples (too few to tell; it needs {min_matches})"
    if reproduced == 0:
        return "fixed upstream?"
    if not precision and matched >= max(OVER_WIDE_MIN_MATCHES, min_matches) and hits < OVER_WIDE_HIT_RATE * matched:
        return f"over-wide? (reproduced in {hits} of {matched} examples in its region)"
    return "reproduced"


def merge_known(*collections: KnownDivergences) -> KnownDivergences:
    """The entries of several loaded files, in the order given (the built-in file first: the first entry
    that matches wins); raises KnownDivergenceError when two files define the same id."""
    entries: list[KnownDivergence] = []
    seen: dict[str, KnownDivergence] = {}
    for collection in collections:
        for entry in collection.entries:
            if entry.id in seen:
                raise KnownDivergenceError(
                    f"duplicate id {entry.id!r}: defined in {seen[entry.id].source or 'an unnamed collection'} "
                    f"and in {entry.source or 'an unnamed collection'}; rename one of them")
            seen[entry.id] = entry
            entries.append(entry)
    merged = KnownDivergences(entries, precision=collections[0].precision if collections else "default")
    for collection in collections:
        merged.matched.update(collection.matched)
        merged.reproduced.update(collection.reproduced)
        merged.hits.update(collection.hits)
    return merged


def _text(raw: dict, name: str, where: str) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise KnownDivergenceError(f"{where}: {name} = {value!r} must be a string (a path or a URL)")
    return value


def is_upstream_url(text: str) -> bool:
    """Whether `text` is exactly a GitHub issue or pull-request URL (https://github.com/org/repo/issues/N)."""
    return UPSTREAM_URL.fullmatch(text) is not None


def _check_upstream(raw: dict, where: str, draft_root: Path) -> None:
    upstream, draft = raw["upstream"], raw.get("draft", "")
    if is_upstream_url(upstream):
        return
    if draft:
        if not (draft_root / draft).is_file():
            raise KnownDivergenceError(f"{where}: draft = {draft!r} does not exist under {draft_root}; "
                                       f"write the report there or fix the path")
        return
    raise KnownDivergenceError(
        f"{where}: upstream = {upstream!r} is not an issue or pull-request URL "
        f"(https://github.com/<org>/<repo>/issues/N or /pull/N) and the entry has no draft; "
        f"link the upstream thread or set draft = \"docs/upstream/{raw['id']}.md\"")


def load_known_divergences(path: str | Path = DEFAULT_PATH, *, require_upstream: bool = False,
                           draft_root: str | Path = REPO_ROOT) -> KnownDivergences:
    """The entries of the TOML file at `path` (none if it does not exist), each with `source` = path.

    - require_upstream: every entry must link its upstream thread (`upstream` a GitHub issue/PR URL)
      or name a `draft` file that exists under `draft_root` (the built-in file's rule).
    - draft_root: the directory `draft` paths are relative to (the repository root by default).

    Raises KnownDivergenceError naming the entry and what is wrong with it.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return KnownDivergences([])
    except tomllib.TOMLDecodeError as err:
        raise KnownDivergenceError(f"{path}: not valid TOML: {err}") from None
    entries, seen = [], set()
    for number, raw in enumerate(data.get("divergence", []), start=1):
        where = f"{path.name} entry {number} ({raw.get('id', 'no id')})"
        for required in ("id", "implementations", "summary", "classification", "expected", "upstream"):
            if required not in raw:
                raise KnownDivergenceError(f"{where}: missing field {required!r}")
        if raw["id"] in seen:
            raise KnownDivergenceError(f"{where}: duplicate id {raw['id']!r}")
        seen.add(raw["id"])
        if raw["classification"] not in CLASSIFICATIONS:
            raise KnownDivergenceError(f"{where}: classification {raw['classification']!r} not in {CLASSIFICATIONS}")
        expected = (raw["expected"],) if isinstance(raw["expected"], str) else tuple(raw["expected"])
        if not expected or any(e not in EXPECTED for e in expected):
            raise KnownDivergenceError(f"{where}: expected {raw['expected']!r}: each must be one of {EXPECTED}")
        if require_upstream:
            _check_upstream(raw, where, Path(draft_root))
        minimal = raw.get("minimal_config")
        if minimal is not None:
            try:
                ConvConfig.from_dict(minimal)
            except ValueError as err:
                raise KnownDivergenceError(f"{where}: minimal_config is invalid: {err}") from None
        _check_signature(raw, where, expected)
        within = raw.get("within_arithmetic")
        if raw["classification"] == "precision" and within is None:
            raise KnownDivergenceError(
                f"{where}: a precision entry needs within_arithmetic, the arithmetic that explains it, e.g. "
                f"within_arithmetic = {{ accumulation = \"dtype\", output = \"dtype\" }}")
        if within is not None:
            try:
                if not isinstance(within, dict):
                    raise ValueError("must be a table such as { accumulation = \"dtype\", output = \"dtype\" }")
                resolve_arithmetic(within, "float32")
            except ValueError as err:
                raise KnownDivergenceError(f"{where}: within_arithmetic {within!r}: {err}") from None
        entries.append(KnownDivergence(
            id=raw["id"], implementations=tuple(raw["implementations"]), summary=raw["summary"],
            classification=raw["classification"], expected=expected, checks=tuple(raw.get("checks", ())),
            kind=raw.get("kind"), when=dict(raw.get("when", {})), upstream=raw["upstream"],
            reproducer=raw.get("reproducer", ""), minimal_config=minimal, who_is_right=raw.get("who_is_right", ""),
            within_arithmetic=within, min_matches=int(raw.get("min_matches", 1)),
            draft=_text(raw, "draft", where), upstream_status=_text(raw, "upstream_status", where), source=str(path),
            message=_text(raw, "message", where), signal=_text(raw, "signal", where),
        ))
        _check_conditions(entries[-1], where)
    return KnownDivergences(entries)


def _check_signature(raw: dict, where: str, expected: tuple[str, ...]) -> None:
    """`message` must be a regular expression and `signal` a signal's name, each on an entry that expects
    what it describes."""
    message, signal = raw.get("message", ""), raw.get("signal", "")
    if message:
        if not set(expected) & {"error", "crash", "timeout"}:
            raise KnownDivergenceError(f"{where}: message = {message!r} describes an error, but the entry expects "
                                       f"{list(expected)}; remove it or expect \"error\"")
        try:
            re.compile(str(message))
        except re.error as err:
            raise KnownDivergenceError(f"{where}: message = {message!r} is not a regular expression: {err}") from None
    if signal:
        if signal not in _SIGNALS:
            raise KnownDivergenceError(f"{where}: signal = {signal!r} is not a signal's name (SIGABRT, SIGSEGV, ...)")
        if "crash" not in expected:
            raise KnownDivergenceError(f"{where}: signal = {signal!r}, but the entry does not expect \"crash\"")


_PROBE = ConvConfig(ndim=1, in_size=4, kernel=2)  # any valid config: every condition must be computable on it


def _check_conditions(entry: KnownDivergence, where: str) -> None:
    """A malformed `when` (an unknown field, a relation without a true/false value) fails at load, naming it."""
    context = {"op": "conv1d", "device": "cpu", "implementation": entry.implementations[0] if entry.implementations
               else "", "precision": "default", "rule": None}
    for name, want in entry.when.items():
        try:
            _holds(name, want, _PROBE, context)
        except KnownDivergenceError as err:
            raise KnownDivergenceError(f"{where}: when.{name}: {err}") from None
        except (ArithmeticError, TypeError, ValueError):
            pass  # computable, but not on this probe (a value of another type): judged at match time
