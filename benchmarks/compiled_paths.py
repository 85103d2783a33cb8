"""What a compiled call path costs per example: compilation at a new shape vs a repeat call.

    python benchmarks/compiled_paths.py                  # every entry below, 4 new shapes each
    python benchmarks/compiled_paths.py torch.compile --shapes 6 --json out.json

Each entry of ENTRIES is (name, factory): the factory returns an Implementation (the adapter as the
suite calls it, so its own overhead, e.g. torch.compile's reset and profiler check, is included).
Add a compiled path of another framework (jax.jit, tensorflow.xla) as one more entry. Each entry
runs in its own process (a fresh interpreter: the first call includes the compiler's warm-up).

Per entry (medians over the new shapes; conv2d, float32, N=2, C=4->6, groups=2, k=3, stride 1/2):
- warm-up: the first forward call in the process (imports, compiler start-up, one compile);
- forward, new shape: the first forward call at a shape not seen before;
- forward, repeat: the same call again;
- gradient, new shape / repeat: the same for vjp (forward + backward) at another new shape.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _registered(name: str):
    def factory():
        from conformance.registry import get_implementation

        return get_implementation(name)

    return factory


# (name, factory returning an Implementation)
ENTRIES = [
    ("torch", _registered("torch")),  # eager: the baseline with nothing to compile
    ("torch.compile", _registered("torch.compile")),
    ("jax", _registered("jax")),  # eager JAX: per-primitive compilation caches, no jit
    ("jax.jit", _registered("jax.jit")),
    ("tensorflow", _registered("tensorflow")),  # eager TensorFlow: the native single call
    ("tensorflow.xla", _registered("tensorflow.xla")),
]


def _configs(count: int, offset: int):
    from conformance.config import ConvConfig

    return [ConvConfig(ndim=2, batch=2, in_channels=4, out_channels=6, groups=2, in_size=(8 + offset + i, 9),
                       kernel=3, stride=(1, 2), padding=1, bias=True, dtype="float32") for i in range(count)]


def _timed(call) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def measure(name: str, shapes: int, repeats: int = 5) -> dict:
    """The timings of one entry, in seconds, in this process."""
    from conformance.strategies import make_tensors

    impl = dict(ENTRIES)[name]()
    result: dict[str, object] = {"entry": name, "shapes": shapes}
    forward_new, forward_repeat, gradient_new, gradient_repeat = [], [], [], []
    for index, config in enumerate(_configs(shapes + 1, 0)):
        t = make_tensors(config, 0).in_storage(config.dtype)
        first = _timed(lambda config=config, t=t: impl.forward(config, t.x, t.w, t.b))
        if index == 0:
            result["warm_up_s"] = first
            continue
        forward_new.append(first)
        forward_repeat.append(min(_timed(lambda config=config, t=t: impl.forward(config, t.x, t.w, t.b)) for _ in range(repeats)))
    for config in _configs(shapes, 100):  # shapes no forward call has seen: the VJP's own compile
        t = make_tensors(config, 0).in_storage(config.dtype)
        gradient_new.append(_timed(lambda config=config, t=t: impl.vjp(config, t.x, t.w, t.b, t.grad_out)))
        gradient_repeat.append(min(_timed(lambda config=config, t=t: impl.vjp(config, t.x, t.w, t.b, t.grad_out)) for _ in range(repeats)))
    result.update(forward_new_s=statistics.median(forward_new), forward_repeat_s=statistics.median(forward_repeat),
                  gradient_new_s=statistics.median(gradient_new), gradient_repeat_s=statistics.median(gradient_repeat))
    return result


def _format(row: dict) -> str:
    def ms(key):
        return f"{row[key] * 1e3:9.1f}"

    return (f"{row['entry']:<28}{ms('warm_up_s')}{ms('forward_new_s')}{ms('forward_repeat_s')}"
            f"{ms('gradient_new_s')}{ms('gradient_repeat_s')}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entries", nargs="*", help=f"entries to run (default all: {', '.join(n for n, _ in ENTRIES)})")
    parser.add_argument("--shapes", type=int, default=4, help="new shapes per entry (default 4)")
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args(argv)
    names = args.entries or [name for name, _ in ENTRIES]
    unknown = [n for n in names if n not in dict(ENTRIES)]
    if unknown:
        parser.error(f"unknown entries {unknown}; known: {', '.join(n for n, _ in ENTRIES)}")
    if args.in_process:
        print(json.dumps(measure(names[0], args.shapes)))
        return 0
    rows = []
    print(f"{'entry':<28}{'warm-up':>9}{'fwd new':>9}{'fwd rep':>9}{'grad new':>9}{'grad rep':>9}   (ms)")
    for name in names:
        child = subprocess.run([sys.executable, os.path.abspath(__file__), name, "--shapes", str(args.shapes),
                                "--in-process"], capture_output=True, text=True, cwd=ROOT,
                               env=dict(os.environ, PYTHONPATH=ROOT))
        if child.returncode != 0:
            print(f"{name:<28}failed: {child.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(child.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(_format(row))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
