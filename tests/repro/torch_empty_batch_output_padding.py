"""KD-012: torch.nn.functional.conv_transpose1d accepts output_padding >= max(stride, dilation) when the
batch is empty, and returns a tensor; the same call with one sample raises. torch 2.13.0 CPU.

    python tests/repro/torch_empty_batch_output_padding.py    # exit 1: reproduced

Found by conv-conformance's test_invalid[conv_transpose1d-torch-cpu] (rule: output_padding <
max(stride, dilation)); the same on torch.nn, torch.compile and torch.onednn_off (2026-12-02).
"""

import sys

import torch
import torch.nn.functional as F

results = {}
for batch in (0, 1):
    x = torch.zeros(batch, 2, 1, dtype=torch.float64)
    w = torch.zeros(2, 1, 1, dtype=torch.float64)
    try:
        results[batch] = f"returned shape {tuple(F.conv_transpose1d(x, w, stride=2, dilation=3, output_padding=3).shape)}"
    except RuntimeError as err:
        results[batch] = f"raised: {str(err).splitlines()[0]}"
for batch, text in results.items():
    print(f"batch={batch}: {text}")

# The same check on the other call paths (conv-conformance's torch.nn and torch.onednn_off): the 3-d
# form the suite shrank to, conv_transpose3d(N=0, C=1->1, k=1x1x1, output_padding=(1, 0, 0)), stride 1.
paths = {}
for name in ("F.conv_transpose3d", "nn.ConvTranspose3d", "F.conv_transpose3d, oneDNN off"):
    x = torch.zeros(0, 1, 1, 1, 1, dtype=torch.float64)
    try:
        with torch.backends.mkldnn.flags(enabled="oneDNN off" not in name):
            if name.startswith("nn."):
                module = torch.nn.ConvTranspose3d(1, 1, 1, output_padding=(1, 0, 0), bias=False).double()
                y = module(x)
            else:
                y = F.conv_transpose3d(x, torch.zeros(1, 1, 1, 1, 1, dtype=torch.float64), output_padding=(1, 0, 0))
        paths[name] = f"returned shape {tuple(y.shape)}"
    except RuntimeError as err:
        paths[name] = f"raised: {str(err).splitlines()[0]}"
    print(f"batch=0, {name}(output_padding=(1, 0, 0), stride 1): {paths[name]}")
sys.exit(1 if results[0].startswith("returned") and results[1].startswith("raised") else 0)
