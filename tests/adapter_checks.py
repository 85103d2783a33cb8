"""Helpers for the adapter tests: configs, arrays, the check against references.naive, and a
crash-tolerant child process that runs checks for frameworks that can abort the process.

- `hypothesis_configs(family, dtype)`: conformance.strategies.conv_configs, sized for these tests.
- `random_configs(count, ...)`: a fixed, seeded list of valid configs (NumPy generator through
  `draw_config`), for lists sent to a child process and for repeatable sweeps.
- `check_against_naive(impl, config, seed, checks)` runs the implementation and the float64 naive
  reference on the same rounded inputs and returns, per check, the max error and the max ratio
  error / bound, with bound = conformance.tolerance.error_bound for the declared arithmetic.
- `run_in_child(impl_name, jobs)` sends jobs to `python -m tests.adapter_checks --worker IMPL`,
  reads one JSON line per job, and restarts the worker after a crash at the next job; a crash is
  returned as a finding (config, signal, stderr tail), never raised.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from conformance.arithmetic import FLOAT64, Arithmetic
from conformance.config import ConvConfig
from conformance.dtypes import to_storage
from conformance.tolerance import CHECKS, error_bound, reduction_lengths

__all__ = [
    "FAMILIES", "draw_config", "hypothesis_configs", "random_configs", "make_arrays",
    "check_against_naive", "describe_failure", "run_in_child", "CHECKS",
]

REPO = Path(__file__).resolve().parent.parent

# (ndim, transposed) per op family, with ids that read like the op.
FAMILIES = {f"conv{'_transpose' if t else ''}{n}d": (n, t) for t in (False, True) for n in (1, 2, 3)}


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
    from conformance.strategies import conv_configs

    return conv_configs(op=family, dtypes=(dtype,), max_channels_per_group=6, max_macs=20_000, max_elements=8_000)


def random_configs(count: int, *, ndim: int, transposed: bool, dtype: str = "float64", seed: int = 0):
    """`count` configs from a seeded generator (the same list on every run)."""
    rng = np.random.default_rng([seed, ndim, int(transposed)])
    return [draw_config(lambda lo, hi: int(rng.integers(lo, hi + 1)), ndim=ndim, transposed=transposed, dtype=dtype)
            for _ in range(count)]


def make_arrays(config: ConvConfig, seed: int):
    """x, w, b (or None), grad_out: standard normal values rounded once to the config dtype."""
    rng = np.random.default_rng(seed)
    shapes = (config.input_shape, config.weight_shape, (config.out_channels,), config.output_shape)
    x, w, b, g = (to_storage(rng.standard_normal(shape), config.dtype) for shape in shapes)
    return x, w, (b if config.bias else None), g


def _naive_results(config: ConvConfig, x, w, b, g):
    from references.naive import NaiveReference

    naive = NaiveReference()
    forward = naive.forward(config, x, w, b)
    grad_x, grad_w, grad_b = naive.vjp(config, x, w, b, g)
    return {"forward": forward, "grad_input": grad_x, "grad_weight": grad_w, "grad_bias": grad_b}


def check_against_naive(impl, config: ConvConfig, seed: int = 0, checks=CHECKS, device: str = "cpu",
                        arithmetic: Arithmetic | None = None) -> dict:
    """{check: {"max_error", "ratio", "index", "got", "expected", "bound"}} against references.naive.

    ratio = max over elements of |impl - naive| / bound; <= 1 passes. Shapes must match exactly.
    arithmetic defaults to the implementation's declaration (float64 configs: FLOAT64).
    """
    arithmetic = arithmetic or (FLOAT64 if config.dtype == "float64" else impl.arithmetic(config, device))
    x, w, b, g = make_arrays(config, seed)
    wanted = [c for c in checks if c != "grad_bias" or config.bias]
    got = {}
    if "forward" in wanted:
        got["forward"] = impl.forward(config, x, w, b, device=device)
    if any(c != "forward" for c in wanted):
        grads = impl.vjp(config, x, w, b, g, device=device)
        got.update(zip(("grad_input", "grad_weight", "grad_bias"), grads))
    f64 = [None if a is None else np.asarray(a, dtype=np.float64) for a in (x, w, b, g)]
    exact = _naive_results(config, *f64)
    absolute = _naive_results(config, *[None if a is None else np.abs(a) for a in f64])
    lengths = reduction_lengths(config)
    results = {}
    for check in wanted:
        expected = exact[check]
        actual = got[check]
        if actual is None or tuple(actual.shape) != tuple(expected.shape):
            shape = None if actual is None else tuple(actual.shape)
            results[check] = {"shape_error": f"shape {shape}, expected {tuple(expected.shape)}"}
            continue
        actual = np.asarray(actual, dtype=np.float64)
        bound = error_bound(absolute[check], expected, lengths[check], arithmetic)
        error = np.abs(actual - expected)
        error = np.where(np.isnan(actual) & ~np.isnan(expected), np.inf, error)
        # An exact result passes even where the bound is 0 (float64's eta, 2^-1075, rounds to 0).
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(error == 0, 0.0, error / bound)
        if ratio.size == 0:
            results[check] = {"max_error": 0.0, "ratio": 0.0}
            continue
        index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        results[check] = {"max_error": float(error.max()), "ratio": float(ratio[index]), "index": list(map(int, index)),
                          "got": float(actual[index]), "expected": float(expected[index]), "bound": float(bound[index])}
    return results


def describe_failure(impl_name: str, config: ConvConfig, results: dict, device: str = "cpu") -> str | None:
    """None when every check passed, else one line per failing check in the project's message style."""
    lines = []
    for check, result in results.items():
        if "shape_error" in result:
            lines.append(f"{check}: {result['shape_error']} [{impl_name} {config} on {device}]")
        elif not result["ratio"] <= 1.0:
            where = ", ".join(map(str, result["index"]))
            lines.append(
                f"{check}[{where}] = {result['got']:.6g}, expected {result['expected']:.6g} "
                f"(error {result['ratio']:.3g} x bound {result['bound']:.3g}) [{impl_name} {config} on {device}]"
            )
    return "\n".join(lines) or None


# ---- a child process that survives the framework aborting it -----------------------------------


def _worker(impl_name: str) -> None:
    """Read {"config": {...}, "seed": int, "checks": [...]} lines; answer one JSON line each."""
    from conformance.registry import get_implementation

    impl = get_implementation(impl_name)
    for index, line in enumerate(sys.stdin):
        job = json.loads(line)
        print(json.dumps({"start": index}), flush=True)  # the parent's record of what was running
        config = ConvConfig.from_dict(job["config"])
        try:
            results = check_against_naive(impl, config, job.get("seed", 0), job.get("checks", CHECKS))
            print(json.dumps({"done": index, "results": results}), flush=True)
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

    Returns (answers, crashes): answers[i] is the worker's dict for jobs[i] (or None if it crashed
    there); crashes lists {"index", "config", "signal", "stderr"}.
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
