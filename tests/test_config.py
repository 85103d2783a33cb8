"""ConvConfig: the rules table, derived shapes, serialisation."""

import json

import pytest

from conformance import ConvConfig, InvalidConfig


def conv(**fields):
    base = dict(ndim=2, in_channels=4, out_channels=6, groups=2, in_size=(7, 5), kernel=(3, 2))
    base.update(fields)
    return ConvConfig(**base)


INVALID = [
    pytest.param(dict(ndim=4), "ndim=4 must be 1, 2 or 3", id="ndim=4"),
    pytest.param(dict(groups=4), "groups=4 does not divide out_channels=6", id="groups-not-dividing-out"),
    pytest.param(dict(groups=3), "groups=3 does not divide in_channels=4", id="groups=3"),
    pytest.param(dict(in_size=(7,)), "in_size=(7,) has length 1, expected ndim=2", id="tuple-length"),
    pytest.param(dict(kernel=(3, 0)), "kernel=(3, 0) must be >= 1 in every dim; dim 1 is 0", id="kernel=0"),
    pytest.param(dict(stride=(0, 1)), "stride=(0, 1) must be >= 1", id="stride=0"),
    pytest.param(dict(dilation=(1, -1)), "dilation=(1, -1) must be >= 1", id="dilation<0"),
    pytest.param(dict(in_size=(0, 5)), "in_size=(0, 5) must be >= 1", id="in_size=0"),
    pytest.param(dict(batch=-1), "batch=-1 must be >= 0", id="batch<0"),
    pytest.param(dict(in_channels=-1, groups=1), "in_channels=-1 must be >= 0", id="in_channels<0"),
    pytest.param(dict(out_channels=0, groups=1), "out_channels=0 must be >= 1", id="out_channels=0"),
    pytest.param(dict(in_channels=0, transposed=True), "in_channels=0 is accepted for ordinary convolution only",
                 id="transposed-in_channels=0"),
    pytest.param(dict(padding_mode="reflect", padding=5), "padding_mode='reflect' needs each pad < the input size",
                 id="reflect-pad>=size"),
    pytest.param(dict(padding_mode="circular", padding=6), "padding_mode='circular' needs each pad <= the input size",
                 id="circular-pad>size"),
    pytest.param(dict(padding_mode="reflect", transposed=True), "applies to ordinary convolution only",
                 id="transposed-reflect"),
    pytest.param(dict(padding_mode="mirror"), "padding_mode='mirror' is not one of", id="unknown-padding-mode"),
    pytest.param(dict(in_channels=0, padding_mode="replicate", padding=1), "F.pad refuses zero channels",
                 id="replicate-zero-channels"),
    pytest.param(dict(batched=False, batch=2), "batched=False has no batch dimension, so batch must be 1",
                 id="unbatched-batch=2"),
    pytest.param(dict(memory_format="nhwc"), "memory_format='nhwc' is not one of", id="unknown-memory-format"),
    pytest.param(dict(dtype="int8"), "dtype='int8' is not one of", id="dtype"),
    pytest.param(dict(in_size=(2, 5), kernel=(3, 2)), "output size (0, 4) is not positive in dim 0", id="output<1"),
    pytest.param(dict(in_size=(2, 5), kernel=(2, 2), dilation=(2, 1)), "is not positive in dim 0", id="dilated-too-big"),
    pytest.param(dict(transposed=True, stride=(2, 1), output_padding=(2, 0)),
                 "output_padding=(2, 0) must be smaller than max(stride, dilation)=(2, 1) in dim 0", id="output_padding>=stride"),
    pytest.param(dict(transposed=True, stride=(1, 1), output_padding=(0, 1)),
                 "must be smaller than max(stride, dilation)=(1, 1) in dim 1", id="output_padding-stride1"),
    pytest.param(dict(output_padding=(1, 0), stride=(2, 1)), "applies to transposed convolution only", id="output_padding-ordinary"),
    pytest.param(dict(padding="same", stride=(2, 1)), "padding='same' requires stride 1", id="same-stride>1"),
    pytest.param(dict(padding="same", transposed=True), "defined for ordinary convolution only", id="same-transposed"),
    pytest.param(dict(padding="full"), "padding='full' must be 'same', 'valid'", id="padding-string"),
    pytest.param(dict(padding=((1, -1), (0, 0))), "must be >= 0; dim 0 has (1, -1)", id="negative-padding"),
    pytest.param(dict(padding=((1, 2, 3), (0, 0))), "is not an int or a (lo, hi) pair", id="padding-triple"),
    pytest.param(dict(padding=((1, 1),)), "padding=((1, 1),) has length 1, expected ndim=2", id="padding-length"),
    pytest.param(dict(transposed=True, in_size=(1, 1), kernel=(1, 1), padding=((1, 0), (0, 0))),
                 "output size (0, 1) is not positive", id="transposed-output<1"),
    pytest.param(dict(bias="yes"), "bias='yes' must be True or False", id="bias-type"),
    pytest.param(dict(stride=(1.5, 1)), "must contain ints", id="float-stride"),
]


@pytest.mark.parametrize("fields, message", INVALID)
def test_invalid_configs_name_field_value_and_rule(fields, message):
    with pytest.raises(InvalidConfig) as info:
        conv(**fields)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_output_size_formulas():
    # (W - F + 2P)/S + 1
    assert conv(in_size=(7, 7), kernel=(3, 3), stride=(2, 2), padding=1).out_size == (4, 4)
    # (in - 1)*s - 2p + d(k-1) + output_padding + 1
    c = conv(transposed=True, in_size=(7, 5), kernel=(3, 2), stride=(2, 3), padding=((1, 1), (0, 0)),
             dilation=(1, 2), output_padding=(1, 2))
    assert c.out_size == ((7 - 1) * 2 - 2 + 1 * 2 + 1 + 1, (5 - 1) * 3 - 0 + 2 * 1 + 2 + 1)


def test_shapes_follow_pytorch_layouts():
    c = conv(batch=3, bias=True)
    assert c.input_shape == (3, 4, 7, 5)
    assert c.weight_shape == (6, 2, 3, 2)
    assert c.bias_shape == (6,)
    t = conv(transposed=True)
    assert t.weight_shape == (4, 3, 3, 2)
    assert conv().bias_shape is None


def test_same_puts_the_odd_pad_at_the_end():
    assert conv(padding="same", kernel=(4, 3)).resolved_padding == ((1, 2), (1, 1))
    assert conv(padding="same", kernel=(2, 3), dilation=(3, 1)).resolved_padding == ((1, 2), (1, 1))
    assert conv(padding="same", kernel=(4, 3)).out_size == (7, 5)
    assert conv(padding="valid").resolved_padding == ((0, 0), (0, 0))


def test_reduction_length_and_macs():
    c = conv()
    assert c.reduction_length == 2 * 3 * 2
    assert c.macs == 1 * 6 * 5 * 4 * 2 * 6
    # Transposed stride 2, kernel 3: at most 2 taps land on one output position per dim.
    t = ConvConfig(ndim=1, transposed=True, in_channels=2, out_channels=2, in_size=(5,), kernel=(3,), stride=(2,))
    assert t.reduction_length == 2 * 2
    # dilation 2 and stride 2: every tap lands on the lattice.
    t2 = t.replace(dilation=(2,))
    assert t2.reduction_length == 2 * 3


def test_op_name_and_str_read_like_a_call():
    c = conv(transposed=True, stride=(2, 1), padding=((1, 0), (0, 1)), dilation=(1, 2), output_padding=(1, 0),
             batch=2, bias=True, dtype="float32")
    assert c.op_name == "conv_transpose2d"
    assert str(c) == ("conv_transpose2d(N=2, C=4->6, groups=2, in=7x5, k=3x2, stride=2x1, pad=(1,0)x(0,1), "
                      "dilation=1x2, out_pad=1x0, bias, float32)")


@pytest.mark.parametrize("padding", [((1, 0), (0, 2)), "same", "valid"])
def test_dict_round_trip_through_json(padding):
    c = conv(padding=padding, bias=True, dtype="bfloat16")
    again = ConvConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and hash(again) == hash(c)


def test_from_dict_names_unknown_fields():
    data = conv().to_dict()
    data["strides"] = [1, 1]
    with pytest.raises(InvalidConfig, match="unknown config field"):
        ConvConfig.from_dict(data)


def test_ints_broadcast_and_symmetric_padding():
    c = ConvConfig(ndim=3, in_size=5, kernel=3, padding=1)
    assert c.in_size == (5, 5, 5) and c.padding == ((1, 1),) * 3 and c.stride == (1, 1, 1)


def test_frozen():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        conv().groups = 1
