"""KD-041: TensorFlow's transposed convolutions take no explicit padding outside 2-d, so the native
adapter crops a "VALID" output itself; a negative padding then never reaches TensorFlow.

- tf.nn.conv1d_transpose / conv_transpose in 1-d and 3-d: `padding` is "SAME" or "VALID" only
  (a list is a TypeError), so (lo, hi) padding is a crop after "VALID", written by the caller;
- tf.nn.conv2d_transpose takes explicit pairs and refuses a negative one itself
  ("All elements of explicit_paddings must be nonnegative").
Exit status 1 when the 1-d route accepts a negative padding (the crop has no error to raise) while
TensorFlow's 2-d explicit padding refuses it.

    python tests/repro/tf_transposed_negative_padding.py
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

x = np.ones((1, 1, 1))  # NWC: N=1, in=1, C=1
f = np.ones((1, 1, 1))  # (k, C_out, C_in)
try:
    tf.nn.conv1d_transpose(x, f, [1, 2, 1], strides=2, padding=[[0, 0], [-1, -1], [0, 0]])
    explicit_1d = "accepted"
except (TypeError, ValueError) as err:
    explicit_1d = f"no explicit padding ({type(err).__name__}: {str(err).splitlines()[0]})"
print(f"tf.nn.conv1d_transpose(padding=[[0,0],[-1,-1],[0,0]]): {explicit_1d}")
full = tf.nn.conv1d_transpose(x, f, [1, 2, 1], strides=2, padding="VALID")
lo, out = -1, 3  # PyTorch's out = (in-1)*s - (lo+hi) + k = 3 for pad (-1, -1)
cropped = full[:, max(lo, 0):lo + out, :]
print(f"'VALID' output {tuple(full.shape)}, cropped by the caller to {tuple(cropped.shape)}: accepted (nothing refuses)")
try:
    tf.nn.conv2d_transpose(np.ones((1, 1, 1, 1)), np.ones((1, 1, 1, 1)), [1, 1, 3, 1], strides=[1, 1, 2, 1],
                           padding=[[0, 0], [0, 0], [-1, -1], [0, 0]])
    explicit_2d = "accepted"
except Exception as err:
    explicit_2d = f"refused ({type(err).__name__}: {str(err).split('] ')[-1].splitlines()[0][:120]})"
print(f"tf.nn.conv2d_transpose with explicit padding (-1, -1): {explicit_2d}")
sys.exit(1 if explicit_2d.startswith("refused") else 0)
