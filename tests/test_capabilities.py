"""Capabilities as declarations: the strategies draw inside each region, and the region is what is declared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.capabilities import FEATURES, INVALID_ONLY_FEATURES, OPT_IN_AXES, Capabilities, Gap, capabilities_of, witness_config
from conformance.checks import CHECK_KINDS
from conformance.config import ConvConfig
from conformance.registry import BUILTIN, Implementation, capability_reason
from conformance.strategies import conv_configs
from conformance.vocabulary import OP_NAMES

ROOT = Path(__file__).resolve().parent.parent
DRAWN = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# Features a region can exclude feature by feature (op-level ones close a whole test instead).
DRAWABLE = [f for f in FEATURES if f not in ("*", "transposed", "ndim=1", "ndim=2", "ndim=3")]


@pytest.mark.parametrize("feature", DRAWABLE)
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose1d"])
def test_no_drawn_call_has_an_excluded_feature(feature, op):
    region = Capabilities(gaps=(Gap(feature, "excluded here"),), name="t").region(op, "cpu", "forward")
    predicate = FEATURES[feature]

    @DRAWN
    @given(conv_configs(op=op, region=region))
    def check(config):
        assert not predicate(config), f"{config} has {feature!r}"

    check()


@pytest.mark.parametrize("op", OP_NAMES)
def test_a_region_without_gaps_draws_what_no_region_draws(op):
    full = Capabilities(name="full").region(op, "cpu", "forward")
    assert not full.gaps
    # The same choice sequence gives the same config: compare the two strategies' derandomized draws.
    assert _drawn(conv_configs(op=op)) == _drawn(conv_configs(op=op, region=full))


def _drawn(strategy, count: int = 25) -> list:
    found = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(config):
        found.append(config)

    collect()
    return found


def test_dtype_conditioned_gap_excludes_only_in_its_dtypes():
    gap = Gap("groups>1", "no grouped float64", dtypes=("float64",))
    region = Capabilities(gaps=(gap,)).region("conv2d", "cpu", "forward")
    seen = set()

    @DRAWN
    @given(conv_configs(op="conv2d", dtypes=("float64", "float32"), region=region))
    def check(config):
        if config.dtype == "float64":
            assert config.groups == 1
        seen.add((config.dtype, config.groups > 1))

    check()
    assert ("float32", True) in seen, "float32 grouped calls must still be drawn"


def test_a_plugin_is_drawn_zeros_and_batched_unless_it_opts_in():
    class Plugin(Implementation):
        name = "plugin"

        def forward(self, config, x, w, b=None, device="cpu"):
            raise AssertionError("not called: the gap is declared")

    class OptedIn(Plugin):
        opt_in = ("padding_mode",)

    plain = capabilities_of(Plugin()).region("conv2d", "cpu", "forward")
    assert {"padding_mode=reflect", "padding_mode=replicate", "padding_mode=circular", "unbatched"} <= \
        plain.excludes("float32")
    opted = capabilities_of(OptedIn()).region("conv2d", "cpu", "forward").excludes("float32")
    assert "padding_mode=reflect" not in opted and "unbatched" in opted
    reflect = ConvConfig(ndim=2, in_size=(4, 4), kernel=(3, 3), padding=1, padding_mode="reflect")
    reason = capability_reason(Plugin(), CHECK_KINDS["forward"], reflect, "cpu")
    assert reason and "opt-in" in reason and "'padding_mode'" in reason, reason


def test_every_builtin_opts_in_to_every_axis():
    from conformance.isolation import declared_attribute

    for name in BUILTIN:
        assert tuple(declared_attribute(name, "opt_in", ())) == tuple(OPT_IN_AXES), name


@pytest.mark.parametrize("gap, message", [
    pytest.param(dict(feature="groups>2", reason="r"), "not one of", id="unknown feature"),
    pytest.param(dict(feature="groups>1", reason="r", refused_by="framework"), "needs `message`", id="no message"),
    pytest.param(dict(feature="groups>1", reason="r", refused_by="nobody"), "refused_by", id="refused_by"),
    pytest.param(dict(feature="groups>1", reason="r", dtypes=("float8",)), "float8", id="dtype"),
    pytest.param(dict(feature="groups>1", reason="r", ops=("conv4d",)), "conv4d", id="op"),
])
def test_a_malformed_gap_says_what_is_wrong(gap, message):
    with pytest.raises(ValueError, match=message):
        Gap(**gap)


def test_an_unknown_opt_in_axis_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="opt-in axes"):
        Capabilities(opt_in=("complex",))


@pytest.mark.parametrize("feature", [f for f in DRAWABLE if f not in INVALID_ONLY_FEATURES])
def test_each_witness_has_its_feature_and_is_valid(feature):
    made = 0
    for op in OP_NAMES:
        config = witness_config(Gap(feature, "r"), op, "float32")
        if config is not None:
            assert FEATURES[feature](config), (feature, op, config)
            assert not config.broken_rules()
            made += 1
    assert made, f"no op family has a witness of {feature!r}"


def test_an_op_level_gap_closes_the_test_with_its_reason():
    capabilities = Capabilities(gaps=(Gap("transposed", "no transposed convolution yet"),), name="k")
    assert capabilities.region("conv_transpose2d", "cpu", "forward").closing_reason(("float32",)) == \
        "no transposed convolution yet"
    assert capabilities.region("conv2d", "cpu", "forward").closing_reason(("float32",)) is None


def test_the_readme_capability_table_is_generated_from_the_declarations():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "capability_table.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_region_without_grouped_non_depthwise_calls_still_draws_depthwise_ones():
    """TensorFlow computes depthwise gradients (tf.nn.depthwise_conv2d) but no other grouped ones on
    CPU: its region keeps the depthwise calls and draws no other grouped call."""
    from conformance.capabilities import is_depthwise
    from conformance.strategies import conv_configs

    region = Capabilities(gaps=(Gap("groups>1 and not depthwise", "r", ops=("conv2d",)),)).region("conv2d", "cpu",
                                                                                                  "gradient")
    seen = {"depthwise": 0, "ungrouped": 0}

    @settings(max_examples=300, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(config=conv_configs(op="conv2d", region=region))
    def draw(config):
        assert not FEATURES["groups>1 and not depthwise"](config), config
        seen["depthwise" if is_depthwise(config) else "ungrouped"] += 1

    draw()
    assert seen["depthwise"] >= 20, seen

