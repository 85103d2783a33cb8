"""torch: a convolution with zero input channels returns zero output channels (KD-017).

By the definition y[n, co, o] = b[co] + sum over an empty set = b[co], the output of
F.conv2d(x (N, 0, H, W), w (C_out, 0, kh, kw), b) has shape (N, C_out, H', W') and equals the
bias (zeros without one). torch 2.13 returns (N, 0, H', W') instead (Convolution.cpp sets the
output channels to 0 when the input has none), so the bias is lost and the backward of any use
of the output raises "Mismatch in shape". Exit status 1 when the divergence reproduces.

    python tests/repro/torch_zero_input_channels.py
"""

import sys

import torch
import torch.nn.functional as F

x = torch.zeros(1, 0, 5, 5, dtype=torch.float64, requires_grad=True)
w = torch.zeros(3, 0, 3, 3, dtype=torch.float64, requires_grad=True)
b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
y = F.conv2d(x, w, b)
print(f"torch {torch.__version__}: conv2d output shape {tuple(y.shape)}, expected (1, 3, 3, 3) holding the bias")
try:
    torch.autograd.grad(y, [x, w, b], torch.ones(1, 3, 3, 3, dtype=torch.float64))
    print("backward with grad_out of the expected shape: ok")
except RuntimeError as err:
    print(f"backward with grad_out of the expected shape raises: {str(err).splitlines()[0]}")
sys.exit(1 if tuple(y.shape) != (1, 3, 3, 3) else 0)
