"""Helpers for the adapter tests: configs, the check against the naive reference (judged by the
suite's own comparator), and a crash-tolerant child process for frameworks that can abort it.

- `hypothesis_configs(family, dtype)`: conformance.strategies.conv_configs, sized for these tests.
- `random_configs(count, ...)`: a fixed, seeded list of valid configs (NumPy generator through
  `draw_config`), for lists sent to a child process and for repeatable sweeps.
- `check_against_naive(impl, config, seed, checks)` runs the implementation on the suite's data
  (conformance.strategies.make_tensors, rounded to the config dtype, in its storage type) and judges
  each result with conformance.compare.compare, as the suite does: expected values from the float64
  naive reference on the same values, the bound from the naive reference on their absolute values,
  the reduction lengths of conformance.tolerance and the declared arithmetic. Returns {check: Verdict}.
- `describe_failure(impl_name, config, verdicts)`: the failing verdicts' messages, or None.
- `assert_results_in_storage(impl, config)`: results come back in the dtype's storage type, with
  values of the dtype (bfloat16: float32 arrays holding bfloat16 values).
- `run_in_child(impl_name, jobs)` sends jobs to `python -m tests.adapter_checks --worker IMPL`,
  reads one JSON line per job, and restarts the worker after a crash at the next job; a crash is
  returned as a finding (config, signal, stderr tail), never raised.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from conformance.arithmetic import Arithmetic
from conformance.checks import FORWARD, GRADIENT
from conformance.compare import Verdict, compare
from conformance.config import ConvConfig
from conformance.dtypes import round_to_dtype, storage_dtype
from conformance.strategies import ConvTensors, conv_configs, make_tensors
from conformance.tolerance import reduction_lengths

CHECKS = FORWARD.results + GRADIENT.results  # the results of a forward and a VJP call

__all__ = [
    "FAMILIES", "CHECKS", "draw_config", "hypothesis_configs", "random_configs", "storage_inputs",
    "naive_oracle", "check_against_naive", "known_divergence_ids", "describe_failure", "assert_results_in_storage", "run_in_child",
]

REPO = Path(__file__).resolve().parent.parent

# (ndim, transposed) per op family, with ids that read like the op.
FAMILIES = {f"conv{'_transpose' if t else ''}{n}d": (n, t) for t in (False, True) for n in (1, 2, 3)}

GRADIENTS = ("grad_input", "grad_weight", "grad_bias")


def draw_config(draw_int, *, ndim: int, transposed: bool, dtype: str = "float64", max_groups: int = 3,
                allow_empty_batch: bool = True) -> ConvConfig:
    """One valid config; draw_int(lo, hi) returns an int in [lo, hi] (small values = simple configs)."""
    max_size, max_kernel = {1: (9, 5), 2: (7, 4), 3: (5, 3)}[ndim]
    groups = draw_int(1, max_groups)
    in_channels, out_channels = groups * draw_int(1, 3), groups * draw_int(1, 3)
    batch = draw_int(0 if allow_empty_batch else 1, 3)
    batch = batch if batch != 3 else 1  # keep N=1 the common case, N=0 and N=2 reachable
    kernel = tuple(draw_int(1, max_kernel) for _ in range(ndim))
    stride = tuple(draw_int(1, 3) for _ in range(ndim))
    dilation = tuple(draw_int(1, 3) for _ in range(ndim))
    mode = draw_int(0, 3)  # 0: (lo, hi) pairs, 1: symmetric, 2: "valid", 3: "same" where allowed
    if mode == 3 and (transposed or any(s != 1 for s in stride)):
        mode = 0
    if mode == 0:
        padding = tuple((draw_int(0, 3), draw_int(0, 3)) for _ in range(ndim))
    elif mode == 1:
        padding = tuple((p, p) for p in (draw_int(0, 3) for _ in range(ndim)))
    else:
        padding = ("valid", "same")[mode - 2]
    output_padding = tuple(draw_int(0, max(s, d) - 1) if transposed else 0 for s, d in zip(stride, dilation))
    pairs = ((0, 0),) * ndim if isinstance(padding, str) else padding
    in_size = []
    for k, s, d, (lo, hi), op in zip(kernel, stride, dilation, pairs, output_padding):
        size = draw_int(1, max_size)
        # Raise the input size to the smallest one with a positive output size.
        if transposed:
            size = max(size, 1 + max(0, -(-(lo + hi - d * (k - 1) - op) // s)))
        elif padding != "same":
            size = max(size, d * (k - 1) + 1 - lo - hi)
        in_size.append(size)
    return ConvConfig(ndim=ndim, transposed=transposed, batch=batch, in_channels=in_channels,
                      out_channels=out_channels, groups=groups, in_size=tuple(in_size), kernel=kernel,
                      stride=stride, dilation=dilation, output_padding=output_padding, padding=padding,
                      bias=bool(draw_int(0, 1)), dtype=dtype)


def hypothesis_configs(family: str, dtype: str = "float64"):
    """conformance.strategies.conv_configs for one op family and dtype, sized for fast adapter tests."""
    # Zero input channels is a known divergence of torch and Keras (KD-017, KD-022), tested by the suite;
    # padding modes add their own roundings (tolerance.padding_fold_roundings), judged by the suite.
    return conv_configs(op=family, dtypes=(dtype,), max_channels_per_group=6, max_macs=20_000,
                        max_elements=8_000).filter(lambda c: c.in_channels > 0 and c.padding_mode == "zeros")


def random_configs(count: int, *, ndim: int, transposed: bool, dtype: str = "float64", seed: int = 0):
    """`count` configs from a seeded generator (the same list on every run)."""
    rng = np.random.default_rng([seed, ndim, int(transposed)])
    return [draw_config(lambda lo, hi: int(rng.integers(lo, hi + 1)), ndim=ndim, transposed=transposed, dtype=dtype)
            for _ in range(count)]


def storage_inputs(config: ConvConfig, seed: int) -> ConvTensors:
    """The suite's data for (config, seed) in the dtype's storage type: what implementations receive."""
    return make_tensors(config, seed).in_storage(config.dtype).in_layout(config)


def _absolute(tensors: ConvTensors) -> ConvTensors:
    return ConvTensors(np.abs(tensors.x), np.abs(tensors.w), None if tensors.b is None else np.abs(tensors.b),
                       np.abs(tensors.grad_out))


def naive_oracle(config: ConvConfig, tensors: ConvTensors) -> tuple[dict, dict]:
    """(expected, abs_expected) per check: the float64 naive reference on the values and on their absolute values."""
    from references.numpy.naive import NaiveReference

    naive = NaiveReference()

    def results(t: ConvTensors) -> dict:
        forward = naive.forward(config, t.x, t.w, t.b)
        return dict(zip(CHECKS, (forward, *naive.vjp(config, t.x, t.w, t.b, t.grad_out))))

    return results(tensors), results(_absolute(tensors))


def check_against_naive(impl, config: ConvConfig, seed: int = 0, checks=CHECKS, device: str = "cpu",
                        arithmetic: Arithmetic | Callable[[str], Arithmetic] | None = None) -> dict[str, Verdict]:
    """{check: Verdict} for `impl` on make_tensors(config, seed), judged by conformance.compare.compare.

    - checks: which of forward, grad_input, grad_weight, grad_bias to run (grad_bias: only with a bias;
      without one the implementation must return None for it).
    - arithmetic: the arithmetic that sets the bound, for every check or as a function of the check;
      None: the implementation's declaration, impl.arithmetic(config, device).
    A result must also come in the dtype's storage type (a float64 config answered in float32 is a
    `dtype` mismatch even when its values are within the bound).
    """
    tensors = make_tensors(config, seed)
    inputs = tensors.in_storage(config.dtype).in_layout(config)
    got = {}
    if "forward" in checks:
        got["forward"] = impl.forward(config, inputs.x, inputs.w, inputs.b, device=device)
    if any(check in GRADIENTS for check in checks):
        got.update(zip(GRADIENTS, impl.vjp(config, inputs.x, inputs.w, inputs.b, inputs.grad_out, device=device)))
    expected, abs_expected = naive_oracle(config, tensors)
    terms = reduction_lengths(config)
    verdicts = {}
    for check in checks:
        if check == "grad_bias" and not config.bias:
            if got[check] is not None:
                verdicts[check] = Verdict("mismatch", "shape", {"shape_expected": None},
                                          problem=f"grad_bias is a {type(got[check]).__name__}, expected None (no bias)")
            continue
        declared = arithmetic(check) if callable(arithmetic) else arithmetic or impl.arithmetic(config, device)
        verdict = compare(check, got[check], expected[check], abs_expected[check], terms[check], declared)
        storage = storage_dtype(config.dtype)
        if verdict.passed and np.asarray(got[check]).dtype != storage:
            verdict = Verdict("mismatch", "dtype", verdict.stats,
                              problem=f"{check} is a {np.asarray(got[check]).dtype} array, expected {storage} "
                                      f"(the storage type of {config.dtype})")
        verdicts[check] = verdict
    return verdicts


def describe_failure(impl_name: str, config: ConvConfig, verdicts: dict[str, Verdict], device: str = "cpu") -> str | None:
    """None when every verdict passed, else one line per failing check: the comparator's problem, then the call."""
    lines = [f"{verdict.problem} [{impl_name} {config} on {device}]"
             for verdict in verdicts.values() if not verdict.passed]
    return "\n".join(lines) or None


def assert_results_in_storage(impl, config: ConvConfig, device: str = "cpu") -> None:
    """Every result is an array of the dtype's storage type holding values of the dtype (no unrounded float32
    for bfloat16), and grad_bias is None without a bias."""
    t = storage_inputs(config, 0)
    results = dict(zip(CHECKS, (impl.forward(config, t.x, t.w, t.b, device=device),
                                *impl.vjp(config, t.x, t.w, t.b, t.grad_out, device=device))))
    storage = storage_dtype(config.dtype)
    for check, result in results.items():
        where = f"[{impl.name} {config} on {device}]"
        if check == "grad_bias" and not config.bias:
            assert result is None, f"grad_bias is a {type(result).__name__}, expected None (no bias) {where}"
            continue
        assert isinstance(result, np.ndarray) and result.dtype == storage, (
            f"{check} is a {type(result).__name__} of {getattr(result, 'dtype', None)}, expected {storage} {where}")
        values = result.astype(np.float64)
        unrounded = round_to_dtype(values, config.dtype) != values
        assert not unrounded.any(), (
            f"{check}{np.argwhere(unrounded)[0].tolist()} = {values[unrounded][0]!r} is not a {config.dtype} value "
            f"({int(unrounded.sum())} of {values.size}) {where}")


# ---- a child process that survives the framework aborting it -----------------------------------


def _worker(impl_name: str) -> None:
    """Read {"config": {...}, "seed": int, "checks": [...]} lines; answer one JSON line each
    ({"done": i, "verdicts": {check: Verdict fields}} or {"done": i, "error": "..."})."""
    from conformance.registry import get_implementation

    impl = get_implementation(impl_name)
    for index, line in enumerate(sys.stdin):
        job = json.loads(line)
        print(json.dumps({"start": index}), flush=True)  # the parent's record of what was running
        config = ConvConfig.from_dict(job["config"])
        try:
            verdicts = check_against_naive(impl, config, job.get("seed", 0), job.get("checks", CHECKS))
            sent = {check: dataclasses.replace(verdict, heatmap=None) for check, verdict in verdicts.items()}
            print(json.dumps({"done": index, "verdicts": {c: dataclasses.asdict(v) for c, v in sent.items()}}),
                  flush=True)
        except Exception as err:  # an exception is a result too; only a dead process is a crash
            print(json.dumps({"done": index, "error": f"{type(err).__name__}: {err}"[:500]}), flush=True)


def _signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            pass
    return f"exit status {returncode}"


def run_in_child(impl_name: str, jobs: list[dict], progress=None):
    """Run jobs in `python -m tests.adapter_checks --worker impl_name`, restarting after crashes.

    Returns (answers, crashes): answers[i] is the worker's dict for jobs[i], with "verdicts" as
    {check: Verdict} or "error" (None if it crashed there); crashes lists {"index", "config", "signal", "stderr"}.
    """
    answers: list = [None] * len(jobs)
    crashes = []
    start = 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    while start < len(jobs):
        # Jobs go in through a file and stderr out to one: no pipe can fill up and block either side.
        with tempfile.TemporaryFile("w+") as stdin, tempfile.TemporaryFile("w+") as stderr:
            stdin.write("".join(json.dumps(job) + "\n" for job in jobs[start:]))
            stdin.seek(0)
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.adapter_checks", "--worker", impl_name],
                stdin=stdin, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=REPO,
            )
            running = None
            for line in proc.stdout:  # one line per event, as the worker flushes them
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:  # something the framework printed; not ours
                    continue
                if "start" in message:
                    running = start + message["start"]
                else:
                    if "verdicts" in message:
                        message["verdicts"] = {check: Verdict(**fields) for check, fields in message["verdicts"].items()}
                    answers[start + message["done"]] = message
                    running = None
                    if progress:
                        progress(start + message["done"], message)
            proc.wait()
            stderr.seek(0)
            err = stderr.read()
        if proc.returncode == 0 and running is None:
            break
        crashed_at = running if running is not None else start
        crashes.append({"index": crashed_at, "config": jobs[crashed_at]["config"],
                        "signal": _signal_name(proc.returncode), "stderr": err[-600:]})
        start = crashed_at + 1
    return answers, crashes


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
    else:
        sys.exit("usage: python -m tests.adapter_checks --worker IMPLEMENTATION_NAME")


def known_divergence_ids(implementation: str, config: ConvConfig, device: str = "cpu") -> set[str]:
    """The ids of the known divergences (conformance/known_divergences.toml) whose conditions `config`
    meets for `implementation`: adapter tests skip those configs, the suite records them."""
    from conformance.known import load_known_divergences
    from conformance.vocabulary import op_name

    op = op_name(config.ndim, config.transposed)
    return {entry.id for entry in load_known_divergences().entries
            if entry.applies(implementation, op, device, config, "default", None)}
