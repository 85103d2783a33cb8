"""Tests of references/keras/layers.py against references.numpy.naive in float64 (forward and all gradients),
judged by the suite's own comparator (tests/adapter_checks.py), and its declared refusals.

A process can load Keras with one backend only (KERAS_BACKEND is read at import), so each backend runs in
its own child process (tests.adapter_checks.run_in_child with KERAS_BACKEND set); this process never
imports keras.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conformance.config import ConvConfig
from tests import adapter_checks as ac

if importlib.util.find_spec("keras") is None:  # find_spec, not importorskip: keras must not load here
    pytest.skip("keras not installed", allow_module_level=True)
BACKENDS = [b for b in ("torch", "jax", "tensorflow") if importlib.util.find_spec(b)]

from references.keras.layers import keras_transposed_same_padding  # noqa: E402

C = ConvConfig
# (config, backends that refuse it with this text: {backend: text}).
TABLE = [
    (C(ndim=2, batch=2, in_channels=4, out_channels=6, groups=2, in_size=(6, 5), kernel=(3, 2), bias=True), {}),
    (C(ndim=1, in_channels=3, out_channels=3, groups=3, in_size=9, kernel=3, stride=2), {}),
    (C(ndim=3, in_channels=2, out_channels=2, in_size=(5, 4, 5), kernel=2, dilation=(2, 1, 2), bias=True), {}),
    (C(ndim=2, in_channels=2, out_channels=3, in_size=(6, 7), kernel=3, stride=(2, 1), padding=((1, 0), (2, 1)),
       bias=True), {}),
    (C(ndim=3, in_size=(3, 4, 3), kernel=2, out_channels=2, padding=((0, 1), (1, 0), (1, 1))), {}),
    (C(ndim=2, in_channels=2, out_channels=2, in_size=(5, 4), kernel=(4, 3), dilation=(2, 1), padding="same",
       bias=True), {}),
    (C(ndim=2, in_channels=2, out_channels=3, in_size=(5, 6), kernel=3, padding="valid", memory_format="strided"),
     {"tensorflow": ("FrameworkRefusal", "The Conv2D op currently only supports the NHWC tensor format on the CPU")}),
    (C(ndim=2, transposed=True, batch=2, in_channels=3, out_channels=2, in_size=(3, 4), kernel=(3, 2), stride=(2, 3),
       output_padding=(1, 2), bias=True), {}),
    (C(ndim=1, transposed=True, in_channels=2, out_channels=3, in_size=4, kernel=3, dilation=2),
     {"tensorflow": ("FrameworkRefusal", "Current CPU implementations do not yet support dilation rates larger than 1")}),
    # Keras's transposed "same": (K//2, K//2) without output_padding, one moved to hi with it.
    (C(ndim=2, transposed=True, in_channels=2, out_channels=2, in_size=(4, 5), kernel=3, stride=2,
       padding=((0, 2), (0, 2)), output_padding=1), {}),
    (C(ndim=1, transposed=True, in_channels=2, out_channels=1, in_size=4, kernel=5, stride=3, padding=((1, 3),),
       output_padding=2, bias=True), {}),
    (C(ndim=1, transposed=True, in_size=4, kernel=2, stride=2, padding=1),
     {"tensorflow": ("NotImplementedError", "Size of out_backprop doesn't match computed")}),
]


def _child_env(backend: str) -> dict:
    return {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_matches_naive(backend, monkeypatch):
    for name, value in _child_env(backend).items():
        monkeypatch.setenv(name, value)
    # jax compiles every op per shape (~1 s a config): it runs a third of the table.
    table = TABLE[::3] if backend == "jax" else TABLE
    jobs = [{"config": config.to_dict(), "seed": 0} for config, _ in table]
    answers, crashes = ac.run_in_child(f"keras.{backend}", jobs)
    assert not crashes, crashes
    problems = []
    for (config, refusals), answer in zip(table, answers):
        if backend in refusals:
            # A declared gap's refusal is a FrameworkRefusal; Keras's "same" residue stays unsupported.
            raised, text = refusals[backend]
            expected = f"{raised}: keras.{backend}: "
            if not (answer.get("error", "").startswith(expected) and text in answer["error"]):
                problems.append(f"expected the refusal {refusals[backend]!r}, got {answer} [{config}]")
            continue
        if "error" in answer:
            problems.append(f"{answer['error']} [{config}]")
            continue
        message = ac.describe_failure(f"keras.{backend}", config, answer["verdicts"])
        if message:
            problems.append(message)
    assert not problems, "\n".join(problems)


def _supports_in_child(backend: str, configs: list[ConvConfig]) -> list:
    code = ("import json, sys; from conformance.config import ConvConfig; "
            "from conformance.checks import FORWARD; "
            "from conformance.registry import capability_reason, get_implementation; "
            f"impl = get_implementation('keras.{backend}'); "
            "print(json.dumps([capability_reason(impl, FORWARD, ConvConfig.from_dict(c), 'cpu') "
            "for c in json.loads(sys.argv[1])]))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps([c.to_dict() for c in configs])], cwd=ac.REPO,
                          env={**os.environ, **_child_env(backend)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


DECLARED = [
    pytest.param(C(ndim=1, transposed=True, in_channels=2, out_channels=2, groups=2, in_size=4, kernel=2),
                 "keras.torch: Conv*DTranspose has no groups argument", id="transposed groups"),
    pytest.param(C(ndim=2, in_size=7, kernel=2, stride=2, dilation=2),
                 "keras.torch: Keras refuses strides > 1 together with dilation_rate > 1", id="stride and dilation"),
    pytest.param(C(ndim=1, transposed=True, in_size=4, kernel=3, padding=((1, 0),)),
                 "no (lo, hi) pairs", id="transposed explicit padding"),
    pytest.param(C(ndim=1, transposed=True, in_size=4, kernel=2, dilation=2, output_padding=1),
                 "refuses output_padding >= strides", id="transposed output_padding >= stride"),
    pytest.param(C(ndim=1, in_size=5, kernel=3, padding=1, padding_mode="reflect"),
                 "Keras convolutions pad with zeros only", id="padding_mode"),
    pytest.param(C(ndim=1, in_size=5, kernel=3, batched=False), "no unbatched call", id="unbatched"),
]


def test_declared_refusals():
    reasons = _supports_in_child("torch", [param.values[0] for param in DECLARED])
    for param, reason in zip(DECLARED, reasons):
        assert reason is not None and param.values[1] in reason, (param.id, reason)


def test_other_backend_in_process_is_refused():
    """In a process whose KERAS_BACKEND names another backend, supports() refuses (a fresh process:
    this one may have imported keras through another test)."""
    code = ("from conformance.config import ConvConfig as C\n"
            "from references.keras.layers import KerasTorchAdapter\n"
            "print(KerasTorchAdapter().supports(C(ndim=1, in_size=3, kernel=1)))\n")
    env = dict(os.environ, KERAS_BACKEND="jax")
    reason = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=120, cwd=ac.REPO).stdout.strip()
    assert reason.startswith("keras.torch needs its own process: KERAS_BACKEND is 'jax'"), reason
    assert "--isolation process" in reason


@pytest.mark.parametrize("kernel, output_padding, pair", [(3, 0, (1, 1)), (3, 1, (0, 2)), (4, 0, (2, 2)), (4, 1, (1, 3)),
                                                          (5, 1, (1, 3)), (3, 2, (0, 2)), (1, 0, (0, 0))])
def test_transposed_same_padding(kernel, output_padding, pair):
    assert keras_transposed_same_padding(kernel, output_padding) == pair
