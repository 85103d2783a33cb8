"""Standalone reproducers (conformance.standalone): they run without the harness and say whether the
divergence reproduces (exit status 1) or not (0).

The scripts run in a fresh `python -S` whose sys.path holds the venv's site-packages and the
script's temp dir only: -S skips site, so the editable install's finder (a .pth file) never runs,
and `import conformance` fails there (each test that runs one asserts it).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import numpy as np
import pytest

from conformance.checks import CHECK_KINDS
from conformance.config import ConvConfig
from conformance.harness import Harness, Target
from conformance.registry import get_implementation
from conformance.standalone import script_for_record, standalone_script
from conformance.strategies import make_tensors

ROOT = Path(__file__).resolve().parents[1]
SITE_PACKAGES = sysconfig.get_paths()["purelib"]


def _isolated_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=SITE_PACKAGES, TF_CPP_MIN_LOG_LEVEL="3")
    return env


def run_isolated(directory: Path, text: str, *, timeout: float = 300) -> subprocess.CompletedProcess:
    """Write the script to directory and run it there without the harness on sys.path."""
    probe = subprocess.run([sys.executable, "-S", "-c", "import conformance"], cwd=directory, env=_isolated_env(),
                           capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'conformance'" in probe.stderr, "the harness is importable"
    probe = subprocess.run([sys.executable, "-S", "-c", "import references"], cwd=directory, env=_isolated_env(),
                           capture_output=True, text=True)
    assert probe.returncode != 0, "references is importable"
    path = directory / "reproducer.py"
    path.write_text(text)
    return subprocess.run([sys.executable, "-S", str(path)], cwd=directory, env=_isolated_env(), capture_output=True,
                          text=True, timeout=timeout)


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# ---- (a) a framework finding: KD-009, TensorFlow's empty batch ------------------------------------


def _kd009_config() -> ConvConfig:
    entries = tomllib.loads((ROOT / "conformance" / "known_divergences.toml").read_text())["divergence"]
    entry = next(e for e in entries if e["id"] == "KD-009")
    return ConvConfig(**entry["minimal_config"])


@pytest.mark.skipif(not _installed("tensorflow"), reason="tensorflow not installed")
def test_kd009_reproduces_without_the_harness(tmp_path):
    """The script reproduces KD-009 exactly where TensorFlow shows it: the bug is oneDNN's and
    depends on the CPU (measured on AVX-512 machines; an AVX2-only one gives the right shape), so
    the adapter's own call on this machine says which exit status the script must give."""
    config = _kd009_config()
    probe = subprocess.run([sys.executable, "-c",
                    "import numpy as np, sys; from conformance import ConvConfig; "
                    "from conformance.registry import get_implementation; "
                    f"c = ConvConfig(**{dict(ndim=2, batch=0, in_size=(5, 5), kernel=(3, 3), in_channels=2, out_channels=4, dtype='float32')!r}); "
                    "y = get_implementation('tensorflow').forward(c, np.zeros(c.input_shape, np.float32), "
                    "np.ones(c.weight_shape, np.float32)); print(tuple(y.shape))"],
                   cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    shows_bug = probe.stdout.strip().splitlines()[-1] == "(0, 2, 5, 5)"
    script = standalone_script("tensorflow", config, "forward")
    result = run_isolated(tmp_path, script.text)
    if shows_bug:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "shape (0, 2, 5, 5), expected (0, 4, 3, 3)" in result.stdout and "SHAPE MISMATCH" in result.stdout
    else:
        assert probe.stdout.strip().splitlines()[-1] == "(0, 4, 3, 3)", probe.stdout
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not _installed("tensorflow"), reason="tensorflow not installed")
def test_tensorflow_config_that_agrees_exits_0(tmp_path):
    script = standalone_script("tensorflow", _kd009_config().replace(batch=2, bias=True), "gradient", seed=3)
    result = run_isolated(tmp_path, script.text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "does not reproduce" in result.stdout


@pytest.mark.skipif(not _installed("torch"), reason="torch not installed")
def test_torch_on_the_kd009_config_exits_0(tmp_path):
    result = run_isolated(tmp_path, standalone_script("torch", _kd009_config(), "forward").text)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- (b) a planted plugin bug ---------------------------------------------------------------------

# A user's plugin as the README describes one: subclass conformance.Implementation, set `name`.
PLUGIN = '''
import numpy as np
from conformance import Implementation


def _conv(config, x, w):  # stride 1, no padding, groups 1: what this kernel supports
    y = np.zeros(config.output_shape)
    for tap in np.ndindex(*config.kernel):
        patch = x[(slice(None), slice(None)) + tuple(slice(t, t + o) for t, o in zip(tap, config.out_size))]
        y += np.einsum("nc...,oc->no...", patch, w[(slice(None), slice(None)) + tap])
    return y


class MyConv(Implementation):
    name = "myconv"
    drop_bias = False
    grad_weight_scale = 1.0

    def forward(self, config, x, w, b=None, device="cpu"):
        y = _conv(config, x.astype(np.float64), w.astype(np.float64))
        if config.bias and not self.drop_bias:
            y += b.reshape((1, -1) + (1,) * config.ndim)
        return y.astype(x.dtype)

    def vjp(self, config, x, w, b, grad_out, device="cpu"):
        dtype = x.dtype
        x, w, g = (a.astype(np.float64) for a in (x, w, grad_out))
        grad_x, grad_w = np.zeros(x.shape), np.zeros(w.shape)
        for tap in np.ndindex(*config.kernel):
            where = (slice(None), slice(None)) + tuple(slice(t, t + o) for t, o in zip(tap, config.out_size))
            grad_x[where] += np.einsum("no...,oc->nc...", g, w[(slice(None), slice(None)) + tap])
            grad_w[(slice(None), slice(None)) + tap] = np.tensordot(g, x[where], axes=([0, 2, 3], [0, 2, 3]))
        grad_b = g.sum(axis=(0, 2, 3)) if config.bias else None
        return tuple(None if a is None else a.astype(dtype) for a in (grad_x, grad_w * self.grad_weight_scale, grad_b))


class BiasDropped(MyConv):
    drop_bias = True


class GradWeightScaled(MyConv):
    grad_weight_scale = 1.001
'''

PLUGIN_CONFIG = ConvConfig(ndim=2, batch=2, in_channels=3, out_channels=2, in_size=(5, 4), kernel=(2, 3), bias=True,
                           dtype="float32")


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    (tmp_path / "user_kernels.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("user_kernels", None)


@pytest.mark.parametrize("name, check, fails", [
    pytest.param("BiasDropped", "forward", True, id="bias dropped: forward"),
    pytest.param("GradWeightScaled", "gradient", True, id="grad_weight x 1.001: gradient"),
    pytest.param("MyConv", "forward", False, id="correct: forward"),
    pytest.param("MyConv", "gradient", False, id="correct: gradient"),
])
def test_plugin_reproduces_without_the_harness(plugin_dir, name, check, fails):
    spec = f"user_kernels:{name}"
    # The harness's own verdict on the example, so the script is compared with something real.
    outcome = Harness(writer=None, run_id="t", isolation="none").check(
        Target(PLUGIN_CONFIG.op_name, name, "cpu", spec), check, _case(PLUGIN_CONFIG, 7), test_id="t")
    assert outcome.failed == fails, outcome.message
    result = run_isolated(plugin_dir, standalone_script(spec, PLUGIN_CONFIG, check, seed=7, plugin_call=True).text)
    assert result.returncode == (1 if fails else 0), result.stdout + result.stderr
    if fails:
        assert ("VALUE MISMATCH" in result.stdout) and ("forward" if check == "forward" else "grad_weight") in \
            result.stdout.split("REPRODUCES:")[1]


def _case(config, seed, values="normal"):
    from conformance.strategies import ConvCase

    return ConvCase(config, seed, values)


# ---- the definition and the inputs inside the script ------------------------------------------------


def _namespace(config: ConvConfig, check: str, **options) -> dict:
    """The script's constants, inputs and definition, executed here (the library part cut off)."""
    text = standalone_script("torch", config, check, **options).text
    namespace: dict = {"__name__": "standalone_under_test"}
    exec(text.split("# ---- the library")[0], namespace)  # noqa: S102 - our own generated code
    return namespace


DEFINITION_CONFIGS = [
    pytest.param(dict(ndim=1, in_size=7, kernel=3, stride=2, padding=((2, 1),), bias=True), id="conv1d stride pad"),
    pytest.param(dict(ndim=2, batch=2, in_channels=4, out_channels=6, groups=2, in_size=(6, 5), kernel=(3, 2),
                      dilation=(1, 2), padding=((1, 0), (0, 1)), bias=True), id="conv2d groups dilation asym"),
    pytest.param(dict(ndim=2, in_channels=2, out_channels=3, in_size=(5, 6), kernel=3, padding="same",
                      padding_mode="reflect"), id="conv2d same reflect"),
    pytest.param(dict(ndim=2, in_size=(4, 5), kernel=(2, 3), padding=((1, 2), (2, 0)), padding_mode="replicate"),
                 id="conv2d replicate"),
    pytest.param(dict(ndim=1, in_channels=2, in_size=5, kernel=2, padding=((2, 3),), padding_mode="circular",
                      batched=False, bias=True), id="conv1d circular unbatched"),
    pytest.param(dict(ndim=2, transposed=True, batch=2, in_channels=4, out_channels=2, groups=2, in_size=(3, 4),
                      kernel=(3, 2), stride=(2, 3), dilation=(2, 1), output_padding=(1, 2), padding=((2, 0), (1, 1)),
                      bias=True), id="conv_transpose2d groups out_pad"),
    pytest.param(dict(ndim=3, transposed=True, in_channels=2, out_channels=3, in_size=(2, 3, 2), kernel=2, stride=2,
                      batched=False), id="conv_transpose3d unbatched"),
    pytest.param(dict(ndim=2, batch=0, in_channels=2, out_channels=4, in_size=(5, 5), kernel=3, bias=True),
                 id="empty batch"),
]


@pytest.mark.parametrize("fields", DEFINITION_CONFIGS)
@pytest.mark.parametrize("check", ["forward", "gradient", "jvp", "double_vjp"])
def test_inline_definition_matches_the_reference(fields, check):
    config = ConvConfig(**fields)
    namespace = _namespace(config, check, seed=11)
    tensors = make_tensors(config, 11, "normal")
    arrays = {name: getattr(tensors, name) for name in ("x", "w", "b", "grad_out", "dx", "dw", "db", "ggx", "ggw", "ggb")}
    got = namespace["expected"](arrays)
    kind = CHECK_KINDS[check]
    want = kind.expected(get_implementation("naive"), config, tensors)
    assert sorted(got) == sorted(kind.results_for(config))
    for name in got:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("dtype, values", [("float32", "normal"), ("bfloat16", "mixed"), ("float16", "mixed"),
                                           ("float64", "small_int")])
def test_embedded_and_regenerated_inputs_are_the_harness_inputs(dtype, values):
    config = ConvConfig(ndim=2, batch=2, in_channels=2, out_channels=3, in_size=(4, 5), kernel=2, bias=True, dtype=dtype)
    tensors = make_tensors(config, 5, values)
    for limit in (10**6, 0):  # embedded, regenerated
        namespace = _namespace(config, "double_vjp", seed=5, values=values, embed_limit=limit)
        assert ("embedded" in namespace) == (limit > 0)
        for name in ("x", "w", "b", "grad_out", "ggx", "ggw", "ggb"):
            np.testing.assert_array_equal(namespace[name.upper()], getattr(tensors, name), err_msg=f"{name}, {limit=}")


def test_bound_constants_are_the_tolerance_module_s():
    from conformance.arithmetic import default_arithmetic
    from conformance.tolerance import error_bound

    config = ConvConfig(ndim=2, in_channels=3, out_channels=2, in_size=5, kernel=3, bias=True, dtype="float16")
    namespace = _namespace(config, "forward")
    abs_sum, exact = np.array([3.5, 0.0]), np.array([-1.25, 0.0])
    want = error_bound(abs_sum, exact, 28, default_arithmetic("float16"))
    got = namespace["FACTOR"]["forward"] * abs_sum + namespace["U_OUT"] * np.abs(exact) + namespace["ETA"]
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ---- unsupported, invalid and the command line ------------------------------------------------------


def test_no_template_exits_2_and_says_why(tmp_path):
    script = standalone_script("naive", PLUGIN_CONFIG, "forward")
    assert script.unsupported and "no call template" in script.unsupported
    result = run_isolated(tmp_path, script.text, timeout=60)
    assert result.returncode == 2 and "no call template for implementation 'naive'" in result.stdout


@pytest.mark.skipif(not _installed("torch"), reason="torch not installed")
def test_invalid_call_refused_does_not_reproduce(tmp_path):
    config = ConvConfig.unchecked(ndim=2, in_channels=2, out_channels=2, groups=3, in_size=5, kernel=3)
    script = standalone_script("torch", config, "invalid", rule="groups must divide the channels",
                               weight_shape=(2, 0, 3, 3))
    result = run_isolated(tmp_path, script.text)
    assert result.returncode == 0 and "raised RuntimeError" in result.stdout, result.stdout + result.stderr


def test_cli_prints_the_script(capsys):
    from conformance.__main__ import main

    status = main(["repro", "naive", "--config", PLUGIN_CONFIG.to_json(), "--standalone"])
    out = capsys.readouterr()
    assert status == 0 and out.out.startswith("#!/usr/bin/env python3") and "no call template" in out.err
    status = main(["repro", "torch", "--config", PLUGIN_CONFIG.to_json(), "--check", "gradient", "--seed", "4",
                   "--standalone"])
    text = capsys.readouterr().out
    assert status == 0
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(text))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert imported == {"base64", "os", "sys", "zlib", "numpy", "torch", "traceback"}
    assert main(["repro", "torch", "--config", '{"ndim": 9}', "--standalone"]) == 2


def test_report_card_carries_the_script():
    from conformance.harness import repro_command
    from conformance.records import CheckRecord
    from conformance.report.findings import build_findings

    case = _case(_kd009_config(), 0)
    base = dict(run_id="r", test_id="t", implementation="tensorflow", op="conv2d", device="cpu",
                config=case.config.to_dict(), config_str=str(case.config), value_profile="normal", data_seed=0,
                phase="final", check="forward", repro=repro_command("tensorflow", "cpu", "forward", case))
    records = [CheckRecord(**base, status="mismatch", kind="shape", message="forward has shape (0, 2, 5, 5)"),
               CheckRecord(**dict(base, implementation="torch"), status="pass")]
    cards = build_findings(records)
    assert len(cards) == 1 and cards[0]["standalone"]["unsupported"] is None
    assert "tf.nn.conv2d" in cards[0]["standalone"]["text"]
    assert script_for_record(records[0]).text == cards[0]["standalone"]["text"]


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last", "strided"])
def test_inputs_have_the_harness_strides(memory_format):
    config = ConvConfig(ndim=2, batch=2, in_channels=3, out_channels=2, in_size=(4, 5), kernel=2, bias=True,
                        dtype="float32", memory_format=memory_format)
    namespace = _namespace(config, "gradient", seed=2)
    handed = make_tensors(config, 2, "normal").in_storage("float32").in_layout(config)
    for name in ("x", "w", "b", "grad_out"):
        ours = namespace["stored"](name, namespace[name.upper()])
        assert ours.strides == getattr(handed, name).strides and ours.dtype == getattr(handed, name).dtype, name
        np.testing.assert_array_equal(ours, getattr(handed, name))
