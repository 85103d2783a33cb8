"""JAX adapters. jax is imported on first use: importing this package does not import it.

- lax.py  JaxAdapter ("jax"): jax.lax.conv_general_dilated / jax.lax.conv_transpose, gradients by jax.vjp
"""
