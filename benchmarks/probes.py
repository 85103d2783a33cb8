"""Measurements that must run in a fresh process; `python benchmarks/probes.py NAME` prints one JSON object.

- startup: time from interpreter start to the end of one naive check through the Harness, split
  into imports and the check, and which frameworks ended up in sys.modules (none may).
- jax_compile: first call vs repeat call of the JAX adapter at new shapes, forward and VJP.
- framework_probe (a pytest plugin, `-p probes`): at session end, writes the frameworks imported
  by a pytest run to the file named by BENCH_PROBE_OUT.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

__all__ = ["FRAMEWORKS", "startup", "jax_compile"]

FRAMEWORKS = ("torch", "jax", "tensorflow")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imported_frameworks() -> list[str]:
    return [name for name in FRAMEWORKS if name in sys.modules]


def startup(process_start: float) -> dict:
    """process_start: the parent's time.time() just before it spawned this process."""
    began = time.time()
    import tempfile

    import references.numpy.im2col  # noqa: F401  (the oracle)
    import references.numpy.matrix  # noqa: F401
    import references.numpy.naive  # noqa: F401
    from conformance.config import ConvConfig
    from conformance.harness import Harness, Target
    from conformance.records import RecordWriter
    from conformance.strategies import ConvCase

    imported = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        harness = Harness(writer=RecordWriter(os.path.join(tmp, "results.jsonl")), run_id="startup")
        case = ConvCase(ConvConfig(ndim=2, in_channels=2, out_channels=3, in_size=(5, 5), kernel=3), 0, "normal")
        outcome = harness.check(Target("conv2d", "naive", "cpu", "naive"), "forward", case, test_id="startup")
        harness.close()
    checked = time.time()
    return {
        "interpreter_start_seconds": round(began - process_start, 3),
        "import_seconds": round(imported - began, 3),
        "first_check_seconds": round(checked - imported, 3),
        "to_first_check_seconds": round(checked - process_start, 3),
        "first_check_status": outcome.statuses,
        "frameworks_imported": _imported_frameworks(),
    }


def jax_compile(shapes: int = 6) -> dict:
    """Median first-call and repeat-call seconds of the JAX adapter at `shapes` new shapes per kind."""
    sys.path.insert(0, ROOT)
    from conformance.config import ConvConfig
    from conformance.strategies import make_tensors
    from references.jax.lax import JaxAdapter

    adapter = JaxAdapter()
    started = time.perf_counter()
    import jax  # noqa: F401

    import_seconds = time.perf_counter() - started
    # Ordinary convolutions only: XLA:CPU may abort the process on gradients through lhs_dilation.
    configs = [ConvConfig(ndim=2, batch=2, in_channels=3 + i, out_channels=4, in_size=(9 + i, 8 + 2 * i),
                          kernel=(3, 2), stride=(1 + i % 2, 1), padding=((1, 0), (0, 1)), bias=True,
                          dtype=dtype)
               for i in range(shapes) for dtype in ("float64", "float32")]
    rows = []
    for config in configs:
        t = make_tensors(config, 0).in_storage(config.dtype)
        times = {}
        for kind in ("forward", "vjp"):
            calls = []
            for _ in range(3):
                tick = time.perf_counter()
                if kind == "forward":
                    adapter.forward(config, t.x, t.w, t.b)
                else:
                    adapter.vjp(config, t.x, t.w, t.b, t.grad_out)
                calls.append(time.perf_counter() - tick)
            times[kind] = (calls[0], min(calls[1:]))
        times.update(_jit_times(config, t))
        rows.append({"config": str(config), "jit_forward_first_s": times["jit_forward"][0],
                     "jit_vjp_first_s": times["jit_vjp"][0], "forward_first_s": times["forward"][0],
                     "forward_repeat_s": times["forward"][1], "vjp_first_s": times["vjp"][0],
                     "vjp_repeat_s": times["vjp"][1]})

    def median(key):
        return round(statistics.median(row[key] for row in rows), 5)

    summary = {key: median(key) for key in ("forward_first_s", "forward_repeat_s", "vjp_first_s", "vjp_repeat_s",
                                            "jit_forward_first_s", "jit_vjp_first_s")}
    summary["compile_per_new_shape_forward_s"] = round(summary["forward_first_s"] - summary["forward_repeat_s"], 5)
    summary["compile_per_new_shape_vjp_s"] = round(summary["vjp_first_s"] - summary["vjp_repeat_s"], 5)
    return {"measured": True, "jax_import_seconds": round(import_seconds, 3), "shapes": len(rows),
            "note": "eager JaxAdapter calls in one process; 'first' is the first call at a new shape "
                    "(trace + XLA compile + run), 'repeat' the fastest of two more calls at that shape. "
                    "The VJP's first call follows a forward at the same shape. jit_*_first_s: the same "
                    "computation under one jax.jit at another new shape (what a jitted adapter would pay).",
            **summary, "per_shape": rows}


def _jit_times(config, t) -> dict:
    """For comparison: the same computation under one jax.jit (one compile per shape instead of one per op)."""
    import jax

    from references.jax.lax import _conv_with_bias

    fresh = config.replace(in_size=tuple(n + 1 for n in config.in_size))  # a shape the eager calls have not seen
    from conformance.strategies import make_tensors

    t = make_tensors(fresh, 1).in_storage(fresh.dtype)
    args = (t.x, t.w, t.b) if fresh.bias else (t.x, t.w)
    with jax.enable_x64(fresh.dtype == "float64"):
        function = _conv_with_bias(jax, fresh, None)
        forward = jax.jit(function)
        tick = time.perf_counter()
        forward(*args).block_until_ready()
        forward_first = time.perf_counter() - tick

        def vjp(*arguments):
            y, pullback = jax.vjp(function, *arguments[:-1])
            return pullback(arguments[-1])

        tick = time.perf_counter()
        jax.block_until_ready(jax.jit(vjp)(*args, t.grad_out))
        vjp_first = time.perf_counter() - tick
    return {"jit_forward": (forward_first, None), "jit_vjp": (vjp_first, None)}


# ---- pytest plugin: which frameworks did a pytest run import? ------------------------------------


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("BENCH_PROBE_OUT")
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"frameworks_imported": _imported_frameworks(), "finished": time.time()}, handle)


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    name = sys.argv[1]
    if name == "startup":
        result = startup(float(sys.argv[2]))
    elif name == "jax_compile":
        result = jax_compile(int(sys.argv[2]) if len(sys.argv) > 2 else 6)
    else:
        raise SystemExit(f"unknown probe {name!r}; expected 'startup' or 'jax_compile'")
    print(json.dumps(result))
