"""The references: convolution written from its definition in NumPy (CuPy on cuda), accumulating in float64.

- naive.py   the loops of the definition (vectorised over batch and channels, looping over taps)
- im2col.py  unfold patches into columns, one GEMM per group; col2im for the adjoint
- matrix.py  the convolution as an explicit sparse matrix M; transposed convolution is M^T
- _arrays.py data movement only (NumPy or CuPy, float64 in, host NumPy out), no convolution arithmetic

The three are independent: none calls another one's forward or gradient.
"""
