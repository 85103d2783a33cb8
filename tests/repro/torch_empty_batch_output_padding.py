"""KD-012: torch.nn.functional.conv_transpose1d accepts output_padding >= max(stride, dilation) when the
batch is empty, and returns a tensor; the same call with one sample raises. torch 2.13.0 CPU.

    python tests/repro/torch_empty_batch_output_padding.py    # exit 1: reproduced

Found by conv-conformance's test_invalid[conv_transpose1d-torch-cpu] (rule: output_padding <
max(stride, dilation)).
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
sys.exit(1 if results[0].startswith("returned") and results[1].startswith("raised") else 0)
