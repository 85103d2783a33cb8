"""KD-015: jax.lax.conv_general_dilated accepts what PyTorch's rules refuse (a semantic difference).

    python tests/repro/invalid_calls_accepted.py     # exit 1: reproduced (some call accepted)
"""

import sys

import jax
import jax.numpy as jnp

x = jnp.ones((1, 1, 4))
w = jnp.ones((1, 1, 2))
conv = jax.lax.conv_general_dilated
calls = {
    "negative padding": lambda: conv(x, w, (1,), [(-1, -1)], dimension_numbers=("NCH", "OIH", "NCH")),
    "kernel larger than the input": lambda: conv(x, jnp.ones((1, 1, 5)), (1,), [(0, 0)],
                                                 dimension_numbers=("NCH", "OIH", "NCH")),
    "'SAME' with stride 2": lambda: conv(x, w, (2,), "SAME", dimension_numbers=("NCH", "OIH", "NCH")),
}
accepted = 0
for name, call in calls.items():
    try:
        print(f"{name}: accepted, shape {call().shape}")
        accepted += 1
    except Exception as err:  # noqa: BLE001 - any refusal counts
        print(f"{name}: raised {type(err).__name__}")
sys.exit(1 if accepted else 0)
