"""KD-054: which derivatives of a jax float32 conv_transpose with lax padding (-1, 1) are wrong.

    python tests/repro/sweeps/xla_negative_low_padding_checks.py

torch's conv_transpose1d(C 12 -> 2, k 2, padding (2, 0)) is lax padding (k-1-lo, k-1-hi) = (-1, 1).
The forward, the jvp's output tangent and the double backward's g_bar are each that transposed
forward, so all three are wrong; the gradients, x_bar and w_bar are other convolutions, and right.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

jax.config.update("jax_enable_x64", True)
rng = np.random.default_rng(0)
x, w = rng.standard_normal((2, 12, 6)), rng.standard_normal((12, 2, 2))
arrays = (x, w, rng.standard_normal((2, 2, 5)), rng.standard_normal(x.shape), rng.standard_normal(w.shape),
          rng.standard_normal(x.shape), rng.standard_normal(w.shape))


def conv_t(x, w):
    return lax.conv_transpose(x, w, (1,), [(-1, 1)], dimension_numbers=("NCH", "OIH", "NCH"), transpose_kernel=True)


def results(dtype):
    x, w, g, dx, dw, ggx, ggw = (jnp.asarray(a, dtype) for a in arrays)
    grad_x, grad_w = jax.vjp(conv_t, x, w)[1](g)

    def pullback(g, x, w):
        return jax.vjp(conv_t, x, w)[1](g)

    g_bar, x_bar, w_bar = jax.vjp(pullback, g, x, w)[1]((ggx, ggw))
    return dict(forward=conv_t(x, w), grad_input=grad_x, grad_weight=grad_w,
                jvp=jax.jvp(conv_t, (x, w), (dx, dw))[1], g_bar=g_bar, x_bar=x_bar, w_bar=w_bar)


exact, wrong = results(jnp.float64), {}
for _ in range(10):
    for name, value in results(jnp.float32).items():
        value, want = np.asarray(value, np.float64), np.asarray(exact[name])
        bad = not np.isfinite(value).all() or np.abs(value - want).max() > 1e-3 * (1 + np.abs(want).max())
        wrong[name] = wrong.get(name, 0) + bad
print({name: f"{count} of 10 wrong" for name, count in wrong.items()})
