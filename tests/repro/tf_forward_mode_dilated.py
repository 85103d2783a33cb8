"""KD-014 (not yet reproduced standalone): tf.autodiff.ForwardAccumulator raised "block_shape must have
known size" from the gradient of BatchToSpaceND for dilated transposed convolutions in the suite's
TensorFlow worker (24 of 24 such examples in one run, tensorflow-cpu 2.21). The node names
('gradient_tape/BatchToSpaceND', 'unused_forwardprop_aid') show forward mode's "double backward
trick" running in a traced function; the same configs in a fresh process pass, so the failure
depends on what the process traced before (relaxed shapes after retracing is the likely cause).
This script tries a sequence of shapes in one process; it exits 1 if any fails.

    python tests/repro/tf_forward_mode_dilated.py
"""

import sys

import numpy as np
import tensorflow as tf

failures = []
for size in range(3, 12):
    x = tf.constant(np.ones((1, size, size, 1)))   # NHWC, float64
    w = tf.constant(np.ones((2, 2, 1, 1)))          # HWIO
    try:
        with tf.autodiff.ForwardAccumulator((x, w), (tf.ones_like(x), tf.ones_like(w))) as acc:
            y = tf.nn.convolution(x, w, padding="VALID", dilations=[2, 2])
        acc.jvp(y).numpy()
    except (ValueError, tf.errors.InvalidArgumentError) as err:
        failures.append((size, str(err).splitlines()[0][:160]))
for size, text in failures:
    print(f"input {size}x{size}: {text}")
print(f"{len(failures)} of 9 shapes failed")
sys.exit(1 if failures else 0)
