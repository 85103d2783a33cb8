"""KD-013: TensorFlow 2.21 CPU (oneDNN on) kills the process with SIGSEGV in the double backward of a
bfloat16 conv2d with explicit padding. With TF_ENABLE_ONEDNN_OPTS=0, or in float32, it computes the
right answer with all-ones inputs and cotangents: x_bar = [1], w_bar = [1], g_bar = [2, 0].

    python tests/repro/tf_bf16_double_backward_segfault.py        # exit status -11 / 139: reproduced
    TF_ENABLE_ONEDNN_OPTS=0 python tests/repro/tf_bf16_double_backward_segfault.py   # prints the result

Found by conv-conformance's test_double_vjp[conv2d-tensorflow-cpu]; config
conv2d(N=1, C=1->1, in=1x1, k=1x1, pad=(0,0)x(0,1), no bias, bfloat16).
"""

import numpy as np
import tensorflow as tf

x = tf.constant(np.ones((1, 1, 1, 1), np.float32), tf.bfloat16)  # NHWC
w = tf.constant(np.ones((1, 1, 1, 1), np.float32), tf.bfloat16)  # HWIO
g = tf.constant(np.ones((1, 1, 2, 1), np.float32), tf.bfloat16)  # cotangent of the (1, 1, 2, 1) output
with tf.GradientTape() as outer:
    outer.watch([x, w, g])
    with tf.GradientTape() as inner:
        inner.watch([x, w])
        y = tf.nn.conv2d(x, w, strides=1, padding=[[0, 0], [0, 0], [0, 1], [0, 0]])
    first = inner.gradient(y, [x, w], output_gradients=g)
second = outer.gradient(first, [x, w, g], output_gradients=[tf.ones_like(x), tf.ones_like(w)])
print("x_bar, w_bar, g_bar =", [t.numpy().astype(np.float32).ravel().tolist() for t in second])
print("not reproduced: TensorFlow computed the double backward")
