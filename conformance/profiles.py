"""Hypothesis profiles of the conformance suite: named once here, registered only for a run that uses them.

- conformance-dev (the local default): quick, random, the local example database.
- conformance-ci: derandomized (the same examples every run), print_blob on, no deadline, no database.
- conformance-nightly: thousands of examples per test, random seeds, the example database kept in
  <report dir>/.hypothesis/nightly (reports/.hypothesis/nightly by default) and, when
  CONFORMANCE_NIGHTLY_DB names a GitHub repository, multiplexed read-only with the nightly job's
  uploaded database (Hypothesis' GitHubArtifactDatabase), so a nightly failure replays locally.

The names carry the package's prefix, as array-api-tests' profile does, so that an installed package
claims no generic name: a user's own `ci` profile stays theirs. Importing this module imports no
Hypothesis; register_profiles() does, and the pytest plugin calls it only for a run that collects
the suite or names one of these profiles, before Hypothesis' own plugin loads --hypothesis-profile.

Choose with `--hypothesis-profile NAME` or the environment variable HYPOTHESIS_PROFILE; the
conformance tests apply the chosen profile to themselves only (a user's own Hypothesis tests in the
same session keep their settings). CONFORMANCE_MAX_EXAMPLES overrides max_examples of these profiles.
Hypothesis' own files go under the report directory, never into the working directory.

The previous release's names (dev, ci, nightly) still select these profiles for the conformance
suite, with a ProfileNameDeprecationWarning; they go in the next release (LEGACY_NAMES).

Each profile also names the box its examples are drawn from (`draw_bounds`, conformance.bounds):
the nightly draws a share of its values past the box of dev and ci, which is the same as ever.
"""

from __future__ import annotations

import os

__all__ = [
    "CI",
    "DEFAULT_PROFILE",
    "DEV",
    "LEGACY_NAMES",
    "MIN_CI_EXAMPLES",
    "NIGHTLY",
    "PROFILES",
    "ProfileNameDeprecationWarning",
    "canonical_profile",
    "draw_bounds",
    "examples_per_test",
    "legacy_name_message",
    "nightly_database",
    "register_profiles",
]

DEV, CI, NIGHTLY = "conformance-dev", "conformance-ci", "conformance-nightly"
PROFILES = (DEV, CI, NIGHTLY)
DEFAULT_PROFILE = DEV
# The previous release's names, accepted for the suite with a warning; removed in the next release.
LEGACY_NAMES = {"dev": DEV, "ci": CI, "nightly": NIGHTLY}

# The fewest examples a test of an expensive implementation runs in the conformance-ci profile (an
# implementation's max_ci_examples below it is raised to it).
MIN_CI_EXAMPLES = 12


def examples_per_test(profile: str, max_examples: int, kind, max_ci_examples: int | None) -> int:
    """Examples one test draws: the profile's max_examples times the check kind's share, and, in the
    conformance-ci profile, at most the implementation's `max_ci_examples` (compiled paths pay seconds
    per new shape), never below MIN_CI_EXAMPLES unless the kind's own share is already smaller. The
    nightly profile runs every implementation at the full budget."""
    examples = max(1, round(max_examples * kind.budget))
    if canonical_profile(profile) == CI and max_ci_examples:
        examples = min(examples, max(int(max_ci_examples), MIN_CI_EXAMPLES))
    return examples


class ProfileNameDeprecationWarning(DeprecationWarning):
    """A profile named by its previous release's name (`ci`): the name is now `conformance-ci`."""


def canonical_profile(name: str) -> str:
    """The profile `name` selects: conformance-ci for the legacy "ci", any other name as it is."""
    return LEGACY_NAMES.get(name, name)


def legacy_name_message(name: str) -> str:
    return (f"the Hypothesis profile name {name!r} is deprecated and goes in the next release; "
            f"use --hypothesis-profile {LEGACY_NAMES[name]}")


def draw_bounds(profile: str):
    """The conformance.bounds.DrawBounds the suite's strategies use under `profile`: the nightly's
    (a share of values past the usual box), the default box for every other profile (dev, ci, a
    user's own)."""
    from .bounds import DEFAULT_BOUNDS, NIGHTLY_BOUNDS

    return NIGHTLY_BOUNDS if canonical_profile(profile) == NIGHTLY else DEFAULT_BOUNDS


def nightly_database(home: str | os.PathLike = ".hypothesis"):
    from hypothesis.database import (
        DirectoryBasedExampleDatabase,
        GitHubArtifactDatabase,
        MultiplexedDatabase,
        ReadOnlyDatabase,
    )

    local = DirectoryBasedExampleDatabase(os.path.join(home, "nightly"))
    shared = os.environ.get("CONFORMANCE_NIGHTLY_DB")  # "owner/repo" of the nightly workflow
    if not shared:
        return local
    owner, _, repo = shared.partition("/")
    remote = GitHubArtifactDatabase(owner, repo, artifact_name="hypothesis-nightly-db")
    return MultiplexedDatabase(local, ReadOnlyDatabase(remote))


def register_profiles(home: str | os.PathLike = ".hypothesis", *, legacy: str | None = None) -> None:
    """Register the three profiles (Hypothesis is imported here).

    - home: where the nightly example database lives.
    - legacy: a legacy name (`dev`) to register too, as its profile, for Hypothesis' plugin to load;
      a profile of that name registered by someone else is kept (Hypothesis' own `ci`, which it
      loads by itself on a CI runner, or a user's `dev`): the suite applies its own profile anyway.
    """
    from hypothesis import HealthCheck, Phase, settings

    override = os.environ.get("CONFORMANCE_MAX_EXAMPLES")
    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.differing_executors]

    def examples(default: int) -> int:
        return int(override) if override else default

    settings.register_profile(
        DEV, max_examples=examples(20), deadline=None, suppress_health_check=quiet)
    settings.register_profile(
        CI, max_examples=examples(100), deadline=None, derandomize=True, print_blob=True, database=None,
        suppress_health_check=quiet)
    settings.register_profile(
        NIGHTLY, max_examples=examples(1000), deadline=None, print_blob=True, database=nightly_database(home),
        suppress_health_check=quiet, phases=list(Phase))
    if legacy in LEGACY_NAMES and (legacy in _ALIASES or not _is_registered(legacy)):  # else it is the user's
        settings.register_profile(legacy, parent=settings.get_profile(LEGACY_NAMES[legacy]))
        _ALIASES.add(legacy)


_ALIASES: set[str] = set()  # the legacy names this process registered as aliases of ours


def _is_registered(name: str) -> bool:
    from hypothesis import settings
    from hypothesis.errors import InvalidArgument

    try:
        settings.get_profile(name)
    except InvalidArgument:
        return False
    return True
