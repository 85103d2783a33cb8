"""KD-027 / KD-055: where torch CPU's weight gradient of a channels-last unbatched grouped conv is wrong.

    python tests/repro/sweeps/torch_channels_last_grad_weight_sweep.py [SEED]

1,500 seeded random float64 calls (1-3 d, groups 1-4, 1-3 channels per group, kernel 1-3, stride and
dilation 1-2, padding 0-1, batched or not); prints the failures per field value and how many fall in
and out of KD-027's region.
"""

import random
import sys

import torch
import torch.nn.functional as F

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def channels_last(t, axis):
    order = [a for a in range(t.dim()) if a != axis] + [axis]
    return t.permute(*order).contiguous().permute(*[order.index(a) for a in range(t.dim())])


def grad_weight(call, x, w):
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    y = call(x, w)
    return torch.autograd.grad(y, [w], torch.ones_like(y))[0]


def in_region(r):
    return (r["nd"] == 2 and not r["batched"] and r["groups"] > 1 and r["per_group"] >= 2
            and r["dilation"] == [1, 1] and max(r["kernel"]) > 1)


random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
rows = []
for _ in range(1500):
    nd, groups = random.choice([1, 2, 2, 3]), random.choice([1, 2, 3, 4])
    per_group, out_per_group, batched = random.randint(1, 3), random.randint(1, 3), random.random() < 0.3
    kernel = [random.randint(1, 3) for _ in range(nd)]
    stride = [random.randint(1, 2) for _ in range(nd)]
    dilation = [random.randint(1, 2) for _ in range(nd)]
    padding = [random.randint(0, 1) for _ in range(nd)]
    size = [max(1, d * (k - 1) + 1 - 2 * p) + random.randint(0, 3) for k, d, p in zip(kernel, dilation, padding)]
    x = torch.randn(*((2,) if batched else ()), groups * per_group, *size, dtype=torch.float64)
    w = torch.randn(groups * out_per_group, per_group, *kernel, dtype=torch.float64)

    def call(a, b, nd=nd, stride=stride, padding=padding, dilation=dilation, groups=groups):
        return CONV[nd](a, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    error = (grad_weight(call, channels_last(x, 1 if batched else 0), channels_last(w, 1))
             - grad_weight(call, x, w)).abs().max().item()
    rows.append(dict(nd=nd, groups=groups, per_group=per_group, batched=batched, kernel=kernel,
                     dilation=dilation, fail=error > 1e-9))
for key in ("nd", "groups", "batched", "per_group"):
    print(key, {v: (sum(r["fail"] for r in rows if r[key] == v), sum(r[key] == v for r in rows))
                for v in sorted({r[key] for r in rows})}, "(failing, calls)")
inside = [r for r in rows if in_region(r)]
outside = [r for r in rows if not in_region(r)]
print(f"KD-027's region: {sum(r['fail'] for r in inside)} of {len(inside)} fail; "
      f"outside it: {sum(r['fail'] for r in outside)} of {len(outside)}")
