"""The wheel ships every file of the packages: each module, and each data file they read at run time
(conformance/regressions.toml, the report's templates, ...). A data file added without its line in
pyproject.toml's [tool.setuptools.package-data] works in the checkout and breaks for every user who
pip-installs the package; this test fails instead.

The wheel is built (`pip wheel --no-deps --no-build-isolation`, a few seconds, no network) from a
copy of the files git knows, never from the checkout itself: a stale build/lib there would put into
the wheel files that package-data leaves out.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("conformance", "references")
# Files under a directory of one of these names are test data, not run-time data: they need not ship.
FIXTURE_DIRS = {"fixtures", "testdata"}


def git_files(*paths: str) -> list[str]:
    """Files git knows under `paths` (tracked, and untracked ones not ignored) that exist in the checkout."""
    try:
        done = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *paths],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if done.returncode:
        pytest.skip(f"not a git checkout: {done.stderr.strip()}")
    return sorted({name for name in done.stdout.split("\0") if name and (ROOT / name).is_file()})


def shipped(name: str) -> bool:
    """Whether a package file belongs in the wheel: not a test fixture, not a compiled leftover."""
    path = PurePosixPath(name)
    return not FIXTURE_DIRS.intersection(path.parts[:-1]) and path.suffix != ".pyc"


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> set[str]:
    """The names inside a wheel built from a clean copy of the project."""
    pytest.importorskip("setuptools")
    source = tmp_path_factory.mktemp("source")
    for name in git_files("pyproject.toml", "README.md", *PACKAGES):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--disable-pip-version-check", "-w", str(out), str(source)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        pytest.fail(f"pip wheel failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {out}, found {[w.name for w in wheels]}"
    with zipfile.ZipFile(wheels[0]) as archive:
        return set(archive.namelist())


def test_every_data_file_of_the_packages_is_in_the_wheel(wheel_files):
    data = [name for name in git_files(*PACKAGES) if shipped(name) and not name.endswith(".py")]
    assert "conformance/regressions.toml" in data, f"the data files found are {data}"  # the finder itself works
    missing = [name for name in data if name not in wheel_files]
    assert not missing, (f"data files the wheel lacks (add them to [tool.setuptools.package-data] in "
                         f"pyproject.toml): {missing}; the wheel holds {sorted(n for n in wheel_files if not n.endswith('.py'))}")


def test_every_module_of_the_packages_is_in_the_wheel(wheel_files):
    modules = [name for name in git_files(*PACKAGES) if shipped(name) and name.endswith(".py")]
    missing = [name for name in modules if name not in wheel_files]
    assert not missing, (f"modules the wheel lacks (a directory without __init__.py is no package for "
                         f"[tool.setuptools.packages.find]): {missing}")
