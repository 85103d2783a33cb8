"""TensorFlow's own single calls: "tensorflow" (references/tensorflow/native.py), "tensorflow.xla" and
"tensorflow.onednn_off", against the float64 naive reference (judged by conformance.compare through
tests/adapter_checks.py), and their refusals: TF's own text, raised as NotImplementedError, which the
harness records as unsupported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import references.tensorflow.native as native  # noqa: E402  (imports no framework)
from conformance.config import ConvConfig
from conformance.model_shapes import model_shapes
from conformance.strategies import make_tensors
from tests import adapter_checks as ac

tf = pytest.importorskip("tensorflow", reason="tensorflow not installed")
from references.tensorflow.xla import TensorFlowXLA  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NATIVE = native.TensorFlowNative()
XLA = TensorFlowXLA()


def assert_agrees(impl, config, checks=ac.CHECKS, seed=0):
    verdicts = ac.check_against_naive(impl, config, seed, checks=checks)
    message = ac.describe_failure(impl.name, config, verdicts)
    assert message is None, message


def conv(ndim=2, **fields) -> ConvConfig:
    base = dict(ndim=ndim, in_channels=2, out_channels=3, in_size=(6, 5, 4)[:ndim], kernel=(3, 2, 2)[:ndim], bias=True)
    base.update(fields)
    return ConvConfig(**base)


# Configs TensorFlow's own call computes on CPU in float64, forward and gradients: one per route.
RUNS = [
    pytest.param(conv(1, padding=((2, 1),)), id="conv1d(pad=(2,1)): tf.pad + tf.nn.convolution"),
    pytest.param(conv(2, stride=(2, 1), padding=((1, 0), (0, 2))), id="conv2d(stride=2x1, pad=(1,0)x(0,2)): explicit list"),
    pytest.param(conv(2, padding="same", dilation=(2, 1)), id="conv2d(dilation=2x1, pad=same)"),
    pytest.param(conv(3, stride=2, padding=1, batch=2), id="conv3d(N=2, stride=2, pad=1)"),
    pytest.param(conv(2, padding="same", padding_mode="reflect"), id="conv2d(mode=reflect, pad=same): tf.pad REFLECT"),
    pytest.param(conv(1, padding=((2, 1),), padding_mode="reflect"),
                 id="conv1d(mode=reflect, pad=(2,1))"),
    pytest.param(conv(1, dilation=3, padding="valid", in_size=(9,)), id="conv1d(dilation=3, pad=valid)"),
    pytest.param(conv(1, transposed=True, stride=3, padding=((1, 2),), output_padding=2),
                 id="conv_transpose1d(stride=3, pad=(1,2), out_pad=2): VALID + crop"),
    pytest.param(conv(2, transposed=True, stride=(2, 3), padding=((1, 0), (2, 2)), output_padding=(1, 2)),
                 id="conv_transpose2d(stride=2x3, pad=(1,0)x(2,2), out_pad=1x2): VALID + crop (hi < out_pad)"),
    pytest.param(conv(2, transposed=True, stride=2, padding=((0, 1), (2, 1)), output_padding=(1, 1)),
                 id="conv_transpose2d(stride=2, pad=(0,1)x(2,1), out_pad=1): explicit list"),
    pytest.param(conv(3, transposed=True, stride=(1, 2, 2), padding=1, bias=False),
                 id="conv_transpose3d(stride=1x2x2, pad=1)"),
]


@pytest.mark.parametrize("config", RUNS)
@pytest.mark.parametrize("impl", [NATIVE, XLA], ids=lambda impl: impl.name)
def test_float64_agrees_with_naive(impl, config):
    assert_agrees(impl, config)


FORWARD_ONLY = [  # TF computes the forward call, and refuses the float64 gradient (see REFUSALS)
    pytest.param(conv(2, in_channels=4, out_channels=6, groups=2), id="conv2d(groups=2)"),
    pytest.param(conv(1, in_channels=3, out_channels=3, groups=3, stride=2, padding=1), id="conv1d(depthwise)"),
]


@pytest.mark.parametrize("config", FORWARD_ONLY)
def test_grouped_forward_agrees_with_naive(config):
    assert_agrees(NATIVE, config, checks=("forward",))


@pytest.mark.parametrize("config", FORWARD_ONLY + RUNS[:3])
def test_xla_computes_what_eager_refuses_or_not(config):
    assert_agrees(XLA, config)  # XLA has grouped and dilated gradients on CPU


def test_output_padding_past_what_valid_reaches_is_tensorflows_refusal():
    # PyTorch allows output_padding < max(stride, dilation): here 1 with stride 1, dilation 2 (hi = 0).
    # TF's "VALID" conv_transpose reaches at most stride - 1 past the full size: TF refuses the size
    # (oneDNN, float32: "could not create a primitive descriptor"; Eigen: "Size of out_backprop ...",
    # or, where oneDNN is off by default (AVX2-only CPUs), Eigen's refusal of the dilation itself).
    config = conv(1, transposed=True, dilation=2, output_padding=1, dtype="float32")
    with pytest.raises(NotImplementedError, match="could not create a primitive descriptor|Size of out_backprop"
                                                  "|do not yet support dilation rates larger than 1"):
        _call(NATIVE, config, "forward")


# ---- refusals: TF's own text, as NotImplementedError (the harness: unsupported) --------------------

REFUSALS = [
    pytest.param(conv(3, in_channels=4, out_channels=4, groups=2), "forward",
                 "Number of channels in filter", id="conv3d(groups=2) float64 forward"),
    pytest.param(conv(3, in_channels=4, out_channels=4, groups=2, dtype="float32"), "forward",
                 "input and filter must have the same depth | Number of channels in filter",  # oneDNN | Eigen
                 id="conv3d(groups=2) float32 forward"),
    pytest.param(conv(2, in_channels=4, out_channels=6, groups=2), "vjp",
                 "Gradients for grouped convolutions are not supported on CPU.", id="conv2d(groups=2) float64 gradient"),
    pytest.param(conv(1, stride=2, dilation=2, in_size=(9,)), "forward",
                 "`strides > 1` not supported in conjunction with `dilation_rate > 1`.",
                 id="conv1d(stride=2, dilation=2) forward"),
    pytest.param(conv(2, dilation=2, padding=((1, 0), (0, 1))), "vjp",
                 "Current CPU implementations do not yet support dilation rates larger than 1. [Op:Conv2DBackpropInput]",
                 id="conv2d(dilation=2, explicit pad) float64 gradient"),
    pytest.param(conv(2, transposed=True, dilation=2), "forward",
                 "Current CPU implementations do not yet support dilation rates larger than 1. [Op:Conv2DBackpropInput]",
                 id="conv_transpose2d(dilation=2) float64 forward"),
]


def _call(impl, config, method):
    t = make_tensors(config, 0).in_storage(config.dtype)
    if method == "forward":
        return impl.forward(config, t.x, t.w, t.b)
    return impl.vjp(config, t.x, t.w, t.b, t.grad_out)


@pytest.mark.parametrize("config, method, text", REFUSALS)
def test_refusal_is_not_implemented_with_tensorflows_text(config, method, text):
    with pytest.raises(NotImplementedError) as info:
        _call(NATIVE, config, method)
    # text: TF's message, or " | "-separated alternatives where oneDNN and Eigen word it differently
    # (oneDNN is off by default on CPUs without AVX-512).
    assert str(info.value).startswith("tensorflow: ") and any(t in str(info.value) for t in text.split(" | ")), \
        info.value
    assert isinstance(info.value.__cause__, (tf.errors.OpError, ValueError))  # TF raised it: found by calling


def test_harness_records_a_refusal_as_unsupported_with_the_text():
    from conformance.checks import FORWARD
    from conformance.harness import _not_implemented_reason

    config = conv(3, in_channels=4, out_channels=4, groups=2)
    with pytest.raises(NotImplementedError) as info:
        _call(NATIVE, config, "forward")
    reason = _not_implemented_reason("tensorflow", FORWARD, info.value)
    assert reason is not None and "Number of channels in filter" in reason


def test_other_errors_stay_errors():
    # oneDNN's empty-batch shape bug (KD-009) is a finding, not a refusal.
    if not native.onednn_enabled():
        pytest.skip("KD-009 is oneDNN's: TensorFlow runs without oneDNN here (off by default without AVX-512)")
    config = conv(2, batch=0, dtype="float32")
    with pytest.raises(tf.errors.InvalidArgumentError, match="Must provide as many biases"):  # NHWC bias_add on the input-shaped result
        _call(NATIVE, config, "forward")


def test_an_invalid_call_keeps_its_own_exception():
    config = ConvConfig.unchecked(ndim=1, in_channels=2, out_channels=2, in_size=5, kernel=2, stride=2, dilation=2)
    err = ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1`.")
    assert native.refusal_reason("tensorflow", config, err) is not None
    broken = ConvConfig.unchecked(ndim=1, in_size=5, kernel=2, padding="same", stride=2)
    assert broken.broken_rules()
    assert native.refusal_reason("tensorflow", broken, err) is None


def test_grouping_messages_count_only_for_groups():
    err = tf.errors.InvalidArgumentError(None, None, "input and filter must have the same depth: 4 vs 2")
    assert native.refusal_reason("tensorflow", conv(3, in_channels=4, out_channels=4, groups=2), err)
    assert native.refusal_reason("tensorflow", conv(3), err) is None


# ---- which tf.nn function: stride with dilation (tf.nn.conv2d), depthwise (tf.nn.depthwise_conv2d) ---


class DepthwiseNative(native.TensorFlowNative):
    """The tensorflow adapter with tf.nn.depthwise_conv2d for depthwise configs (off in "tensorflow"
    until capabilities can declare grouped-but-not-depthwise gaps: see TensorFlowNative.depthwise_call)."""

    depthwise_call = True


DEPTHWISE = DepthwiseNative()
# Issue #36.5: TF's testConv2DGroupConvFwd shape, which tf.nn.convolution refused.
ISSUE_GROUPED = ConvConfig(ndim=2, batch=10, in_channels=16, out_channels=16, groups=8, in_size=(32, 32),
                           kernel=(1, 1), stride=(2, 2), dilation=(2, 2), padding=((0, 0), (0, 0)), dtype="float32")


def depthwise(multiplier=1, channels=3, **fields) -> ConvConfig:
    return conv(2, in_channels=channels, out_channels=channels * multiplier, groups=channels, **fields)


CALLS = [  # config, tf_call with depthwise routing, tf_call without
    pytest.param(ISSUE_GROUPED, "conv2d", "conv2d", id="grouped conv2d(stride=2, dilation=2): conv2d"),
    pytest.param(conv(2, stride=2, dilation=(1, 2)), "conv2d", "conv2d", id="conv2d(stride=2, dilation=1x2): conv2d"),
    pytest.param(conv(2, dilation=2), "convolution", "convolution", id="conv2d(dilation=2): convolution"),
    pytest.param(conv(2, padding=((0, 1), (0, 0))), "conv2d", "conv2d", id="conv2d(pad=(0,1)x(0,0)): conv2d"),
    pytest.param(conv(2, padding="same"), "convolution", "convolution", id="conv2d(pad=same): convolution"),
    pytest.param(conv(1, stride=2, dilation=2, in_size=(9,)), "convolution", "convolution",
                 id="conv1d(stride=2, dilation=2): convolution (which refuses it)"),
    pytest.param(depthwise(2, stride=2, padding=((1, 0), (0, 2))), "depthwise_conv2d", "conv2d",
                 id="depthwise(m=2, stride=2, pad=(1,0)x(0,2))"),
    pytest.param(depthwise(1, dilation=2, padding="same"), "depthwise_conv2d", "convolution",
                 id="depthwise(m=1, dilation=2, pad=same)"),
    pytest.param(depthwise(2, stride=(2, 1)), "convolution", "convolution",
                 id="depthwise(stride=2x1): grouped convolution (unequal strides)"),
    pytest.param(depthwise(2, stride=2, dilation=2, in_size=(9, 9)), "conv2d", "conv2d",
                 id="depthwise(stride=2, dilation=2): conv2d (depthwise_conv2d computes another result)"),
    pytest.param(conv(2, in_channels=4, out_channels=6, groups=2), "convolution", "convolution",
                 id="conv2d(groups=2, 2 channels a group): convolution"),
    pytest.param(conv(1, in_channels=3, out_channels=3, groups=3), "convolution", "convolution",
                 id="conv1d(depthwise): convolution (1-d)"),
    pytest.param(conv(2, transposed=True, in_channels=3, out_channels=3, groups=3), "conv2d_transpose",
                 "conv2d_transpose", id="conv_transpose2d(groups=3): conv2d_transpose"),
]


@pytest.mark.parametrize("config, routed, unrouted", CALLS)
def test_tf_call_names_the_function_for_each_config(config, routed, unrouted):
    assert native.tf_call(config, depthwise=True) == routed
    assert native.tf_call(config, depthwise=False) == unrouted


@pytest.fixture
def tf_calls(monkeypatch):
    """{name: number of calls} of the tf.nn convolution functions, counted while they run."""
    counts = dict.fromkeys(("convolution", "conv2d", "depthwise_conv2d"), 0)
    for name in counts:
        function = getattr(tf.nn, name)

        def counted(*args, _name=name, _function=function, **kwargs):
            counts[_name] += 1
            return _function(*args, **kwargs)

        monkeypatch.setattr(tf.nn, name, counted)
    return counts


STRIDED_DILATED = [  # (config, checks): what tf.nn.conv2d computes with stride > 1 and dilation > 1
    pytest.param(ISSUE_GROUPED, ("forward",), id="issue #36.5: grouped conv2d(N=10, C=16, groups=8, stride=2, dilation=2) float32"),
    pytest.param(ISSUE_GROUPED.replace(dtype="float64"), ("forward",), id="the same in float64"),
    pytest.param(conv(2, in_channels=4, out_channels=6, groups=2, stride=(2, 3), dilation=(2, 1), in_size=(9, 8),
                      padding=((1, 0), (2, 1))), ("forward",), id="grouped conv2d(stride=2x3, dilation=2x1, pad=(1,0)x(2,1))"),
    pytest.param(conv(2, stride=2, dilation=2, in_size=(9, 7), padding="valid"), ("forward",),
                 id="conv2d(stride=2, dilation=2, pad=valid) float64"),
]


@pytest.mark.parametrize("config, checks", STRIDED_DILATED)
def test_stride_with_dilation_in_2d_is_tf_nn_conv2d_and_agrees(config, checks, tf_calls):
    assert_agrees(NATIVE, config, checks=checks)
    assert NATIVE.last_call == "conv2d" and tf_calls["conv2d"] >= 1 and tf_calls["convolution"] == 0, tf_calls


@pytest.mark.skipif(native.onednn_enabled() is False, reason="needs oneDNN on: TF's own kernels refuse this gradient")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_strided_dilated_gradient_where_onednn_computes_it(dtype):
    assert_agrees(NATIVE, ISSUE_GROUPED.replace(dtype=dtype, batch=2, in_size=(9, 8)))
    # no bias: a bfloat16 forward with one is rounded twice (KD-008)
    assert_agrees(NATIVE, conv(2, stride=2, dilation=2, in_size=(9, 7), bias=False, dtype=dtype))


DEPTHWISE_RUNS = [  # multiplier > 1 in most: a channel-order bug in the filter's layout shows only there
    pytest.param(depthwise(2), id="depthwise(C=3, m=2)"),
    pytest.param(depthwise(3, channels=2, stride=2, padding=((1, 0), (0, 2)), batch=2),
                 id="depthwise(C=2, m=3, stride=2, pad=(1,0)x(0,2), N=2)"),
    pytest.param(depthwise(2, dilation=(2, 1), padding="same", in_size=(7, 6)), id="depthwise(m=2, dilation=2x1, pad=same)"),
    pytest.param(depthwise(2, dilation=2, padding=((2, 1), (0, 1)), in_size=(7, 6)),
                 id="depthwise(m=2, dilation=2, pad=(2,1)x(0,1))"),
    pytest.param(depthwise(1, channels=4, stride=3, kernel=(3, 3), in_size=(8, 9), bias=False),
                 id="depthwise(C=4, m=1, stride=3, k=3x3, no bias)"),
    pytest.param(depthwise(2, padding=((1, 1), (2, 2)), padding_mode="reflect"), id="depthwise(m=2, mode=reflect, pad=1x2)"),
    pytest.param(depthwise(2, stride=2, padding=((1, 0), (0, 2)), dtype="float32"), id="depthwise(m=2, stride=2, pad) float32"),
    pytest.param(depthwise(3, channels=2, dilation=2, padding="same", in_size=(7, 6), dtype="float32"),
                 id="depthwise(C=2, m=3, dilation=2, pad=same) float32"),
    pytest.param(next(s.config for s in model_shapes("conv2d", ci_only=False) if s.name == "mobilenetv2.depthwise"),
                 id="mobilenetv2.depthwise (a real-model shape whose gradient the grouped route refuses)"),
]


@pytest.mark.parametrize("config", DEPTHWISE_RUNS)
def test_depthwise_is_tf_nn_depthwise_conv2d_and_its_gradients_agree(config, tf_calls):
    assert_agrees(DEPTHWISE, config)  # forward, grad_input, grad_weight, grad_bias
    assert DEPTHWISE.last_call == "depthwise_conv2d"
    assert tf_calls["depthwise_conv2d"] == 2 and tf_calls["conv2d"] == tf_calls["convolution"] == 0, tf_calls


@pytest.mark.parametrize("config", DEPTHWISE_RUNS[1:4])
def test_depthwise_jvp_and_double_vjp_agree(config):
    from references.numpy.naive import NaiveReference

    naive = NaiveReference()
    t = make_tensors(config, 0, tangents=True)
    expected = [naive.jvp(config, t.x, t.w, t.b, t.dx, t.dw, t.db),
                *naive.double_vjp(config, t.x, t.w, t.b, t.grad_out, t.ggx, t.ggw, t.ggb)]
    got = [DEPTHWISE.jvp(config, t.x, t.w, t.b, t.dx, t.dw, t.db),
           *DEPTHWISE.double_vjp(config, t.x, t.w, t.b, t.grad_out, t.ggx, t.ggw, t.ggb)]
    for name, value, reference in zip(("jvp", "x_bar", "w_bar", "g_bar"), got, expected):
        np.testing.assert_allclose(value, reference, rtol=1e-12, atol=1e-12 * np.abs(reference).max(), err_msg=name)
    assert DEPTHWISE.last_call == "depthwise_conv2d"


@pytest.mark.parametrize("config", [
    pytest.param(depthwise(2, stride=(2, 1)), id="unequal strides (refused by depthwise_conv2d in float64)"),
    pytest.param(depthwise(2, stride=2, dilation=2, in_size=(9, 9)), id="stride=2, dilation=2 (another result there)"),
])
def test_depthwise_configs_depthwise_conv2d_cannot_take_go_through_the_grouped_call(config, tf_calls):
    assert_agrees(DEPTHWISE, config, checks=("forward",))
    grouped = native.tf_call(config, depthwise=False)
    assert DEPTHWISE.last_call == grouped and tf_calls[grouped] == 1 and tf_calls["depthwise_conv2d"] == 0, tf_calls


def test_depthwise_agrees_with_onednn_off_in_its_own_process():
    """Eigen's depthwise kernels (every dtype with oneDNN off): forward and gradients, in a child process."""
    configs = [DEPTHWISE_RUNS[1].values[0], DEPTHWISE_RUNS[3].values[0], DEPTHWISE_RUNS[6].values[0]]
    code = ("import json, sys\n"
            "from conformance.config import ConvConfig\n"
            "from references.tensorflow import native\n"
            "from tests import adapter_checks as ac\n"
            "class DepthwiseOff(native.TensorFlowOneDNNOff):\n"
            "    depthwise_call = True\n"
            "impl, answers = DepthwiseOff(), []\n"
            "for fields in json.loads(sys.argv[1]):\n"
            "    config = ConvConfig.from_dict(fields)\n"
            "    answers.append([ac.describe_failure(impl.name, config, ac.check_against_naive(impl, config)),\n"
            "                    impl.last_call, impl.settings()['oneDNN']])\n"
            "print(json.dumps(answers))\n")
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", code, json.dumps([c.to_dict() for c in configs])], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == [[None, "depthwise_conv2d", False]] * len(configs)


# ---- the gaps are what TF refuses: each witness-sized call in every dtype, declared or not ----------


def _declared(impl, config, check):
    from conformance.capabilities import capabilities_of

    return next((g for g in capabilities_of(impl).all_gaps()
                 if g.refused_by == "framework" and g.covers(config, "cpu", check)), None)


def _gap_disagreements(impl, feature, ops, dtypes=("float64", "float32", "float16", "bfloat16")) -> list[str]:
    """Where `impl`'s declaration of `feature` (its witness call, per op, check kind and dtype) and what TF
    does disagree: a declared gap TF runs, an undeclared call TF refuses, or another refusal text."""
    from conformance.capabilities import FrameworkRefusal, Gap, witness_config

    found = []
    for op in ops:
        for check in ("forward", "gradient"):
            for dtype in dtypes:
                config = witness_config(Gap(feature, "witness"), op, dtype)
                gap = _declared(impl, config, check)
                try:
                    _call(impl, config, "forward" if check == "forward" else "vjp")
                    seen = None
                except FrameworkRefusal as err:
                    seen = str(err)
                where = f"{impl.name} {check} {config}"
                if gap is not None and seen is None:
                    found.append(f"declared {gap.feature!r} ({gap.where()}), but TF runs it: {where}")
                elif gap is None and seen is not None:
                    found.append(f"undeclared, but TF refuses it ({seen}): {where}")
                elif gap is not None and not gap.matches(seen):
                    found.append(f"refused with another text than /{gap.message}/ ({seen}): {where}")
    return found


@pytest.mark.parametrize("impl", [NATIVE, XLA], ids=lambda impl: impl.name)
def test_strided_dilation_gaps_are_what_tf_refuses(impl):
    """tf.nn.convolution's refusal in 1-d and 3-d (tensorflow and tensorflow.xla), tf.nn.conv2d's
    Conv2DBackpropInput refusal for the 2-d gradient (Eigen's dtypes with oneDNN on; XLA computes it)."""
    assert _gap_disagreements(impl, "stride>1 and dilation>1", ("conv1d", "conv2d", "conv3d")) == []


def test_strided_dilation_gaps_are_what_tf_refuses_with_onednn_off():
    code = ("import json\n"
            "from references.tensorflow import native\n"
            "from tests.test_adapter_tensorflow_native import _gap_disagreements\n"
            "print(json.dumps(_gap_disagreements(native.TensorFlowOneDNNOff(), 'stride>1 and dilation>1',\n"
            "                                    ('conv1d', 'conv2d', 'conv3d'))))\n")
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_the_2d_strided_dilation_gap_is_declared_for_backprop_only():
    gap, = native.conv2d_backprop_gaps(onednn=True)
    assert (gap.feature, gap.ops, gap.checks, gap.dtypes, gap.machine) == (
        "stride>1 and dilation>1", ("conv2d",), ("gradient", "double_vjp", "determinism"), (), "tf_eigen")
    off, = native.conv2d_backprop_gaps(onednn=False)
    assert (off.dtypes, off.machine) == ((), "")
    # tensorflow.xla keeps tf.nn.convolution's argument check only: XLA computes this gradient.
    assert gap not in XLA.gaps and all("conv2d" not in g.ops for g in XLA.gaps if g.feature == gap.feature)


def _witness_refusals(impl, op) -> list[str]:
    """Each framework gap's witness call for `op` (as the suite picks it: float32 where the gap holds
    for it on this machine, else the first dtype it holds for; one per gap no other gap covers), where
    TF does not refuse it with the declared text."""
    from conformance.capabilities import FrameworkRefusal, capabilities_of, witness_config

    capabilities, found = capabilities_of(impl), []
    for check in ("forward", "gradient"):
        for gap in capabilities.framework_gaps(op, "cpu", check):
            dtypes = [d for d in ("float32", "float64", "float16", "bfloat16") if gap.holds_for(d)]
            config = witness_config(gap, op, dtypes[0]) if dtypes else None
            if config is None or any(other is not gap and other.covers(config, "cpu", check)
                                     for other in capabilities.all_gaps()):
                continue
            try:
                _call(impl, config, "forward" if check == "forward" else "vjp")
                found.append(f"{gap.feature!r} ({gap.where()}): TF runs its witness {check} {config}")
            except FrameworkRefusal as err:
                if not gap.matches(str(err)):
                    found.append(f"{gap.feature!r} ({gap.where()}): /{gap.message}/ not in {err}")
    return found


@pytest.mark.parametrize("impl", [NATIVE, XLA], ids=lambda impl: impl.name)
def test_each_conv2d_gap_witness_is_refused_with_the_declared_text(impl):
    assert _witness_refusals(impl, "conv2d") == []


def test_the_depthwise_route_is_on_and_no_grouped_gap_covers_a_depthwise_call():
    """tf.nn.depthwise_conv2d computes depthwise gradients on CPU: the grouped-gradient gaps are declared
    for the other grouped calls ("groups>1 and not depthwise"), so no gap excludes what the route runs
    and no witness is a depthwise call (test_each_conv2d_gap_witness_is_refused_with_the_declared_text)."""
    from conformance.capabilities import is_depthwise, witness_config

    assert NATIVE.depthwise_call is True and XLA.depthwise_call is False
    for gap in NATIVE.gaps:
        if gap.feature.startswith("groups>1") and (not gap.ops or "conv2d" in gap.ops):
            witness = witness_config(gap, "conv2d", "float64")
            assert witness is None or not is_depthwise(witness), (gap, witness)


# ---- layouts, compilation, oneDNN off ------------------------------------------------------------


def test_channels_last_buffer_gives_the_same_result():
    config = conv(2, stride=2, padding=1)
    t = make_tensors(config, 0).in_storage(config.dtype)
    channels_last = np.moveaxis(np.ascontiguousarray(np.moveaxis(t.x, 1, -1)), -1, 1)  # NHWC buffer, NCHW view
    assert not channels_last.flags.c_contiguous
    np.testing.assert_array_equal(NATIVE.forward(config, channels_last, t.w, t.b), NATIVE.forward(config, t.x, t.w, t.b))


def test_xla_compiles_once_per_config():
    xla = TensorFlowXLA()
    config = conv(1, padding=((1, 0),))
    t = make_tensors(config, 0).in_storage(config.dtype)
    for _ in range(3):
        xla.forward(config, t.x, t.w, t.b)
        xla.vjp(config, t.x, t.w, t.b, t.grad_out)
    assert xla.trace_count() == 2  # one forward function, one gradient function, each traced once
    xla.forward(conv(1, padding=((0, 1),)), t.x, t.w, t.b)  # a new padding is a new config
    assert xla.trace_count() == 3


def test_onednn_off_needs_its_own_process(monkeypatch):
    from conformance.isolation import worker_environment

    off = native.TensorFlowOneDNNOff()
    assert worker_environment("tensorflow.onednn_off") == {"TF_ENABLE_ONEDNN_OPTS": "0"}
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert "needs its own process" in off.supports(conv(2))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert off.supports(conv(2)) is None
    assert off.settings("cpu")["TF_ENABLE_ONEDNN_OPTS"] == "0" and off.settings("cpu")["oneDNN"] is False


def test_onednn_off_agrees_in_its_own_process(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    configs = [RUNS[1].values[0], RUNS[6].values[0], conv(2, batch=0, dtype="float32")]
    answers, crashes = ac.run_in_child("tensorflow.onednn_off", [{"config": c.to_dict()} for c in configs])
    assert not crashes
    for config, answer in zip(configs, answers):
        assert "verdicts" in answer, answer
        assert ac.describe_failure("tensorflow.onednn_off", config, answer["verdicts"]) is None


@pytest.mark.parametrize("impl", [NATIVE, XLA, native.TensorFlowOneDNNOff()], ids=lambda impl: impl.name)
def test_unbatched_and_padding_modes_declared(impl, monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")

    from conformance.checks import FORWARD
    from conformance.config import ConvConfig
    from conformance.registry import capability_reason

    unbatched = ConvConfig(ndim=2, in_size=(4, 4), kernel=(2, 2), batched=False)
    replicate = ConvConfig(ndim=2, in_size=(4, 4), kernel=(2, 2), padding=1, padding_mode="replicate")
    assert "there is no unbatched call" in capability_reason(impl, FORWARD, unbatched, "cpu")
    assert "PyTorch's 'replicate' has no TensorFlow form" in capability_reason(impl, FORWARD, replicate, "cpu")


def test_import_does_not_load_tensorflow():
    code = ("import sys, references.tensorflow.native, references.tensorflow.xla, references.jax.jit; "
            "print(sorted(m for m in ('tensorflow', 'torch', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _harness_outcome(spec, kind, case, op):
    from conformance.checks import CHECK_KINDS
    from conformance.harness import Harness, Target
    from conformance.known import load_known_divergences

    harness = Harness(writer=None, run_id="t", isolation="none", known=load_known_divergences())
    return harness.check(Target(op, spec, "cpu", spec), CHECK_KINDS[kind], case, test_id="t")


def test_xla_conv_transpose3d_gradient_with_height_and_width_dilations_apart_is_kd021():
    """TF's Conv3D shape function swaps the height and width dilations: the input gradient of a
    conv_transpose3d (a dilated Conv3D) whose swapped kernel does not fit errors under XLA (KD-021);
    one where the swapped kernel fits computes the definition."""
    from conformance.strategies import ConvCase

    def case(in_size, kernel, dilation):
        return ConvCase(ConvConfig(ndim=3, transposed=True, in_channels=1, out_channels=1, in_size=in_size,
                                   kernel=kernel, dilation=dilation, dtype="float64"), 0, "normal")

    outcome = _harness_outcome("tensorflow.xla", "gradient", case((1, 1, 1), (1, 1, 2), (1, 2, 1)), "conv_transpose3d")
    assert set(outcome.statuses.values()) == {"known"}, outcome.message
    assert outcome.records[0].known_id == "KD-021" and "Negative dimension size" in outcome.records[0].message
    fits = _harness_outcome("tensorflow.xla", "gradient", case((1, 3, 3), (1, 2, 1), (1, 1, 2)), "conv_transpose3d")
    assert set(fits.statuses.values()) == {"pass"}, fits.message


def _invalid_case(rule, dtype="float32", weight_shape=None, **fields):
    """An invalid call of a 2-d config (1->1 channels unless `fields` say otherwise); the weight
    fits the config unless `weight_shape` is given."""
    from conformance.strategies import InvalidCase

    config = ConvConfig.unchecked(**{"ndim": 2, "in_channels": 1, "out_channels": 1, "dtype": dtype, **fields})
    return InvalidCase(config, rule, weight_shape or config.weight_shape, 0, "normal")


@pytest.mark.skipif(native.onednn_enabled() is False, reason="needs oneDNN on, to show float32 refused there")
def test_zero_input_channels_with_a_filter_of_depth_one_is_kd042_where_eigen_runs():
    """oneDNN refuses x of depth 0 with a filter of depth 1 (float32); the Eigen kernel (float64)
    accepts it: KD-042, recorded as known, while the float32 refusal is the pass it should be."""
    def case(dtype):
        return _invalid_case("weight shape matches the channels", dtype, weight_shape=(1, 1, 1, 1),
                             in_channels=0, in_size=(1, 1), kernel=(1, 1))

    accepted = _harness_outcome("tensorflow", "invalid", case("float64"), "conv2d")
    assert accepted.statuses == {"invalid_call": "known"} and accepted.records[0].known_id == "KD-042"
    refused = _harness_outcome("tensorflow", "invalid", case("float32"), "conv2d")
    assert refused.statuses == {"invalid_call": "pass"} and "at least one group" in refused.records[0].message


@pytest.mark.skipif(native.onednn_enabled() is False, reason="needs oneDNN on: the Eigen kernel refuses the call")
def test_negative_explicit_padding_accepted_by_onednn_is_kd044():
    """oneDNN's Conv2D (float32) takes a negative explicit pad that empties the padded input and
    returns an unwritten tensor: KD-044, known; the Eigen kernel (float64) refuses it, a pass."""
    fields = dict(in_size=(2, 1), kernel=(1, 1), padding=((-1, -1), (0, 0)))
    accepted = _harness_outcome("tensorflow", "invalid", _invalid_case("padding >= 0", **fields), "conv2d")
    assert accepted.statuses == {"invalid_call": "known"} and accepted.records[0].known_id == "KD-044"
    refused = _harness_outcome("tensorflow", "invalid", _invalid_case("padding >= 0", "float64", **fields), "conv2d")
    assert refused.statuses == {"invalid_call": "pass"} and "nonnegative" in refused.records[0].message


@pytest.mark.parametrize("spec", ["tensorflow", "tensorflow.xla"])
def test_tensorflows_same_with_stride_2_is_checked_against_its_own_definition(spec):
    """TF's SAME is defined for stride > 1 (output ceil(n / s), the odd pad at the end): the declared
    definition same_upper, whose reading the result matches; with dilation 2 too, TF refuses it."""
    case = _invalid_case("'same' needs stride 1", in_size=(5, 1), kernel=(2, 1), stride=(2, 1), padding="same")
    outcome = _harness_outcome(spec, "invalid", case, "conv2d")
    assert outcome.statuses == {"invalid_call": "pass"}, outcome.message
    assert outcome.records[0].detail == "defined: same_upper"
    if spec == "tensorflow":  # tf.nn.convolution refuses stride > 1 with dilation > 1 (a declared gap): must raise
        dilated = _invalid_case("'same' needs stride 1", "float64", ndim=1, in_size=(5,), kernel=(2,), stride=(2,),
                                dilation=(2,), padding="same")
        refused = _harness_outcome(spec, "invalid", dilated, "conv1d")
        assert refused.statuses == {"invalid_call": "pass"} and refused.records[0].detail != "defined: same_upper"


def test_xla_zero_input_channels_raise_tf_s_zero_division_while_tracing_kd018():
    """tf.nn.convolution's own Python divides by the zero depth on the dilated path; under
    tf.function the ZeroDivisionError comes wrapped in a StagingError: still KD-018."""
    from conformance.strategies import ConvCase

    config = ConvConfig(ndim=3, in_channels=0, out_channels=1, in_size=(1, 1, 1), kernel=(1, 1, 1),
                        dilation=(1, 1, 2), dtype="float64")
    outcome = _harness_outcome("tensorflow.xla", "forward", ConvCase(config, 0, "normal"), "conv3d")
    assert outcome.statuses == {"forward": "known"}, outcome.message
    assert outcome.records[0].known_id == "KD-018" and "ZeroDivisionError" in outcome.records[0].message


def test_xla_gradient_of_output_padding_tf_cannot_reach_is_the_same_refusal():
    """conv_transpose's output_padding past hi + stride - 1 is refused by TF's size check in the
    forward call; a gradient traced by tf.function meets it first in shape inference ('Cannot
    reshape a tensor ...'): the same refusal, a declared gap whose witness accepts either text."""
    from conformance.checks import CHECK_KINDS
    from conformance.harness import Harness, Target
    from conformance.strategies import ConvCase
    from references.tensorflow.xla import TensorFlowXLA

    config = ConvConfig(ndim=1, transposed=True, in_channels=1, out_channels=1, in_size=(1,), kernel=(1,),
                        dilation=(2,), output_padding=(1,), dtype="float64")
    gap = next(g for g in TensorFlowXLA.gaps if g.feature == "output_padding-hi>=stride")
    harness = Harness(writer=None, run_id="t", isolation="none")
    target = Target("conv_transpose1d", "tensorflow.xla", "cpu", "tensorflow.xla")
    for kind in ("forward", "gradient"):
        case = ConvCase(config, 0, "normal")
        declared = harness.check(target, CHECK_KINDS[kind], case, test_id="t")
        assert set(declared.statuses.values()) == {"unsupported"}, declared.message
        witnessed = harness.check(target, CHECK_KINDS[kind], case, test_id="t", phase="explicit", witness=gap)
        assert set(witnessed.statuses.values()) == {"pass"}, witnessed.message
    assert "Cannot reshape a tensor" in witnessed.records[0].message


@pytest.mark.parametrize("config", [
    conv(batch=2, in_size=(2, 10), kernel=(1, 4), stride=(3, 1), padding=((0, 0), (1, 1)), dtype="bfloat16"),
    conv(ndim=1, batch=2, in_channels=3, out_channels=2, in_size=(30,), kernel=(5,), dtype="bfloat16"),
])
def test_double_vjp_x_bar_and_w_bar_are_tf_s_gradient_kernels(config):
    """x_bar is the input gradient of (ggw, g) and w_bar the weight gradient of (ggx, g), bit for bit:
    why measured_arithmetic gives double_vjp_input/weight the rounding of grad_input/weight."""
    t = make_tensors(config, 0, tangents=True)
    x_bar, w_bar, _ = NATIVE.double_vjp(config, t.x, t.w, t.b, t.grad_out, t.ggx, t.ggw, t.ggb)
    np.testing.assert_array_equal(x_bar, NATIVE.vjp(config, t.x, t.ggw, t.b, t.grad_out)[0])
    np.testing.assert_array_equal(w_bar, NATIVE.vjp(config, t.ggx, t.w, t.b, t.grad_out)[1])


def test_bfloat16_double_vjp_past_the_float32_bound_is_kd007_within_bfloat16_sums():
    """A ci-profile double VJP (mixed values, explicit padding list: Eigen's gradient kernels) is
    7.6x and 14x the float32-accumulation bound; bfloat16 partial sums explain it: KD-007, known."""
    from conformance.strategies import ConvCase

    config = conv(batch=2, in_channels=1, out_channels=7, in_size=(2, 11), kernel=(1, 4),
                  padding=((0, 0), (1, 0)), bias=False, dtype="bfloat16")
    outcome = _harness_outcome("tensorflow", "double_vjp", ConvCase(config, 1017184, "mixed"), "conv2d")
    assert outcome.statuses == {"double_vjp_input": "known", "double_vjp_weight": "known",
                                "double_vjp_grad_out": "pass"}, outcome.message
    assert {r.known_id for r in outcome.records if r.status == "known"} == {"KD-007"}


@pytest.mark.parametrize("spec", ["tensorflow", "tensorflow.xla"])
def test_a_weight_that_fits_another_grouping_is_tf_s_inferred_groups(spec):
    """TF infers groups = input depth / filter depth (the definition groups_from_weight): PyTorch's
    groups=2 weight with one channel too many (depth 2 for an input of depth 2) is TF's ungrouped
    convolution, checked against it; a depth that does not divide the input's (3 for 4) is refused."""
    def case(in_channels):
        return _invalid_case("weight shape matches the channels", "float64", weight_shape=(2, in_channels // 2 + 1, 1, 1),
                             in_channels=in_channels, out_channels=2, groups=2, in_size=(1, 1), kernel=(1, 1))

    accepted = _harness_outcome(spec, "invalid", case(2), "conv2d")
    assert accepted.statuses == {"invalid_call": "pass"}, accepted.message
    assert accepted.records[0].detail == "defined: groups_from_weight"
    refused = _harness_outcome(spec, "invalid", case(4), "conv2d")
    assert refused.statuses == {"invalid_call": "pass"}, refused.message


@pytest.mark.parametrize("spec", ["tensorflow", "tensorflow.xla"])
@pytest.mark.parametrize("fields, refused", [
    (dict(padding=((0, 0), (0, 1))), True),              # explicit pairs: tf.nn.conv2d's kernel meets depth 0
    (dict(padding="valid", stride=(2, 2)), True),        # stride with dilation: tf.nn.conv2d too
    (dict(padding="valid"), False),                      # tf.nn.convolution: KD-018's ZeroDivisionError
])
def test_a_dilated_zero_depth_2d_call_is_refused_where_it_takes_conv2d(spec, fields, refused):
    from conformance.strategies import ConvCase

    config = ConvConfig(ndim=2, in_channels=0, out_channels=1, in_size=(3, 3), kernel=(1, 2), dilation=(1, 2),
                        dtype="float32", **fields)
    outcome = _harness_outcome(spec, "forward", ConvCase(config, 0, "normal"), "conv2d")
    if refused:
        assert outcome.statuses == {"forward": "unsupported"}, outcome.message
    else:
        assert outcome.statuses == {"forward": "known"} and outcome.records[0].known_id == "KD-018", outcome.message
