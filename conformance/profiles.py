"""Hypothesis profiles, registered in one place.

- dev (the local default): quick, random, the local example database.
- ci: derandomized (the same examples every run), print_blob on, no deadline, no database.
- nightly: thousands of examples per test, random seeds, the example database kept in
  <report dir>/.hypothesis/nightly (reports/.hypothesis/nightly by default) and, when CONFORMANCE_NIGHTLY_DB names a GitHub repository, multiplexed
  read-only with the nightly job's uploaded database (Hypothesis' GitHubArtifactDatabase), so a
  nightly failure replays locally.

Choose with `--hypothesis-profile NAME` or the environment variable HYPOTHESIS_PROFILE; the
conformance tests apply the chosen profile to themselves only (a user's own Hypothesis tests in the
same session keep their settings). CONFORMANCE_MAX_EXAMPLES overrides max_examples of these profiles.
Hypothesis' own files go under the report directory, never into the working directory.

Each profile also names the box its examples are drawn from (`draw_bounds`, conformance.bounds):
the nightly draws a share of its values past the box of dev and ci, which is the same as ever.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    GitHubArtifactDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from .bounds import DEFAULT_BOUNDS, NIGHTLY_BOUNDS, DrawBounds

__all__ = ["PROFILES", "register_profiles", "nightly_database", "examples_per_test", "draw_bounds", "MIN_CI_EXAMPLES"]

# The fewest examples a test of an expensive implementation runs in the ci profile (an
# implementation's max_ci_examples below it is raised to it).
MIN_CI_EXAMPLES = 12


def examples_per_test(profile: str, max_examples: int, kind, max_ci_examples: int | None) -> int:
    """Examples one test draws: the profile's max_examples times the check kind's share, and, in the
    ci profile, at most the implementation's `max_ci_examples` (compiled paths pay seconds per new
    shape), never below MIN_CI_EXAMPLES unless the kind's own share is already smaller. The
    nightly profile runs every implementation at the full budget."""
    examples = max(1, round(max_examples * kind.budget))
    if profile == "ci" and max_ci_examples:
        examples = min(examples, max(int(max_ci_examples), MIN_CI_EXAMPLES))
    return examples

PROFILES = ("dev", "ci", "nightly")

# The box each profile draws from; a profile not named here (dev, ci, a user's own) draws from the default.
_PROFILE_BOUNDS = {"nightly": NIGHTLY_BOUNDS}


def draw_bounds(profile: str) -> DrawBounds:
    """The conformance.bounds.DrawBounds the suite's strategies use under `profile`."""
    return _PROFILE_BOUNDS.get(profile, DEFAULT_BOUNDS)

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.differing_executors]


def nightly_database(home: str | os.PathLike = ".hypothesis"):
    local = DirectoryBasedExampleDatabase(os.path.join(home, "nightly"))
    shared = os.environ.get("CONFORMANCE_NIGHTLY_DB")  # "owner/repo" of the nightly workflow
    if not shared:
        return local
    owner, _, repo = shared.partition("/")
    remote = GitHubArtifactDatabase(owner, repo, artifact_name="hypothesis-nightly-db")
    return MultiplexedDatabase(local, ReadOnlyDatabase(remote))


def register_profiles(home: str | os.PathLike = ".hypothesis") -> None:
    """Register dev, ci and nightly; `home` is where the nightly example database lives."""
    override = os.environ.get("CONFORMANCE_MAX_EXAMPLES")

    def examples(default: int) -> int:
        return int(override) if override else default

    settings.register_profile(
        "dev", max_examples=examples(20), deadline=None, suppress_health_check=_QUIET)
    settings.register_profile(
        "ci", max_examples=examples(100), deadline=None, derandomize=True, print_blob=True, database=None,
        suppress_health_check=_QUIET)
    settings.register_profile(
        "nightly", max_examples=examples(1000), deadline=None, print_blob=True, database=nightly_database(home),
        suppress_health_check=_QUIET, phases=list(Phase))
