"""Implementations: the NumPy definitions, and one package of adapters per framework.

- numpy/       three references written from the definition, float64, independent of each other
               (none calls another one's forward or gradient): naive.py, im2col.py, matrix.py
- torch/       functional.py: torch.nn.functional.conv*d / conv_transpose*d (TorchAdapter)
- jax/         lax.py: jax.lax.conv_general_dilated / conv_transpose (JaxAdapter)
- tensorflow/  composed.py: tf.nn convolutions composed to cover TensorFlow's CPU gaps (TensorFlowAdapter),
               its graph in _ops.py
- _adapter.py  FrameworkAdapter: what the framework adapters declare alike (precision mode, devices)

A framework package imports its framework only when an adapter first computes: importing
`references.torch` (or any module here) imports no framework. Inside these packages the framework
is always imported absolutely (`import torch` is the real torch, never `references.torch`).
"""
