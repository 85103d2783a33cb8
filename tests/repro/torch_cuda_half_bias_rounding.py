"""torch on CUDA, float16: conv + bias is rounded twice, and the transposed weight gradient rounds across the batch.

Standalone (torch only). Known divergences KD-004 and KD-005 of conv-conformance.
    python tests/repro/torch_cuda_half_bias_rounding.py     # exit 1 while either divergence is present

With one float32 accumulation and one final rounding (what torch does on CPU for the forward, and
JAX on both devices), each result is within 0.5 ulp of the exact value (+ a float32 rounding).
"""

import sys

import torch
import torch.nn.functional as F

if not torch.cuda.is_available():
    print("needs a CUDA GPU")
    sys.exit(2)

torch.manual_seed(0)
found = False


def ulps(got, exact):
    """|got - exact| in units of the float16 spacing at exact."""
    spacing = (exact.half().float().abs().clamp_min(2.0**-14) * 2.0**-10).double()
    return ((got.double() - exact).abs() / spacing).max().item()


# 1. conv1d + bias, one input channel, kernel 1: y = x * w + b, a single product plus the bias.
x = torch.randn(4096, 1, 2, dtype=torch.float64).half()
w = torch.randn(1, 1, 1, dtype=torch.float64).half()
b = torch.randn(1, dtype=torch.float64).half()
exact = x.double() * w.double().reshape(()) + b.double()
got = F.conv1d(x.cuda(), w.cuda(), b.cuda()).cpu()
error = ulps(got, exact)
print(f"conv1d float16 + bias on cuda: max error {error:.2f} ulp (one rounding: <= 0.5 ulp)")
found |= error > 0.55

# 2. conv_transpose1d weight gradient over a batch of 4096, kernel 1: grad_w = sum_n x_n * g_n.
x = torch.randn(4096, 1, 1, dtype=torch.float64).half().cuda().requires_grad_(False)
w = torch.randn(1, 1, 1, dtype=torch.float64).half().cuda().requires_grad_(True)
g = torch.randn(4096, 1, 1, dtype=torch.float64).half().cuda()
F.conv_transpose1d(x, w).backward(g)
exact = (x.double() * g.double()).sum()
error = ulps(w.grad.cpu().reshape(()), exact.cpu())
print(f"conv_transpose1d float16 weight gradient over N=4096 on cuda: error {error:.2f} ulp (one rounding: <= 0.5 ulp)")
found |= error > 0.55

sys.exit(1 if found else 0)
