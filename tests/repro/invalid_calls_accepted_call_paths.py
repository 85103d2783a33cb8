"""Calls PyTorch's functional rules refuse, accepted by other public call paths (KD-030, KD-031, KD-032, KD-045).

- torch (F.pad / nn.Conv2d with padding_mode != "zeros"): a negative padding is cropped by F.pad,
  where padding_mode "zeros" raises "negative padding is not supported";
- Keras 3 (any backend) and TensorFlow's own ops: padding="same" with strides > 1 is TensorFlow's SAME
  (out = ceil(in / s));
- TensorFlow's own ops: a kernel larger than the input gives an empty output instead of an error;
- TensorFlow's own ops take no groups: a weight PyTorch refuses for groups=2 (depth 2 for an input of
  depth 2) is TensorFlow's ungrouped convolution.
Exit status 1 when any call is accepted.

    python tests/repro/invalid_calls_accepted_call_paths.py
"""

import os
import subprocess
import sys

accepted = 0
import torch  # noqa: E402

try:
    module = torch.nn.Conv2d(1, 1, 1, padding=(-1, 0), padding_mode="reflect")
    y = module(torch.randn(1, 1, 3, 2))
    print(f"torch nn.Conv2d(padding=(-1, 0), padding_mode='reflect'): accepted, output {tuple(y.shape)}")
    accepted = 1
except Exception as err:
    print(f"torch: refused ({err})")
try:
    torch.nn.functional.conv2d(torch.ones(1, 2, 1, 1), torch.ones(2, 2, 1, 1), groups=2)
    print("torch F.conv2d(x depth 2, weight (2, 2, 1, 1), groups=2): accepted")
except Exception as err:
    print(f"torch F.conv2d(x depth 2, weight (2, 2, 1, 1), groups=2): refused ({str(err).splitlines()[0]})")
try:
    torch.nn.Conv2d(1, 1, 1, padding=(-1, 0))(torch.randn(1, 1, 3, 2))
    print("torch zeros mode: accepted")
except Exception as err:
    print(f"torch nn.Conv2d(padding=(-1, 0)) with zeros: refused ({str(err).splitlines()[0]})")

code = ("import numpy as np, keras\n"
        "y = keras.layers.Conv1D(1, 1, strides=2, padding='same')(np.ones((1, 1, 1), 'float32'))\n"
        "print('keras', keras.backend.backend(), \"Conv1D(strides=2, padding='same'): accepted, output\", tuple(y.shape))\n")
keras = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3"),
                       capture_output=True, text=True)
print(keras.stdout.strip() or keras.stderr.strip().splitlines()[-1])
accepted |= "accepted" in keras.stdout

code = ("import numpy as np, tensorflow as tf\n"
        "y = tf.nn.conv2d(np.ones((1, 1, 1, 1)), np.ones((2, 1, 1, 1)), 1, 'VALID')\n"
        "print('tensorflow conv2d, kernel 2 on input 1: accepted, output', tuple(y.shape))\n"
        "y = tf.nn.conv2d(np.ones((1, 5, 1, 1)), np.ones((2, 1, 1, 1)), 2, 'SAME')\n"
        "print(\"tensorflow conv2d(height 5, kernel 2, strides=2, 'SAME'): accepted, output\", tuple(y.shape))\n"
        "y = tf.nn.conv2d(np.ones((1, 1, 1, 2)), np.ones((1, 1, 2, 2)), 1, 'VALID')\n"
        "print('tensorflow conv2d(x depth 2, filter depth 2; no groups argument): accepted, output', tuple(y.shape))\n")
tf = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                    capture_output=True, text=True)
print(tf.stdout.strip() or tf.stderr.strip().splitlines()[-1])
accepted |= "accepted" in tf.stdout
sys.exit(1 if accepted else 0)
