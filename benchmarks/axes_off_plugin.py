"""A pytest plugin that turns the config axes of issue #14 off, to measure what they cost.

    pytest conformance/suite -p benchmarks.axes_off_plugin ...

Every drawn config gets the defaults of the axes: padding_mode "zeros", memory_format "contiguous",
batched True, and at least one input channel per group (no zero-channel calls); the real-model layer
shapes are not run. Everything else is drawn as usual (the same choice sequence), so a run with and
a run without the plugin differ only by the axes. Used by the "What the config axes cost" section of
benchmarks/README.md; never by the suite itself.
"""

from __future__ import annotations

from conformance import strategies

_fit_budget = strategies._fit_budget


def _fit_budget_without_axes(fields, max_macs, max_elements):
    fields = dict(fields, padding_mode="zeros", memory_format="contiguous", batched=True)
    if fields.get("in_channels") == 0:
        fields["in_channels"] = fields["groups"]
    return _fit_budget(fields, max_macs, max_elements)


def pytest_configure(config):
    strategies._fit_budget = _fit_budget_without_axes
    from conformance.suite import test_conformance

    test_conformance._run_model_shapes = lambda *args, **kwargs: []
