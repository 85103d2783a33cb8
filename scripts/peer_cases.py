"""Build the peer-case corpus (benchmarks/data/peer_conv_cases.json): the convolution calls that
PyTorch's, JAX's and TensorFlow's own tests make, as ConvConfigs in this project's conventions.

    python scripts/peer_cases.py            # rewrite benchmarks/data/peer_conv_cases.json
    python scripts/peer_cases.py --check    # exit 1 if the checked-in file differs from a rebuild

Needs torch and its test helpers' one extra dependency (`pip install expecttest`), since the torch
cases are OpInfo's own sample functions, run.

Where each group comes from:

- torch: extracted by running OpInfo's own sample functions (`op.sample_inputs("cpu", float64)` of
  nn.functional.conv1d/2d/3d and conv_transpose1d/2d/3d in
  torch/testing/_internal/common_methods_invocations.py, sample_inputs_conv*) of the installed torch;
  its version is recorded.
- jax: the parameter grids of tests/lax_test.py (jax-ml/jax at JAX_COMMIT), transcribed below with
  the test name and line. A grid's batch/channel product (b, i, j) is cycled through its other
  parameters instead of crossed with them (breadth over volume: every stride, padding and dilation
  of the grid, each with one channel choice); layouts and dtypes, which do not change the call's
  shape, are left out.
- tensorflow: the explicit shapes of tensorflow/python/kernel_tests/nn_ops/conv_ops_test.py and
  conv_ops_3d_test.py (tensorflow/tensorflow at the commits below), transcribed with the test name.
  NHWC / HWIO shapes are turned into (N, C, *spatial) / (C_out, C_in/groups, *k); 'SAME' becomes
  PyTorch's 'same' at stride 1 and TF's explicit SAME pads (extra on the high side) otherwise.

A call that ConvConfig cannot express (an empty spatial extent, JAX's batch_group_count, input and
window dilation together...) is counted under "inexpressible" with the reason ConvConfig or this
script gives; the measurement (benchmarks/peer_reach.py) reads only "cases".
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.config import ConvConfig, InvalidConfig  # noqa: E402

CORPUS = ROOT / "benchmarks" / "data" / "peer_conv_cases.json"
JAX_COMMIT = "cec06d116c05f0d52adfceee3d3b730fdbcb0ce5"
TF_CONV_COMMIT = "00b1ec2ad4b0ecd5275167371cc5d5570fba8e4c"
TF_CONV3D_COMMIT = "0304934138cbfabd338ec432a630a9c3c1191564"
_DEFAULTS = ConvConfig(ndim=1, in_size=1, kernel=1).to_dict()


class Inexpressible(ValueError):
    """A peer's call that ConvConfig has no form of."""


def _compact(config: ConvConfig) -> dict:
    """The config's dict without the fields left at their default (ndim always kept)."""
    data = config.to_dict()
    return {k: v for k, v in data.items() if k in ("ndim", "in_size", "kernel") or v != _DEFAULTS.get(k)}


def _same_pads(n: int, k: int, s: int, d: int, lower: bool = False) -> tuple[int, int]:
    """TF / XLA 'SAME' pads of one dim (extra on the high side; on the low side for SAME_LOWER)."""
    span = d * (k - 1)
    total = max((-(-n // s) - 1) * s + span + 1 - n, 0)
    small, large = total // 2, total - total // 2
    return (large, small) if lower else (small, large)


def _ordinary(*, batch, in_channels, out_channels, groups=1, in_size, kernel, stride, dilation, pads,
              bias=False, batched=True) -> ConvConfig:
    """An ordinary convolution; pads: (lo, hi) pairs, or "same"/"valid"/"same_lower" resolved TF's way."""
    ndim = len(in_size)
    if isinstance(pads, str):
        if pads == "valid":
            padding = "valid"
        elif pads == "same" and all(s == 1 for s in stride):
            padding = "same"
        else:
            padding = tuple(_same_pads(n, k, s, d, lower=pads == "same_lower")
                            for n, k, s, d in zip(in_size, kernel, stride, dilation))
    else:
        padding = tuple(tuple(p) for p in pads)
    return ConvConfig(ndim=ndim, batch=batch, in_channels=in_channels, out_channels=out_channels, groups=groups,
                      in_size=tuple(in_size), kernel=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation),
                      padding=padding, bias=bias, batched=batched)


def _input_dilated(*, batch, in_channels, out_channels, groups=1, in_size, kernel, window_stride, lhs_dilation,
                   dilation, pads) -> ConvConfig:
    """XLA's conv_general_dilated with input (lhs) dilation, as PyTorch's transposed convolution.

    conv_transpose(stride s, padding (lo, hi), output_padding op, dilation d) is the input dilated
    by s and padded by (span - lo, span - hi + op), then an ordinary convolution: so pads (a, b)
    are lo = span - a and hi = span - b (or hi = 0 and op = b - span when b > span).
    """
    if all(s == 1 for s in lhs_dilation):
        return _ordinary(batch=batch, in_channels=in_channels, out_channels=out_channels, groups=groups,
                         in_size=in_size, kernel=kernel, stride=window_stride, dilation=dilation, pads=pads)
    if any(s != 1 for s in window_stride):
        raise Inexpressible("input dilation and a window stride together (no ConvConfig form)")
    padding, output_padding = [], []
    for k, d, (a, b) in zip(kernel, dilation, pads):
        span = d * (k - 1)
        if a > span:
            raise Inexpressible(f"input-dilated pad {a} > dilated kernel span {span}: negative transposed padding")
        padding.append((span - a, max(span - b, 0)))
        output_padding.append(max(b - span, 0))
    return ConvConfig(ndim=len(in_size), transposed=True, batch=batch, in_channels=in_channels,
                      out_channels=out_channels, groups=groups, in_size=tuple(in_size), kernel=tuple(kernel),
                      stride=tuple(lhs_dilation), dilation=tuple(dilation), padding=tuple(padding),
                      output_padding=tuple(output_padding))


# ---- torch: OpInfo's sample inputs, run ------------------------------------------------------------

_TORCH_OPS = {"nn.functional.conv1d": (1, False), "nn.functional.conv2d": (2, False),
              "nn.functional.conv3d": (3, False), "nn.functional.conv_transpose1d": (1, True),
              "nn.functional.conv_transpose2d": (2, True), "nn.functional.conv_transpose3d": (3, True)}


def _torch_config(ndim: int, transposed: bool, sample) -> ConvConfig:
    x, w = sample.input, sample.args[0]
    bias = len(sample.args) > 1 and sample.args[1] is not None
    kwargs = dict(sample.kwargs)
    batched = x.dim() == ndim + 2
    shape = tuple(x.shape) if batched else (1, *x.shape)
    groups = int(kwargs.get("groups", 1))
    in_channels = shape[1]
    out_channels = w.shape[1] * groups if transposed else w.shape[0]
    padding = kwargs.get("padding", 0)
    return ConvConfig(ndim=ndim, transposed=transposed, batch=shape[0], in_channels=in_channels,
                      out_channels=out_channels, groups=groups, in_size=shape[2:], kernel=tuple(w.shape[2:]),
                      stride=kwargs.get("stride", 1), dilation=kwargs.get("dilation", 1), padding=padding,
                      output_padding=kwargs.get("output_padding", 0), bias=bias, batched=batched)


def torch_cases():
    import torch
    from torch.testing._internal.common_methods_invocations import op_db

    where = dict(repo="pytorch/pytorch", file="torch/testing/_internal/common_methods_invocations.py",
                 commit=f"torch {torch.__version__} (installed wheel)")
    for op in op_db:
        if op.name not in _TORCH_OPS or op.variant_test_name:
            continue
        ndim, transposed = _TORCH_OPS[op.name]
        test = f"OpInfo {op.name} sample_inputs"
        for sample in op.sample_inputs("cpu", torch.float64):
            yield "torch", dict(where, test=test), lambda s=sample, n=ndim, t=transposed: _torch_config(n, t, s)


# ---- jax: tests/lax_test.py's grids, transcribed -----------------------------------------------------

def _cycled(grid: list[tuple], choices: list[tuple]):
    """Each combination of `grid` with one of `choices`, cycling (breadth over volume)."""
    for index, combination in enumerate(grid):
        yield (*choices[index % len(choices)], *combination)


def jax_cases():
    where = dict(repo="jax-ml/jax", file="tests/lax_test.py", commit=JAX_COMMIT)
    b23 = list(itertools.product([2, 3], repeat=3))
    b123 = list(itertools.product([1, 2, 3], repeat=3))

    # testConv (line 374) and testConvAgainstNumpy (line 440): lhs (b, i, 9, 10), rhs (j, i, 4, 5)
    for test, paddings in (("testConv", ["valid", "same", "same_lower"]), ("testConvAgainstNumpy", ["valid", "same"])):
        grid = list(itertools.product([(1, 1), (1, 2), (2, 1)], paddings))
        for b, i, j, strides, pads in _cycled(grid, b23):
            yield "jax", dict(where, test=test), lambda b=b, i=i, j=j, s=strides, p=pads: _ordinary(
                batch=b, in_channels=i, out_channels=j, in_size=(9, 10), kernel=(4, 5), stride=s, dilation=(1, 1),
                pads=p)

    # testConvWithGeneralPadding (line 455): lhs (b, i, 9, 10), rhs (j, i, 4, 5); lhs and rhs dilation
    grid = list(itertools.product([(1, 1), (1, 2), (2, 1)], [((0, 0), (0, 0)), ((1, 2), (2, 0))],
                                  [(1, 1), (1, 2), (2, 2)], [(1, 1), (1, 2), (2, 2)]))
    for b, i, j, strides, pads, lhs_dil, rhs_dil in _cycled(grid, b123):
        yield "jax", dict(where, test="testConvWithGeneralPadding"), lambda b=b, i=i, j=j, s=strides, p=pads, \
            ld=lhs_dil, rd=rhs_dil: _input_dilated(batch=b, in_channels=i, out_channels=j, in_size=(9, 10),
                                                   kernel=(4, 5), window_stride=s, lhs_dilation=ld, dilation=rd,
                                                   pads=p)

    # testConvGeneralDilated (line 538): lhs (b*bgc, i*fgc, 9, w), rhs (j*fgc*bgc, i, 4, 5); the group
    # counts and w cycle with (b, i, j)
    grid = list(itertools.product([(1, 1), (2, 1)], [((1, 2), (2, 0)), ((10, 8), (7, 13))], [(1, 1), (1, 2), (1, 4)],
                                  [(1, 1), (1, 2), (1, 4)]))
    choices = list(itertools.product([(1, 1), (2, 1), (1, 2)], [0, 10], b23))
    for (bgc, fgc), w, (b, i, j), strides, pads, lhs_dil, rhs_dil in _cycled(grid, choices):
        def build(b=b, i=i, j=j, bgc=bgc, fgc=fgc, w=w, s=strides, p=pads, ld=lhs_dil, rd=rhs_dil):
            if bgc > 1:
                raise Inexpressible("batch_group_count > 1 (no ConvConfig form)")
            return _input_dilated(batch=b, in_channels=i * fgc, out_channels=j * fgc, groups=fgc, in_size=(9, w),
                                  kernel=(4, 5), window_stride=s, lhs_dilation=ld, dilation=rd, pads=p)
        yield "jax", dict(where, test="testConvGeneralDilated"), build

    # testConvTranspose2DT (line 940) / testConvTranspose2D (line 985): lhs (b, 9, 10, i), kernel k x k,
    # use_consistent_padding=True: explicit pairs are the forward conv's padding (PyTorch's convention)
    pairs = list(itertools.product(itertools.product([0, 1, 2], [0, 1, 2]), itertools.product([0, 1, 2], [0, 1, 2])))
    # (the strides cycle with (b, i, j, k); both tests make the same calls in this project's terms)
    for test in ("testConvTranspose2DT", "testConvTranspose2D"):
        grid = list(itertools.product(pairs + ["VALID", "SAME"], [(1, 1), (2, 2)]))
        choices = list(itertools.product([(1, 1), (1, 2), (2, 1), (2, 2), (3, 3)],
                                         itertools.product([2, 3], [2, 3], [2, 3], [3, 4, 5])))
        for strides, (b, i, j, k), padding, rhs_dil in _cycled(grid, choices):
            yield "jax", dict(where, test=test), lambda b=b, i=i, j=j, k=k, s=strides, p=padding, rd=rhs_dil: \
                _jax_transpose(b, i, j, (9, 10), (k, k), s, p, rd)

    # testConvTranspose1D (line 1027): lhs (b, 10, i), rhs (k, i, j)
    grid = list(itertools.product([(1,), (2,), (3,)], ["VALID", "SAME"], [(1,), (2,)]))
    for b, i, j, k, strides, padding, rhs_dil in _cycled(grid, list(itertools.product([2, 3], [2, 3], [2, 3],
                                                                                      [3, 4, 5]))):
        yield "jax", dict(where, test="testConvTranspose1D"), lambda b=b, i=i, j=j, k=k, s=strides, p=padding, \
            rd=rhs_dil: _jax_transpose(b, i, j, (10,), (k,), s, p, rd)


def _jax_transpose(b, i, j, in_size, kernel, strides, padding, rhs_dilation) -> ConvConfig:
    """lax.conv_transpose: padding pairs are PyTorch's (use_consistent_padding), strings are
    _conv_transpose_padding's pads of the input-dilated convolution."""
    if isinstance(padding, str):
        pads = []
        for k, s, d in zip(kernel, strides, rhs_dilation):
            k = d * (k - 1) + 1  # the dilated kernel, as jax's conv_transpose passes it
            if padding == "SAME":
                total = k + s - 2
                lo = k - 1 if s > k - 1 else -(-total // 2)
            else:
                total = k + s - 2 + max(k - s, 0)
                lo = k - 1
            pads.append((lo, total - lo))
        return _input_dilated(batch=b, in_channels=i, out_channels=j, in_size=in_size, kernel=kernel,
                              window_stride=(1,) * len(kernel), lhs_dilation=strides, dilation=rhs_dilation,
                              pads=pads)
    return ConvConfig(ndim=len(kernel), transposed=True, batch=b, in_channels=i, out_channels=j, in_size=in_size,
                      kernel=kernel, stride=strides, dilation=rhs_dilation, padding=padding)


# ---- tensorflow: conv_ops_test.py / conv_ops_3d_test.py, transcribed ---------------------------------

# (test, NHWC input sizes, HWIO filter sizes, strides, padding, dilations); padding "VALID", "SAME"
# or explicit spatial pairs.
_TF_CONV2D = [
    ("testConv2D1x1Filter", [1, 2, 3, 3], [1, 1, 3, 3], [1, 1], "VALID", [1, 1]),
    ("testConv2D2x2Filter2x1Dilation", [1, 4, 4, 1], [2, 2, 1, 1], [1, 1], "VALID", [2, 1]),
    ("testConv2DEmpty", [0, 2, 3, 3], [1, 1, 3, 3], [1, 1], "VALID", [1, 1]),
    ("testConv2DEmptyDilation", [0, 2, 3, 3], [1, 1, 3, 3], [1, 1], "VALID", [2, 1]),
    ("testConv2D2x2Filter", [1, 2, 3, 3], [2, 2, 3, 3], [1, 1], "VALID", [1, 1]),
    ("testConv2D2x2FilterDilation", [1, 2, 3, 3], [2, 2, 3, 3], [1, 1], "VALID", [1, 2]),
    ("testConv2D1x2Filter", [1, 2, 3, 3], [1, 2, 3, 3], [1, 1], "VALID", [1, 1]),
    ("testConv2D1x2FilterDilation", [1, 2, 3, 3], [1, 2, 3, 3], [1, 1], "VALID", [2, 1]),
    ("testConv2D2x2FilterStride2", [1, 2, 3, 3], [2, 2, 3, 3], [2, 2], "VALID", [1, 1]),
    ("testConv2D2x2FilterStride2Same", [1, 2, 3, 3], [2, 2, 3, 3], [2, 2], "SAME", [1, 1]),
    ("testConv2D2x2FilterStride1x2", [1, 3, 6, 1], [2, 2, 1, 1], [1, 2], "VALID", [1, 1]),
    ("testConv2DKernelSmallerThanStrideValid", [1, 7, 7, 1], [2, 2, 1, 1], [3, 3], "VALID", [1, 1]),
    ("testConv2DKernelSmallerThanStrideSame", [1, 3, 3, 1], [1, 1, 1, 1], [2, 2], "SAME", [1, 1]),
    ("testConv2DKernelSmallerThanStrideSame", [1, 4, 4, 1], [1, 1, 1, 1], [2, 2], "SAME", [1, 1]),
    ("testConv2DKernelSmallerThanStrideSame", [1, 4, 4, 1], [2, 2, 1, 1], [3, 3], "SAME", [1, 1]),
    ("testConv2DKernelSizeMatchesInputSize", [1, 2, 2, 1], [2, 2, 1, 2], [1, 1], "VALID", [1, 1]),
    ("testConv2DKernelSizeMatchesInputSizeDilation", [1, 3, 3, 1], [2, 2, 1, 2], [1, 1], "VALID", [2, 2]),
    ("testConv2D0x0Padding", [1, 2, 3, 3], [2, 2, 3, 3], [1, 1], [[0, 0], [0, 0]], [1, 1]),
    ("testConv2D0x0Padding", [3, 4, 3, 2], [1, 1, 2, 1], [2, 2], [[0, 0], [0, 0]], [1, 1]),
    ("testConv2D1x1Padding", [1, 2, 3, 2], [2, 2, 2, 2], [1, 1], [[1, 1], [1, 1]], [1, 1]),
    ("testConv2D1x1Padding", [1, 2, 2, 1], [1, 1, 1, 2], [1, 1], [[1, 1], [1, 1]], [1, 1]),
    ("testConv2D2x2Padding", [1, 2, 1, 2], [2, 1, 2, 1], [1, 1], [[2, 2], [2, 2]], [1, 1]),
    ("testConv2D2x2Padding", [1, 2, 1, 2], [1, 1, 2, 1], [2, 1], [[2, 2], [2, 2]], [1, 1]),
    ("testConv2DOnlyBottomPadding", [1, 2, 3, 3], [2, 2, 3, 2], [1, 1], [[0, 3], [0, 0]], [1, 1]),
    ("testConv2DOnlyBottomPadding", [2, 2, 4, 3], [1, 2, 3, 2], [2, 2], [[0, 3], [0, 0]], [1, 1]),
    ("testConv2DOnlyTopRightPadding", [1, 2, 3, 3], [2, 2, 3, 2], [1, 1], [[1, 0], [0, 2]], [1, 1]),
    ("testConv2DOnlyTopRightPadding", [1, 2, 4, 2], [2, 2, 2, 2], [1, 3], [[1, 0], [0, 2]], [1, 1]),
    ("testConv2DLotsPadding", [1, 1, 1, 3], [2, 2, 3, 3], [1, 1], [[3, 4], [4, 2]], [1, 1]),
    ("testConv2DLotsPadding", [1, 2, 1, 1], [2, 2, 1, 3], [2, 1], [[3, 4], [4, 2]], [1, 1]),
    ("testConv2DExplicitPaddingWithDilations", [1, 3, 2, 1], [1, 2, 1, 2], [1, 1], [[1, 0], [0, 1]], [2, 1]),
    ("testConv2DExplicitPaddingWithDilations", [1, 2, 3, 2], [3, 2, 2, 1], [1, 1], [[2, 1], [1, 2]], [2, 3]),
    ("testConv2dOnlyPaddingReturnsZeros", [1, 0, 2, 1], [1, 1, 1, 1], [1, 1], [[1, 1], [1, 1]], [1, 1]),
    *[("testConv2DGroupConvFwd", [10, 32, 32, 16], f, [s, s], "SAME", [d, d])
      for d in (1, 2) for s in (1, 2) for f in ([3, 3, 4, 8], [1, 1, 2, 16])],
    ("testInputGradientGroupConv", [2, 5, 4, 4], [3, 3, 2, 6], [1, 1], "VALID", [1, 1]),
    # backprop tests: the gradient of the forward call with these shapes
    ("testConv2D2x2Depth1ValidBackpropInput", [1, 2, 3, 1], [2, 2, 1, 1], [1, 1], "VALID", [1, 1]),
    ("testConv2DEmptyBackpropInput", [0, 2, 3, 1], [2, 2, 1, 1], [1, 1], "VALID", [1, 1]),
    ("testConv2D2x2Depth3ValidBackpropInput", [1, 2, 3, 3], [2, 2, 3, 3], [1, 1], "VALID", [1, 1]),
    ("testConv2D2x2Depth3ValidBackpropInputStride1x2", [1, 3, 6, 1], [2, 2, 1, 1], [1, 2], "VALID", [1, 1]),
    ("testConv2DStrideTwoFilterOneSameBackpropInput", [1, 4, 4, 1], [1, 1, 1, 1], [2, 2], "SAME", [1, 1]),
    ("testConv2DKernelSizeMatchesInputSizeBackpropInput", [1, 2, 2, 1], [2, 2, 1, 2], [1, 1], "VALID", [1, 1]),
    ("testConv2DBackpropInputDegenerateBackpropInput", [3, 1, 1, 2], [1, 3, 2, 3], [1, 2], "VALID", [1, 1]),
    ("testConv2DEmptyBackpropFilter", [1, 2, 3, 1], [2, 2, 1, 0], [1, 1], "VALID", [1, 1]),
    ("testConv2DBackpropFilterWithEmptyInput", [0, 2, 3, 1], [2, 2, 1, 1], [1, 1], "VALID", [1, 1]),
    ("testConv2D2x2Depth3ValidBackpropFilterStride1x1Dilation2x1", [1, 3, 6, 1], [2, 2, 1, 1], [1, 1], "VALID",
     [2, 1]),
    ("testConv2D2x2Depth1ValidBackpropFilterDilation1x2", [1, 2, 3, 1], [2, 2, 1, 1], [1, 1], "VALID", [1, 2]),
    ("testConv2D2x2Depth3ValidBackpropFilterDilation2x2", [1, 3, 4, 3], [2, 2, 3, 3], [1, 1], "VALID", [2, 2]),
    ("testConv2D2x2Depth3ValidBackpropInputDilation2x1", [1, 3, 2, 3], [2, 2, 3, 3], [1, 1], "VALID", [2, 1]),
    ("testConv2D2x2Depth1Padding0x0BackpropInput", [1, 3, 4, 2], [2, 2, 2, 3], [2, 2], [[0, 0], [0, 0]], [1, 1]),
    ("testConv2D2x2Depth1Padding1x1BackpropInput", [1, 2, 3, 1], [2, 2, 1, 2], [1, 1], [[1, 1], [1, 1]], [1, 1]),
    ("testConv2D2x2Depth1Padding1x1BackpropInput", [1, 2, 3, 2], [1, 1, 2, 1], [1, 2], [[1, 1], [1, 1]], [1, 1]),
    ("testConv2D2x2Depth1Padding1x1BackpropInput", [1, 4, 3, 1], [2, 2, 1, 1], [1, 2], [[1, 1], [1, 1]], [2, 2]),
    ("testConv2D2x2Depth1Padding2x2BackpropInput", [2, 3, 1, 1], [2, 1, 1, 1], [3, 1], [[2, 2], [2, 2]], [1, 1]),
    ("testConv2D2x2Depth1Padding2x2BackpropInput", [1, 3, 6, 1], [3, 2, 1, 1], [1, 2], [[2, 2], [2, 2]], [2, 3]),
    ("testConv2D2x2Depth1Padding_1_8_4_1_BackpropInput", [1, 2, 3, 1], [2, 2, 1, 1], [1, 1], [[1, 8], [4, 2]],
     [1, 1]),
    ("testConv2D2x2Depth1Padding_1_8_4_1_BackpropInput", [1, 5, 3, 1], [3, 2, 1, 1], [3, 1], [[1, 8], [4, 2]],
     [1, 1]),
    ("testConv2D2x2Depth1Padding_5_0_2_2_BackpropInput", [1, 3, 3, 1], [2, 1, 1, 1], [1, 1], [[5, 0], [2, 2]],
     [1, 1]),
    ("testConv2D2x2Depth1Padding_5_0_2_2_BackpropInput", [1, 4, 2, 1], [3, 3, 1, 1], [1, 2], [[5, 0], [2, 2]],
     [2, 1]),
    # ConstructAndTestGradient: batch, rows x cols, filter, in_depth -> out_depth (testInput/testFilter pairs)
    *[(f"test{kind}Gradient{name}", [b, r, c, i], [fr, fc, i, o], s, p, [1, 1])
      for kind in ("Input", "Filter")
      for name, b, r, c, fr, fc, i, o, s, p in [
          ("ValidPaddingStrideOne", 2, 5, 4, 3, 3, 2, 3, [1, 1], "VALID"),
          ("ValidPaddingStrideTwo", 2, 4, 5, 3, 3, 2, 3, [2, 2], "VALID"),
          ("ValidPaddingStrideThree", 2, 7, 6, 3, 3, 4, 5, [3, 3], "VALID"),
          ("SamePaddingStrideOne", 2, 7, 6, 3, 3, 2, 3, [1, 1], "SAME"),
          ("SamePaddingStrideTwo", 2, 5, 4, 3, 3, 3, 3, [2, 2], "SAME"),
          ("SamePaddingStrideThree", 2, 7, 6, 3, 3, 4, 5, [3, 3], "SAME"),
          ("KernelSizeMatchesInputSize", 2, 4, 3, 4, 3, 2, 3, [1, 1], "VALID"),
          ("1x1PaddingStrideOne", 2, 5, 4, 3, 3, 2, 3, [1, 1], [[1, 1], [1, 1]]),
          ("1x1PaddingStrideTwo", 2, 4, 5, 3, 3, 2, 3, [2, 2], [[1, 1], [1, 1]]),
          ("2x2PaddingStrideOne", 2, 5, 4, 3, 3, 2, 3, [1, 1], [[2, 2], [2, 2]]),
          ("1_2_3_4PaddingStride3x2", 2, 8, 5, 4, 2, 3, 2, [3, 2], [[1, 2], [3, 4]]),
          ("4_3_2_1PaddingStride2x1", 3, 5, 7, 3, 2, 1, 2, [2, 1], [[4, 3], [2, 1]]),
          ("0_0_0_5PaddingStride1x2", 2, 6, 7, 3, 4, 3, 2, [1, 2], [[0, 0], [0, 5]]),
      ]],
    ("testFilterGradientValidPaddingStrideOne", [4, 6, 5, 2], [2, 2, 2, 3], [1, 1], "VALID", [1, 1]),
    ("testFilterGradientValidPaddingStrideThree", [2, 8, 7, 2], [4, 4, 2, 3], [3, 3], "VALID", [1, 1]),
    ("testFilterGradientSamePaddingStride2x1", [2, 8, 7, 2], [4, 4, 2, 3], [2, 1], "SAME", [1, 1]),
    # DeepConv2DTest._RunTestCases, at stride 1, VALID and SAME
    *[(f"testConv2D3x3FilterStride1x1{p.title()}", i, f, [1, 1], p, [1, 1]) for p in ("VALID", "SAME")
      for i, f in [([5, 5, 5, 1248], [3, 3, 1248, 128]), ([3, 17, 17, 192], [3, 3, 192, 192]),
                   ([2, 35, 35, 288], [3, 3, 288, 384]), ([2, 6, 8, 517], [3, 3, 517, 64]),
                   ([2, 7, 4, 81], [3, 3, 81, 77]), ([3, 11, 3, 77], [3, 3, 77, 181])]],
]

# GetShrunkInceptionShapes (shrink=10): testInceptionFwd_N (and the BackInput / BackFilter tests of
# the same shapes; testInceptionFwdDilatedConv_N at stride 1 with dilation 2).
_INCEPTION_INPUTS = [
    [4, 5, 5, 1248], [4, 8, 8, 384], [4, 8, 8, 384], [4, 8, 8, 2048], [4, 8, 8, 448], [4, 8, 8, 2048],
    [4, 8, 8, 2048], [4, 8, 8, 2048], [4, 8, 8, 1760], [4, 8, 8, 1760], [4, 8, 8, 1760], [4, 8, 8, 1760],
    [4, 17, 17, 192], [4, 17, 17, 192], [4, 17, 17, 1248], [4, 17, 17, 128], [4, 17, 17, 1248], [4, 17, 17, 224],
    [4, 17, 17, 192], [4, 17, 17, 192], [4, 17, 17, 1216], [4, 17, 17, 1216], [4, 17, 17, 224], [4, 17, 17, 192],
    [4, 17, 17, 192], [4, 17, 17, 1152], [4, 17, 17, 1152], [4, 17, 17, 192], [4, 17, 17, 160], [4, 17, 17, 1152],
    [4, 17, 17, 1024], [4, 17, 17, 128], [4, 17, 17, 1024], [4, 17, 17, 128], [4, 17, 17, 1024], [4, 17, 17, 128],
    [4, 17, 17, 768], [4, 17, 17, 128], [4, 17, 17, 128], [4, 17, 17, 768], [4, 17, 17, 768], [4, 35, 35, 96],
    [4, 35, 35, 288], [4, 35, 35, 64], [4, 35, 35, 288], [4, 35, 35, 256], [4, 35, 35, 48], [4, 35, 35, 256],
    [4, 35, 35, 96], [4, 35, 35, 192], [4, 35, 35, 192], [4, 35, 35, 192], [4, 73, 73, 64], [4, 73, 73, 64],
    [4, 147, 147, 24]]
_INCEPTION_FILTERS = [
    [1, 1, 1248, 128], [1, 3, 384, 384], [3, 1, 384, 384], [1, 1, 2048, 192], [3, 3, 448, 384], [1, 1, 2048, 320],
    [1, 1, 2048, 448], [1, 1, 2048, 384], [1, 1, 1760, 384], [1, 1, 1760, 192], [1, 1, 1760, 448], [1, 1, 1760, 320],
    [3, 3, 192, 192], [3, 3, 192, 192], [1, 1, 1248, 192], [3, 3, 128, 320], [1, 1, 1248, 128], [1, 3, 224, 224],
    [3, 1, 192, 256], [1, 3, 192, 256], [1, 1, 1216, 192], [1, 1, 1216, 96], [3, 1, 224, 224], [3, 3, 192, 224],
    [1, 3, 192, 192], [1, 1, 1152, 192], [1, 1, 1152, 128], [3, 1, 192, 192], [3, 3, 160, 192], [1, 1, 1152, 160],
    [1, 1, 1024, 128], [1, 3, 128, 192], [1, 1, 1024, 160], [3, 1, 128, 192], [1, 1, 1024, 256], [3, 1, 128, 128],
    [1, 1, 768, 192], [1, 3, 128, 128], [3, 3, 128, 128], [1, 1, 768, 128], [1, 1, 768, 320], [3, 3, 96, 96],
    [3, 3, 288, 384], [3, 3, 64, 96], [1, 1, 288, 64], [1, 1, 256, 64], [5, 5, 48, 64], [1, 1, 256, 48],
    [3, 3, 96, 96], [1, 1, 192, 32], [1, 1, 192, 64], [1, 1, 192, 48], [3, 3, 64, 192], [1, 1, 64, 64],
    [1, 1, 24, 64]]
_INCEPTION_STRIDES = [1] * 12 + [2, 1, 1, 2] + [1] * 25 + [2, 2] + [1] * 12
_INCEPTION_PADDINGS = (["SAME"] * 12 + ["VALID", "SAME", "SAME", "VALID"] + ["SAME"] * 25 + ["VALID", "VALID"]
                       + ["SAME"] * 9 + ["VALID"] * 3)

# conv_ops_3d_test.py: (test, NDHWC input sizes, DHWIO filter sizes, strides, padding, dilations)
_TF_CONV3D = [
    ("testConv3D1x1x1Filter", [1, 2, 3, 1, 3], [1, 1, 1, 3, 3], 1, "VALID", 1),
    ("testConv3D1x1x1Filter", [1, 2, 1, 3, 3], [1, 1, 1, 3, 3], 1, "VALID", 1),
    ("testConv3D1x1x1Filter", [1, 1, 2, 3, 3], [1, 1, 1, 3, 3], 1, "VALID", 1),
    ("testConv3D1x1x1Filter2x1x1Dilation", [1, 3, 6, 1, 1], [1, 1, 1, 1, 1], 1, "VALID", [2, 1, 1]),
    ("testConv3D2x2x2Filter", [1, 4, 2, 3, 3], [2, 2, 2, 3, 3], 1, "VALID", 1),
    ("testConv3D2x2x2Filter1x2x1Dilation", [1, 4, 6, 3, 1], [2, 2, 2, 1, 1], 1, "VALID", [1, 2, 1]),
    ("testConv3DStrides", [1, 5, 8, 7, 1], [1, 2, 3, 1, 1], [2, 3, 1], "SAME", 1),
    ("testConv3D2x2x2FilterStride2", [1, 4, 2, 3, 3], [2, 2, 2, 3, 3], 2, "VALID", 1),
    ("testConv3DStride3", [1, 6, 7, 8, 2], [3, 2, 1, 2, 3], 3, "VALID", 1),
    ("testConv3D2x2x2FilterStride2Same", [1, 4, 2, 3, 3], [2, 2, 2, 3, 3], 2, "SAME", 1),
    ("testKernelSmallerThanStride", [1, 3, 3, 3, 1], [1, 1, 1, 1, 1], 2, "SAME", 1),
    ("testKernelSmallerThanStride", [1, 3, 3, 3, 1], [1, 1, 1, 1, 1], 2, "VALID", 1),
    ("testKernelSmallerThanStride", [1, 7, 7, 7, 1], [2, 2, 2, 1, 1], 3, "SAME", 1),
    ("testKernelSmallerThanStride", [1, 7, 7, 7, 1], [2, 2, 2, 1, 1], 3, "VALID", 1),
    ("testKernelSizeMatchesInputSize", [1, 2, 1, 2, 1], [2, 1, 2, 1, 2], 1, "VALID", 1),
    ("testConv3DEmptyTensorOutputShape", [0, 112, 112, 112, 32], [3, 3, 3, 32, 64], 1, "SAME", 1),
    ("testConv3D2x2Depth3ValidBackpropFilterStride1x1Dilation2x1", [1, 3, 6, 1, 1], [2, 2, 1, 1, 1], 1, "VALID",
     [2, 1, 1]),
    # ConstructAndTestGradient: batch, input (d, h, w), filter (d, h, w), in_depth, out_depth
    *[(f"test{kind}Gradient{name}", [b, *size, i], [*f, i, o], s, p, 1)
      for kind, name, b, size, f, i, o, s, p in [
          ("Input", "ValidPaddingStrideOne", 2, (3, 5, 4), (3, 3, 3), 2, 3, 1, "VALID"),
          ("Filter", "ValidPaddingStrideOne", 4, (4, 6, 5), (2, 2, 2), 2, 3, 1, "VALID"),
          ("Input", "ValidPaddingStrideTwo", 2, (6, 3, 5), (3, 3, 3), 2, 3, 2, "VALID"),
          ("Filter", "ValidPaddingStrideTwo", 2, (7, 6, 5), (2, 2, 2), 2, 3, 2, "VALID"),
          ("Input", "ValidPaddingStrideThree", 2, (3, 7, 6), (3, 3, 3), 2, 3, 3, "VALID"),
          ("Filter", "ValidPaddingStrideThree", 2, (4, 4, 7), (4, 4, 4), 2, 3, 3, "VALID"),
          ("Input", "SamePaddingStrideOne", 2, (3, 2, 2), (3, 2, 1), 2, 1, 1, "SAME"),
          ("Filter", "SamePaddingStrideOne", 2, (3, 6, 5), (2, 2, 2), 2, 3, 1, "SAME"),
          ("Input", "SamePaddingStrideTwo", 2, (6, 3, 4), (3, 3, 3), 2, 3, 2, "SAME"),
          ("Filter", "SamePaddingStrideTwo", 4, (7, 3, 5), (2, 2, 2), 2, 3, 2, "SAME"),
          ("Input", "SamePaddingStrideThree", 2, (9, 3, 6), (3, 3, 3), 2, 3, 3, "SAME"),
          ("Filter", "SamePaddingStrideThree", 2, (9, 4, 7), (4, 4, 4), 2, 3, 3, "SAME"),
          ("Input", "SamePaddingDifferentStrides", 1, (5, 8, 7), (1, 2, 3), 2, 3, [2, 3, 1], "SAME"),
          ("Filter", "KernelSizeMatchesInputSize", 2, (5, 4, 3), (5, 4, 3), 2, 3, 1, "VALID"),
          ("Input", "KernelSizeMatchesInputSize", 2, (5, 4, 3), (5, 4, 3), 2, 3, 1, "VALID"),
          ("Input", "ValidPaddingStrideOneFastPath", 2, (3, 5, 4), (2, 2, 2), 8, 2, 1, "VALID"),
          ("Filter", "ValidPaddingStrideOneFastPath", 2, (4, 6, 5), (2, 2, 2), 8, 2, 1, "VALID"),
      ]],
]


def _tf_config(input_sizes, filter_sizes, strides, padding, dilations) -> ConvConfig:
    ndim = len(input_sizes) - 2
    strides = [strides] * ndim if isinstance(strides, int) else list(strides)
    dilations = [dilations] * ndim if isinstance(dilations, int) else list(dilations)
    batch, *spatial, in_depth = input_sizes
    *kernel, filter_depth, out_depth = filter_sizes
    if filter_depth < 1 or in_depth % filter_depth:
        raise Inexpressible(f"filter depth {filter_depth} does not divide input depth {in_depth}")
    pads = padding.lower() if isinstance(padding, str) else padding
    return _ordinary(batch=batch, in_channels=in_depth, out_channels=out_depth, groups=in_depth // filter_depth,
                     in_size=spatial, kernel=kernel, stride=strides, dilation=dilations, pads=pads)


def tensorflow_cases():
    conv2d = dict(repo="tensorflow/tensorflow", file="tensorflow/python/kernel_tests/nn_ops/conv_ops_test.py",
                  commit=TF_CONV_COMMIT)
    conv3d = dict(conv2d, file="tensorflow/python/kernel_tests/nn_ops/conv_ops_3d_test.py", commit=TF_CONV3D_COMMIT)
    for where, table in ((conv2d, _TF_CONV2D), (conv3d, _TF_CONV3D)):
        for test, inputs, filters, strides, padding, dilations in table:
            yield "tensorflow", dict(where, test=test), lambda i=inputs, f=filters, s=strides, p=padding, \
                d=dilations: _tf_config(i, f, s, p, d)
    shrink = 10
    for index, (inputs, filters, stride, padding) in enumerate(zip(_INCEPTION_INPUTS, _INCEPTION_FILTERS,
                                                                   _INCEPTION_STRIDES, _INCEPTION_PADDINGS)):
        inputs = [*inputs[:3], inputs[3] // shrink]
        filters = [*filters[:2], filters[2] // shrink, filters[3] // shrink]
        yield "tensorflow", dict(conv2d, test=f"testInceptionFwd_{index}"), lambda i=inputs, f=filters, s=stride, \
            p=padding: _tf_config(i, f, [s, s], p, [1, 1])
        if stride == 1:
            yield "tensorflow", dict(conv2d, test=f"testInceptionFwdDilatedConv_{index}"), lambda i=inputs, \
                f=filters, p=padding: _tf_config(i, f, [1, 1], p, [2, 2])


# ---- the corpus --------------------------------------------------------------------------------------

def build() -> dict:
    cases, seen, inexpressible, sources = [], set(), {}, {}
    for peer_cases in (torch_cases, jax_cases, tensorflow_cases):
        for peer, where, make in peer_cases():
            try:
                config = make()
            except (Inexpressible, InvalidConfig) as err:
                key = (peer, where["file"], where["test"], str(err))
                inexpressible[key] = inexpressible.get(key, 0) + 1
                continue
            source = where["file"].rsplit("/", 1)[-1]
            sources[source] = {k: where[k] for k in ("repo", "file", "commit")}
            record = {"peer": peer, "source": source, "test": where["test"], "config": _compact(config)}
            key = json.dumps([peer, record["config"]], sort_keys=True)
            if key not in seen:  # the same call twice (dtypes, layouts, two tests of one peer) counts once
                seen.add(key)
                cases.append(record)
    return {
        "about": "Convolution calls of the peers' own tests in ConvConfig's conventions (x (N, C_in, *spatial), "
                 "w (C_out, C_in/groups, *k), padding (lo, hi) pairs); built by scripts/peer_cases.py, which "
                 "names the source of each group.",
        "sources": sources,
        "cases": cases,
        "inexpressible": [{"peer": p, "file": f, "test": t, "reason": r, "count": n}
                          for (p, f, t, r), n in sorted(inexpressible.items())],
    }


def render(corpus: dict) -> str:
    """One case per line, so that a diff of the file shows which cases changed."""
    lines = ["{", f'"about": {json.dumps(corpus["about"])},', f'"sources": {json.dumps(corpus["sources"], indent=1)},',
             '"cases": [']
    lines += [json.dumps(c, sort_keys=True) + ("," if n < len(corpus["cases"]) - 1 else "")
              for n, c in enumerate(corpus["cases"])]
    lines += ["],", '"inexpressible": [']
    lines += [json.dumps(c, sort_keys=True) + ("," if n < len(corpus["inexpressible"]) - 1 else "")
              for n, c in enumerate(corpus["inexpressible"])]
    lines += ["]", "}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the checked-in corpus instead of writing")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        same = CORPUS.exists() and CORPUS.read_text() == text
        print(f"{CORPUS}: {'up to date' if same else 'differs from a rebuild'}")
        return 0 if same else 1
    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    CORPUS.write_text(text)
    corpus = json.loads(text)
    counts = {}
    for case in corpus["cases"]:
        counts[case["peer"]] = counts.get(case["peer"], 0) + 1
    skipped = {}
    for entry in corpus["inexpressible"]:
        skipped[entry["peer"]] = skipped.get(entry["peer"], 0) + entry["count"]
    print(f"wrote {CORPUS}: {len(corpus['cases'])} cases {counts}; inexpressible {skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
