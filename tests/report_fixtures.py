"""Realistic synthetic results.jsonl records for the report's tests, screenshot and benchmark.

Every record is one of conformance.records' dataclasses, written with its to_json, so the fixtures,
the harness (the writer) and the report (the reader) share one definition of every field.

`sample_records()` is a small run of two xdist workers with planted findings:
- jax conv2d forward on cpu: value mismatches whose heatmap is a border (a padding bug);
- torch conv_transpose2d grad_weight on cuda: a stride lattice heatmap;
- torch conv2d float16 forward on cuda: non-finite output;
- tensorflow conv_transpose1d: a shape mismatch; conv3d: a crash; conv_transpose3d: timeouts;
- jax grad_input: one error (the same ValueError) in conv1d and conv_transpose1d: one card;
- tensorflow conv2d padding='same': a known divergence (KD-004);
- tensorflow unsupported: grouped transposed convolution, with reasons; onnxruntime: no gradients,
  and no conv_transpose3d at all (a matrix cell that is unsupported only);
- each planted failure is shrunk: a few "shrink" replays, one "final" shrunk example, and one
  "consensus" replay of another implementation on it;
- the last test (gw1) has no summary and its final line is cut short, as when a run is killed;
  gw0 wrote its known-divergence counts and its run_end, gw1 did not.

`write_results(path, records, truncate_last=True)` writes them as JSON lines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import tempfile
from pathlib import Path
from typing import Any, Iterable

from conformance.checks import FORWARD, GRADIENT
from conformance.config import ConvConfig, InvalidConfig
from conformance.coverage import features_of
from conformance.records import CheckRecord, KnownDivergencesRecord, KnownDivergenceState, Record, RunEndRecord, RunRecord, SummaryRecord, to_json
from conformance.vocabulary import OP_NAMES

__all__ = [
    "OPS", "RUN_ID", "border_heatmap", "chromium_missing", "headless_chromium", "large_records", "lattice_heatmap",
    "sample_records", "write_results",
]

OPS = OP_NAMES
RUN_ID = "20261122T212400Z-4f1c"
CHECKS = FORWARD.results + GRADIENT.results  # conformance.checks states them
IMPLEMENTATIONS = {"naive": ("cpu",), "im2col": ("cpu",), "torch": ("cpu", "cuda"), "jax": ("cpu",),
                   "onnxruntime": ("cpu",), "tensorflow": ("cpu",)}
VERSIONS = {"numpy": "2.4.0", "torch": "2.13.0", "jax": "0.10.2", "tensorflow": "2.21.0", "onnxruntime": "1.23.0",
            "hypothesis": "6.140.2"}
NO_GRADIENTS = "onnxruntime: no gradients (vjp not implemented)"
NO_TRANSPOSE_3D = "onnxruntime: ConvTranspose with 3 spatial dims is not in the CPU execution provider"


def border_heatmap(rows: int = 12, cols: int = 10, *, inside: float = 0.05, edge: float = 420.0) -> dict:
    """Large errors on the outermost ring only: what a padding bug looks like."""
    values = [
        [edge if y in (0, rows - 1) or x in (0, cols - 1) else inside * (1 + (x * y) % 3) for x in range(cols)]
        for y in range(rows)
    ]
    return {"shape": [rows, cols], "values": values, "axes": "H x W"}


def lattice_heatmap(rows: int = 16, cols: int = 16, *, stride: int = 2, beyond: float = 35.0) -> dict:
    """Errors on every stride-th row and column: what a stride bug looks like."""
    values = [
        [beyond * (1 + (x + y) % 4) if y % stride == 0 and x % stride == 0 else 0.3 for x in range(cols)]
        for y in range(rows)
    ]
    return {"shape": [rows, cols], "values": values, "axes": "H x W"}


def _config(rng: random.Random, op: str, **overrides: Any) -> ConvConfig:
    """A random valid config of this op family; overrides are kept, the rest redrawn until valid."""
    for _ in range(100):
        try:
            return _draw_config(rng, op, **overrides)
        except InvalidConfig:
            continue
    raise InvalidConfig(f"no valid {op} config with {overrides} in 100 draws; relax the overrides")


def _draw_config(rng: random.Random, op: str, **overrides: Any) -> ConvConfig:
    ndim = int(op[-2])
    transposed = "transpose" in op
    fields = dict(
        ndim=ndim,
        transposed=transposed,
        batch=rng.choice((0, 1, 2, 3)),
        in_channels=rng.choice((1, 2, 4)),
        out_channels=rng.choice((2, 4)),
        in_size=tuple(rng.randint(3, 9) for _ in range(ndim)),
        kernel=tuple(rng.randint(1, 3) for _ in range(ndim)),
        stride=tuple(rng.choice((1, 1, 2)) for _ in range(ndim)),
        padding=tuple((rng.randint(0, 1), rng.randint(0, 2)) for _ in range(ndim)),
        bias=rng.random() < 0.5,
        dtype=rng.choice(("float64", "float32", "float32", "float16")),
    )
    fields.update(overrides)
    return ConvConfig(**fields)


def _stats(err_in_bounds: float, *, n: int = 480, beyond: int = 40, nonfinite: int = 0) -> dict:
    bound = 1.25e-4
    return {
        "max_abs_error": err_in_bounds * bound,
        "max_error_in_bounds": err_in_bounds,
        "n_beyond": beyond,
        "n_elements": n,
        "share_beyond": beyond / n,
        "worst_index": [0, 1, 0, 4],
        "worst_value": 0.5 + err_in_bounds * bound,
        "worst_expected": 0.5,
        "worst_bound": bound,
        "nonfinite": nonfinite,
        "shape_seen": None,
        "shape_expected": None,
    }


def _arithmetic(config: ConvConfig) -> dict:
    half = config.dtype in ("float16", "bfloat16")
    return {"accumulation": "float32" if half else config.dtype, "output": config.dtype, "operands": None, "note": "",
            "label": f"{config.dtype} (accumulate float32)" if half else config.dtype}


def _check(test_id: str, impl: str, op: str, device: str, check: str, status: str, config: ConvConfig,
           seed: int, **fields: Any) -> CheckRecord:
    values = dict(
        run_id=RUN_ID, test_id=test_id, implementation=impl, op=op, device=device, check=check, status=status,
        config=config.to_dict(), config_str=str(config), value_profile="normal", data_seed=seed,
        arithmetic=_arithmetic(config),
        repro=f"python -m conformance repro --impl {impl} --device {device} --check {check} "
              f"--config '{config.to_json()}' --seed {seed}",
        time="2026-11-22T21:25:00Z",
    )
    values.update(fields)
    return CheckRecord(**values)


def _failure(impl: str, op: str, device: str, check: str, status: str, config: ConvConfig, seed: int,
             **fields: Any) -> CheckRecord:
    """A planted finding for one (impl, op, device, check), with every other implementation's verdict."""
    test_id = f"test_conformance[{op}-{impl}-{device}]"
    consensus = {name: "pass" for name in IMPLEMENTATIONS if device in IMPLEMENTATIONS[name]}
    consensus[impl] = status
    return _check(test_id, impl, op, device, check, status, config, seed, consensus=consensus, **fields)


def _plant(rng: random.Random, impl: str, op: str, device: str, config: ConvConfig, seed: int, index: int) -> list[CheckRecord]:
    """Failures to plant on this example (empty for most examples)."""
    call = f"[{impl} {config} on {device}]"
    if config.batch == 0 and not (impl == "tensorflow" and op == "conv_transpose1d"):  # no values to get wrong
        return []
    where = (impl, op, device, config, seed)
    if impl == "jax" and op == "conv2d" and index % 5 == 0 and config.is_asymmetric:
        err = 420.0 + rng.random() * 100
        return [_failure(*where[:3], "forward", "mismatch", *where[3:], kind="value", stats=_stats(err),
                         heatmap=border_heatmap(*(min(n, 48) for n in config.out_size[:2])),
                         message=f"forward[0, 1, 0, 4] = 0.5525, expected 0.5000 (error {err:.0f} x bound 1.25e-04) {call}",
                         detail="errors only on the outermost ring of output positions: asymmetric (lo, hi) padding applied as (hi, lo)?")]
    if impl == "torch" and op == "conv_transpose2d" and device == "cuda" and index % 3 == 0 and config.dtype == "float32":
        err = 35.0 * (1 + rng.random() * 3)
        return [_failure(*where[:3], "grad_weight", "mismatch", *where[3:], kind="value", stats=_stats(err, beyond=120),
                         heatmap=lattice_heatmap(),
                         arithmetic={"accumulation": "float32", "output": "float32", "operands": "tfloat32", "note": "",
                                     "label": "float32, operands rounded to tfloat32"},
                         message=f"grad_weight[3, 0, 1, 2] = 0.5044, expected 0.5000 (error {err:.1f} x bound 1.25e-04) {call}")]
    if impl == "torch" and op == "conv2d" and device == "cuda" and config.dtype == "float16" and index % 4 == 1:
        return [_failure(*where[:3], "forward", "mismatch", *where[3:], kind="nonfinite",
                         stats=_stats(math.inf, beyond=3, nonfinite=3),
                         heatmap={"shape": [2, 3], "values": [[0.2, math.inf, 0.1], [math.nan, 0.4, 0.9]], "axes": "H x W"},
                         message=f"forward has 3 Inf/NaN where the oracle has none {call}")]
    if impl == "tensorflow" and op == "conv_transpose1d" and any(config.output_padding) and index % 2 == 0:
        seen = list(config.output_shape)
        seen[-1] -= 1
        stats = _stats(0.0, beyond=0)
        stats.update(shape_seen=seen, shape_expected=list(config.output_shape), max_error_in_bounds=None)
        return [_failure(*where[:3], "forward", "mismatch", *where[3:], kind="shape", stats=stats,
                         message=f"forward shape {tuple(seen)}, expected {config.output_shape} {call}")]
    if impl == "tensorflow" and op == "conv3d" and index == 7:
        return [_failure(*where[:3], "gradient", "crash", *where[3:],
                         message=f"worker died with SIGSEGV during the VJP {call}",
                         detail="Fatal Python error: Segmentation fault\n\nThread 0x00007f3a (most recent call first):\n"
                                "  File \"references/tensorflow_adapter.py\", line 212 in vjp\n<script>alert(1)</script>")]
    if impl == "tensorflow" and op == "conv_transpose3d" and index in (5, 10):
        return [_failure(*where[:3], "forward", "timeout", *where[3:], message=f"no result after 60 s {call}",
                         detail="timeout after 60.0 s (limit --check-timeout=60)")]
    if impl == "jax" and (op, index) in {("conv1d", 2), ("conv1d", 9), ("conv1d", 14), ("conv_transpose1d", 6)}:
        return [_failure(*where[:3], "grad_input", "error", *where[3:], message=f"ValueError in vjp {call}",
                         detail="Traceback (most recent call last):\n  File \"references/jax_adapter.py\", line 88, in vjp\n"
                                "ValueError: conv_general_dilated lhs feature dimension size divided by "
                                "feature_group_count must equal the rhs input feature dimension size")]
    if impl == "tensorflow" and op == "conv2d" and index % 6 == 2:
        return [_failure(*where[:3], "forward", "known", *where[3:], kind="value", stats=_stats(2.5), known_id="KD-004",
                         message=f"known divergence KD-004: oneDNN float32 results differ in the last bits {call}")]
    return []


def _unsupported_reason(impl: str, check: str, config: ConvConfig) -> str | None:
    if impl == "tensorflow" and config.transposed and config.groups > 1:
        return "tensorflow: conv_transpose with groups>1 unsupported on cpu"
    if impl == "tensorflow" and config.dtype == "float16" and config.ndim == 3:
        return "tensorflow: float16 conv3d gradients not implemented on cpu"
    if impl == "onnxruntime" and config.transposed and config.ndim == 3:
        return NO_TRANSPOSE_3D
    if impl == "onnxruntime" and check != "forward":
        return NO_GRADIENTS
    return None


def _run_line(worker: str) -> RunRecord:
    return RunRecord(
        run_id=RUN_ID, worker=worker, started="2026-11-22T21:24:00Z", pid=4100 + int(worker[-1]),
        argv=["pytest", "-n", "2", "--report-dir", "reports", "--hypothesis-profile", "conformance-nightly", "-k", "not slow"],
        hypothesis_profile="conformance-nightly", derandomize=False, seed=1234, devices=["cpu", "cuda"],
        precision_mode="strict (TF32 off)", isolation="process", dtypes=["float64", "float32", "float16"],
        versions=VERSIONS,
        settings={"torch": {"torch.backends.cudnn.allow_tf32": False}, "jax": {"jax_default_matmul_precision": "highest"}},
        implementations=list(IMPLEMENTATIONS), platform={"machine": "x86_64"},
    )


def _known_divergences() -> KnownDivergencesRecord:
    return KnownDivergencesRecord(run_id=RUN_ID, entries=[
        KnownDivergenceState(id="KD-002", implementations=["tensorflow"], summary="float16 conv3d gradients missing on CPU",
                             classification="capability gap", upstream="wontfix upstream: documented in the TF guide",
                             reproducer="tests/repro/tf_half_precision_rounding.py"),
        KnownDivergenceState(id="KD-004", implementations=["tensorflow"], summary="oneDNN float32 conv2d 'same' padding rounding",
                             classification="precision", upstream="https://github.com/tensorflow/tensorflow/issues/99999",
                             matched=5, reproduced=3, reproducer="tests/repro/tf_empty_batch_shape.py"),
        KnownDivergenceState(id="KD-009", implementations=["jax"], summary="lhs dilation abort on empty batch",
                             classification="crash", draft="docs/upstream/KD-009-jax-lhs-dilation.md",
                             matched=2, min_matches=5, reproducer="tests/repro/jax_lhs_dilation_abort.py"),
    ])


def sample_records(*, examples_per_test: int = 16, seed: int = 0, with_summary_gap: bool = True) -> list[Record]:
    """Records of a small two-worker run with planted findings (see the module docstring)."""
    rng = random.Random(seed)
    records: list[Record] = [_run_line("gw0"), _run_line("gw1")]
    tests = [(impl, op, device) for impl, devices in IMPLEMENTATIONS.items() for device in devices for op in OPS]
    for number, (impl, op, device) in enumerate(tests):
        last = number == len(tests) - 1
        if last:  # gw0 finished; gw1 is killed during the last test: no known divergences, no run_end
            records.append(_known_divergences())
            records.append(RunEndRecord(run_id=RUN_ID, worker="gw0", finished="2026-11-22T21:31:42Z",
                                        duration_s=462.0, exitstatus=1, interrupted=False))
        records.extend(_test_records(rng, impl, op, device, examples_per_test,
                                     write_summary=not (with_summary_gap and last)))
    return records


def _example_config(rng: random.Random, impl: str, op: str, device: str, index: int) -> ConvConfig:
    transposed = "transpose" in op
    extra: dict[str, Any] = {"groups": 2, "in_channels": 4, "out_channels": 4} if index % 4 == 3 else {}
    if transposed and index % 2 == 0:
        extra["output_padding"] = tuple(1 if s > 1 else 0 for s in (2,) * int(op[-2]))
        extra["stride"] = 2
    if op == "conv2d" and impl == "jax":
        extra.update(padding=((0, 1), (1, 0)), in_size=(rng.randint(9, 20), rng.randint(9, 20)), stride=1)
    if device == "cuda" and op == "conv_transpose2d":
        extra["dtype"] = "float32"
    if device == "cuda" and op == "conv2d" and index % 4 == 1:
        extra["dtype"] = "float16"
    return _config(rng, op, **extra)


def _test_records(rng: random.Random, impl: str, op: str, device: str, examples: int, *,
                  write_summary: bool) -> list[Record]:
    test_id = f"test_conformance[{op}-{impl}-{device}]"
    counts: dict[str, dict[str, int]] = {check: {} for check in CHECKS}
    reasons: dict[str, int] = {}
    coverage: dict[str, int] = {}
    examples_run = 0
    first_failures: dict[tuple, CheckRecord] = {}
    out: list[Record] = []
    for index in range(examples):
        config = _example_config(rng, impl, op, device, index)
        seed = rng.randrange(2**31)
        unsupported = {check: _unsupported_reason(impl, check, config) for check in CHECKS}
        failures = {} if any(unsupported.values()) else {r.check: r for r in _plant(rng, impl, op, device, config, seed, index)}
        for record in failures.values():
            out.append(record)
            first_failures.setdefault((record.check, record.status, record.kind), record)
        for check in CHECKS:
            reason = unsupported[check]
            if reason:
                status = "unsupported"
                reasons[reason] = reasons.get(reason, 0) + 1
            elif check in failures:
                status = failures[check].status
            else:
                status = "crash" if "gradient" in failures and check != "forward" else "pass"
            counts[check][status] = counts[check].get(status, 0) + 1
            if status in ("pass", "unsupported") and index < 3:  # written whole only for the first few
                extra = {"reason": reason} if reason else {"stats": _stats(0.2, beyond=0)}
                out.append(_check(test_id, impl, op, device, check, status, config, seed, **extra))
        if not all(unsupported.values()):
            examples_run += 1
            for feature in features_of(config):
                coverage[feature] = coverage.get(feature, 0) + 1
    shrink_replays = 0
    for failure in first_failures.values():
        shrunk = _shrink(rng, failure)
        shrink_replays += sum(r.phase == "shrink" for r in shrunk)
        out.extend(shrunk)
    if write_summary:
        out.append(SummaryRecord(
            run_id=RUN_ID, test_id=test_id, implementation=impl, op=op, device=device, check_kind="conformance",
            examples=examples, examples_run=examples_run, shrink_replays=shrink_replays, counts=counts,
            unsupported_reasons=reasons, coverage=coverage, duration_s=round(rng.uniform(0.5, 30.0), 2)))
    return out


def _shrink(rng: random.Random, failure: CheckRecord) -> list[CheckRecord]:
    """What shrinking one failure writes: failing and passing replays, the final shrunk example, a consensus replay."""
    drawn = config = ConvConfig.from_dict(failure.config)
    with contextlib.suppress(InvalidConfig):
        config = config.replace(batch=1)
    replays = [dataclasses.replace(failure, phase="shrink", data_seed=failure.data_seed + n)
               for n in range(1, rng.randint(3, 9))]
    replays.append(dataclasses.replace(failure, phase="shrink", status="pass", kind=None, data_seed=failure.data_seed + 99,
                                       stats=_stats(0.1, beyond=0), heatmap=None, message="", detail="", consensus={}))
    final = dataclasses.replace(
        failure, phase="final", minimal=True, data_seed=0, config=config.to_dict(), config_str=str(config),
        message=failure.message.replace(str(drawn), str(config)),
        repro=failure.repro.replace(drawn.to_json(), config.to_json()).replace(f"--seed {failure.data_seed}", "--seed 0"))
    other = next(name for name in IMPLEMENTATIONS if name != failure.implementation)
    consensus = _check(failure.test_id, other, failure.op, failure.device, failure.check, "pass", config, 0,
                       phase="consensus")
    return [*replays, final, consensus]


def large_records(n_records: int = 50_000, *, seed: int = 1) -> list[Record]:
    """About n_records records: sample runs repeated under new test ids (for size and speed measurements)."""
    out: list[Record] = []
    batch = 0
    while len(out) < n_records:
        for record in sample_records(examples_per_test=40, seed=seed + batch, with_summary_gap=False):
            if isinstance(record, (RunRecord, RunEndRecord, KnownDivergencesRecord)) and batch:
                continue
            if isinstance(record, (CheckRecord, SummaryRecord)):
                record = dataclasses.replace(record, test_id=f"{record.test_id}#{batch}")
            out.append(record)
        batch += 1
    return out[:n_records]


def write_results(path: str | Path, records: Iterable[Record], *, truncate_last: bool = True,
                  garbage_line: bool = False) -> Path:
    """Write records as JSON lines (records.to_json); truncate_last cuts the final line short as a killed run does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [to_json(r) for r in records]
    if garbage_line:
        lines.insert(len(lines) // 2, "this is not json")
    text = "\n".join(lines) + "\n"
    if truncate_last and lines:
        text = text[: len(text) - len(lines[-1]) // 2 - 1]
    path.write_text(text, encoding="utf-8")
    return path


# ---- headless Chromium (browser test, screenshot script, load-time measurement) ------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium_missing() -> str | None:
    """Why a headless Chromium session cannot start here, or None when it can."""
    import importlib.util
    import os

    if importlib.util.find_spec("selenium") is None:
        return "selenium not installed"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} not found (install Debian's chromium and chromium-driver)"
    return None


@contextlib.contextmanager
def headless_chromium(*, width: int = 1360, height: int = 900):
    """A selenium webdriver for headless Chromium with a fresh profile, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="conformance-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()
