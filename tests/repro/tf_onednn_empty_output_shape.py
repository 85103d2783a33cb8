"""TensorFlow (oneDNN on, CPU): a float32 convolution whose output is empty returns the input's shape, filled
with uninitialised memory.

Run: python tests/repro/tf_onednn_empty_output_shape.py   (exit status 1 while the bug is present)

A kernel of 4 over an input of 3 ("VALID") has an output of size 0. Expected: y.shape == (1, 0, 2) for
conv1d and (1, 0, 0, 2) for conv2d, as float64 gives, as bfloat16 gives where oneDNN does not take it,
and as every dtype gives with TF_ENABLE_ONEDNN_OPTS=0. Seen with tensorflow-cpu 2.21.0 and oneDNN on
(TF_ENABLE_ONEDNN_OPTS=1 on an AVX2-only AMD EPYC, 2026-12-07): conv1d -> (1, 3, 1) and conv2d ->
(1, 3, 3, 1), the input's shape, holding values such as -3.7e-09 and 4.6e-41 that no input produced.
The same cause as the empty-batch shape of tests/repro/tf_empty_batch_shape.py (KD-009).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # oneDNN, as TF's default is on CPUs with AVX512_VNNI/BF16/AMX
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

wrong = []
for dtype in (tf.float64, tf.float32):
    x1, w1 = tf.ones((1, 3, 1), dtype), tf.ones((4, 1, 2), dtype)
    x2, w2 = tf.ones((1, 3, 3, 1), dtype), tf.ones((4, 4, 1, 2), dtype)
    for name, y, expected in (("conv1d", tf.nn.conv1d(x1, w1, stride=1, padding="VALID"), (1, 0, 2)),
                              ("conv2d", tf.nn.conv2d(x2, w2, strides=1, padding="VALID"), (1, 0, 0, 2))):
        status = "ok" if tuple(y.shape) == expected else "WRONG"
        values = np.asarray(tf.cast(y, tf.float64)).ravel()[:4]
        print(f"{dtype.name:8s} {name} -> {tuple(y.shape)} (expected {expected}) {status}; first values {values}")
        if status != "ok":
            wrong.append(f"{dtype.name} {name}")

print(f"tensorflow {tf.__version__}, TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}")
sys.exit(1 if wrong else 0)
