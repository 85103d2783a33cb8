"""Realistic synthetic results.jsonl records for the report's tests, screenshot and benchmark.

`sample_records()` is a small run of two xdist workers with planted findings:
- jax conv2d forward on cpu: value mismatches whose heatmap is a border (a padding bug), 12 examples;
- torch conv_transpose2d grad_weight on cuda: a stride lattice heatmap, 37 examples;
- torch conv2d float16 forward on cuda: non-finite output;
- tensorflow conv_transpose1d: a shape mismatch; conv3d: a crash; conv_transpose3d: timeouts;
- jax conv1d grad_input: an error; tensorflow conv2d padding='same': a known divergence (KD-004);
- tensorflow unsupported: grouped transposed convolution, with reasons;
- the last test (gw1) has no summary and its final line is cut short, as when a run is killed.

`write_results(path, records, truncate_last=True)` writes them as JSON lines.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import tempfile
from pathlib import Path
from typing import Any, Iterable

from conformance.config import ConvConfig, InvalidConfig
from conformance.coverage import features_of

__all__ = [
    "OPS", "border_heatmap", "chromium_missing", "headless_chromium", "large_records", "lattice_heatmap",
    "sample_records", "write_results",
]

OPS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
RUN_ID = "20261122T212400Z-4f1c"
CHECKS = ("forward", "grad_input", "grad_weight", "grad_bias")
IMPLEMENTATIONS = {"naive": ("cpu",), "im2col": ("cpu",), "torch": ("cpu", "cuda"), "jax": ("cpu",), "tensorflow": ("cpu",)}
VERSIONS = {"numpy": "2.4.0", "torch": "2.13.0", "jax": "0.10.2", "tensorflow": "2.21.0", "hypothesis": "6.140.2"}


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


def _check(test_id: str, impl: str, op: str, device: str, check: str, status: str, config: ConvConfig,
           seed: int, **fields: Any) -> dict:
    record = {
        "type": "check", "run_id": RUN_ID, "test_id": test_id, "implementation": impl, "op": op,
        "device": device, "check": check, "status": status, "kind": None, "config": config.to_dict(),
        "config_str": str(config), "value_profile": "normal", "data_seed": seed,
        "arithmetic": {"accumulation": "float32" if config.dtype in ("float16", "bfloat16") else config.dtype,
                       "output": config.dtype, "operands": None, "note": "",
                       "label": config.dtype if config.dtype not in ("float16", "bfloat16")
                       else f"{config.dtype} (accumulate float32)"},
        "stats": None, "message": None, "detail": None, "reason": None,
        "repro": f"python -m conformance repro --impl {impl} --device {device} --check {check} "
                 f"--config '{config.to_json()}' --seed {seed}",
        "heatmap": None, "consensus": None, "known_id": None, "time": "2026-11-22T21:25:00Z",
    }
    record.update(fields)
    return record


def _failure(rng: random.Random, impl: str, op: str, device: str, check: str, status: str,
             config: ConvConfig, seed: int) -> dict:
    """The planted finding for one (impl, op, device, check), or None when the example passes."""
    test_id = f"test_{'forward' if check == 'forward' else 'gradients'}[{op}-{impl}-{device}]"
    consensus = {name: "pass" for name in IMPLEMENTATIONS if device in IMPLEMENTATIONS[name]}
    consensus[impl] = status
    return _check(test_id, impl, op, device, check, status, config, seed, consensus=consensus)


def _plant(rng: random.Random, impl: str, op: str, device: str, config: ConvConfig, seed: int, index: int) -> list[dict]:
    """Failures to plant on this example (empty for most examples)."""
    call = f"[{impl} {config} on {device}]"
    if config.batch == 0 and not (impl == "tensorflow" and op == "conv_transpose1d"):  # no values to get wrong
        return []
    if impl == "jax" and op == "conv2d" and index % 5 == 0 and config.is_asymmetric:
        err = 420.0 + rng.random() * 100
        rec = _failure(rng, impl, op, device, "forward", "mismatch", config, seed)
        rec.update(kind="value", stats=_stats(err), heatmap=border_heatmap(*(min(n, 48) for n in config.out_size[:2])),
                   message=f"forward[0, 1, 0, 4] = 0.5525, expected 0.5000 (error {err:.0f} x bound 1.25e-04) {call}",
                   detail="errors only on the outermost ring of output positions: asymmetric (lo, hi) padding applied as (hi, lo)?")
        return [rec]
    if impl == "torch" and op == "conv_transpose2d" and device == "cuda" and index % 3 == 0 and config.dtype == "float32":
        err = 35.0 * (1 + rng.random() * 3)
        rec = _failure(rng, impl, op, device, "grad_weight", "mismatch", config, seed)
        rec.update(kind="value", stats=_stats(err, beyond=120), heatmap=lattice_heatmap(),
                   arithmetic={"accumulation": "float32", "output": "float32", "operands": "tfloat32", "note": "",
                               "label": "float32, operands rounded to tfloat32"},
                   message=f"grad_weight[3, 0, 1, 2] = 0.5044, expected 0.5000 (error {err:.1f} x bound 1.25e-04) {call}")
        return [rec]
    if impl == "torch" and op == "conv2d" and device == "cuda" and config.dtype == "float16" and index % 4 == 1:
        rec = _failure(rng, impl, op, device, "forward", "mismatch", config, seed)
        stats = _stats(math.inf, beyond=3, nonfinite=3)
        rec.update(kind="nonfinite", stats=stats, heatmap={"shape": [2, 3], "values": [[0.2, math.inf, 0.1], [math.nan, 0.4, 0.9]], "axes": "H x W"},
                   message=f"forward has 3 Inf/NaN where the oracle has none {call}")
        return [rec]
    if impl == "tensorflow" and op == "conv_transpose1d" and any(config.output_padding) and index % 2 == 0:
        rec = _failure(rng, impl, op, device, "forward", "mismatch", config, seed)
        seen = list(config.output_shape)
        seen[-1] -= 1
        stats = _stats(0.0, beyond=0)
        stats.update(shape_seen=seen, shape_expected=list(config.output_shape), max_error_in_bounds=None)
        rec.update(kind="shape", stats=stats, message=f"forward shape {tuple(seen)}, expected {config.output_shape} {call}")
        return [rec]
    if impl == "tensorflow" and op == "conv3d" and index == 7:
        rec = _failure(rng, impl, op, device, "gradient", "crash", config, seed)
        rec.update(message=f"worker died with SIGSEGV during the VJP {call}",
                   detail="Fatal Python error: Segmentation fault\n\nThread 0x00007f3a (most recent call first):\n"
                          "  File \"references/tensorflow_adapter.py\", line 212 in vjp\n<script>alert(1)</script>")
        return [rec]
    if impl == "tensorflow" and op == "conv_transpose3d" and index in (5, 10):
        rec = _failure(rng, impl, op, device, "forward", "timeout", config, seed)
        rec.update(message=f"no result after 60 s {call}", detail="timeout after 60.0 s (limit --check-timeout=60)")
        return [rec]
    if impl == "jax" and op == "conv1d" and index in (2, 9, 14):
        rec = _failure(rng, impl, op, device, "grad_input", "error", config, seed)
        rec.update(message=f"ValueError in vjp {call}",
                   detail="Traceback (most recent call last):\n  File \"references/jax_adapter.py\", line 88, in vjp\n"
                          "ValueError: conv_general_dilated lhs feature dimension size divided by "
                          "feature_group_count must equal the rhs input feature dimension size")
        return [rec]
    if impl == "tensorflow" and op == "conv2d" and index % 6 == 2:
        rec = _failure(rng, impl, op, device, "forward", "known", config, seed)
        rec.update(kind="value", stats=_stats(2.5), known_id="KD-004",
                   message=f"known divergence KD-004: oneDNN float32 results differ in the last bits {call}")
        return [rec]
    return []


def _unsupported_reason(impl: str, config: ConvConfig) -> str | None:
    if impl == "tensorflow" and config.transposed and config.groups > 1:
        return "tensorflow: conv_transpose with groups>1 unsupported on cpu"
    if impl == "tensorflow" and config.dtype == "float16" and config.ndim == 3:
        return "tensorflow: float16 conv3d gradients not implemented on cpu"
    return None


def sample_records(*, examples_per_test: int = 16, seed: int = 0, with_summary_gap: bool = True) -> list[dict]:
    """Records of a small two-worker run with planted findings (see the module docstring)."""
    rng = random.Random(seed)
    records: list[dict] = []
    for worker, devices in (("gw0", ["cpu", "cuda"]), ("gw1", ["cpu", "cuda"])):
        records.append({
            "type": "run", "run_id": RUN_ID, "worker": worker, "started": "2026-11-22T21:24:00Z",
            "argv": ["pytest", "-n", "2", "--report-dir", "reports"], "hypothesis_profile": "nightly", "seed": 1234,
            "devices": devices, "precision_mode": "strict (TF32 off)", "versions": VERSIONS,
            "settings": {"torch": {"torch.backends.cudnn.allow_tf32": False}, "jax": {"jax_default_matmul_precision": "highest"}},
            "implementations": list(IMPLEMENTATIONS),
        })
    tests = [(impl, op, device) for impl, devices in IMPLEMENTATIONS.items() for device in devices for op in OPS]
    for number, (impl, op, device) in enumerate(tests):
        last = with_summary_gap and number == len(tests) - 1
        if number == len(tests) - 1:  # gw0 finished; gw1 is killed during the last test: no run_end
            records.append({"type": "run_end", "run_id": RUN_ID, "worker": "gw0", "finished": "2026-11-22T21:31:42Z",
                            "duration_s": 462.0, "exitstatus": 1, "interrupted": False})
        records.extend(_test_records(rng, impl, op, device, examples_per_test, write_summary=not last))
    return records


def _test_records(rng: random.Random, impl: str, op: str, device: str, examples: int, *, write_summary: bool) -> list[dict]:
    test_id = f"test_conformance[{op}-{impl}-{device}]"
    counts = {check: {} for check in CHECKS}
    reasons: dict[str, int] = {}
    coverage: dict[str, int] = {}
    out: list[dict] = []
    for index in range(examples):
        transposed = "transpose" in op
        extra = {"groups": 2, "in_channels": 4, "out_channels": 4} if index % 4 == 3 else {}
        if transposed and index % 2 == 0:
            extra["output_padding"] = tuple(1 if s > 1 else 0 for s in (2,) * int(op[-2]))
            extra["stride"] = 2
        if op == "conv2d" and impl == "jax":
            extra.update(padding=((0, 1), (1, 0)), in_size=(rng.randint(9, 20), rng.randint(9, 20)), stride=1)
        if device == "cuda" and op == "conv_transpose2d":
            extra["dtype"] = "float32"
        if device == "cuda" and op == "conv2d" and index % 4 == 1:
            extra["dtype"] = "float16"
        config = _config(rng, op, **extra)
        seed = rng.randrange(2**31)
        for feature in features_of(config):
            coverage[feature] = coverage.get(feature, 0) + 1
        reason = _unsupported_reason(impl, config)
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
            for check in CHECKS:
                counts[check]["unsupported"] = counts[check].get("unsupported", 0) + 1
            out.append(_check(test_id, impl, op, device, "forward", "unsupported", config, seed, reason=reason))
            continue
        failures = {r["check"]: r for r in _plant(rng, impl, op, device, config, seed, index)}
        for record in failures.values():
            record["test_id"] = test_id
            out.append(record)
        for check in CHECKS:
            status = failures[check]["status"] if check in failures else ("crash" if "gradient" in failures and check != "forward" else "pass")
            counts[check][status] = counts[check].get(status, 0) + 1
            if status == "pass" and index < 3:  # passes are written whole only for the first few
                out.append(_check(test_id, impl, op, device, check, "pass", config, seed, stats=_stats(0.2, beyond=0)))
    if write_summary:
        out.append({"type": "summary", "run_id": RUN_ID, "test_id": test_id, "implementation": impl, "op": op,
                    "device": device, "examples": examples, "counts": counts, "unsupported_reasons": reasons,
                    "coverage": coverage, "duration_s": round(rng.uniform(0.5, 30.0), 2)})
    return out


def large_records(n_records: int = 50_000, *, seed: int = 1) -> list[dict]:
    """About n_records records: sample runs repeated under new test ids (for size and speed measurements)."""
    out: list[dict] = []
    batch = 0
    while len(out) < n_records:
        for record in sample_records(examples_per_test=40, seed=seed + batch, with_summary_gap=False):
            if record["type"] in ("run", "run_end") and batch:
                continue
            if "test_id" in record:
                record = dict(record, test_id=f"{record['test_id']}#{batch}")
            out.append(record)
        batch += 1
    return out[:n_records]


def write_results(path: str | Path, records: Iterable[dict], *, truncate_last: bool = True,
                  garbage_line: bool = False) -> Path:
    """Write records as JSON lines; truncate_last cuts the final line short as a killed run does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
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
