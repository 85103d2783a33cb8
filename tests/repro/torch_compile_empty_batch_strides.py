"""torch.compile (Inductor, CPU, torch 2.13) fails on the training graph of a 2-d convolution or
conv_transpose with an empty batch (N = 0) that eager computes fine: the compiled graph's stride
assertion on the weight gradient disagrees with the CPU kernel's.

    python tests/repro/torch_compile_empty_batch_strides.py

Seen: AssertionError: expected size 2==2, stride 1==2 at dim=1; expected size 2==2, stride 2==1 at dim=3
      Error in op: torch.ops.aten.convolution_backward.default
Measured (2026-12-03, batch 0, in 3^ndim, kernel 1 or 2, C_in 1-2, C_out 1-3, with and without bias,
96 calls): 8 fail, all 2-d with a 2x2 kernel and a weight whose second dimension is 2 or more
(conv2d C_in = 2, conv_transpose2d C_out = 3); every 1-d and 3-d call and every 1x1 kernel passes.
Found by the conformance suite (torch.compile, test_determinism[conv_transpose2d], minimal
conv_transpose2d(N=0, C=2->2, in=1x1, k=1x2, no bias, float64)).
"""

import torch
import torch.nn.functional as F


def conv(x, w):
    return F.conv2d(x, w)


x = torch.zeros(0, 2, 3, 3, dtype=torch.float64, requires_grad=True)
w = torch.randn(1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
y = conv(x, w)
print("eager grad:", [tuple(g.shape) for g in torch.autograd.grad(y, [x, w], torch.ones_like(y))])
try:
    y = torch.compile(conv, fullgraph=True)(x, w)
    print("compiled grad:", [tuple(g.shape) for g in torch.autograd.grad(y, [x, w], torch.ones_like(y))])
except AssertionError as err:
    print("compiled grad: AssertionError:", str(err).splitlines()[0])
    raise SystemExit(1) from None
raise SystemExit(0)
