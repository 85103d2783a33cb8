"""torch CPU: an unbatched grouped conv2d whose input and weight are both channels-last gets a wrong weight
gradient (float64 too); the same call with either of them contiguous, or batched, is right (KD-027).

    python tests/repro/torch_unbatched_channels_last_grad_weight.py     # exit 1 when it reproduces
"""

import sys

import torch

torch.manual_seed(0)
worst = 0.0
for groups, c_in, c_out in ((1, 2, 2), (2, 4, 2)):
    for batched in (False, True):
        x = torch.randn(*((1,) if batched else ()), c_in, 1, 2, dtype=torch.float64)
        w = torch.randn(c_out, c_in // groups, 1, 2, dtype=torch.float64)
        y_shape = (*((1,) if batched else ()), c_out, 1, 1)
        g = torch.randn(y_shape, dtype=torch.float64)

        def grad_w(xx, ww, groups=groups, g=g):
            xx, ww = xx.detach().requires_grad_(), ww.detach().requires_grad_()
            return torch.autograd.grad(torch.nn.functional.conv2d(xx, ww, groups=groups), [ww], g)[0]

        channel_axis = 1 if batched else 0
        order = [a for a in range(x.dim()) if a != channel_axis] + [channel_axis]
        x_cl = x.permute(*order).contiguous().permute(*[order.index(a) for a in range(x.dim())])
        w_cl = w.contiguous(memory_format=torch.channels_last)
        error = (grad_w(x_cl, w_cl) - grad_w(x, w)).abs().max().item()
        worst = max(worst, error if not batched else 0.0)
        print(f"groups={groups} {'batched  ' if batched else 'unbatched'} x strides {x_cl.stride()} "
              f"w strides {w_cl.stride()}: max |grad_w - contiguous grad_w| = {error:.3g}")
print(f"torch {torch.__version__}")
sys.exit(1 if worst > 1e-12 else 0)
