"""The package as a kernel author uses it: `pip install .` into a fresh venv, a module of their own, and
`pytest --pyargs conformance.suite --impl mymod:MyConv` from a directory outside the repository.

The venv holds only what `pip install .` puts there (no extras, no pytest-xdist, not editable), so
these tests fail if the plugin's wiring lives outside the package, if an xdist hook is required, or
if an existing --report-dir makes pytest lose the options, or if a data file the suite reads (the
nightly profile's regression corpus) is not shipped. The venv installs a copy of the project without
its build outputs: a stale build/lib in the checkout would ship files that package-data leaves out.
Building the venv takes a minute; it is built once per session. Set CONFORMANCE_SKIP_VENV_TESTS=1 to
skip them (e.g. offline).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_LIMIT_S = 300
# What `pip install` needs of the project; build outputs and caches are left behind.
SOURCE = ("pyproject.toml", "README.md", "conformance", "references")
_NOT_SOURCE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".hypothesis")

pytestmark = pytest.mark.skipif(os.environ.get("CONFORMANCE_SKIP_VENV_TESTS") == "1",
                                reason="CONFORMANCE_SKIP_VENV_TESTS=1")

USER_MODULE = textwrap.dedent('''
    """A user's own kernels, written against the README's plugin section."""
    import numpy as np

    from conformance import Implementation
    from conformance.dtypes import to_storage
    from references.numpy.im2col import Im2colReference

    _ref = Im2colReference()


    class MyConv(Implementation):
        """Correct: im2col, results rounded to the config's dtype."""
        name = "myconv"

        def forward(self, config, x, w, b=None, device="cpu"):
            return to_storage(_ref.forward(config, x, w, b), config.dtype)

        def vjp(self, config, x, w, b, grad_out, device="cpu"):
            return tuple(None if g is None else to_storage(g, config.dtype)
                         for g in _ref.vjp(config, x, w, b, grad_out))


    class BuggyConv(MyConv):
        """Drops the bias."""
        name = "buggyconv"

        def forward(self, config, x, w, b=None, device="cpu"):
            return super().forward(config, x, w, None, device)


    class NarrowConv(MyConv):
        """Declares bias, groups and strides unsupported: a large part of the space."""
        name = "narrowconv"

        def supports(self, config, device="cpu"):
            if config.bias:
                return "narrowconv: no bias yet"
            if config.groups > 1:
                return "narrowconv: no groups yet"
            if any(s > 1 for s in config.stride):
                return "narrowconv: no strides yet"
            return super().supports(config, device)


    class ForwardOnly(Implementation):
        """An inference runtime: forward only, float32 and float16 only."""
        name = "forwardonly"
        dtypes = ("float32", "float16")

        def forward(self, config, x, w, b=None, device="cpu"):
            return to_storage(_ref.forward(config, x, w, b), config.dtype)


    class EarlierContractConv(Implementation):
        """Written against the README of the release before padding_mode and unbatched calls: zero
        padding from config.padding, batched (N, C, *spatial) arrays, forward and vjp. It has no
        padding_mode concept (it pads with zeros whatever the mode) and reads axis 0 as the batch."""
        name = "earlier"

        def _zeros_call(self, config, x):
            if x.ndim != config.ndim + 2:
                raise ValueError(f"earlier: expected (N, C, *spatial), got shape {x.shape}")
            return config.replace(padding_mode="zeros")

        def forward(self, config, x, w, b=None, device="cpu"):
            return to_storage(_ref.forward(self._zeros_call(config, x), x, w, b), config.dtype)

        def vjp(self, config, x, w, b, grad_out, device="cpu"):
            return tuple(None if g is None else to_storage(g, config.dtype)
                         for g in _ref.vjp(self._zeros_call(config, x), x, w, b, grad_out))


    class EarlierContractOptedIn(EarlierContractConv):
        """The same kernel claiming padding modes: it mishandles every one but zeros."""
        name = "earlieroptedin"
        opt_in = ("padding_mode",)


    class UnroundedBfloat16(MyConv):
        """Returns "bfloat16" results that were never rounded to bfloat16."""
        name = "unrounded"
        dtypes = ("bfloat16",)

        def forward(self, config, x, w, b=None, device="cpu"):
            return np.asarray(_ref.forward(config, x, w, b), np.float32)
''')


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with `pip install <repo>` (not editable, no extras); returns its python."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    source = clean_source(tmp_path_factory.mktemp("source"))
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
                          capture_output=True, text=True, timeout=900)
    if done.returncode:
        pytest.fail(f"pip install {source} (a copy of {ROOT}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return python


def clean_source(dest: Path) -> Path:
    """A copy of the project as a fresh clone has it: no build/, no *.egg-info, no caches."""
    for name in SOURCE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=_NOT_SOURCE)
        else:
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture
def user_repo(tmp_path) -> Path:
    """A user's repository outside ours, with their module in it."""
    repo = tmp_path / "user-repo"
    repo.mkdir()
    (repo / "mymod.py").write_text(USER_MODULE)
    return repo


def run_suite(python: Path, cwd: Path, *args: str, examples: int = 8, profile: str | None = "conformance-ci",
              env: dict[str, str] | None = None):
    """The installed suite from `cwd`; `profile` None passes no --hypothesis-profile; `env` adds variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_", "PYTHON"))}
    environ.update(CONFORMANCE_MAX_EXAMPLES=str(examples), NO_COLOR="1", **(env or {}))
    pytest_exe = python.parent / "pytest"  # the console script, as a user types it: cwd not on sys.path
    command = [str(pytest_exe), "--pyargs", "conformance.suite", "-q", "-p", "no:cacheprovider",
               *(["--hypothesis-profile", profile] if profile else []), *args]
    return subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=RUN_LIMIT_S)


def verdict_line(done) -> str:
    """The report's verdict as the terminal summary prints it ("verdict: all 84 checks passed")."""
    lines = [line for line in done.stdout.splitlines() if line.startswith("verdict: ")]
    assert lines, f"no verdict line in the output:\n{done.stdout[-3000:]}"
    return lines[-1].removeprefix("verdict: ")


def records(report_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (report_dir / "results.jsonl").read_text().splitlines() if line.strip()]


def test_venv_has_no_xdist_and_no_checkout(installed):
    probe = subprocess.run([str(installed), "-c", "import importlib.util, conformance; "
                            "print(importlib.util.find_spec('xdist') is None, conformance.__file__)"],
                           capture_output=True, text=True, cwd="/")
    no_xdist, location = probe.stdout.split()
    assert no_xdist == "True"
    assert str(ROOT) not in location, "the venv must use the installed copy, not the checkout"


UNRELATED_CONFTEST = """
import json, sys
from pathlib import Path


def pytest_collection_finish(session):
    heavy = [m for m in ("hypothesis", "numpy", "torch", "jax", "tensorflow") if m in sys.modules]
    loaded = session.config.pluginmanager.hasplugin("conformance.pytest_plugin")
    Path(__file__).with_name("seen.json").write_text(json.dumps({"heavy": heavy, "plugin": loaded}))
"""


def test_pytest_in_an_unrelated_project_loads_the_plugin_and_nothing_heavy(installed, tmp_path):
    """The installed package's plugin, in a project that does not use it: loaded, and by the end of
    collection no Hypothesis, NumPy or framework imported (tests/test_plugin_startup.py has the rest)."""
    (tmp_path / "conftest.py").write_text(UNRELATED_CONFTEST)
    (tmp_path / "test_user.py").write_text("def test_arithmetic():\n    assert 1 + 1 == 2\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_", "PYTHON"))}
    done = subprocess.run([str(installed.parent / "pytest"), "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                          env=environ, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads((tmp_path / "seen.json").read_text()) == {"heavy": [], "plugin": True}


def test_plugin_runs_twice_into_an_existing_report_dir(installed, user_repo):
    for attempt in (1, 2):  # the second time, `out` exists: pytest must still know --report-dir
        done = run_suite(installed, user_repo, "--impl", "mymod:MyConv", "-k", "myconv", "--report-dir", "out")
        assert done.returncode == 0, f"attempt {attempt}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        # forward, gradient, determinism and invalid calls run; jvp and double_vjp (no methods) are skipped
        assert "24 passed, 12 skipped" in done.stdout, done.stdout[-2000:]
    checks = [r for r in records(user_repo / "out") if r["type"] == "check"]
    assert checks and {r["status"] for r in checks} == {"pass"}
    page = (user_repo / "out" / "conformance.html").read_text()
    # The command line shows as a command line, not spaced-out letters.
    assert "pytest --pyargs conformance.suite -q" in page
    assert not (user_repo / ".hypothesis").exists(), "Hypothesis wrote into the user's working directory"


def test_nightly_profile_runs_the_installed_suite_with_its_regression_corpus(installed, user_repo):
    """The nightly profile replays conformance/regressions.toml in every test: the package must ship it."""
    done = run_suite(installed, user_repo, "--impl", "mymod:MyConv", "-k", "myconv and conv1d and not transpose",
                     "--report-dir", "out", profile="conformance-nightly", examples=5)
    verdict = verdict_line(done)
    assert done.returncode == 0, f"exit status {done.returncode}, verdict {verdict!r}:\n{done.stdout[-3000:]}"
    # forward, gradient, determinism and invalid calls run; jvp and double_vjp (no methods) are skipped
    assert "4 passed, 2 skipped" in done.stdout, done.stdout[-2000:]
    assert verdict.startswith("all ") and verdict.endswith(" checks passed"), f"exit status 0 but verdict {verdict!r}"
    runs = [r for r in records(user_repo / "out") if r["type"] == "run"]
    assert runs and {r["hypothesis_profile"] for r in runs} == {"conformance-nightly"}, runs
    assert not (user_repo / ".hypothesis").exists(), "Hypothesis wrote into the user's working directory"


def test_a_run_whose_tests_all_error_has_a_failing_verdict(installed, user_repo):
    """A profile name that is not registered fails every test before any check: pytest exits 1, and
    the report must say the run errored, not a neutral "no checks ran"."""
    done = run_suite(installed, user_repo, "--impl", "mymod:MyConv", "-k", "myconv and conv1d and not transpose",
                     "--report-dir", "out", profile=None, env={"HYPOTHESIS_PROFILE": "no-such-profile"})
    verdict = verdict_line(done)
    assert done.returncode == 1, f"exit status {done.returncode}, expected 1:\n{done.stdout[-3000:]}"
    assert "4 failed" in done.stdout, done.stdout[-2000:]
    assert verdict == "the run errored: 4 errors, no checks ran", f"pytest exited 1 but the verdict is {verdict!r}"
    ends = [r for r in records(user_repo / "out") if r["type"] == "run_end"]
    assert [(r["exitstatus"], r["tests_failed"]) for r in ends] == [(1, 4)], ends


def test_buggy_kernel_exits_1_with_its_finding(installed, user_repo):
    done = run_suite(installed, user_repo, "--impl", "mymod:BuggyConv", "-k", "buggyconv and test_forward and conv1d",
                     "--report-dir", "out")
    assert done.returncode == 1, done.stdout[-3000:]
    failing = [r for r in records(user_repo / "out") if r["type"] == "check" and r["status"] == "mismatch"]
    assert failing and failing[0]["implementation"] == "buggyconv" and failing[0]["kind"] == "value"
    final = next(r for r in failing if r.get("minimal"))
    # No framework is installed in this venv: they are "not installed" in the consensus, never an error.
    assert {final["consensus"][name] for name in ("torch", "jax", "tensorflow")} == {"not installed"}, final["consensus"]
    assert {final["consensus"][name] for name in ("naive", "im2col", "matrix")} == {"pass"}
    page = (user_repo / "out" / "conformance.html").read_text()
    assert "buggyconv" in page and "mismatch" in page and "not installed" in page


def test_narrow_kernel_runs_its_other_examples(installed, user_repo):
    done = run_suite(installed, user_repo, "--impl", "mymod:NarrowConv", "-k",
                     "(test_forward or test_gradient) and narrowconv and conv2d and not transpose",
                     "--report-dir", "out", examples=30)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "skipped" not in done.stdout, done.stdout[-2000:]
    summaries = {r["test_id"]: r for r in records(user_repo / "out") if r["type"] == "summary"}
    for test in ("test_forward[conv2d-narrowconv-cpu]", "test_gradient[conv2d-narrowconv-cpu]"):
        summary = summaries[test]
        assert 0 < summary["examples_run"] < summary["examples"], summary
        assert summary["skipped"] is None
        assert summary["counts"]["grad_input" if "gradient" in test else "forward"]["pass"] == summary["examples_run"]


def test_forward_only_runtime_has_no_finding(installed, user_repo):
    done = run_suite(installed, user_repo, "--impl", "mymod:ForwardOnly", "-k", "forwardonly", "--report-dir", "out")
    assert done.returncode == 0, done.stdout[-3000:]
    # forward, determinism and invalid calls run; gradient, jvp and double_vjp are skipped with the reason
    assert "18 passed, 18 skipped" in done.stdout, done.stdout[-2000:]
    recs = records(user_repo / "out")
    checks = [r for r in recs if r["type"] == "check"]
    assert {r["status"] for r in checks if r["test_id"].startswith("test_forward")} == {"pass"}
    assert {r["config"]["dtype"] for r in checks} <= {"float32", "float16"}  # drawn from what it declares
    gradients = [r for r in recs if r["type"] == "summary" and r["test_id"].startswith("test_gradient")]
    assert len(gradients) == 6 and all("forwardonly: no vjp()" in (r["skipped"] or "") for r in gradients), gradients


def test_unrounded_bfloat16_is_flagged(installed, user_repo):
    done = run_suite(installed, user_repo, "--impl", "mymod:UnroundedBfloat16", "-k", "unrounded and test_forward and conv1d",
                     "--report-dir", "out")
    assert done.returncode == 1, done.stdout[-3000:]
    failing = [r for r in records(user_repo / "out") if r["type"] == "check" and r["status"] == "mismatch"]
    assert failing and {r["kind"] for r in failing} == {"dtype"}
    assert "not a bfloat16 value" in failing[0]["message"]


def test_a_plugin_of_the_earlier_contract_runs_unchanged_and_clean(installed, user_repo):
    """Semantic axes are opt-in: a kernel with no padding_mode and no unbatched form is drawn neither."""
    done = run_suite(installed, user_repo, "--impl", "mymod:EarlierContractConv", "-k",
                     "earlier and not optedin and (test_forward or test_gradient) and not transpose",
                     "--report-dir", "out", examples=40)
    assert done.returncode == 0, done.stdout[-3000:]
    checks = [r for r in records(user_repo / "out") if r["type"] == "check"]
    assert checks and {r["status"] for r in checks} == {"pass"}
    assert {r["config"]["padding_mode"] for r in checks} == {"zeros"}
    assert {r["config"]["batched"] for r in checks} == {True}
    summaries = [r for r in records(user_repo / "out") if r["type"] == "summary"]
    assert summaries and all(r["examples_run"] == r["examples"] for r in summaries), summaries


def test_a_plugin_that_opts_in_to_padding_modes_and_mishandles_one_is_flagged(installed, user_repo):
    done = run_suite(installed, user_repo, "--impl", "mymod:EarlierContractOptedIn", "-k",
                     "earlieroptedin and test_forward and conv2d and not transpose", "--report-dir", "out", examples=40)
    assert done.returncode == 1, done.stdout[-3000:]
    failing = [r for r in records(user_repo / "out") if r["type"] == "check" and r["status"] == "mismatch"]
    assert failing and {r["config"]["padding_mode"] for r in failing} <= {"reflect", "replicate", "circular"}, failing


def readme_plugin_example() -> str:
    """The README's plugin example, exactly as a user copies it (between its markers)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- plugin-example:start")
    block = text[start:text.index("<!-- plugin-example:end -->", start)]
    return block.split("```python\n", 1)[1].rsplit("```", 1)[0]


@pytest.mark.parametrize("profile, examples", [pytest.param("conformance-ci", 8, id="default"),
                                               pytest.param("conformance-nightly", 4, id="nightly")])
def test_the_readme_plugin_example_runs_from_the_user_s_repo(installed, tmp_path, profile, examples):
    """What a newcomer does: copy the README's module into their repo as mykernels/conv.py, install the
    package, run the README's command from that repo. It must run clean, every op family and check kind
    it has (transposed is its declared gap; it has no vjp)."""
    repo = tmp_path / "user-repo"
    (repo / "mykernels").mkdir(parents=True)
    (repo / "mykernels" / "__init__.py").write_text("")
    (repo / "mykernels" / "conv.py").write_text(readme_plugin_example())
    done = run_suite(installed, repo, "--impl", "mykernels.conv:MyConv", "-k", "mykernel",
                     "--report-dir", "conformance-out", examples=examples, profile=profile)
    assert done.returncode == 0, f"the README's example failed its own suite:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    assert verdict_line(done).startswith("all "), done.stdout[-2000:]
    checks = [r for r in records(repo / "conformance-out") if r["type"] == "check"]
    ran = {r["test_id"].split("[")[0] for r in checks if r["status"] == "pass"}
    assert {"test_forward", "test_determinism", "test_invalid"} <= ran, ran
    assert not any(r["config"]["transposed"] for r in checks if r["phase"] == "generate"), "a declared gap was drawn"
