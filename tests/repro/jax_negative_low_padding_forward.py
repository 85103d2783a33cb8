"""KD-054: jax.jit of a float32 transposed convolution whose PyTorch padding crops more than
dilation*(k-1) at the low end and less at the high end returns wrong values (up to 1e31: uninitialised
memory). The lax padding is then (negative, positive), the XLA:CPU convolution bug of KD-036,
openxla/xla#48713. float64 is right. jax/jaxlib 0.10.2 CPU.

    python tests/repro/jax_negative_low_padding_forward.py    # exit 1: reproduced

Found by conv-conformance (issue #33's recheck; jax.jit conv_transpose1d(N=1, C=4->1, in=6, k=2,
pad=(2,0), float32): max abs error 204). Uses only jax and numpy.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

jax.config.update("jax_enable_x64", True)  # so that the float64 call is float64 (float32 stays float32)
rng = np.random.default_rng(0)
x = w = None  # x (N, C_in, L), w (C_in, C_out, k), drawn per trial below
# torch's conv_transpose1d(x, w, padding=(2, 0)) with k = 2: lax padding (k-1-lo, k-1-hi) = (-1, 1)


def conv_t(x, w):
    return lax.conv_general_dilated(x, jnp.flip(w, 2).swapaxes(0, 1), (1,), [(-1, 1)],
                                    dimension_numbers=("NCH", "OIH", "NCH"))


def exact():
    """The full transposed convolution (length 7), with 2 cropped at the start: out[n, o, i + t] += x w."""
    full = np.zeros((1, 1, 7))
    for i in range(6):
        for t in range(2):
            full[:, :, i + t] += np.einsum("nc,co->no", x[:, :, i], w[:, :, t])
    return full[:, :, 2:]


# The wrong values are uninitialised memory: a fresh process may hold zeros there, so the call is made
# after other work has used (and freed) memory, several times with new data.
worst = 0.0
for trial in range(20):
    jnp.asarray(rng.standard_normal((64, 64)) * 1e6).block_until_ready()  # memory that held other values
    x, w = rng.standard_normal((1, 4, 6)), rng.standard_normal((4, 1, 2))
    for dtype in (jnp.float64, jnp.float32):
        y = jax.jit(conv_t)(jnp.asarray(x, dtype), jnp.asarray(w, dtype))
        error = float(np.abs(np.asarray(y, np.float64) - exact()).max())
        if trial == 0 or (dtype == jnp.float32 and error > worst):
            print(f"trial {trial} {jnp.dtype(dtype).name}: jit max abs error {error:.3g}")
        if dtype == jnp.float32:
            worst = max(worst, error)
print(f"jax {jax.__version__}: worst float32 error {worst:.3g} (float32 rounding: about 1e-6)")
sys.exit(1 if worst > 1e-3 else 0)
