"""torch CPU: some float16/bfloat16 convolution paths round partial sums to the half format.

Expected (what cuDNN and oneDNN do, and what torch's own ordinary float16 forward does): products
exact in float32, sums accumulated in float32, one rounding of the result. Seen on torch 2.13.0+cpu:
- conv_transpose{1,2,3}d forward (float16; bfloat16 with few channels per group) and the weight gradients of
  conv_transpose (both formats) and conv (float16), plus conv's float16 input and bias gradients,
  are off by far more than half an ulp of the result when the sum cancels, consistent with
  accumulating in the half format.

Run: python tests/repro/torch_cpu_half_accumulation.py   (prints errors in units of half an ulp)
Uses only torch and numpy.
"""

import numpy as np
import torch

rng = np.random.default_rng(0)


def half_ulps(got, exact, dtype):
    """|got - exact| / (u * |exact|), u = unit roundoff of dtype: <= 1 means correctly rounded."""
    u = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}[dtype]
    return float(((got.double() - exact).abs() / (u * exact.abs()).clamp_min(1e-30)).max())


for dtype in (torch.float16, torch.bfloat16):
    # conv_transpose1d forward, stride 2: each output sums 64 channels x 2 taps.
    x = torch.tensor(rng.standard_normal((1, 64, 32)), dtype=dtype)
    w = torch.tensor(rng.standard_normal((64, 8, 4)), dtype=dtype)
    exact = torch.nn.functional.conv_transpose1d(x.double(), w.double(), stride=2)
    got = torch.nn.functional.conv_transpose1d(x, w, stride=2)
    from_f32 = torch.nn.functional.conv_transpose1d(x.float(), w.float(), stride=2).to(dtype)
    print(f"{dtype}: conv_transpose1d forward: torch {half_ulps(got, exact, dtype):9.1f}, "
          f"float32-then-round {half_ulps(from_f32, exact, dtype):5.2f} (x half-ulp of the exact result)")

    # conv1d weight gradient: a reduction over batch and positions.
    x = torch.tensor(rng.standard_normal((8, 16, 64)), dtype=dtype, requires_grad=True)
    w = torch.tensor(rng.standard_normal((16, 16, 3)), dtype=dtype, requires_grad=True)
    g = torch.tensor(rng.standard_normal((8, 16, 62)), dtype=dtype)
    torch.nn.functional.conv1d(x, w).backward(g)
    exact = torch.nn.grad.conv1d_weight(x.detach().double(), w.shape, g.double())
    from_f32 = torch.nn.grad.conv1d_weight(x.detach().float(), w.shape, g.float()).to(dtype)
    print(f"{dtype}: conv1d grad_weight:      torch {half_ulps(w.grad, exact, dtype):9.1f}, "
          f"float32-then-round {half_ulps(from_f32, exact, dtype):5.2f}")

# bfloat16 through the same path: small per-group channel counts, where the taps' sums cancel.
dtype = torch.bfloat16
worst = 0.0
for seed in range(10):
    r = np.random.default_rng(seed)
    x = torch.tensor(r.standard_normal((2, 2, 4, 3, 4)), dtype=dtype)
    w = torch.tensor(r.standard_normal((2, 3, 2, 3, 2)), dtype=dtype)
    kwargs = dict(groups=2, dilation=(3, 2, 2), output_padding=(1, 0, 0))
    exact = torch.nn.functional.conv_transpose3d(x.double(), w.double(), **kwargs)
    got = torch.nn.functional.conv_transpose3d(x, w, **kwargs)
    from_f32 = torch.nn.functional.conv_transpose3d(x.float(), w.float(), **kwargs).to(dtype)
    worst = max(worst, half_ulps(got, exact, dtype))
print(f"{dtype}: conv_transpose3d(C=2->6, groups=2, dilation=3x2x2) forward: torch {worst:9.1f}, "
      f"float32-then-round {half_ulps(from_f32, exact, dtype):5.2f} (last seed)")
