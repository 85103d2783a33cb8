"""Machine facts (conformance.machine) and the declarations that depend on them: gaps that hold only
where TensorFlow's Eigen kernels take a dtype, and known-divergence conditions on CPU flags, TF's
oneDNN and library versions. Faked CPUs are monkeypatched flags; one test asks TensorFlow itself."""

import os
import subprocess
import sys

import pytest

from conformance import ConvConfig, machine
from conformance.capabilities import Capabilities, Gap
from conformance.harness import Target
from conformance.known import KnownDivergenceError, load_known_divergences

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"})                     # AMD EPYC 7003
AVX512_BF16 = AVX2_ONLY | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}  # EPYC 9004
SAPPHIRE_RAPIDS = AVX512_BF16 | {"avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"}


@pytest.fixture
def cpu(monkeypatch):
    """cpu(flags): pretend this machine has those CPU flags, TF_ENABLE_ONEDNN_OPTS unset."""
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(machine.platform, "system", lambda: "Linux")

    def fake(flags):
        monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset(flags))
    return fake


@pytest.mark.parametrize("flags, onednn, takes", [
    pytest.param(AVX2_ONLY, False, {"float32": False, "bfloat16": False, "float16": False, "float64": False},
                 id="avx2-only: oneDNN off by default"),
    pytest.param(AVX512_BF16, True, {"float32": True, "bfloat16": True, "float16": False, "float64": False},
                 id="avx512-bf16: float16 stays on Eigen"),
    pytest.param(SAPPHIRE_RAPIDS, True, {"float32": True, "bfloat16": True, "float16": True, "float64": False},
                 id="avx512-fp16: oneDNN takes float16 too"),
    pytest.param(AVX2_ONLY | {"avx_vnni"}, True, {"float32": True, "bfloat16": False, "float16": False,
                                                   "float64": False}, id="avx-vnni without avx512: float32 only"),
])
def test_tensorflows_onednn_default_and_dtypes_follow_its_cpu_rules(cpu, flags, onednn, takes):
    cpu(flags)
    assert machine.tf_onednn() is onednn
    assert {d: machine.tf_onednn_takes(d) for d in takes} == takes


def test_the_environment_overrides_tensorflows_default(cpu):
    cpu(SAPPHIRE_RAPIDS)
    assert machine.tf_onednn({"TF_ENABLE_ONEDNN_OPTS": "0"}) is False
    assert not machine.tf_onednn_takes("float32", {"TF_ENABLE_ONEDNN_OPTS": "false"})
    cpu(AVX2_ONLY)
    assert machine.tf_onednn({"TF_ENABLE_ONEDNN_OPTS": "1"}) is True


def test_tf_onednn_agrees_with_tensorflow_on_this_machine():
    """The rule read from the CPU flags is TensorFlow's own (IsMklEnabled), here and with the setting forced off."""
    pytest.importorskip("tensorflow")
    code = ("from tensorflow.python.util import _pywrap_util_port; from conformance.machine import tf_onednn;"
            "print(bool(_pywrap_util_port.IsMklEnabled()), tf_onednn())")
    for setting in (None, "0"):
        env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        if setting is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = setting
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        tensorflow_says, we_say = done.stdout.split()[-2:]
        assert tensorflow_says == we_say, (setting, done.stdout)


@pytest.mark.parametrize("version, specifier, holds", [
    ("2.13.0+cpu", ">=2.13,<2.15", True),
    ("2.15.1", ">=2.13,<2.15", False),
    ("2.13", "==2.13.0", True),
    ("0.10.2", ">0.10", True),
    ("3.15.1", "!=3.15.1", False),
])
def test_version_ranges(version, specifier, holds):
    assert machine.version_in(version, specifier) is holds


def test_a_bad_version_clause_names_itself():
    with pytest.raises(ValueError, match=r"'~2.13'.*>=, <="):
        machine.version_in("2.13", "~2.13")


def test_a_gap_on_tensorflows_eigen_kernels_holds_for_the_dtypes_eigen_takes_here(cpu):
    """The region drawn for a dtype leaves a `machine="tf_eigen"` gap's feature out exactly where Eigen takes it."""
    capabilities = Capabilities(gaps=(Gap("dilation>1", "Eigen has no dilated backprop", refused_by="framework",
                                          message="dilation rates", machine="tf_eigen"),))
    cpu(AVX512_BF16)
    region = capabilities.region("conv_transpose1d", "cpu", "forward")
    assert {d: "dilation>1" in region.excludes(d) for d in ("float32", "bfloat16", "float16", "float64")} == \
        {"float32": False, "bfloat16": False, "float16": True, "float64": True}
    cpu(AVX2_ONLY)
    assert all("dilation>1" in region.excludes(d) for d in ("float32", "bfloat16", "float16", "float64"))
    assert "where TensorFlow's CPU kernel for the dtype is Eigen's" in region.gaps[0].where()


def test_an_unknown_machine_condition_is_refused():
    with pytest.raises(ValueError, match=r"machine='tf_onednn_of' is not one of \['tf_eigen'\]"):
        Gap("dilation>1", "r", machine="tf_onednn_of")


def _entry(tmp_path, when: str, implementations='["tensorflow"]'):
    path = tmp_path / "mine.toml"
    path.write_text(f'[[divergence]]\nid = "MY-1"\nimplementations = {implementations}\nsummary = "s"\n'
                    f'classification = "bug"\nexpected = "error"\nupstream = "u"\nwhen = {{ {when} }}\n')
    return load_known_divergences(path)


BF16 = ConvConfig(ndim=1, in_size=4, kernel=2, dtype="bfloat16")


@pytest.mark.parametrize("when, flags, holds", [
    pytest.param('cpu_has = "avx512_bf16"', AVX512_BF16, True, id="cpu_has-present"),
    pytest.param('cpu_has = ["avx512_bf16", "amx_tile"]', AVX512_BF16, False, id="cpu_has-needs-all"),
    pytest.param('cpu_lacks = "avx512bw"', AVX2_ONLY, True, id="cpu_lacks-absent"),
    pytest.param('cpu_lacks = ["amx_tile", "avx512bw"]', AVX512_BF16, False, id="cpu_lacks-none-may-be-there"),
    pytest.param('tf_onednn = false', AVX2_ONLY, True, id="tf_onednn-off-by-default"),
    pytest.param('tf_kernel = "eigen"', AVX2_ONLY, True, id="tf_kernel-eigen-on-avx2"),
    pytest.param('tf_kernel = "eigen"', AVX512_BF16, False, id="tf_kernel-onednn-takes-bf16"),
    pytest.param('tf_kernel = "onednn"', AVX512_BF16, True, id="tf_kernel-onednn"),
])
def test_machine_conditions_of_known_entries(tmp_path, cpu, when, flags, holds):
    cpu(flags)
    known = _entry(tmp_path, when)
    assert known.entries[0].applies("tensorflow", "conv1d", "cpu", BF16) is holds


def test_tf_conditions_read_the_implementations_declared_environment(tmp_path, cpu):
    """tensorflow.onednn_off's worker runs with TF_ENABLE_ONEDNN_OPTS=0: on an AVX-512 CPU its bfloat16 is Eigen's."""
    cpu(AVX512_BF16)
    known = _entry(tmp_path, 'tf_kernel = "eigen"', '["tensorflow", "tensorflow.onednn_off"]')
    on = Target("conv1d", "tensorflow", "cpu", "tensorflow")
    off = Target("conv1d", "tensorflow.onednn_off", "cpu", "tensorflow.onednn_off")
    error = {"check": "forward", "status": "error"}
    assert known.match_event(on, BF16, error) is None
    assert known.match_event(off, BF16, error) == "MY-1"


def test_versions_condition(tmp_path):
    pytest.importorskip("numpy")
    import numpy

    assert _entry(tmp_path, f'versions = {{ numpy = "=={numpy.__version__}" }}').entries[0].applies(
        "tensorflow", "conv1d", "cpu", BF16)
    assert not _entry(tmp_path, 'versions = { numpy = "<1" }').entries[0].applies("tensorflow", "conv1d", "cpu", BF16)
    assert not _entry(tmp_path, 'versions = { "no-such-distribution" = ">=0" }').entries[0].applies(
        "tensorflow", "conv1d", "cpu", BF16)


@pytest.mark.parametrize("when, message", [
    pytest.param('cpu_has = 1', "give a CPU flag or a list", id="cpu_has-not-a-flag"),
    pytest.param('tf_onednn = "off"', "must be true or false", id="tf_onednn-not-a-bool"),
    pytest.param('tf_kernel = "mkl"', 'must be "onednn" or "eigen"', id="tf_kernel-unknown"),
    pytest.param('versions = { torch = "2.13" }', "start it with one of", id="versions-bad-clause"),
    pytest.param('versions = "torch"', "give a table", id="versions-not-a-table"),
])
def test_malformed_machine_conditions_fail_at_load(tmp_path, when, message):
    with pytest.raises(KnownDivergenceError, match=rf"MY-1.*when\.\w+: .*{message}"):
        _entry(tmp_path, when)
