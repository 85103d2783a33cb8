"""KD-036: the double backward of a jax.lax.conv_transpose whose padding crops at the end returns
garbage in float32 (values where the definition has 0; NaN under jit): JAX builds the input cotangent
as a conv_general_dilated with negative low padding and positive high padding, the XLA:CPU
convolution bug openxla/xla#48713 (open; fix proposed in openxla/xla#48748). float64 is right.
jax/jaxlib 0.10.2 CPU.

    python tests/repro/jax_negative_low_padding_double_vjp.py    # exit 1: reproduced

Found by conv-conformance (jax, jax.jit: conv_transpose1d(N=2, C=1->8, in=2, k=2, pad=(0,2), float32),
check double_vjp, result double_vjp_input). Uses only jax and numpy.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

rng = np.random.default_rng(0)
# torch's conv_transpose1d(x, w, padding=(0, 2)) with k = 2, as lax padding (k-1-lo, k-1-hi) = (1, -1)
x, w = rng.standard_normal((2, 1, 2)), rng.standard_normal((1, 8, 2))   # x (N, C_in, L), w (C_in, C_out, k)
g, ggx, ggw = rng.standard_normal((2, 8, 1)), rng.standard_normal((2, 1, 2)), rng.standard_normal((1, 8, 2))


def conv_t(x, w):
    return lax.conv_transpose(x, w, (1,), [(1, -1)], dimension_numbers=("NCH", "OIH", "NCH"), transpose_kernel=True)


def x_bar(g, x, w, ggx, ggw):
    """The input cotangent of the first-order pullback (g, x, w) -> (grad_x, grad_w), at (ggx, ggw)."""
    first = lambda g, x, w: jax.vjp(conv_t, x, w)[1](g)
    return jax.vjp(first, g, x, w)[1]((ggx, ggw))[1]


def exact_x_bar():
    """x_bar = grad_x of sum(g * conv_t(x, ggw)): out[n, o, i + t] += x[n, c, i] ggw[c, o, t], full length 3,
    kept [0:1]; so x_bar[n, c, i] = sum_o,t g[n, o, i + t] ggw[c, o, t] over i + t = 0 only."""
    out = np.zeros((2, 1, 2))
    out[:, :, 0] = np.einsum("no,co->nc", g[:, :, 0], ggw[:, :, 0])
    return out


results = {}
for name, dtype, fn in (("float32", jnp.float32, x_bar), ("float32 jit", jnp.float32, jax.jit(x_bar)),
                        ("float64", jnp.float64, x_bar)):
    with jax.enable_x64(dtype == jnp.float64):
        results[name] = np.asarray(fn(*(jnp.asarray(a, dtype) for a in (g, x, w, ggx, ggw))), np.float64)
exact = exact_x_bar()
print(f"jax {jax.__version__}: double_vjp x_bar[:, 0, :] (exact {exact[:, 0].tolist()})")
for name, value in results.items():
    print(f"  {name:>11}: {value[:, 0].tolist()}  max error {np.nanmax(np.abs(value - exact)) if np.isfinite(value).all() else 'non-finite'}")

# The convolution underneath, alone: padding (-1, 1), 8 channels.
xs, ws = rng.standard_normal((2, 8, 3)), rng.standard_normal((1, 8, 1))
direct = {}
for dtype in (jnp.float32, jnp.float64):
    with jax.enable_x64(dtype == jnp.float64):
        direct[dtype.__name__] = np.asarray(lax.conv_general_dilated(
            jnp.asarray(xs, dtype), jnp.asarray(ws, dtype), (1,), [(-1, 1)], dimension_numbers=("NCH", "OIH", "NCH")))
print("conv_general_dilated(x (2, 8, 3), w (1, 8, 1), padding=[(-1, 1)]): the last position is padding (0):")
for name, value in direct.items():
    print(f"  {name}: {value[:, 0].tolist()}")

wrong = not np.allclose(results["float32"], exact, atol=1e-5) and np.allclose(results["float64"], exact, atol=1e-12)
print("REPRODUCES: float32 x_bar is wrong where float64 is right" if wrong else "does not reproduce")
sys.exit(1 if wrong else 0)
