"""Tests of PyTorch's other call paths against references.numpy.naive (float64 ground truth):
references/torch/modules.py ("torch.nn"), compiled.py ("torch.compile", "torch.compile.max_autotune")
and switches.py ("torch.onednn_off", "torch.cudnn_off", "torch.cudnn_benchmark", "torch.deterministic").

The torch.compile tests (test_compiled_*, the slow ones) compile a few shapes: the first compile in a
process takes ~20 s, each new config ~2 s per grad mode, ~45 s in all; they run by default, and
`-k "not compiled"` leaves them out.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conformance.checks import DOUBLE_VJP, JVP
from conformance.config import ConvConfig
from conformance.registry import BUILTIN, capability_reason, get_implementation
from conformance.strategies import make_tensors
from tests import adapter_checks as ac

torch = pytest.importorskip("torch", reason="torch not installed")

import references.torch.compiled as tc  # noqa: E402
import references.torch.modules as tm  # noqa: E402
import references.torch.switches as tsw  # noqa: E402
from references.numpy.naive import NaiveReference  # noqa: E402


def assert_agrees(impl, config, seed=0):
    verdicts = ac.check_against_naive(impl, config, seed)
    message = ac.describe_failure(impl.name, config, verdicts)
    assert message is None, message


def assert_close(name, got, expected, config):
    """float64: agreement to a few ulps of the largest value (these paths reach 1e-14 here)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, f"{name} shape {got.shape}, expected {expected.shape} [{config}]"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    error = float(np.abs(got - expected).max(initial=0.0))
    assert error <= 1e-12 * scale, f"{name}: max error {error:.3g} (bound {1e-12 * scale:.3g}) [{config}]"


def assert_jvp_and_double_vjp_agree(impl, config, checks=("jvp", "double_vjp")):
    t = make_tensors(config, 0)
    inputs = t.in_storage(config.dtype).in_layout(config)
    naive = NaiveReference()
    if "jvp" in checks:
        got = impl.jvp(config, inputs.x, inputs.w, inputs.b, inputs.dx, inputs.dw, inputs.db)
        assert_close("jvp", got, naive.jvp(config, t.x, t.w, t.b, t.dx, t.dw, t.db), config)
    if "double_vjp" in checks:
        got = impl.double_vjp(config, inputs.x, inputs.w, inputs.b, inputs.grad_out, inputs.ggx, inputs.ggw, inputs.ggb)
        expected = naive.double_vjp(config, t.x, t.w, t.b, t.grad_out, t.ggx, t.ggw, t.ggb)
        for name, a, e in zip(DOUBLE_VJP.results, got, expected):
            assert_close(name, a, e, config)


# A table of configs every path can express (symmetric padding, so torch.nn takes them too).
CONFIGS = [
    pytest.param(ConvConfig(ndim=2, batch=2, in_channels=4, out_channels=6, groups=2, in_size=(6, 5), kernel=3,
                            stride=(2, 1), dilation=(1, 2), padding=((1, 1), (2, 2)), bias=True),
                 id="conv2d grouped strided dilated padded"),
    pytest.param(ConvConfig(ndim=1, in_channels=3, out_channels=3, groups=3, in_size=7, kernel=3, stride=2,
                            padding="valid"), id="conv1d depthwise valid"),
    pytest.param(ConvConfig(ndim=2, in_channels=2, out_channels=3, in_size=(5, 4), kernel=(2, 3), dilation=(2, 1),
                            padding="same", bias=True), id="conv2d same even dilated kernel"),
    pytest.param(ConvConfig(ndim=3, in_channels=2, out_channels=2, in_size=(3, 4, 3), kernel=2, padding=1),
                 id="conv3d padded"),
    pytest.param(ConvConfig(ndim=2, transposed=True, in_channels=4, out_channels=2, groups=2, in_size=(3, 4),
                            kernel=(3, 2), stride=(3, 2), dilation=(1, 2), padding=((1, 1), (0, 0)),
                            output_padding=(2, 1), bias=True), id="conv_transpose2d grouped out_pad"),
    pytest.param(ConvConfig(ndim=1, transposed=True, in_channels=2, out_channels=3, in_size=4, kernel=2, stride=1,
                            dilation=3, output_padding=2, padding="valid"),
                 id="conv_transpose1d out_pad >= stride (< dilation) valid"),
    pytest.param(ConvConfig(ndim=3, transposed=True, in_channels=1, out_channels=2, in_size=2, kernel=2, stride=2,
                            output_padding=1, padding=1), id="conv_transpose3d out_pad padded"),
    pytest.param(ConvConfig(ndim=2, batch=0, in_channels=2, out_channels=2, in_size=4, kernel=2, bias=True),
                 id="conv2d empty batch"),
    pytest.param(ConvConfig(ndim=2, batched=False, in_channels=2, out_channels=3, in_size=(5, 4), kernel=2,
                            padding=1, bias=True), id="conv2d unbatched"),
    pytest.param(ConvConfig(ndim=1, transposed=True, batched=False, in_channels=2, out_channels=2, in_size=4,
                            kernel=3, stride=2, output_padding=1), id="conv_transpose1d unbatched"),
    pytest.param(ConvConfig(ndim=2, batch=2, in_channels=3, out_channels=4, in_size=5, kernel=3, padding=1,
                            memory_format="channels_last", bias=True), id="conv2d channels_last"),
    pytest.param(ConvConfig(ndim=2, transposed=True, in_channels=2, out_channels=2, in_size=4, kernel=2, stride=2,
                            memory_format="strided"), id="conv_transpose2d strided views"),
]

# What torch.compile compiles here (two configs: each costs seconds per graph).
COMPILE_CONFIGS = [CONFIGS[0], CONFIGS[9]]


# ---- torch.nn ----


@pytest.mark.parametrize("config", CONFIGS)
def test_module_path_matches_naive(config):
    adapter = tm.TorchModuleAdapter()
    assert adapter.supports(config, "cpu") is None
    assert_agrees(adapter, config)
    assert_jvp_and_double_vjp_agree(adapter, config)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("config", [
    pytest.param(dict(ndim=1, in_channels=2, out_channels=3, in_size=6, kernel=3, padding=2, bias=True), id="1d"),
    pytest.param(dict(ndim=2, batch=2, in_channels=4, out_channels=2, groups=2, in_size=(5, 4), kernel=(3, 2),
                      stride=(2, 1), dilation=(1, 2), padding=((2, 2), (1, 1))), id="2d grouped strided dilated"),
    pytest.param(dict(ndim=2, in_channels=2, out_channels=2, in_size=(4, 5), kernel=(2, 3), padding="same"),
                 id="2d same (odd pad at the end)"),
    pytest.param(dict(ndim=3, in_size=(3, 4, 3), kernel=2, padding=1), id="3d"),
    pytest.param(dict(ndim=2, batched=False, in_channels=2, out_channels=2, in_size=4, kernel=3, padding=1),
                 id="2d unbatched"),
])
def test_module_padding_mode_matches_naive(config, mode):
    config = ConvConfig(padding_mode=mode, **config)
    adapter = tm.TorchModuleAdapter()
    assert adapter.supports(config, "cpu") is None
    assert_agrees(adapter, config)
    assert_jvp_and_double_vjp_agree(adapter, config, checks=("jvp",))


def test_module_padding_mode_reaches_the_constructor():
    config = ConvConfig(ndim=2, in_size=4, kernel=3, padding=1, padding_mode="circular")
    module = tm.build_module(torch, config, "cpu", torch.float64)
    assert module.padding_mode == "circular" and module.padding == (1, 1)


@pytest.mark.parametrize("transposed", [False, True], ids=["Conv2d", "ConvTranspose2d"])
def test_module_declares_asymmetric_padding_unsupported(transposed):
    config = ConvConfig(ndim=2, transposed=transposed, in_size=5, kernel=3, padding=((1, 0), (0, 0)))
    reason = tm.TorchModuleAdapter().supports(config, "cpu")
    name = "ConvTranspose2d" if transposed else "Conv2d"
    assert reason == (f"torch.nn.{name} takes symmetric padding only; asymmetric (lo, hi) ((1, 0), (0, 0)) "
                      f"needs F.pad first")
    with pytest.raises(RuntimeError, match="symmetric padding only"):
        t = ac.storage_inputs(config, 0)
        tm.TorchModuleAdapter().forward(config, t.x, t.w)


def test_module_output_size_form_agrees_where_torch_accepts_it():
    """forward(x, output_size=...) is the module's other way to ask for output_padding: it gives the same
    result below the stride, and torch refuses it at output_padding >= stride (allowed by the constructor
    while < dilation), which is why the adapter passes output_padding to the constructor."""
    config = ConvConfig(ndim=2, transposed=True, in_channels=2, out_channels=3, in_size=(3, 4), kernel=3,
                        stride=(3, 2), padding=1, output_padding=(2, 1), bias=True)
    t = ac.storage_inputs(config, 0)
    expected = NaiveReference().forward(config, t.x, t.w, t.b)
    module = tm.build_module(torch, dataclasses.replace(config, output_padding=(0, 0)), "cpu", torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(t.w))
        module.bias.copy_(torch.from_numpy(t.b))
        got = module(torch.from_numpy(t.x), output_size=config.out_size).numpy()
    assert_close("forward(output_size=)", got, expected, config)
    refused = ConvConfig(ndim=1, transposed=True, in_size=4, kernel=2, dilation=3, output_padding=2)
    module = tm.build_module(torch, ConvConfig(ndim=1, transposed=True, in_size=4, kernel=2, dilation=3), "cpu",
                             torch.float64)
    with pytest.raises(ValueError, match="requested an output size of"):
        module(torch.zeros(refused.input_shape, dtype=torch.float64), output_size=refused.out_size)


# ---- backend switches ----


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_onednn_off_matches_naive(config, dtype):
    config = dataclasses.replace(config, dtype=dtype)
    assert_agrees(tsw.OneDnnOff(), config)


def _spy_on_conv(monkeypatch, read):
    """Record read() at each call of F.conv2d (the switch must be in force during the call)."""
    seen = []
    real = torch.nn.functional.conv2d

    def spying(*args, **kwargs):
        seen.append(read())
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "conv2d", spying)
    return seen


@pytest.mark.parametrize("method", ["forward", "vjp", "jvp", "double_vjp"])
def test_onednn_off_is_in_force_during_every_call_and_restored_after(monkeypatch, method):
    assert torch.backends.mkldnn.enabled
    seen = _spy_on_conv(monkeypatch, lambda: torch.backends.mkldnn.enabled)
    config = ConvConfig(ndim=2, in_size=4, kernel=2, bias=True)
    t = make_tensors(config, 0)
    impl = tsw.OneDnnOff()
    args = {"forward": (t.x, t.w, t.b), "vjp": (t.x, t.w, t.b, t.grad_out), "jvp": (t.x, t.w, t.b, t.dx, t.dw, t.db),
            "double_vjp": (t.x, t.w, t.b, t.grad_out, t.ggx, t.ggw, t.ggb)}[method]
    getattr(impl, method)(config, *args)
    assert seen and set(seen) == {False}
    assert torch.backends.mkldnn.enabled


@pytest.fixture
def simulated_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "simulated GPU")


CUDA_SWITCHES = [
    pytest.param(tsw.CudnnOff, {"torch.backends.cudnn.enabled": False}, id="torch.cudnn_off"),
    pytest.param(tsw.CudnnBenchmark, {"torch.backends.cudnn.benchmark": True}, id="torch.cudnn_benchmark"),
    pytest.param(tsw.Deterministic, {"torch.are_deterministic_algorithms_enabled()": True,
                                     "torch.backends.cudnn.deterministic": True,
                                     "torch.backends.cudnn.benchmark": False}, id="torch.deterministic"),
]


@pytest.mark.parametrize("cls, expected", CUDA_SWITCHES)
def test_cuda_switches_refuse_cpu_with_a_clear_reason(cls, expected):
    impl = cls()
    config = ConvConfig(ndim=1, in_size=3, kernel=1)
    assert impl.supports(config, "cpu") == f"{impl.name}: CUDA only; this run's device is cpu"
    if not torch.cuda.is_available():
        assert impl.supports(config, "cuda").startswith("torch: torch.cuda.is_available() is False")


@pytest.mark.parametrize("cls, expected", CUDA_SWITCHES)
def test_cuda_switches_set_their_flags_during_a_call_and_restore_them(simulated_gpu, cls, expected):
    impl = cls()
    assert impl.supports(ConvConfig(ndim=1, in_size=3, kernel=1), "cuda") is None
    read = {"torch.backends.cudnn.enabled": lambda: torch.backends.cudnn.enabled,
            "torch.backends.cudnn.benchmark": lambda: torch.backends.cudnn.benchmark,
            "torch.backends.cudnn.deterministic": lambda: torch.backends.cudnn.deterministic,
            "torch.are_deterministic_algorithms_enabled()": torch.are_deterministic_algorithms_enabled}
    before = {name: get() for name, get in read.items()}
    with impl._precision_context(torch):
        during = {name: read[name]() for name in expected}
    assert during == expected
    assert {name: get() for name, get in read.items()} == before
    # The report's run details read settings(): they show the switched values.
    settings = impl.settings("cuda")
    for name, value in expected.items():
        assert settings[name] == value, (name, settings[name])
    assert settings["adapter.switches"]


def test_switches_restore_flags_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tsw.switched(torch, {"torch.backends.mkldnn.enabled": False, "deterministic_algorithms": True}):
            raise ZeroDivisionError  # the flags are restored when the body raises
    assert torch.backends.mkldnn.enabled and not torch.are_deterministic_algorithms_enabled()


def test_onednn_off_settings_show_the_switch():
    settings = tsw.OneDnnOff().settings("cpu")
    assert settings["torch.backends.mkldnn.enabled"] is False
    assert settings["adapter.switches"] == "torch.backends.mkldnn.enabled=False"
    assert torch.backends.mkldnn.enabled


# ---- torch.compile ----


@pytest.fixture(scope="module")
def compiled():
    return tc.TorchCompileAdapter()


@pytest.mark.parametrize("config", COMPILE_CONFIGS)
def test_compiled_path_matches_naive_and_really_compiled(compiled, config):
    assert_agrees(compiled, config)  # forward, then vjp
    assert compiled.last_call["compiled backward"] and compiled.last_call["new_graphs"] >= 1
    assert_jvp_and_double_vjp_agree(compiled, config, checks=("jvp",))
    # A repeat call reuses the graphs (no new compile) and is still seen to run compiled code.
    t = ac.storage_inputs(config, 0)
    compiled.forward(config, t.x, t.w, t.b)
    assert compiled.last_call == {"new_graphs": 0, "graph_breaks": 0, "compiled region": True, "inductor graph": True}


def test_compiled_path_fails_loudly_at_the_recompile_limit(compiled):
    """recompile_limit=1: the second graph of one function (the VJP after the forward) would run eagerly."""
    config = ConvConfig(ndim=1, in_size=5, kernel=2, stride=2)
    t = ac.storage_inputs(config, 0)
    expected = r"torch.compile fell back to eager: Dynamo hit its recompile limit \(torch._dynamo.config.recompile_limit=1\)"
    with torch._dynamo.config.patch(recompile_limit=1):
        compiled.forward(config, t.x, t.w)  # the first graph: compiled and run
        assert compiled.last_call["new_graphs"] == 1
        with pytest.raises(tc.CompileFallback, match=expected):
            compiled.vjp(config, t.x, t.w, None, t.grad_out)


def test_compiled_path_compiles_each_new_config_afresh(compiled):
    """Several shapes under recompile_limit=1: each new config starts from torch._dynamo.reset()."""
    with torch._dynamo.config.patch(recompile_limit=1):
        for size in (4, 5, 6):
            config = ConvConfig(ndim=1, in_size=size, kernel=2)
            t = ac.storage_inputs(config, 0)
            compiled.forward(config, t.x, t.w)
            assert compiled.last_call["new_graphs"] == 1


def test_compiled_path_detects_an_eager_run(monkeypatch):
    """A torch.compile that hands back the eager function (what a silent fallback amounts to) is an error."""
    monkeypatch.setattr(torch, "compile", lambda function, **options: function)
    config = ConvConfig(ndim=1, in_size=4, kernel=2)
    t = ac.storage_inputs(config, 0)
    adapter = tc.TorchCompileAdapter()
    with pytest.raises(tc.CompileFallback, match="torch.compile fell back to eager: no compiled region / inductor graph"):
        adapter.forward(config, t.x, t.w)
    with pytest.raises(tc.CompileFallback, match="compiled backward"):
        adapter.vjp(config, t.x, t.w, None, t.grad_out)


def test_torch_still_refuses_compiled_double_backward():
    """The double_vjp declaration quotes torch's refusal; this proves torch still gives it."""
    torch._dynamo.reset()
    conv = torch.compile(lambda x, w: torch.nn.functional.conv1d(x, w), fullgraph=True)
    x = torch.ones(1, 1, 4, dtype=torch.float64, requires_grad=True)
    w = torch.ones(1, 1, 2, dtype=torch.float64, requires_grad=True)
    y = conv(x, w)
    gx, = torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)
    with pytest.raises(RuntimeError, match=tc.DOUBLE_BACKWARD_REFUSAL):
        torch.autograd.grad(gx.sum(), w)


def test_compiled_declarations():
    config = ConvConfig(ndim=2, in_size=4, kernel=2)
    compiled = get_implementation("torch.compile")
    assert compiled.max_ci_examples == 20 and compiled.devices == ("cpu", "cuda")
    assert capability_reason(compiled, DOUBLE_VJP, config, "cpu") == (
        f"torch.compile: double backward refused by torch: {tc.DOUBLE_BACKWARD_REFUSAL!r}")
    assert capability_reason(compiled, JVP, config, "cpu") is None
    autotune = get_implementation("torch.compile.max_autotune")
    assert autotune.mode == "max-autotune"
    assert autotune.supports(config, "cpu") == "torch.compile.max_autotune: CUDA only; this run's device is cpu"


# ---- registry ----


@pytest.mark.parametrize("name", ["torch.nn", "torch.compile", "torch.compile.max_autotune", "torch.onednn_off",
                                  "torch.cudnn_off", "torch.cudnn_benchmark", "torch.deterministic"])
def test_registered_under_its_name(name):
    assert name in BUILTIN
    assert get_implementation(name).name == name


def test_compiled_empty_batch_gradient_still_fails_and_is_known_as_kd_043(compiled):
    """KD-043: torch 2.13's compiled training graph of a 2-d convolution with N = 0 fails its stride
    assertion (tests/repro/torch_compile_empty_batch_strides.py); the entry matches that error and
    not the same call with a 1x1 kernel, which compiles. A torch that fixes it fails this test: then
    the entry goes."""
    from conformance.harness import Target
    from conformance.known import load_known_divergences

    config = ConvConfig(ndim=2, batch=0, in_channels=2, out_channels=1, in_size=(3, 3), kernel=(2, 2))
    t = ac.storage_inputs(config, 0)
    with pytest.raises(AssertionError, match="stride"):
        compiled.vjp(config, t.x, t.w, None, t.grad_out)
    known = load_known_divergences()
    target = Target("conv2d", "torch.compile", "cpu", "torch.compile")
    event = {"check": "gradient", "status": "error"}
    assert known.match_event(target, config, event) == "KD-043"
    one_by_one = config.replace(kernel=(1, 1))
    t = ac.storage_inputs(one_by_one, 0)
    grad_x, grad_w, _ = compiled.vjp(one_by_one, t.x, t.w, None, t.grad_out)
    assert grad_x.shape == (0, 2, 3, 3) and np.all(grad_w == 0)
    assert known.match_event(target, one_by_one, event) is None
