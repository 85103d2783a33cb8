"""KD-021: TensorFlow's Conv3D shape function swaps the height and width dilations.

Conv3DShape (tensorflow/core/framework/common_shape_fns.cc) reads dilation_cols from the height's
position and dilation_rows from the width's. So in graph mode (tf.function, with or without
jit_compile) a valid Conv3D whose height and width dilations differ fails shape inference when the
kernel, dilated with the swapped pair, is longer than the input. Eager TensorFlow refuses every
dilated Conv3D on CPU ("only supports dilated rates of 1"), so graph mode is the only way to run one.

    x: N=1, D=1, H=1, W=2, C=1 (NDHWC);  filter: D=1, H=1, W=2;  dilations: D=1, H=2, W=1
    output: H = 1 - 2*(1-1) = 1, W = 2 - 1*(2-1) = 1: valid, one element (x . filter)
    shape inference: W kernel dilated by H's 2 = 3 > 2: "Negative dimension size caused by subtracting 3 from 2"

The same holds for conv3d_transpose's gradients, whose input gradient is a Conv3D.
Exit status 1 when it reproduces.

    python tests/repro/tf_conv3d_dilation_shape_inference.py
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

x = tf.constant(np.array([1.0, 2.0]).reshape(1, 1, 1, 2, 1))
f = tf.constant(np.array([3.0, 4.0]).reshape(1, 1, 2, 1, 1))


def conv(dilations):
    return lambda a, b: tf.nn.conv3d(a, b, [1] * 5, "VALID", dilations=dilations)


reproduced = False
for label, dilations in (("dilations D=1 H=2 W=1", [1, 1, 2, 1, 1]), ("the same with W=2 H=1", [1, 1, 1, 2, 1])):
    for mode, jit in (("tf.function", False), ("tf.function(jit_compile=True)", True)):
        try:
            y = tf.function(conv(dilations), jit_compile=jit)(x, f).numpy()
            print(f"{label}, {mode}: returned {y.ravel()} "
                  "(by the definition: [11.] for H=2; for W=2 the dilated kernel, 3, is longer than the input, 2)")
        except Exception as err:  # noqa: BLE001 - print what TensorFlow says
            message = " ".join(str(err).split())
            message = message[message.find("Negative"):] if "Negative" in message else message
            print(f"{label}, {mode}: {type(err).__name__}: {message[:200]}")
            # H=2 is a valid call: refusing it is the bug. (W=2 is a kernel of 3 on an input of 2: refusing is right.)
            reproduced |= dilations[2] == 2 and "Negative dimension size" in message
sys.exit(1 if reproduced else 0)
