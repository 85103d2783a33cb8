"""The libraries' own padding strings (#36.6): explicit pairs that are TF's / ONNX's / lax's 'SAME'
(SAME_UPPER) or SAME_LOWER for a strided call are spelled as that string by the adapters, so the
library's own padding rule, forward and derivatives, is the call under test; the strategies draw such
pairs on purpose."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, settings

from conformance.call_forms import string_padding
from conformance.config import ConvConfig
from conformance.strategies import conv_configs
from tests import adapter_checks as ac

# n=7, k=3, s=2: a total pad of 2, (1, 1); n=5, k=2, s=2: a total pad of 1, (0, 1) upper, (1, 0) lower.
UPPER = ConvConfig(ndim=2, batch=2, in_channels=3, out_channels=4, in_size=(7, 5), kernel=(3, 2), stride=(2, 2),
                   padding=((1, 1), (0, 1)), bias=True)
LOWER = UPPER.replace(padding=((1, 1), (1, 0)))


@pytest.mark.parametrize("config, strings, expected", [
    (UPPER, ("SAME", "SAME_LOWER"), "SAME"),
    (LOWER, ("SAME", "SAME_LOWER"), "SAME_LOWER"),
    (LOWER, ("SAME",), None),                                   # TF has no SAME_LOWER
    (UPPER.replace(padding=((1, 1), (1, 1))), ("SAME",), None),  # not SAME's pairs for this call
    (UPPER.replace(padding=((0, 0), (0, 0)), in_size=(5, 4), kernel=(1, 1)), ("SAME",), None),  # VALID
    (UPPER.replace(padding_mode="reflect"), ("SAME",), None),  # a padding mode pads by itself
    (UPPER.replace(padding="valid"), ("SAME",), None),
    (ConvConfig(ndim=1, in_size=(5,), kernel=(3,), padding=((1, 1),)), ("SAME",), "SAME"),  # stride 1: symmetric
])
def test_string_padding_names_the_librarys_string_for_exactly_its_pairs(config, strings, expected):
    assert string_padding(config, strings) == expected


def test_a_transposed_call_has_no_string_padding():
    config = ConvConfig(ndim=1, transposed=True, in_size=(3,), kernel=(3,), padding=((1, 1),))
    assert string_padding(config) is None


@pytest.mark.parametrize("want", ["SAME", "SAME_LOWER"])
def test_the_strategies_draw_strided_asymmetric_same_pairs(want):
    search = settings(max_examples=3000, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    found = find(conv_configs(op="conv2d"),
                 lambda c: string_padding(c) == want and max(c.stride) > 1 and c.is_asymmetric, settings=search)
    assert string_padding(found) == want


def _recording(monkeypatch, module, names):
    """Wrap module.<name> so that each call's `padding` (positional 4th or keyword) is recorded."""
    seen = []
    for name in names:
        real = getattr(module, name)

        def wrapper(*args, _real=real, **kwargs):
            seen.append(kwargs.get("padding", args[3] if len(args) > 3 else None))
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)
    return seen


@pytest.mark.parametrize("config, string", [(UPPER, "SAME"), (LOWER, "SAME_LOWER")])
def test_jax_calls_lax_with_the_string_and_its_results_and_gradients_match(monkeypatch, config, string):
    jax = pytest.importorskip("jax")
    from references.jax.lax import JaxAdapter

    seen = _recording(monkeypatch, jax.lax, ["conv_general_dilated"])
    verdicts = ac.check_against_naive(JaxAdapter(), config)
    assert string in seen, seen
    assert ac.describe_failure("jax", config, verdicts) is None


def test_tensorflow_calls_its_same_for_a_strided_call_and_its_results_and_gradients_match(monkeypatch):
    tf = pytest.importorskip("tensorflow")
    from references.tensorflow.native import TensorFlowNative

    seen = _recording(monkeypatch, tf.nn, ["convolution", "conv2d"])
    verdicts = ac.check_against_naive(TensorFlowNative(), UPPER)
    assert "SAME" in seen, seen
    assert ac.describe_failure("tensorflow", UPPER, verdicts) is None


def test_keras_uses_its_same_string_for_tfs_same_pairs():
    from references.keras.layers import keras_padding

    assert keras_padding(UPPER) == (None, "same")
    assert keras_padding(LOWER) == (LOWER.padding, "valid")  # Keras has no SAME_LOWER: ZeroPadding, then valid


@pytest.mark.parametrize("config, auto_pad", [(UPPER, b"SAME_UPPER"), (LOWER, b"SAME_LOWER")])
def test_onnxruntime_builds_auto_pad_and_its_results_match(config, auto_pad):
    pytest.importorskip("onnxruntime")
    from references.onnxruntime.session import OnnxRuntimeAdapter, conv_model

    config = config.replace(dtype="float32")  # ORT's CPU Conv has no float64 kernel
    (conv,) = [node for node in conv_model(config).graph.node if node.op_type == "Conv"]
    assert {a.name: a.s for a in conv.attribute if a.name == "auto_pad"} == {"auto_pad": auto_pad}
    verdicts = ac.check_against_naive(OnnxRuntimeAdapter(), config, checks=("forward",))
    assert ac.describe_failure("onnxruntime", config, verdicts) is None
