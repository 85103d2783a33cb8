"""KD-026: where torch.compile's training graph of a conv_transpose mispredicts its output strides.

    python tests/repro/sweeps/torch_compile_transpose_strides_sweep.py

1-3 d variants of the entry's minimal call (N, groups, kernel, stride, output_padding), one channel
per group each way, a 1x1 input; prints ok / FAIL per call (a few minutes: one compile each).
"""

import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")
TRANSPOSED = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

for nd in (1, 2, 3):
    for stride, output_padding in (((2,) * nd, (1,) * nd), ((1,) * (nd - 1) + (2,), (0,) * (nd - 1) + (1,)),
                                   ((1,) * nd, (0,) * nd), ((2,) * nd, (0,) * nd)):
        for batch, groups, k in ((2, 2, 1), (3, 3, 1), (2, 2, 2), (1, 2, 1)):
            x = torch.randn(batch, groups, *(1,) * nd, dtype=torch.float64, requires_grad=True)
            w = torch.randn(groups, 1, *(k,) * nd, dtype=torch.float64, requires_grad=True)

            def conv(x, w, nd=nd, stride=stride, output_padding=output_padding, groups=groups):
                return TRANSPOSED[nd](x, w, stride=stride, output_padding=output_padding, groups=groups)

            torch._dynamo.reset()
            try:
                torch.compile(conv, fullgraph=True)(x, w).sum().backward()
                error = ""
            except Exception as err:  # the stride assertion is an AssertionError inside Inductor's graph
                error = str(err).splitlines()[0][:80]
            print(nd, stride, output_padding, f"N={batch} groups={groups} k={k}", "FAIL" if error else "ok", error)
