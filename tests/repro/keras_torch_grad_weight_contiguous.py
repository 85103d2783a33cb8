"""KD-037: torch's CPU conv2d backward raises "slow_conv2d: grad_weight must be contiguous" for a
valid call: a channels_last input and a weight that is a permuted view, channels_last only because
its output-channel dimension has size 1 (strides (1, 1, 4, 2) for shape (1, 2, 1, 2)). Keras 3 on
the torch backend builds exactly that call for every Conv2D layer with one filter (it permutes its
HWIO kernel to OIHW and converts to channels_last only when the view is not channels_last already),
so `keras.layers.Conv2D(1, (1, 2))` cannot be trained on CPU. torch 2.13.0+cpu, keras 3.15.1.

    python tests/repro/keras_torch_grad_weight_contiguous.py    # exit 1: reproduced

Found by conv-conformance (keras.torch, conv2d(N=1, C=2->1, in=1x2, k=1x2, float64), check gradient).
Uses only torch and numpy (the Keras part runs when keras is installed).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch
import torch.nn.functional as F

results = {}
for name, copy_weight in (("weight view (Keras's call)", False), ("the same weight copied contiguous", True)):
    x_nhwc = torch.randn(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)  # N, H, W, C
    k_hwio = torch.randn(1, 2, 2, 1, dtype=torch.float64, requires_grad=True)  # kh, kw, C_in, C_out=1
    x = x_nhwc.permute(0, 3, 1, 2).contiguous().contiguous(memory_format=torch.channels_last)
    w = k_hwio.permute(3, 2, 0, 1)  # (1, 2, 1, 2), strides (1, 1, 4, 2): channels_last by size-1 dims
    if copy_weight:
        w = w.contiguous()
    try:
        y = F.conv2d(x, w)
        grads = torch.autograd.grad(y, [x_nhwc, k_hwio], torch.ones_like(y))
        results[name] = f"grad_weight {grads[1].flatten().tolist()}"
    except RuntimeError as err:
        results[name] = f"raised: {str(err).splitlines()[0]}"
    print(f"torch {torch.__version__}, {name}: w strides {w.stride()}, "
          f"channels_last {w.is_contiguous(memory_format=torch.channels_last)} -> {results[name]}")

try:
    import keras

    x = torch.randn(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    layer = keras.layers.Conv2D(1, (1, 2), use_bias=False, dtype="float64")
    y = layer(x)
    try:
        torch.autograd.grad(y, [x, layer.kernel.value], torch.ones_like(y))
        print(f"keras {keras.__version__} Conv2D(1, (1, 2)) backward: ok")
    except RuntimeError as err:
        print(f"keras {keras.__version__} Conv2D(1, (1, 2)) backward: raised: {str(err).splitlines()[0]}")
except ImportError:
    print("keras not installed: the torch-only part above is the reproducer")

reproduces = results["weight view (Keras's call)"].startswith("raised") and \
    not results["the same weight copied contiguous"].startswith("raised")
print("REPRODUCES: a valid call's backward raised" if reproduces else "does not reproduce")
sys.exit(1 if reproduces else 0)
