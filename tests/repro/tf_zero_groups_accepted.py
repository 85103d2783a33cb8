"""KD-042: TensorFlow's Eigen Conv2D kernel accepts an input of depth 0 with a filter of input depth 1.

The kernel infers the groups as input depth / filter depth and checks only that it divides: 0 % 1 == 0,
so it runs 0 groups and returns zeros of the filter's output depth. oneDNN's kernel (float32, and
bfloat16 on AVX-512 CPUs) refuses the same call ("grouped convolution must have at least one group: 0"),
so whether the call is valid depends on the dtype and on TF_ENABLE_ONEDNN_OPTS. PyTorch refuses it (a
weight of 1 input channel for an input of 0), and so does TensorFlow under XLA.

Each case runs in a child process, with oneDNN on and off. Exit status 1 when some case is accepted.

    python tests/repro/tf_zero_groups_accepted.py
"""

import os
import subprocess
import sys

CALL = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; import tensorflow as tf; "
        "y = tf.nn.conv2d(tf.ones([1, 1, 1, 0], tf.{dtype}), tf.ones([1, 1, 1, 1], tf.{dtype}), 1, 'VALID'); "
        "print('accepted: output', tuple(y.shape), y.numpy().ravel().tolist())")

if __name__ == "__main__":
    accepted = []
    for onednn in ("1", "0"):
        for dtype in ("float16", "bfloat16", "float32", "float64"):
            env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn)
            out = subprocess.run([sys.executable, "-c", CALL.format(dtype=dtype)], capture_output=True, text=True, env=env)
            lines = (out.stdout.strip() or out.stderr.strip()).splitlines() or [""]
            seen = lines[-1].split("}}")[-1].strip()[:140]
            print(f"TF_ENABLE_ONEDNN_OPTS={onednn} {dtype}: conv2d(x depth 0, filter depth 1): {seen}")
            if seen.startswith("accepted"):
                accepted.append((onednn, dtype))
    sys.exit(1 if accepted else 0)
