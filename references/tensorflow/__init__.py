"""TensorFlow adapters. tensorflow is imported on first use: importing this package does not import it.

- composed.py  TensorFlowAdapter ("tensorflow"): the project's calls computed by composing tf.nn ops
               (per-group calls, subsampling, zero insertion) where TensorFlow's CPU kernels refuse them
- _ops.py      the TensorFlow graph of each case (imports tensorflow; imported by composed.py lazily)
"""
