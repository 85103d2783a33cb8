"""The plugin costs nothing where it is not used, and claims no generic profile name.

- `import conformance` imports no Hypothesis, NumPy or framework;
- pytest in an unrelated project, with the plugin installed, imports none of them through it and
  registers no profile: a user's own `ci` profile is the one Hypothesis loads;
- the suite's profiles are conformance-dev, -ci and -nightly; the previous names still select them
  for the suite, with a deprecation warning.

Each check runs in a subprocess: sys.modules and Hypothesis' profile registry are per process. The
start-up time itself is measured in benchmarks/README.md ("Start-up"), not asserted here.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.checks import CHECK_KINDS
from conformance.profiles import CI, DEV, MIN_CI_EXAMPLES, NIGHTLY, examples_per_test

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("hypothesis", "numpy", "torch", "jax", "tensorflow", "keras", "onnxruntime", "cupy")
PLUGIN = "conformance.pytest_plugin"  # the pytest11 entry point's name (pyproject.toml)
RUN_LIMIT_S = 120
PROFILE_NAMES = (DEV, CI, NIGHTLY, "dev", "ci", "nightly")  # ours, and the previous release's


def _env(**extra: str) -> dict[str, str]:
    """This checkout first on the path (the installed entry point then loads its plugin), no
    inherited Hypothesis or pytest settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "PYTEST_", "PYTHON"))}
    env.update(PYTHONPATH=str(ROOT), NO_COLOR="1", **extra)
    return env


def _entry_point_installed() -> bool:
    return any(e.name == PLUGIN for e in importlib.metadata.entry_points(group="pytest11"))


needs_entry_point = pytest.mark.skipif(not _entry_point_installed(),
                                       reason="conv-conformance is not installed: no pytest11 entry point to load")


def test_import_conformance_imports_nothing_heavy():
    probe = f"import sys, conformance\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd="/", env=_env(), capture_output=True, text=True,
                          timeout=RUN_LIMIT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"`import conformance` imported: {done.stdout.strip()}"


def test_a_public_name_loads_on_first_use():
    probe = ("import sys, conformance\nassert 'conformance.config' not in sys.modules\n"
             "from conformance import ConvConfig, Gap\nprint(ConvConfig.__module__, Gap.__module__)")
    done = subprocess.run([sys.executable, "-c", probe], cwd="/", env=_env(), capture_output=True, text=True,
                          timeout=RUN_LIMIT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["conformance.config", "conformance.capabilities"]


# ---- pytest in an unrelated project ------------------------------------------------------------------

# The project's conftest: which of HEAVY are loaded when collection ends and when pytest ends,
# whether the conformance plugin was loaded at all, and which of our profiles Hypothesis knows.
PROBE_CONFTEST = '''
import json, sys
from pathlib import Path

HEAVY = {heavy!r}
seen = {{}}

{user_profile}

def pytest_collection_finish(session):
    seen["collection"] = sorted(m for m in HEAVY if m in sys.modules)


def pytest_unconfigure(config):
    seen["end"] = sorted(m for m in HEAVY if m in sys.modules)
    seen["plugin"] = config.pluginmanager.hasplugin({plugin!r})
    if "hypothesis" in sys.modules:
        from hypothesis import settings
        from hypothesis.errors import InvalidArgument

        seen["profiles"] = []
        for name in {names!r}:
            try:
                seen["profiles"].append((name, settings.get_profile(name).max_examples))
            except InvalidArgument:
                pass
    Path(__file__).with_name("seen.json").write_text(json.dumps(seen))
'''

USER_CI_PROFILE = '''
from hypothesis import settings
settings.register_profile("ci", max_examples=7)
'''

USER_TESTS = '''
def test_arithmetic():
    assert 1 + 1 == 2
'''

USER_HYPOTHESIS_TESTS = '''
from hypothesis import given, settings, strategies as st


@given(st.integers())
def test_uses_the_user_s_ci_profile(n):
    assert settings.default.max_examples == 7
'''


def _unrelated_project(path: Path, *, user_profile: str = "", tests: str = USER_TESTS) -> Path:
    path.mkdir()
    probe = PROBE_CONFTEST.format(heavy=HEAVY, plugin=PLUGIN, user_profile=user_profile, names=PROFILE_NAMES)
    (path / "conftest.py").write_text(probe)
    (path / "test_user.py").write_text(textwrap.dedent(tests))
    return path


def _pytest(project: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=project,
                          env=_env(), capture_output=True, text=True, timeout=RUN_LIMIT_S)
    seen = project / "seen.json"
    return done, json.loads(seen.read_text()) if seen.exists() else {}


@needs_entry_point
@pytest.mark.parametrize("args", [pytest.param(("--co",), id="collect-only"), pytest.param((), id="run")])
def test_pytest_in_an_unrelated_project_imports_nothing_heavy(tmp_path, args):
    """Hypothesis' own plugin imports Hypothesis in its terminal summary, after collection: up to
    there, nothing of HEAVY is loaded."""
    done, seen = _pytest(_unrelated_project(tmp_path / "project"), *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seen["plugin"], f"{PLUGIN} was not loaded: the test would prove nothing"
    assert seen["collection"] == [], f"imported by the end of collection: {seen['collection']}"


@needs_entry_point
def test_without_hypothesis_plugin_nothing_heavy_is_imported_at_all(tmp_path):
    """With Hypothesis' plugin off, what pytest loads by its end is what the conformance plugin adds:
    nothing of HEAVY, no Hypothesis, so no profile of ours registered."""
    done, seen = _pytest(_unrelated_project(tmp_path / "project"), "-p", "no:hypothesispytest")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seen["plugin"], f"{PLUGIN} was not loaded: the test would prove nothing"
    assert seen["end"] == [], f"imported by the end of the session: {seen['end']}"


@needs_entry_point
def test_a_user_s_own_ci_profile_is_the_one_hypothesis_loads(tmp_path):
    project = _unrelated_project(tmp_path / "project", user_profile=USER_CI_PROFILE, tests=USER_HYPOTHESIS_TESTS)
    done, seen = _pytest(project, "--hypothesis-profile", "ci")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ProfileNameDeprecationWarning" not in done.stdout, "a user's own `ci` is not ours to deprecate"
    assert seen["profiles"] == [["ci", 7]], f"the profiles in the user's project: {seen['profiles']}"


# ---- the profiles' names ----------------------------------------------------------------------------

def _registered_after(script: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd="/", env=_env(), capture_output=True,
                          text=True, timeout=RUN_LIMIT_S)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("legacy, user_profile, expected", [
    pytest.param("dev", "", "20", id="dev-free-ours"),
    pytest.param("dev", "settings.register_profile('dev', max_examples=7)", "7", id="dev-the-user-s-kept"),
    # Hypothesis itself registers a "ci" profile (and loads it on a CI runner): it stays Hypothesis'.
    pytest.param("ci", "", "True", id="ci-hypothesis-own-kept"),
])
def test_a_legacy_name_is_registered_only_where_it_is_free(tmp_path, legacy, user_profile, expected):
    shown = "settings.get_profile('ci') is before" if legacy == "ci" else f"settings.get_profile({legacy!r}).max_examples"
    assert _registered_after(f"""
        from hypothesis import settings
        from conformance.profiles import register_profiles
        {user_profile}
        before = settings.get_profile("ci")
        register_profiles({str(tmp_path)!r}, legacy={legacy!r})
        print({shown})
    """) == expected


def test_register_profiles_registers_our_three_and_nothing_else(tmp_path):
    assert _registered_after(f"""
        from hypothesis import settings
        from conformance.profiles import register_profiles
        before = dict(settings._profiles)
        register_profiles({str(tmp_path)!r})
        print(sorted(name for name, profile in settings._profiles.items() if before.get(name) is not profile))
    """) == str(sorted([CI, DEV, NIGHTLY]))


@pytest.mark.parametrize("profile, kind, expected", [
    pytest.param(CI, "forward", MIN_CI_EXAMPLES, id="ci-caps"),
    pytest.param("ci", "forward", MIN_CI_EXAMPLES, id="legacy-ci-caps"),
    pytest.param(NIGHTLY, "forward", 100, id="nightly-full-budget"),
    pytest.param(DEV, "forward", 100, id="dev-full-budget"),
    pytest.param(CI, "determinism", 10, id="ci-kind-share-below-floor"),
])
def test_examples_per_test_caps_compiled_paths_in_ci_only(profile, kind, expected):
    assert examples_per_test(profile, 100, CHECK_KINDS[kind], max_ci_examples=5) == expected


def _suite(report_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "conformance/suite", "-q", "-p", "no:randomly", "-k",
               "test_forward and conv1d and naive", "--report-dir", str(report_dir), *args]
    return subprocess.run(command, cwd=ROOT, env=_env(CONFORMANCE_MAX_EXAMPLES="2", **(env or {})),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, env, legacy, profile", [
    pytest.param(("--hypothesis-profile", CI), {}, None, CI, id="conformance-ci"),
    pytest.param(("--hypothesis-profile", "ci"), {}, "ci", CI, id="option-ci"),
    pytest.param((), {"HYPOTHESIS_PROFILE": "dev"}, "dev", DEV, id="env-dev"),
])
def test_the_suite_runs_its_profile_under_either_name(tmp_path, args, env, legacy, profile):
    done = _suite(tmp_path, *args, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    warned = f"the Hypothesis profile name {legacy!r} is deprecated" in done.stdout
    assert warned == (legacy is not None), done.stdout[-3000:]
    if legacy:
        assert f"use --hypothesis-profile {profile}" in done.stdout
    runs = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines() if '"run"' in line]
    assert {r["hypothesis_profile"] for r in runs if r["type"] == "run"} == {profile}
