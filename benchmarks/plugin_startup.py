"""What the installed plugin costs pytest in a project that does not use it (benchmarks/README.md, "Start-up").

    python benchmarks/plugin_startup.py                       # this checkout, plugin on and off, 5 runs each
    python benchmarks/plugin_startup.py --tree OLD=/path/src  # and another source tree (a previous commit)

Each run is `python -m pytest --co -q` in a temporary project with one trivial test, with this
checkout (or the named tree) first on PYTHONPATH, so the installed entry points load its modules.
"Off" disables both entry points (`-p no:conformance.pytest_plugin -p no:conformance.sharding`).
The cases are interleaved, so a change of load hits each alike; the median wall and CPU (user +
system) seconds of each are printed, with the modules of Hypothesis, NumPy and the frameworks found
in sys.modules at the end of collection. On a shared machine the CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("hypothesis", "numpy", "torch", "jax", "tensorflow", "keras", "onnxruntime")
OFF = ["-p", "no:conformance.pytest_plugin", "-p", "no:conformance.sharding"]

CONFTEST = f'''
import json, sys
from pathlib import Path

def pytest_collection_finish(session):
    Path(__file__).with_name("heavy.json").write_text(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
'''


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(project: Path, tree: Path, args: list[str]) -> tuple[float, float, list[str]]:
    """(wall seconds, CPU seconds, heavy modules loaded) of one `pytest --co` in `project`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_", "PYTHON"))}
    env["PYTHONPATH"] = str(tree)
    tick, cpu = time.perf_counter(), _cpu_seconds()
    subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *args], cwd=project,
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - tick, _cpu_seconds() - cpu, json.loads((project / "heavy.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                        help="another source tree to time with the plugin on (repeatable)")
    options = parser.parse_args(argv)
    cases = {"plugin on": (ROOT, []), "plugin off (-p no:...)": (ROOT, OFF)}
    for item in options.tree:
        name, _, path = item.partition("=")
        cases[f"{name}, plugin on"] = (Path(path), [])
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    heavy: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="unrelated-") as tmp:
        project = Path(tmp)
        (project / "test_user.py").write_text("def test_arithmetic():\n    assert 1 + 1 == 2\n")
        (project / "conftest.py").write_text(CONFTEST)
        for _ in range(options.runs):
            for name, (tree, args) in cases.items():
                run_wall, run_cpu, heavy[name] = _run(project, tree, args)
                wall[name].append(run_wall)
                cpu[name].append(run_cpu)
    for name in cases:
        print(f"{name:28s} wall median {statistics.median(wall[name]):.3f} s "
              f"(runs: {', '.join(f'{t:.3f}' for t in wall[name])}); CPU median {statistics.median(cpu[name]):.3f} s; "
              f"loaded at collection end: {', '.join(heavy[name]) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
