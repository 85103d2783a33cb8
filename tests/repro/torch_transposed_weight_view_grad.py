"""KD-048: torch's CPU conv_transpose1d/2d backward raises "grad_weight needs to be contiguous" for a
valid call: an input with one channel whose strides are a channels-last view (contiguous only
because its channel dimension has size 1) and a weight that is a permuted view. Keras 3 on the torch
backend builds exactly that call for every Conv1DTranspose/Conv2DTranspose layer on a one-channel
channels_last input (it permutes its (*k, C_out, C_in) kernel to (C_in, C_out, *k) and the NWC input
to NCW), so such a layer cannot be trained on CPU. The same call with the weight copied contiguous,
or the input copied, is differentiated. torch 2.13.0+cpu.

    python tests/repro/torch_transposed_weight_view_grad.py    # exit 1: reproduced

Found by conv-conformance (keras.torch, conv_transpose1d(N=1, C=1->2, in=2, k=2, float64), check
gradient). Uses only torch.
"""

import sys

import torch
import torch.nn.functional as F

failed = []
for ndim in (1, 2):
    for dtype in (torch.float64, torch.float32):
        for name, copy_weight in (("weight view (Keras's call)", False), ("the same weight copied contiguous", True)):
            torch.manual_seed(0)
            x_last = torch.randn(1, *[2] * ndim, 1, dtype=dtype)             # N, *spatial, C_in = 1
            x = x_last.permute(0, ndim + 1, *range(1, ndim + 1)).requires_grad_(True)  # N, C_in, *spatial
            kernel = torch.randn(*[2] * ndim, 2, 1, dtype=dtype, requires_grad=True)  # *k, C_out, C_in
            w = kernel.permute(ndim + 1, ndim, *range(ndim))                 # C_in, C_out, *k: a view
            if copy_weight:
                w = w.contiguous()
            y = getattr(F, f"conv_transpose{ndim}d")(x, w)
            try:
                torch.autograd.grad(y, [x, kernel], torch.ones_like(y))
                outcome = "differentiated"
            except RuntimeError as err:
                outcome = f"RuntimeError: {err}"
                if not copy_weight:
                    failed.append((ndim, dtype))
            print(f"conv_transpose{ndim}d {str(dtype):14s} x strides {x.stride()}, {name:34s} -> {outcome}")
print(f"torch {torch.__version__}")
sys.exit(1 if failed else 0)
