"""Tests of references/onnxruntime/session.py against references.numpy.naive, judged by the suite's own
comparator (tests/adapter_checks.py): agreement in float32 and float16 on a table of configs, and
ORT's refusals recorded with ORT's own text."""

from __future__ import annotations

import pytest

from conformance.checks import GRADIENT, JVP
from conformance.config import ConvConfig
from conformance.registry import missing_method_reason
from tests import adapter_checks as ac

pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
pytest.importorskip("onnx", reason="onnx not installed")

from references.onnxruntime.session import OnnxRuntimeAdapter, conv_model  # noqa: E402

C = ConvConfig
AGREEMENT = [
    pytest.param(C(ndim=2, batch=2, in_channels=4, out_channels=6, groups=2, in_size=(6, 5), kernel=(3, 2), bias=True),
                 id="conv2d grouped bias"),
    pytest.param(C(ndim=1, in_channels=3, out_channels=3, groups=3, in_size=9, kernel=3, stride=2), id="conv1d depthwise stride"),
    pytest.param(C(ndim=3, in_channels=2, out_channels=2, in_size=(5, 4, 5), kernel=2, dilation=(2, 1, 2), bias=True),
                 id="conv3d dilated"),
    pytest.param(C(ndim=2, in_channels=2, out_channels=3, in_size=(6, 7), kernel=3, stride=(2, 1), padding=((1, 0), (2, 1))),
                 id="conv2d asymmetric pads stride"),
    pytest.param(C(ndim=1, in_channels=1, out_channels=2, in_size=6, kernel=4, padding="same"), id="conv1d same even kernel"),
    pytest.param(C(ndim=3, in_size=(3, 4, 2), kernel=2, padding="valid"), id="conv3d valid"),
    pytest.param(C(ndim=2, transposed=True, batch=2, in_channels=4, out_channels=2, groups=2, in_size=(3, 4), kernel=(3, 2),
                   stride=(2, 3), padding=((2, 0), (1, 2)), output_padding=(1, 2), bias=True),
                 id="conv_transpose2d grouped asymmetric out_pad"),
    pytest.param(C(ndim=1, transposed=True, in_channels=2, out_channels=3, in_size=4, kernel=3, stride=3, dilation=2,
                   padding=1, output_padding=2), id="conv_transpose1d dilated out_pad"),
    pytest.param(C(ndim=2, in_channels=2, out_channels=2, in_size=(5, 6), kernel=3, padding=((1, 2), (2, 1)),
                   padding_mode="reflect", bias=True), id="conv2d reflect (Pad node)"),
    pytest.param(C(ndim=1, in_size=6, kernel=3, stride=2, padding=((2, 1),), padding_mode="replicate"), id="conv1d replicate"),
    pytest.param(C(ndim=3, in_channels=2, out_channels=2, groups=2, in_size=(4, 4, 3), kernel=2,
                   padding=((1, 1), (0, 1), (1, 0)), padding_mode="circular"), id="conv3d circular"),
]


@pytest.mark.parametrize("memory_format", ["contiguous", "strided"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("config", AGREEMENT)
def test_matches_naive(config, dtype, memory_format):
    config = config.replace(dtype=dtype, memory_format=memory_format)
    adapter = OnnxRuntimeAdapter()
    assert adapter.supports(config) is None
    message = ac.describe_failure(adapter.name, config, ac.check_against_naive(adapter, config, checks=("forward",)))
    assert message is None, message


REFUSALS = [
    pytest.param(C(ndim=2, in_size=5, kernel=3, dilation=2, padding="same"),
                 "onnxruntime: Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER.",
                 id="SAME_UPPER with dilation"),
    pytest.param(C(ndim=1, transposed=True, in_size=4, kernel=3, dilation=2, output_padding=1),
                 "output_padding (1) may be too large for stride (1)", id="output_padding >= stride, < dilation"),
]


@pytest.mark.parametrize("config, text", REFUSALS)
def test_refusals_are_not_implemented_with_orts_text(config, text):
    t = ac.storage_inputs(config.replace(dtype="float32"), 0)
    with pytest.raises(NotImplementedError, match="^onnxruntime: ") as raised:
        OnnxRuntimeAdapter().forward(config.replace(dtype="float32"), t.x, t.w, t.b)
    assert text in str(raised.value)


@pytest.mark.parametrize("dtype, text", [("float64", "NOT_IMPLEMENTED"), ("bfloat16", "tensor(bfloat16)")])
def test_undeclared_dtypes_are_refused_by_ort(dtype, text):
    ort = pytest.importorskip("onnxruntime")
    assert dtype not in OnnxRuntimeAdapter().supported_dtypes("cpu", "forward")
    model = conv_model(C(ndim=2, in_size=4, kernel=3, dtype=dtype)).SerializeToString()
    with pytest.raises(Exception, match=text.replace("(", r"\(").replace(")", r"\)")):
        ort.InferenceSession(model, providers=["CPUExecutionProvider"])


def test_declarations():
    adapter = OnnxRuntimeAdapter()
    from conformance.checks import FORWARD
    from conformance.registry import capability_reason

    assert "no unbatched call" in capability_reason(adapter, FORWARD, C(ndim=1, in_size=5, kernel=3, batched=False, dtype="float32"), "cpu")
    assert missing_method_reason(adapter, GRADIENT) == "onnxruntime: no vjp() (gradient (VJP) not implemented)"
    assert missing_method_reason(adapter, JVP) is not None


def test_sessions_are_cached_per_config():
    adapter = OnnxRuntimeAdapter()
    config = C(ndim=2, in_size=5, kernel=3, dtype="float32")
    assert adapter.session(config) is adapter.session(config.replace())
    assert adapter.session(config) is not adapter.session(config.replace(bias=True))
