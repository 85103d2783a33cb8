"""A planted kernel with two distinct bugs, for the test that one test reports both.

- without a bias it is correct, except that a strided call loses its last output position (shape);
- with a bias it forgets the bias (value).
"""

from __future__ import annotations

import numpy as np

from conformance import Implementation
from conformance.dtypes import to_storage
from references.numpy.naive import NaiveReference

__all__ = ["two_bugs"]

_naive = NaiveReference()


class TwoBugs(Implementation):
    name = "two_bugs"
    opt_in = ("padding_mode", "unbatched")  # the naive reference it wraps has both

    def forward(self, config, x, w, b=None, device="cpu"):
        y = to_storage(np.asarray(_naive.forward(config, x, w, None), np.float64), config.dtype)
        if any(s > 1 for s in config.stride):
            return y[..., :-1]
        return y


def two_bugs():
    return TwoBugs()
