"""KD-044: TensorFlow's oneDNN Conv2D skips the check that explicit padding is nonnegative.

Run: python tests/repro/tf_onednn_negative_padding.py   (exit status 1 while the bug is present)

tf.nn.conv2d with an explicit padding list is refused by TF's Eigen kernel ("All elements of
explicit_paddings must be nonnegative", float64 and float16 here, and float32 with
TF_ENABLE_ONEDNN_OPTS=0) and by XLA. With oneDNN on (the default on x86 CPUs: float32 and
bfloat16), a negative pad that leaves an empty padded input returns a tensor of the wrong size
filled with uninitialised memory; other negative pads end in oneDNN's "could not create a primitive
descriptor" (AbortedError). Measured on tensorflow-cpu 2.21.0.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

x = tf.constant(np.array([1.0, 2.0], dtype=np.float32).reshape(1, 2, 1, 1))  # NHWC, height 2
f = tf.ones((1, 1, 1, 1), tf.float32)
pads = [[0, 0], [-1, -1], [0, 0], [0, 0]]  # height padded to 2 - 1 - 1 = 0

present = False
for dtype in (tf.float32, tf.bfloat16, tf.float64):
    try:
        y = tf.nn.conv2d(tf.cast(x, dtype), tf.cast(f, dtype), strides=1, padding=pads)
        present = True
        values = tf.cast(y, tf.float32).numpy().ravel()
        print(f"{dtype.name}: returned shape {tuple(y.shape)} values {values} (BUG: refused for float64)")
    except tf.errors.OpError as err:
        text = re.sub(r"\{\{[^}]*\}\}\s*", "", err.message).split(" [Op")[0]
        print(f"{dtype.name}: refused: {text} (ok)")
sys.exit(1 if present else 0)
