"""KD-049: TensorFlow's CPU depthwise filter gradient (DepthwiseConv2dNativeBackpropFilter, the Eigen
kernel) of an empty batch (N = 0) returns uninitialised memory instead of zeros: denormals, NaN or
huge values, different between identical calls. With oneDNN on, its float32 and bfloat16 kernels
give zeros; float64 and float16 (and every dtype with TF_ENABLE_ONEDNN_OPTS=0) take the Eigen one.
tensorflow-cpu 2.21.0.

    python tests/repro/tf_depthwise_empty_batch_filter_gradient.py                     # float64: exit 1
    TF_ENABLE_ONEDNN_OPTS=0 python tests/repro/tf_depthwise_empty_batch_filter_gradient.py

Found by conv-conformance (tensorflow, depthwise conv2d with N = 0, check gradient). Uses only
TensorFlow and NumPy. The filter gradient of an empty batch is a sum over no samples: zeros.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

bad = 0
for trial in range(20):
    f = tf.ones((3, 2, 2, 1), tf.float64)  # (kh, kw, C_in, multiplier)
    x = tf.zeros((0, 6, 9, 2), tf.float64)  # N = 0
    with tf.GradientTape() as tape:
        tape.watch(f)
        y = tf.nn.depthwise_conv2d(x, f, [1, 2, 2, 1], "VALID")
    grad = tape.gradient(y, f, output_gradients=tf.zeros_like(y)).numpy()
    if np.any(grad != 0):
        bad += 1
        if bad == 1:
            print(f"trial {trial}: filter gradient of an empty batch = {grad.ravel()[:6]} ... (expected zeros)")
print(f"{bad} of 20 identical calls returned nonzero values; tensorflow {tf.__version__}, "
      f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}")
sys.exit(1 if bad else 0)
