"""torch.compile (Inductor, CPU, torch 2.13) fails on the training graph of a grouped conv_transpose2d
whose eager result is fine: the compiled graph's stride assertion disagrees with the CPU kernel.

    python tests/repro/torch_compile_grouped_transpose_strides.py

Seen: AssertionError: expected size 2==2, stride 2==1 at dim=1; expected size 2==2, stride 1==2 at dim=3
      Error in op: torch.ops.aten.convolution.default (the fake/meta kernel's output strides are not
      the real kernel's). Under torch.no_grad the same call compiles and matches eager.
Found by the conformance suite (torch.compile, test_gradient[conv_transpose2d]):
conv_transpose2d(N=2, C=2->2, groups=2, in=1x1, k=1x1, stride=1x2, out_pad=0x1, no bias, float64).
"""

import torch
import torch.nn.functional as F


def conv(x, w):
    return F.conv_transpose2d(x, w, stride=(1, 2), output_padding=(0, 1), groups=2)


x = torch.randn(2, 2, 1, 1, dtype=torch.float64, requires_grad=True)
w = torch.randn(2, 1, 1, 1, dtype=torch.float64, requires_grad=True)
print("eager:", tuple(conv(x, w).shape))
with torch.no_grad():
    print("compiled, no_grad:", tuple(torch.compile(conv, fullgraph=True)(x, w).shape))
torch._dynamo.reset()
try:
    print("compiled, grad:", tuple(torch.compile(conv, fullgraph=True)(x, w).shape))
except AssertionError as err:
    print("compiled, grad: AssertionError:", str(err).splitlines()[0])
    raise SystemExit(1) from None
raise SystemExit(0)
