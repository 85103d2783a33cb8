"""Implementations: three references written from the definition, and the framework adapters.

- naive.py   the loops of the definition (vectorised over batch and channels, looping over taps)
- im2col.py  unfold patches into columns, one GEMM per group; col2im for the adjoint
- matrix.py  the convolution as an explicit sparse matrix M; transposed convolution is M^T

The references are independent of each other: none calls another one's forward or gradient.
Adapters (torch_adapter, jax_adapter, tensorflow_adapter) import their framework when first used.
"""
