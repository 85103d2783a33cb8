"""KD-035: torch CPU bfloat16 convolution gradients round partial sums to bfloat16 on a CPU without
AVX-512, where oneDNN refuses bfloat16 and torch's default path is ATen's slow_conv2d / slow_conv3d /
slow_conv_dilated (the kernels KD-033 measures with oneDNN switched off). torch 2.13.0+cpu.

- grad_input: col2im adds each tap's product, already rounded to bfloat16, into a bfloat16 buffer;
- grad_weight (and grad_bias on the dilated kernel): each sample's float32 sum is added into a
  bfloat16 result, sample by sample.
Expected (torch's own bfloat16 forward, oneDNN on AVX-512 CPUs, JAX): float32 sums, one rounding.

    python tests/repro/torch_bf16_slow_conv_gradients.py    # exit 1: reproduced; 0: float32 accumulation

Found by conv-conformance (torch, torch.nn, torch.compile; grad_input, grad_weight, grad_bias,
double_vjp_input). Uses only torch and numpy.
"""

import sys

import numpy as np
import torch
import torch.nn.functional as F

bf16 = torch.bfloat16


def rounded(values):
    """float64 values rounded once to bfloat16 (through float32, exact for these products), as float64."""
    return torch.as_tensor(values, dtype=torch.float64).float().to(bf16).double()


print(f"torch {torch.__version__}; oneDNN takes bfloat16 on this CPU: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}")
try:  # a private helper: which kernel F.conv1d chooses for a bfloat16 call
    probe = torch.zeros(1, 1, 3, dtype=bf16), torch.zeros(1, 1, 2, dtype=bf16)
    print("backend chosen:", torch._C._select_conv_backend(*probe, None, [1], [0], [1], False, [0], 1, None))
except Exception as err:  # noqa: BLE001 (informational only)
    print(f"backend chosen: unknown ({type(err).__name__})")

# 1. conv1d(N=1, C=1->1, in=3, k=2) grad_input[1] = g0 w1 + g1 w0, two products.
x = torch.tensor([[[0.12597656, -0.13183594, 0.640625]]], dtype=bf16, requires_grad=True)
w = torch.tensor([[[0.10498047, -0.53515625]]], dtype=bf16, requires_grad=True)
g = torch.tensor([[[0.36132812, 1.3046875]]], dtype=bf16)
grad_x = torch.autograd.grad(F.conv1d(x, w), x, g)[0].double()[0, 0, 1].item()
g0, g1 = g.double()[0, 0].tolist()
w0, w1 = w.detach().double()[0, 0].tolist()
exact = g0 * w1 + g1 * w0
one_rounding = rounded(exact).item()
products_rounded = rounded(rounded(g0 * w1) + rounded(g1 * w0)).item()
print(f"conv1d grad_input[1]: torch {grad_x:.7g}; exact {exact:.7g}; float32 sum, one rounding {one_rounding:.7g}; "
      f"products and sum rounded to bfloat16 {products_rounded:.7g}")
input_reproduces = grad_x == products_rounded != one_rounding

# 2. conv1d(N=4, C=1->3, k=1, dilation=2, bias) grad_bias: a sum over the batch of 4 samples. dilation > 1
#    takes slow_conv_dilated2d, which adds each sample's bias gradient into the bfloat16 result
#    (slow_conv2d, dilation 1, sums the bias gradient in float32).
grad_out = torch.tensor([[-0.625, 0.04125977, -2.328125], [-0.21875, -1.2421875, -0.73046875],
                         [-0.54296875, -0.31640625, 0.41210938], [1.0390625, -0.12890625, 1.3671875]],
                        dtype=bf16)[..., None]
xb = torch.ones(4, 1, 1, dtype=bf16, requires_grad=True)
wb = torch.ones(3, 1, 1, dtype=bf16, requires_grad=True)
bb = torch.zeros(3, dtype=bf16, requires_grad=True)
grad_b = torch.autograd.grad(F.conv1d(xb, wb, bb, dilation=2), bb, grad_out)[0].double()
sequential = torch.zeros(3, dtype=torch.float64)
for sample in grad_out.double()[..., 0]:
    sequential = rounded(sequential + sample)
print(f"conv1d(dilation=2) grad_bias over N=4: torch {grad_b.tolist()}; exact {grad_out.double().sum((0, 2)).tolist()}; "
      f"one rounding {rounded(grad_out.double().sum((0, 2))).tolist()}; sample by sample in bfloat16 "
      f"{sequential.tolist()}")
bias_reproduces = torch.equal(grad_b, sequential) and not torch.equal(grad_b, rounded(grad_out.double().sum((0, 2))))

# 3. a larger conv2d: errors in units of u * sum |terms| (u = 2^-8), torch against float32-then-round.
rng = np.random.default_rng(0)
x = torch.tensor(rng.standard_normal((4, 16, 12, 12)), dtype=bf16)
w = torch.tensor(rng.standard_normal((16, 16, 3, 3)), dtype=bf16)
g = torch.tensor(rng.standard_normal((4, 16, 10, 10)), dtype=bf16)
grads = {}
for name, dtype in (("torch bfloat16", bf16), ("float32 then round", torch.float32), ("float64", torch.float64)):
    xs, ws = x.to(dtype).requires_grad_(), w.to(dtype).requires_grad_()
    grads[name] = [t.to(bf16).double() for t in torch.autograd.grad(F.conv2d(xs, ws), (xs, ws), g.to(dtype))]
xa, wa = x.double().abs().requires_grad_(), w.double().abs().requires_grad_()
abs_sums = torch.autograd.grad(F.conv2d(xa, wa), (xa, wa), g.double().abs())
xd, wd = x.double().requires_grad_(), w.double().requires_grad_()
exact_grads = torch.autograd.grad(F.conv2d(xd, wd), (xd, wd), g.double())
for name in ("torch bfloat16", "float32 then round"):
    ratios = [float(((got - ex).abs() / (2.0**-8 * a)).max()) for got, ex, a in zip(grads[name], exact_grads, abs_sums)]
    print(f"conv2d(N=4, C=16->16, 12x12, k=3) {name:>18}: grad_input {ratios[0]:.3f}, grad_weight {ratios[1]:.3f} "
          f"(max |error| / (u sum |terms|))")
with torch.backends.mkldnn.flags(enabled=False):
    xs, ws = x.clone().requires_grad_(), w.clone().requires_grad_()
    aten = torch.autograd.grad(F.conv2d(xs, ws), (xs, ws), g)
same = all(torch.equal(a.double(), b) for a, b in zip(aten, grads["torch bfloat16"]))
print(f"the same bits with oneDNN switched off (ATen's kernels, KD-033): {same}")

reproduces = input_reproduces and bias_reproduces
print("REPRODUCES: partial sums rounded to bfloat16" if reproduces else
      "does not reproduce: float32 accumulation (oneDNN takes bfloat16 on this CPU?)")
sys.exit(1 if reproduces else 0)
