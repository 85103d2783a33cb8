"""torch CPU bfloat16 convolution with stride > 1 and an output width of 1 returns garbage through
oneDNN's AMX kernels (KD-028; the conv3d form is pytorch/pytorch#169688). oneDNN off is right.
Needs a CPU with AMX-BF16; elsewhere it does not reproduce (exit 0).

    python tests/repro/torch_bf16_amx_output_width_1.py     # exit 1 when it reproduces
"""

import sys

import torch
import torch.nn.functional as F

torch.manual_seed(0)
x, w = torch.randn(1, 1, 9, 10).bfloat16(), torch.randn(1, 1, 1, 4).bfloat16()
args = dict(stride=(1, 2), dilation=(1, 3))  # output width (10 - 3*3 - 1) // 2 + 1 = 1
exact = F.conv2d(x.double(), w.double(), **args)
got = F.conv2d(x, w, **args).double()
with torch.backends.mkldnn.flags(enabled=False):
    aten = F.conv2d(x, w, **args).double()
error, aten_error = (got - exact).abs().max().item(), (aten - exact).abs().max().item()
print(f"torch {torch.__version__}: output {tuple(got.shape)}, max error {error:.3g} (oneDNN off: {aten_error:.3g}); "
      f"|exact| max {exact.abs().max().item():.3g}")
sys.exit(1 if error > 0.1 * exact.abs().max().item() else 0)
