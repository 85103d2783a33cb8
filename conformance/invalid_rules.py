"""The validity rules an invalid call breaks (check kind "invalid"), each as a way to break a valid call.

`INVALID_RULES` maps a rule's name, the name every record, known-divergence entry and definition
(conformance.definitions) uses, to (applies(config), break(fields) -> fields): which valid calls the
rule can be broken from (output_padding only on transposed ones) and the broken call's fields, one
rule broken and every other still kept. A broken weight shape ("weight shape matches the channels")
keeps the config and changes the weight (conformance.strategies.invalid_cases).
"""

from __future__ import annotations

__all__ = ["INVALID_RULES"]


def _set_dim0(values, value):
    return (value, *tuple(values)[1:])


def _break_groups(f):
    # groups=2 and an odd count of the channels the weight's axis 0 holds (C_out, or C_in when
    # transposed): groups does not divide it, and every weight dim stays >= 1. (groups > C_out would
    # give a transposed weight (C_in, 0, *k): a valid call with no output channels, which a library may
    # rightly compute, not an invalid one; and a transposed call's C_out is read off its weight.)
    odd, other = ("in_channels", "out_channels") if f["transposed"] else ("out_channels", "in_channels")
    return dict(f, groups=2, **{odd: max(3, f[odd] | 1), other: max(2, f[other])})


def _break_output_padding(f):
    return dict(f, output_padding=_set_dim0(f["output_padding"], max(f["stride"][0], f["dilation"][0])))


def _break_kernel_size(f):
    kernel = max(f["kernel"][0], 2)
    span = f["dilation"][0] * (kernel - 1)  # the input is one element shorter than the dilated kernel
    pairs = ((0, 0),) * f["ndim"]
    return dict(f, kernel=_set_dim0(f["kernel"], kernel), padding=pairs, in_size=_set_dim0(f["in_size"], span))


def _break_padding_sign(f):
    pairs = f["padding"] if not isinstance(f["padding"], str) else ((0, 0),) * f["ndim"]
    return dict(f, padding=_set_dim0(pairs, (-1, -1)))


def _break_stride(f):
    return dict(f, stride=_set_dim0(f["stride"], 0))


def _break_same_stride(f):
    return dict(f, padding="same", stride=_set_dim0(f["stride"], 2))


def _break_transposed_padding_mode(f):
    # nn.ConvTranspose*d: "Only 'zeros' padding mode is supported for ConvTranspose"
    return dict(f, padding_mode="reflect")


INVALID_RULES = {
    "groups must divide the channels": (lambda c: True, _break_groups),
    "output_padding < max(stride, dilation)": (lambda c: c.transposed, _break_output_padding),
    "dilated kernel fits the padded input": (lambda c: not c.transposed, _break_kernel_size),
    "padding >= 0": (lambda c: True, _break_padding_sign),
    "stride >= 1": (lambda c: True, _break_stride),
    "'same' needs stride 1": (lambda c: not c.transposed, _break_same_stride),
    "padding_mode applies to ordinary convolution only": (lambda c: c.transposed, _break_transposed_padding_mode),
    "weight shape matches the channels": (lambda c: True, None),  # the config stays valid; the weight does not
}
