"""pytest plugin for tests/test_mutants_axes.py: a suite run that only asks whether, and when, a bug is caught.

    pytest conformance/suite -p tests.no_shrink_plugin -p tests.no_consensus_plugin --hypothesis-profile ci-no-shrink ...

- No consensus: a failing final example is normally replayed on every built-in implementation
  (torch, torch.compile, JAX, TensorFlow, ...), 5-40 s per finding here; which of them agree is
  beside the point for a planted bug.
- Every pass record written (not only the first conformance.records.PASS_RECORD_CAP of a test), so
  that results.jsonl tells at which drawn example a test first failed.
"""

from __future__ import annotations

import sys

import pytest

__all__: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    from conformance import harness

    harness.PASS_RECORD_CAP = sys.maxsize  # the harness reads its own binding of the constant


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    state = getattr(session.config, "_conformance", None)
    if state is not None and state.harness is not None:
        state.harness.consensus_specs = []  # set when the suite's targets were made, during collection
