"""pytest plugin for tests/test_reliability.py: the conformance-ci profile without its shrink phase.

    pytest conformance/suite -p tests.no_shrink_plugin --hypothesis-profile ci-no-shrink ...

Why: shrinking a crash restarts the worker process at every step (~0.5 s here) and shrinking a
hang waits for the call timeout at every step, so a suite run that finds either spends minutes
shrinking (up to Hypothesis' 300 s shrink budget per test). The reliability tests are about what
gets recorded, not about how small the example gets; the failing example is still replayed once
as the final (minimal=True) example.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import Phase, settings

from conformance.profiles import CI, register_profiles

__all__ = ["PROFILE"]

PROFILE = "ci-no-shrink"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # tryfirst: before Hypothesis' own plugin loads --hypothesis-profile. The conformance plugin
    # registers its profiles in its own tryfirst pytest_configure, which may run after this one:
    # register them here too (the same profiles, the same home).
    register_profiles(Path(config.getoption("report_dir")) / ".hypothesis")
    settings.register_profile(PROFILE, parent=settings.get_profile(CI),
                              phases=[Phase.explicit, Phase.reuse, Phase.generate])
