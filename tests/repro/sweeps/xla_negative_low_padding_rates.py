"""KD-054: how often XLA:CPU's float32 convolution with negative low and positive high padding is wrong.

    python tests/repro/sweeps/xla_negative_low_padding_rates.py

It reads past its input where the definition has zeros, so the share of wrong calls depends on the
memory it reads: printed by input channels and by geometry, 20 calls each, eager and jit.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

jax.config.update("jax_enable_x64", True)
np.random.seed(0)


def wrong(n, ci, co, k, size, lo, hi, jit=False):
    x, w = np.random.randn(n, ci, size), np.random.randn(co, ci, k)

    def conv(a, b):
        return lax.conv_general_dilated(a, b, (1,), [(lo, hi)])

    exact = np.asarray(conv(jnp.asarray(x), jnp.asarray(w)))
    got = np.asarray((jax.jit(conv) if jit else conv)(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32)),
                     np.float64)
    return not np.isfinite(got).all() or np.abs(got - exact).max() > 1e-3 * (1 + np.abs(exact).max())


for jit in (False, True):
    print("jit" if jit else "eager", "C 4->1, k 2, in 6, padding (-1, 1):",
          sum(wrong(1, 4, 1, 2, 6, -1, 1, jit) for _ in range(50)), "of 50 wrong")
for ci in (2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 24):
    print(f"C_in {ci}: {sum(wrong(1, ci, 1, 2, 6, -1, 1) for _ in range(20))} of 20 wrong (C_out 1), "
          f"{sum(wrong(1, ci, 4, 2, 6, -1, 1) for _ in range(20))} of 20 (C_out 4)")
for k, size, lo, hi in ((1, 6, -1, 1), (3, 6, -1, 1), (2, 9, -2, 1), (2, 9, -1, 2), (3, 9, -2, 2), (2, 9, -2, 0)):
    print(f"k {k}, in {size}, padding ({lo}, {hi}): C_in 8 {sum(wrong(1, 8, 1, k, size, lo, hi) for _ in range(20))}"
          f", C_in 16 {sum(wrong(1, 16, 3, k, size, lo, hi) for _ in range(20))} of 20 wrong")
