"""The three references: worked examples, mutual agreement, adjoint identities, agreement with torch.

The drawn cases cover every axis of ConvConfig (padding modes, unbatched calls, memory layouts,
zero input channels); tests/test_references_axes.py pins those axes down with a table of calls.
"""

import os

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conformance import ConvConfig, get_implementation
from conformance.arithmetic import FLOAT64
from conformance.checks import FORWARD, GRADIENT
from conformance.strategies import conv_cases
from conformance.tolerance import error_bound, reduction_lengths

REFERENCES = ("naive", "im2col", "matrix")
CHECKS = FORWARD.results + GRADIENT.results  # conformance.checks states them


def run_all(impl, config, t):
    forward = impl.forward(config, t.x, t.w, t.b)
    grads = impl.vjp(config, t.x, t.w, t.b, t.grad_out)
    return dict(zip(CHECKS, (forward, *grads)))


def abs_sums(config, t):
    ref = get_implementation("naive")
    absb = None if t.b is None else np.abs(t.b)
    return run_all(ref, config, type(t)(np.abs(t.x), np.abs(t.w), absb, np.abs(t.grad_out)))


def laid_out_tensors(case):
    """The case's arrays with the strides of its config's memory_format, as the harness hands them over."""
    return case.tensors().in_layout(case.config)


@pytest.mark.parametrize("name", REFERENCES)
def test_corr2d_worked_example(name):
    # d2l.ai's corr2d: [[0,1,2],[3,4,5],[6,7,8]] with [[0,1],[2,3]] gives [[19,25],[37,43]].
    config = ConvConfig(ndim=2, in_size=(3, 3), kernel=(2, 2))
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.arange(4.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(get_implementation(name).forward(config, x, w), [[[[19, 25], [37, 43]]]])


@pytest.mark.parametrize("name", REFERENCES)
def test_edge_detection_worked_example(name):
    # A 6x8 image, ones with a dark band in columns 2..5; kernel [[1, -1]] finds the two edges.
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    config = ConvConfig(ndim=2, in_size=(6, 8), kernel=(1, 2))
    y = get_implementation(name).forward(config, x[None, None], np.array([[[[1.0, -1.0]]]]))[0, 0]
    expected = np.zeros((6, 7))
    expected[:, 1] = 1
    expected[:, 5] = -1
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("name", REFERENCES)
def test_transposed_output_size_and_scatter(name):
    # One input element scatters the kernel at i*stride - padding; output size (in-1)*s - 2p + d(k-1) + op + 1.
    config = ConvConfig(ndim=1, transposed=True, in_size=(4,), kernel=(3,), stride=(2,), padding=1,
                        dilation=(3,), output_padding=(2,))
    assert config.out_size == (13,)
    x = np.zeros((1, 1, 4))
    x[0, 0, 3] = 1.0
    y = get_implementation(name).forward(config, x, np.array([[[1.0, 10.0, 100.0]]]))[0, 0]
    expected = np.zeros(13)
    expected[[3 * 2 - 1, 3 * 2 - 1 + 3, 3 * 2 - 1 + 6]] = [1, 10, 100]
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("name", REFERENCES)
def test_grouped_asymmetric_known_values(name):
    # Two groups, one channel each, asymmetric padding (1, 0): y[g] = sum of the window at o - 1.
    config = ConvConfig(ndim=1, in_channels=2, out_channels=2, groups=2, in_size=(3,), kernel=(2,),
                        padding=((1, 0),), bias=True)
    x = np.array([[[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]]])
    w = np.array([[[1.0, 1.0]], [[1.0, -1.0]]])
    y = get_implementation(name).forward(config, x, w, np.array([0.5, -0.5]))
    np.testing.assert_array_equal(y, [[[1.5, 3.5, 5.5], [-10.5, -10.5, -10.5]]])


@settings(max_examples=int(os.environ.get("REFERENCE_EXAMPLES", "150")), deadline=None)
@given(conv_cases(dtypes=("float64",)))
def test_references_agree_within_a_float64_bound(case):
    config, t = case.config, laid_out_tensors(case)
    results = {name: run_all(get_implementation(name), config, t) for name in REFERENCES}
    sums = abs_sums(config, t)
    terms = reduction_lengths(config)
    for check in CHECKS:
        if check == "grad_bias" and not config.bias:
            assert all(results[n][check] is None for n in REFERENCES)
            continue
        base = results["naive"][check]
        bound = 2 * error_bound(sums[check], base, terms[check], FLOAT64)
        for name in ("im2col", "matrix"):
            other = results[name][check]
            assert other.shape == base.shape, (name, check, config)
            assert np.all(np.abs(other - base) <= bound), (name, check, str(config))


@settings(max_examples=100, deadline=None)
@given(conv_cases(dtypes=("float64",)), st.sampled_from(REFERENCES))
def test_adjoint_identities(case, name):
    """<conv(x, w), g> = <x, vjp_x(g)> = <w, vjp_w(g)> since convolution is bilinear."""
    config = case.config.replace(bias=False)
    t = case.tensors().in_layout(config)
    impl = get_implementation(name)
    y = impl.forward(config, t.x, t.w, None)
    grad_x, grad_w, _ = impl.vjp(config, t.x, t.w, None, t.grad_out)
    lhs = np.vdot(y, t.grad_out)
    sums = abs_sums(config, type(t)(t.x, t.w, None, t.grad_out))
    scale = max(np.vdot(sums["forward"], np.abs(t.grad_out)), 1e-300)
    tolerance = 1e-12 * scale
    assert abs(lhs - np.vdot(t.x, grad_x)) <= tolerance, str(config)
    assert abs(lhs - np.vdot(t.w, grad_w)) <= tolerance, str(config)


@pytest.mark.parametrize("name", REFERENCES)
def test_bias_gradient_is_the_sum_of_grad_out(name):
    config = ConvConfig(ndim=2, batch=2, in_channels=1, out_channels=3, in_size=(4, 4), kernel=(2, 2), bias=True)
    rng = np.random.default_rng(1)
    g = rng.standard_normal(config.output_shape)
    _, _, grad_b = get_implementation(name).vjp(config, rng.standard_normal(config.input_shape),
                                                rng.standard_normal(config.weight_shape), np.zeros(3), g)
    np.testing.assert_allclose(grad_b, g.sum(axis=(0, 2, 3)), rtol=1e-14)


TORCH_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def torch_functional_reference(config, t):
    """torch's forward and gradients in float64: F.pad by the padding mode, then F.conv*d without padding.

    Unbatched calls get the batch axis of one here, so that F.pad's rank rules do not enter.
    """
    torch = pytest.importorskip("torch", reason="torch not installed")
    import torch.nn.functional as F

    pad = [p for pair in reversed(config.resolved_padding) for p in pair]
    x = torch.tensor(t.x, requires_grad=True)
    w = torch.tensor(t.w, requires_grad=True)
    b = torch.tensor(t.b, requires_grad=True) if t.b is not None else None
    y = _torch_batched_call(F, config, x if config.batched else x[None], w, b, pad)
    if not config.batched:
        y = y[0]
    y.backward(torch.tensor(t.grad_out))
    grads = (x.grad.numpy(), w.grad.numpy(), b.grad.numpy() if b is not None else None)
    return dict(zip(CHECKS, (y.detach().numpy(), *grads)))


def _torch_batched_call(F, config, x, w, b, pad):
    if config.transposed:
        # Symmetric part through the API, the rest cropped.
        sym = tuple(min(lo, hi) for lo, hi in config.resolved_padding)
        op = getattr(F, config.op_name)
        y = op(x, w, b, config.stride, sym, config.output_padding, config.groups, config.dilation)
        index = [slice(None), slice(None)]
        for (lo, hi), s in zip(config.resolved_padding, sym):
            index.append(slice(lo - s, y.shape[len(index)] - (hi - s)))
        y = y[tuple(index)]
    else:
        x_pad = F.pad(x, pad, mode=TORCH_PAD_MODES[config.padding_mode])
        y = getattr(F, config.op_name)(x_pad, w, b, config.stride, 0, config.dilation, config.groups)
    return y


@settings(max_examples=int(os.environ.get("REFERENCE_TORCH_EXAMPLES", "150")), deadline=None)
@given(conv_cases(dtypes=("float64",)))
def test_references_agree_with_torch_in_float64(case):
    # torch 2.13 gives an ordinary convolution with zero input channels zero output channels, not
    # C_out channels of bias (tests/test_references_axes.py checks the references' answer).
    assume(case.config.in_channels > 0)
    config, t = case.config, laid_out_tensors(case)
    expected = torch_functional_reference(config, t)
    sums = abs_sums(config, t)
    terms = reduction_lengths(config)
    for name in REFERENCES:
        got = run_all(get_implementation(name), config, t)
        for check in CHECKS:
            if expected[check] is None:
                continue
            bound = 2 * error_bound(sums[check], expected[check], terms[check], FLOAT64)
            assert got[check].shape == expected[check].shape, (name, check, str(config))
            assert np.all(np.abs(got[check] - expected[check]) <= bound), (name, check, str(config))
