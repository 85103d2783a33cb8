"""The draw box as data (conformance.bounds): the nightly reaches the peers' own test calls, the
default box stays as it was, the wide draws stay valid and shrink back to the usual box."""

import dataclasses

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from benchmarks.peer_reach import load_cases, reach
from conformance import ConvConfig
from conformance.bounds import DEFAULT_BOUNDS, NIGHTLY_BOUNDS, Box, DrawBounds, outside
from conformance.checks import CHECK_KINDS
from conformance.profiles import CI, NIGHTLY, PROFILES, draw_bounds
from conformance.strategies import conv_configs
from conformance.suite.test_conformance import _drawing_inside
from conformance.vocabulary import OP_NAMES

FIND = settings(max_examples=3000, database=None, suppress_health_check=list(HealthCheck), deadline=None)

# The share of the peers' test calls (benchmarks/data/peer_conv_cases.json) the nightly must reach.
# Measured: torch 88/88, jax 224/225, tensorflow 204/223, all 516/536 (benchmarks/README.md, "What
# the nightly reaches"; the default box: 60, 202, 84, 346); the bars leave room for a rebuilt corpus.
NIGHTLY_REACH = {"torch": 0.95, "jax": 0.95, "tensorflow": 0.85, "all": 0.9}


def test_the_default_box_is_the_one_every_profile_drew_from():
    assert DEFAULT_BOUNDS == DrawBounds(usual=Box(
        max_batch=4, max_groups=4, max_channels_per_group=40, max_kernel=5, max_kernel_3d=3, max_stride=4,
        max_dilation=3, max_padding=3, size_slack=10, max_macs=60_000, max_elements=20_000))
    assert DEFAULT_BOUNDS.wide is None


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_names_its_box(profile):
    assert draw_bounds(profile) is (NIGHTLY_BOUNDS if profile == NIGHTLY else DEFAULT_BOUNDS)
    assert draw_bounds("nightly") is NIGHTLY_BOUNDS  # the previous release's name, for one release
    assert NIGHTLY_BOUNDS.usual == DEFAULT_BOUNDS.usual  # the nightly's usual draws are the default's


@pytest.mark.parametrize("peer", sorted(NIGHTLY_REACH))
def test_the_nightly_reaches_the_peers_test_calls(peer):
    nightly = reach(load_cases(), draw_bounds(NIGHTLY))[peer]
    default = reach(load_cases(), draw_bounds(CI))[peer]
    assert nightly.share >= NIGHTLY_REACH[peer], (
        f"the nightly bounds draw {nightly.drawable}/{nightly.total} ({nightly.share:.0%}) of {peer}'s test calls, "
        f"expected >= {NIGHTLY_REACH[peer]:.0%}; outside: {dict(nightly.reasons)}")
    assert nightly.drawable >= default.drawable


def test_the_corpus_names_its_sources_and_every_case_is_a_valid_call():
    cases = load_cases()
    assert {c.peer for c in cases} == {"torch", "jax", "tensorflow"}
    assert all(isinstance(c.config, ConvConfig) and c.test for c in cases)
    assert len(cases) >= 400


BEYOND = [
    pytest.param("conv3d", lambda c: max(c.kernel) > 3, id="3d-kernel>3"),
    pytest.param("conv2d", lambda c: 4 in c.dilation, id="dilation-4"),
    pytest.param("conv1d", lambda c: not isinstance(c.padding, str) and max(c.padding[0]) > 3, id="padding>3"),
    pytest.param("conv_transpose2d", lambda c: max(c.in_size) > 11, id="transposed-in_size>1+10"),
    pytest.param("conv2d", lambda c: c.macs > 60_000, id="macs>default-budget"),
    pytest.param("conv1d", lambda c: c.groups > 4, id="groups>4"),
]


@pytest.mark.parametrize("op, condition", BEYOND)
def test_nightly_bounds_draw_past_the_default_box(op, condition):
    found = find(conv_configs(op=op, bounds=NIGHTLY_BOUNDS), condition, settings=FIND)
    assert outside(found, DEFAULT_BOUNDS) is not None


@pytest.mark.parametrize("op, condition", BEYOND)
def test_the_suite_passes_the_profiles_bounds_to_its_strategies(op, condition):
    kind = _drawing_inside(CHECK_KINDS["forward"], None, draw_bounds(NIGHTLY))
    find(kind.strategy(op=op, dtypes=("float64",)), lambda case: condition(case.config), settings=FIND)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(OP_NAMES).flatmap(lambda op: conv_configs(op=op, bounds=NIGHTLY_BOUNDS)))
def test_nightly_draws_are_valid_and_inside_the_nightly_box(config):
    assert ConvConfig.from_dict(config.to_dict()) == config
    assert outside(config, NIGHTLY_BOUNDS) is None, config


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(OP_NAMES).flatmap(lambda op: conv_configs(op=op)))
def test_default_draws_are_inside_the_default_box(config):
    # outside() mirrors the strategy: what it calls drawable is what the strategy draws
    assert outside(config, DEFAULT_BOUNDS) is None, config


def test_nightly_draws_shrink_to_the_simplest_call_and_to_the_usual_box():
    assert find(conv_configs(bounds=NIGHTLY_BOUNDS), lambda c: True, settings=FIND) == ConvConfig(
        ndim=1, in_size=(1,), kernel=(1,))
    found = find(conv_configs(op="conv2d", bounds=NIGHTLY_BOUNDS), lambda c: max(c.dilation) > 3, settings=FIND)
    assert sorted(found.dilation) == [1, 4] and found.kernel == (1, 1) and found.batch == 1


def test_a_wide_box_smaller_than_the_usual_one_is_refused():
    with pytest.raises(ValueError, match="max_padding"):
        DrawBounds(wide=dataclasses.replace(DEFAULT_BOUNDS.usual, max_padding=1))
    with pytest.raises(ValueError, match="max_kernel=0 must be an int >= 1"):
        Box(max_kernel=0)
