"""TensorFlow (oneDNN on, CPU): a float32/bfloat16 convolution of an empty batch returns the input's shape.

Run: python tests/repro/tf_empty_batch_shape.py   (exit status 1 while the bug is present)

Expected for x: (0, 5, 5, 2) NHWC and filters (3, 3, 2, 4), "VALID": y.shape == (0, 3, 3, 4), as
float16/float64 give and as TF_ENABLE_ONEDNN_OPTS=0 gives. Seen with tensorflow-cpu 2.21.0:
(0, 5, 5, 2) for float32 and bfloat16, and tf.nn.bias_add then raises "Incompatible shapes".
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

wrong = []
for dtype in (tf.float64, tf.float32, tf.float16, tf.bfloat16):
    x = tf.zeros((0, 5, 5, 2), dtype)
    filters = tf.zeros((3, 3, 2, 4), dtype)
    y = tf.nn.conv2d(x, filters, strides=1, padding="VALID")
    status = "ok" if tuple(y.shape) == (0, 3, 3, 4) else "WRONG"
    try:
        tf.nn.bias_add(y, tf.zeros((4,), dtype))
        bias = "bias_add ok"
    except tf.errors.InvalidArgumentError as err:
        bias = "bias_add: " + str(err).split("}}")[-1].split("[Op")[0].strip()
    print(f"{dtype.name:9s} conv2d -> {tuple(y.shape)} (expected (0, 3, 3, 4)) {status}; {bias}")
    if status != "ok":
        wrong.append(dtype.name)
print(f"tensorflow {tf.__version__}, numpy {np.__version__}, "
      f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}")
sys.exit(1 if wrong else 0)
