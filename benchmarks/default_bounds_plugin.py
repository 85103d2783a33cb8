"""A pytest plugin that makes every profile draw from the default box (conformance.bounds.DEFAULT_BOUNDS).

    pytest conformance/suite --hypothesis-profile conformance-nightly -p benchmarks.default_bounds_plugin ...

A nightly run with this plugin draws as the nightly did before its bounds were widened (same
examples per test, same phases, model shapes and regressions), so a run with and a run without it
differ only by the bounds. Used by benchmarks/nightly_bounds.py; never by the suite itself.
"""

from __future__ import annotations

from conformance import profiles


def pytest_configure(config):
    profiles._PROFILE_BOUNDS = {}
