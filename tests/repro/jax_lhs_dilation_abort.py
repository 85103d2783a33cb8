"""XLA:CPU aborts the process (SIGABRT, uncatchable) differentiating a convolution with lhs_dilation.

The weight gradient of conv_general_dilated(x, w, lhs_dilation=(2, 2)) with x (1,1,3,2) and
w (1,1,4,1) dies with a "Check failed ... Window dimensions do not match RHS shape" in the
algebraic simplifier. lhs_dilation is what jax.lax.conv_transpose and Flax ConvTranspose use.
Smallest case found (jax/jaxlib 0.10.2, CPU): neither (1,1,3,1) input nor 1-d versions abort;
(1,1,3,2) and (1,1,3,3) do.

Run: python tests/repro/jax_lhs_dilation_abort.py ; echo $?   (134 = aborted; 0 = fixed)
Uses only jax and numpy.
"""

import jax
import jax.numpy as jnp
import numpy as np

x = jnp.asarray(np.ones((1, 1, 3, 2), np.float32))
w = jnp.asarray(np.ones((1, 1, 4, 1), np.float32))


def loss(w):
    y = jax.lax.conv_general_dilated(x, w, window_strides=(1, 1), padding=[(0, 0), (0, 0)],
                                     lhs_dilation=(2, 2), dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y.sum()


print("forward ok:", loss(w))
print("grad:", jax.grad(loss)(w).ravel())  # aborts here on affected versions
print("no abort: fixed in this jax/jaxlib")
