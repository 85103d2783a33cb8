"""The references on the newer axes of ConvConfig, call by call: padding modes, unbatched calls,
memory layouts and zero input channels.

Each padding-mode helper is checked alone (hand-written index maps, torch's F.pad), then every call
of a table is run by the three references, which must agree pairwise within the float64 bound,
satisfy the adjoint identities <conv(x, w), g> = <x, vjp_x(g)> = <w, vjp_w(g)>, and agree with torch
(F.pad + F.conv*d, and nn.Conv*d with its padding_mode) where torch is installed.
"""

import numpy as np
import pytest

from conformance import ConvConfig, get_implementation
from conformance.arithmetic import FLOAT64
from conformance.layouts import in_layout
from conformance.strategies import make_tensors
from conformance.tolerance import error_bound, reduction_lengths
from references.numpy import im2col, matrix, naive

from .test_references import CHECKS, REFERENCES, TORCH_PAD_MODES, abs_sums, run_all, torch_functional_reference

MODES = ("reflect", "replicate", "circular")

# ---- the padding-mode helpers, alone ------------------------------------------------------------

# (n, lo, hi) -> the input index each padded position copies, written out by hand.
HAND_WRITTEN = {
    ("reflect", 4, 3, 3): [3, 2, 1, 0, 1, 2, 3, 2, 1, 0],
    ("replicate", 4, 3, 3): [0, 0, 0, 0, 1, 2, 3, 3, 3, 3],
    ("circular", 4, 3, 3): [1, 2, 3, 0, 1, 2, 3, 0, 1, 2],
    ("reflect", 3, 0, 2): [0, 1, 2, 1, 0],
    ("replicate", 1, 2, 3): [0, 0, 0, 0, 0, 0],
    ("circular", 2, 2, 0): [0, 1, 0, 1],
    ("circular", 3, 1, 3): [2, 0, 1, 2, 0, 1, 2],
}

INDEX_MAPS = {
    "naive.padded_source_indices": naive.padded_source_indices,
    "im2col.padded_indices": im2col.padded_indices,
    "matrix.padded_copies": matrix.padded_copies,
}


@pytest.mark.parametrize("helper", INDEX_MAPS)
@pytest.mark.parametrize("mode, n, lo, hi", HAND_WRITTEN, ids=lambda v: str(v))
def test_index_maps_by_hand(helper, mode, n, lo, hi):
    np.testing.assert_array_equal(INDEX_MAPS[helper](n, lo, hi, mode), HAND_WRITTEN[mode, n, lo, hi])


@pytest.mark.parametrize("helper", INDEX_MAPS)
def test_index_maps_refuse_zero_padding(helper):
    with pytest.raises(ValueError, match="zeros"):
        INDEX_MAPS[helper](3, 1, 1, "zeros")


def _mode_limit_pads(mode, n):
    """Pads at (and, for replicate, past) each mode's limit, asymmetric ones included."""
    limit = {"reflect": n - 1, "circular": n, "replicate": n + 2}[mode]
    return sorted({(0, 0), (limit, 0), (0, limit), (limit, limit), (1, limit), (limit // 2, 1)})


@pytest.mark.parametrize("helper", INDEX_MAPS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", (1, 2, 5))
def test_index_maps_agree_with_torch_pad(helper, mode, n):
    torch = pytest.importorskip("torch", reason="torch not installed")
    import torch.nn.functional as F

    for lo, hi in _mode_limit_pads(mode, n):
        if mode == "reflect" and max(lo, hi) >= n:
            continue
        values = torch.arange(n, dtype=torch.float64).reshape(1, 1, n)
        expected = F.pad(values, (lo, hi), mode=TORCH_PAD_MODES[mode]).reshape(-1).numpy().astype(int)
        np.testing.assert_array_equal(INDEX_MAPS[helper](n, lo, hi, mode), expected, err_msg=f"n={n}, pad=({lo}, {hi})")


PAD_CALLS = [
    pytest.param((5,), ((4, 0),), id="1d"),
    pytest.param((3, 4), ((2, 0), (1, 3)), id="2d"),
    pytest.param((2, 3, 4), ((1, 0), (2, 1), (0, 3)), id="3d"),
]


def _pads_for(mode, in_size, pads):
    """The table's pads, lowered where reflect needs pad < n."""
    if mode != "reflect":
        return pads
    return tuple((min(lo, n - 1), min(hi, n - 1)) for n, (lo, hi) in zip(in_size, pads))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("in_size, pads", PAD_CALLS)
def test_padding_agrees_with_torch_pad(mode, in_size, pads):
    """naive's np.pad and matrix's operator P pad a (N, C, *spatial) array as F.pad does."""
    torch = pytest.importorskip("torch", reason="torch not installed")
    import torch.nn.functional as F

    pads = _pads_for(mode, in_size, pads)
    x = np.random.default_rng(0).standard_normal((2, 3, *in_size))
    flat_pads = [p for pair in reversed(pads) for p in pair]
    expected = F.pad(torch.from_numpy(x), flat_pads, mode=TORCH_PAD_MODES[mode]).numpy()
    np.testing.assert_array_equal(naive.pad_by_mode(np, x, pads, mode), expected)
    import scipy.sparse

    operator = matrix.padding_operator(scipy.sparse, 2 * 3, in_size, pads, mode)
    np.testing.assert_array_equal((operator @ x.reshape(-1)).reshape(expected.shape), expected)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("in_size, pads", PAD_CALLS)
def test_fold_is_the_adjoint_of_padding(mode, in_size, pads):
    """<pad(x), g> == <x, fold(g)>: naive's fold adds every copy's gradient back."""
    pads = _pads_for(mode, in_size, pads)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, *in_size))
    x_pad = naive.pad_by_mode(np, x, pads, mode)
    g = rng.standard_normal(x_pad.shape)
    folded = naive.fold_padded_gradient(np, g, in_size, pads, mode)
    assert folded.shape == x.shape
    assert abs(np.vdot(x_pad, g) - np.vdot(x, folded)) <= 1e-12 * np.vdot(np.abs(x_pad), np.abs(g))


# ---- whole calls ----------------------------------------------------------------------------------


def _mode_calls():
    """Each padding mode in 1, 2 and 3 dims, with asymmetric pads and pads at the mode's limit."""
    calls = []
    for mode in MODES:
        # The mode's limit in a dim of size n: reflect n - 1, circular n, replicate none (n + 2 here).
        limit = {"reflect": lambda n: n - 1, "circular": lambda n: n, "replicate": lambda n: n + 2}[mode]
        calls += [
            ConvConfig(ndim=1, in_channels=2, out_channels=3, in_size=5, kernel=3, stride=2,
                       padding=((limit(5), 1),), padding_mode=mode),
            ConvConfig(ndim=2, batch=2, in_channels=2, out_channels=4, groups=2, in_size=(4, 3), kernel=(2, 3),
                       dilation=(1, 2), padding=((limit(4), 0), (1, limit(3))), padding_mode=mode, bias=True),
            ConvConfig(ndim=3, in_channels=1, out_channels=2, in_size=(3, 2, 4), kernel=2, stride=(2, 1, 1),
                       padding=((limit(3), 0), (limit(2), limit(2)), (0, 2)), padding_mode=mode),
            ConvConfig(ndim=2, in_channels=3, out_channels=2, in_size=(5, 4), kernel=(4, 3), padding="same",
                       padding_mode=mode),
            ConvConfig(ndim=1, batch=3, in_channels=1, out_channels=1, in_size=2, kernel=1,
                       padding=((limit(2), limit(2)),), padding_mode=mode),
        ]
    return calls


def _unbatched_calls():
    """Every op family unbatched, with zero padding, and the ordinary ones with each mode."""
    calls = []
    for ndim in (1, 2, 3):
        sizes = (5, 4, 3)[:ndim]
        calls.append(ConvConfig(ndim=ndim, in_channels=2, out_channels=3, in_size=sizes, kernel=2,
                                padding=1, bias=True, batched=False))
        calls.append(ConvConfig(ndim=ndim, transposed=True, in_channels=2, out_channels=4, groups=2, in_size=sizes,
                                kernel=2, stride=2, padding=((1, 0),) * ndim, output_padding=1, bias=True,
                                batched=False))
        for mode in MODES:
            calls.append(ConvConfig(ndim=ndim, in_channels=2, out_channels=2, in_size=sizes, kernel=2,
                                    padding=((2, 1),) * ndim, padding_mode=mode, batched=False))
    return calls


def _layout_calls():
    """Channels-last and strided inputs (stride-0 axes included) through every kind of call."""
    calls = []
    for memory_format in ("channels_last", "strided"):
        calls += [
            ConvConfig(ndim=2, batch=2, in_channels=3, out_channels=2, in_size=(4, 5), kernel=(2, 3),
                       padding=((1, 2), (0, 1)), padding_mode="reflect", bias=True, memory_format=memory_format),
            ConvConfig(ndim=1, batch=2, in_channels=4, out_channels=4, groups=2, in_size=6, kernel=3, stride=2,
                       padding=1, memory_format=memory_format),
            ConvConfig(ndim=3, transposed=True, in_channels=2, out_channels=1, in_size=(2, 3, 2), kernel=2,
                       stride=(1, 2, 1), padding=((0, 1), (1, 0), (0, 0)), bias=True, memory_format=memory_format),
            ConvConfig(ndim=2, in_channels=1, out_channels=1, in_size=(3, 1), kernel=(2, 1), padding=((2, 1), (3, 0)),
                       padding_mode="replicate", batched=False, memory_format=memory_format),
            ConvConfig(ndim=3, batch=1, in_channels=2, out_channels=3, in_size=(3, 3, 2), kernel=(1, 2, 2),
                       padding=((1, 1), (2, 0), (1, 2)), padding_mode="circular", memory_format=memory_format),
        ]
    return calls


def _empty_calls():
    """Zero input channels (forward = bias, empty input gradients) and an empty batch with a mode."""
    return [
        ConvConfig(ndim=2, batch=2, in_channels=0, out_channels=3, in_size=(3, 4), kernel=2, padding=1, bias=True),
        ConvConfig(ndim=1, batch=2, in_channels=0, out_channels=4, groups=2, in_size=3, kernel=2, padding=((1, 3),),
                   padding_mode="circular", bias=True, memory_format="strided"),
        ConvConfig(ndim=3, in_channels=0, out_channels=2, in_size=(2, 2, 3), kernel=(1, 2, 2), batched=False),
        ConvConfig(ndim=2, batch=0, in_channels=2, out_channels=2, in_size=(3, 3), kernel=2, padding=2,
                   padding_mode="replicate", bias=True),
    ]


CALLS = [pytest.param(c, id=str(c)) for c in _mode_calls() + _unbatched_calls() + _layout_calls() + _empty_calls()]


def _tensors(config, seed=0):
    return make_tensors(config, seed).in_layout(config)


@pytest.mark.parametrize("config", CALLS)
def test_references_agree_pairwise(config):
    t = _tensors(config)
    results = {name: run_all(get_implementation(name), config, t) for name in REFERENCES}
    sums = abs_sums(config, t)
    terms = reduction_lengths(config)
    for check in CHECKS:
        if check == "grad_bias" and not config.bias:
            assert all(results[name][check] is None for name in REFERENCES)
            continue
        for first, second in ((0, 1), (0, 2), (1, 2)):
            a, b = results[REFERENCES[first]][check], results[REFERENCES[second]][check]
            assert a.shape == b.shape, (REFERENCES[first], REFERENCES[second], check)
            bound = 2 * error_bound(sums[check], a, terms[check], FLOAT64)
            worst = np.max(np.abs(a - b) - bound, initial=-np.inf)
            assert np.all(np.abs(a - b) <= bound), (
                f"{check}: {REFERENCES[first]} and {REFERENCES[second]} differ by up to {worst:.3g} beyond the bound")


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("config", CALLS)
def test_adjoint_identities(name, config):
    """<conv(x, w), g> = <x, vjp_x(g)> = <w, vjp_w(g)>, and the results have the caller's shapes."""
    config = config.replace(bias=False)
    t = _tensors(config)
    impl = get_implementation(name)
    y = impl.forward(config, t.x, t.w, None)
    grad_x, grad_w, grad_b = impl.vjp(config, t.x, t.w, None, t.grad_out)
    assert (y.shape, grad_x.shape, grad_w.shape, grad_b) == (
        config.output_shape, config.input_shape, config.weight_shape, None)
    lhs = np.vdot(y, t.grad_out)
    sums = abs_sums(config, type(t)(t.x, t.w, None, t.grad_out))
    tolerance = 1e-12 * max(np.vdot(sums["forward"], np.abs(t.grad_out)), 1e-300)
    assert abs(lhs - np.vdot(t.x, grad_x)) <= tolerance, f"<y, g> = {lhs}, <x, grad_x> = {np.vdot(t.x, grad_x)}"
    assert abs(lhs - np.vdot(t.w, grad_w)) <= tolerance, f"<y, g> = {lhs}, <w, grad_w> = {np.vdot(t.w, grad_w)}"


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("config", [c for c in CALLS if c.values[0].memory_format != "contiguous"])
def test_layout_changes_no_value_and_no_input(name, config):
    """A strided or channels-last call gives the contiguous call's results and leaves its inputs alone."""
    contiguous = config.replace(memory_format="contiguous")
    t = make_tensors(config, 0)
    laid_out = t.in_layout(config)
    before = {k: None if v is None else v.copy() for k, v in vars(laid_out).items()}
    impl = get_implementation(name)
    got = run_all(impl, config, laid_out)
    expected = run_all(impl, contiguous, t)
    for check in CHECKS:
        if expected[check] is not None:
            np.testing.assert_allclose(got[check], expected[check], rtol=1e-13, atol=1e-13, err_msg=check)
    for key, value in vars(laid_out).items():
        if value is not None:
            np.testing.assert_array_equal(value, before[key], err_msg=f"{name} wrote into {key}")


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("config", [c for c in CALLS if not c.values[0].batched])
def test_unbatched_is_a_batch_of_one(name, config):
    """Every check kind of an unbatched call equals the batched call on x[None] with the batch axis dropped."""
    batched = config.replace(batched=True)
    t = _tensors(config)
    one = type(t)(**{k: (v[None] if k in ("x", "grad_out", "dx", "ggx") and v is not None else v)
                     for k, v in vars(t).items()})
    impl = get_implementation(name)
    pairs = [
        (impl.forward(config, t.x, t.w, t.b), impl.forward(batched, one.x, one.w, one.b)[0]),
        (impl.jvp(config, t.x, t.w, t.b, t.dx, t.dw, t.db), impl.jvp(batched, one.x, one.w, one.b, one.dx, one.dw, one.db)[0]),
    ]
    unbatched_vjp = impl.vjp(config, t.x, t.w, t.b, t.grad_out)
    batched_vjp = impl.vjp(batched, one.x, one.w, one.b, one.grad_out)
    pairs += [(unbatched_vjp[0], batched_vjp[0][0]), (unbatched_vjp[1], batched_vjp[1]), (unbatched_vjp[2], batched_vjp[2])]
    unbatched_vv = impl.double_vjp(config, t.x, t.w, t.b, t.grad_out, t.ggx, t.ggw, t.ggb)
    batched_vv = impl.double_vjp(batched, one.x, one.w, one.b, one.grad_out, one.ggx, one.ggw, one.ggb)
    pairs += [(unbatched_vv[0], batched_vv[0][0]), (unbatched_vv[1], batched_vv[1]), (unbatched_vv[2], batched_vv[2][0])]
    for index, (got, expected) in enumerate(pairs):
        if expected is None:  # grad_b without a bias
            assert got is None, index
            continue
        assert got.shape == expected.shape, index
        np.testing.assert_array_equal(got, expected, err_msg=f"result {index}")


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("config", [c for c in CALLS if c.values[0].in_channels == 0])
def test_zero_input_channels(name, config):
    """No input channel: the output is the bias (or zeros) everywhere; the input gradient and grad_w are empty."""
    t = _tensors(config)
    impl = get_implementation(name)
    y = impl.forward(config, t.x, t.w, t.b)
    bias = np.zeros(config.out_channels) if t.b is None else t.b
    np.testing.assert_array_equal(y, np.broadcast_to(bias.reshape((-1,) + (1,) * config.ndim), config.output_shape))
    grad_x, grad_w, grad_b = impl.vjp(config, t.x, t.w, t.b, t.grad_out)
    assert grad_x.shape == config.input_shape and grad_x.size == 0
    assert grad_w.shape == config.weight_shape and grad_w.size == 0
    if config.bias:
        g = t.grad_out if config.batched else t.grad_out[None]
        np.testing.assert_allclose(grad_b, g.sum(axis=(0, *range(2, g.ndim))), rtol=1e-14)


def _assert_matches_torch(config, t, expected, path):
    sums = abs_sums(config, t)
    terms = reduction_lengths(config)
    for name in REFERENCES:
        got = run_all(get_implementation(name), config, t)
        for check in CHECKS:
            if expected[check] is None:
                continue
            bound = 2 * error_bound(sums[check], expected[check], terms[check], FLOAT64)
            assert got[check].shape == expected[check].shape, (name, check, path)
            worst = np.max(np.abs(got[check] - expected[check]), initial=0.0)
            assert np.all(np.abs(got[check] - expected[check]) <= bound), f"{name} {check} vs {path}: error {worst:.3g}"


# torch 2.13 returns zero output channels for zero input channels (not C_out channels of bias).
TORCH_CALLS = [c for c in CALLS if c.values[0].in_channels > 0]


@pytest.mark.parametrize("config", TORCH_CALLS)
def test_agree_with_torch_functional(config):
    t = _tensors(config)
    _assert_matches_torch(config, t, torch_functional_reference(config, t), "F.pad + F.conv")


def _symmetric(config):
    return config.padding == "same" or all(lo == hi for lo, hi in config.resolved_padding)


@pytest.mark.parametrize("config", [c for c in TORCH_CALLS if not c.values[0].transposed and _symmetric(c.values[0])])
def test_agree_with_torch_conv_module(config):
    """nn.Conv*d(padding_mode=...) itself, unbatched inputs included (its padding is symmetric or 'same')."""
    torch = pytest.importorskip("torch", reason="torch not installed")

    t = _tensors(config)
    padding = config.padding if config.padding == "same" else tuple(lo for lo, _ in config.resolved_padding)
    module = getattr(torch.nn, f"Conv{config.ndim}d")(
        config.in_channels, config.out_channels, config.kernel, stride=config.stride, padding=padding,
        dilation=config.dilation, groups=config.groups, bias=config.bias, padding_mode=config.padding_mode,
        dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(np.ascontiguousarray(t.w)))
        if config.bias:
            module.bias.copy_(torch.from_numpy(t.b))
    x = torch.tensor(t.x, requires_grad=True)
    y = module(x)
    y.backward(torch.tensor(t.grad_out))
    expected = dict(zip(CHECKS, (y.detach().numpy(), x.grad.numpy(), module.weight.grad.numpy(),
                                 module.bias.grad.numpy() if config.bias else None)))
    _assert_matches_torch(config, t, expected, f"nn.Conv{config.ndim}d(padding_mode={config.padding_mode!r})")


def test_in_layout_gives_stride_zero_read_only_views():
    """The strided layout this file relies on really hands over stride-0, read-only arrays."""
    x = in_layout(np.ones((1, 2, 3)), "strided", "activation")
    assert 0 in x.strides and not x.flags.writeable
