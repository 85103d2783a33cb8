"""TensorFlow on CPU rounds partial sums to float16/bfloat16 where float32 accumulation is expected.

Run: python tests/repro/tf_half_precision_rounding.py   (exit status 1 while some result is off)

Each case computes one convolution result in a half format and compares it with the exact result of
the same (already half-exact) inputs. Float32 accumulation followed by one rounding can be off by
at most about half a unit in the last place (0.5 ulp) plus K * 2**-24 relative; seen with
tensorflow-cpu 2.21.0 on an AVX2 machine (oneDNN takes no float16 there: "oneDNN supports DT_HALF
only on platforms with AVX-512"; Eigen's half kernels round as they go):
(all on positive data, so no cancellation inflates the figures)
- float16 forward, tf.nn.conv_transpose of 2 channels, k=4:                      1.1 ulp
- float16 weight gradient of conv2d (64 channels, 200 terms):                   6.9 ulp
- bfloat16 weight gradient of conv2d with an explicit padding list (6 terms):   1.3 ulp
- bfloat16 forward of conv2d_transpose with a padding list (4 terms; KD-046):    1.4 ulp (VALID: 0.5 with oneDNN, 1.5 without)
- bfloat16 bias gradient (BiasAddGrad, 8 terms):                                 1.8 ulp
- bfloat16 bias gradient of 9,248 terms: the sum stops growing at 256 (about 4,600 expected, 94.5 % lost):
  one term at a time in bfloat16, a term below half the spacing at 256 no longer counts
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

rng = np.random.default_rng(0)


def half_exact(shape, dtype, positive=False):
    values = rng.random(shape) if positive else rng.standard_normal(shape)
    return tf.cast(tf.constant(values, tf.float32), dtype)  # exact in `dtype` from here on


def ulps(got, exact, dtype):
    """|got - exact| in units of the half format's spacing at |exact|."""
    got = tf.cast(got, tf.float64).numpy()
    mantissa_bits = 10 if dtype == tf.float16 else 7
    spacing = np.exp2(np.floor(np.log2(np.maximum(np.abs(exact), 1e-30))) - mantissa_bits)
    return float(np.max(np.abs(got - exact) / spacing))


def grads(f, dtype, *tensors):
    """f in `dtype` and in float64 on the same values; returns (low, exact) pairs of its gradients."""
    out = []
    for dt in (dtype, tf.float64):
        args = [tf.cast(t, dt) for t in tensors]
        with tf.GradientTape() as tape:
            tape.watch(args)
            y = f(*args)
        out.append(tape.gradient(y, args, output_gradients=tf.cast(tf.ones_like(y), dt)))
    return out


cases = []

x = half_exact((256, 1, 2), tf.float16, positive=True)  # conv_transpose: NWC, 2 input channels
w = half_exact((4, 1, 2), tf.float16, positive=True)  # (k, C_out, C_in)
y16 = tf.nn.conv_transpose(x, w, [256, 4, 1], strides=1, padding="VALID")
y64 = tf.nn.conv_transpose(tf.cast(x, tf.float64), tf.cast(w, tf.float64), [256, 4, 1], strides=1, padding="VALID")
cases.append(("float16 conv_transpose forward (2 terms)", ulps(y16, y64.numpy(), tf.float16)))

# KD-046/047: the bfloat16 transposed forward (Conv2DBackpropInput): VALID is oneDNN's (KD-047: oneDNN off),
# a padding list is Eigen's even with oneDNN on (KD-046). 4 positive terms.
x = half_exact((64, 1, 1, 4), tf.bfloat16, positive=True)  # NHWC, 4 input channels
w = half_exact((1, 1, 1, 4), tf.bfloat16, positive=True)  # (kh, kw, C_out, C_in)
y16 = tf.nn.conv2d_transpose(x, w, [64, 1, 1, 1], strides=1, padding="VALID")
y64 = tf.nn.conv2d_transpose(tf.cast(x, tf.float64), tf.cast(w, tf.float64), [64, 1, 1, 1], strides=1, padding="VALID")
cases.append(("bfloat16 conv2d_transpose forward, VALID (4 terms)", ulps(y16, y64.numpy(), tf.bfloat16)))
pads = [[0, 0], [0, 0], [0, 0], [0, 0]]  # an explicit padding list: the Eigen kernel even with oneDNN on
y16 = tf.nn.conv2d_transpose(x, w, [64, 1, 1, 1], strides=1, padding=pads)
cases.append(("bfloat16 conv2d_transpose forward, pad list (4 terms)", ulps(y16, y64.numpy(), tf.bfloat16)))

# KD-051: the bfloat16 depthwise forward (DepthwiseConv2dNative), Eigen's with oneDNN off: 8 positive terms.
x = half_exact((64, 2, 4, 3), tf.bfloat16, positive=True)  # NHWC, 3 channels
w = half_exact((2, 4, 3, 1), tf.bfloat16, positive=True)  # (kh, kw, C_in, multiplier)
y16 = tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "VALID")
y64 = tf.nn.depthwise_conv2d(tf.cast(x, tf.float64), tf.cast(w, tf.float64), [1, 1, 1, 1], "VALID")
cases.append(("bfloat16 depthwise_conv2d forward (8 terms)", ulps(y16, y64.numpy(), tf.bfloat16)))

x = half_exact((2, 12, 12, 64), tf.float16, positive=True)
w = half_exact((3, 3, 64, 64), tf.float16, positive=True)
low, exact = grads(lambda a, b: tf.nn.conv2d(a, b, 1, "VALID"), tf.float16, x, w)
cases.append(("float16 conv2d grad_weight (200 terms)", ulps(low[1], exact[1].numpy(), tf.float16)))

x = half_exact((1, 1, 5, 64), tf.bfloat16, positive=True)
w = half_exact((1, 1, 64, 64), tf.bfloat16, positive=True)
pads = [[0, 0], [0, 0], [0, 1], [0, 0]]
low, exact = grads(lambda a, b: tf.nn.conv2d(a, b, 1, pads), tf.bfloat16, x, w)
cases.append(("bfloat16 conv2d(explicit padding) grad_weight (6 terms)", ulps(low[1], exact[1].numpy(), tf.bfloat16)))

y = half_exact((2, 4, 256), tf.bfloat16, positive=True)
low, exact = [tf.cast(tf.raw_ops.BiasAddGrad(out_backprop=tf.cast(y, dt)), tf.float64)
              for dt in (tf.bfloat16, tf.float64)]
cases.append(("bfloat16 bias gradient (8 terms)", ulps(low, exact.numpy(), tf.bfloat16)))

y = half_exact((8, 34, 34, 8), tf.bfloat16, positive=True)
low, exact = [tf.cast(tf.raw_ops.BiasAddGrad(out_backprop=tf.cast(y, dt)), tf.float64)
              for dt in (tf.bfloat16, tf.float64)]
lost = float(np.max(1 - low.numpy() / exact.numpy()))
print(f"bfloat16 bias gradient of 9248 positive terms: {low.numpy()[0]:.0f}, expected {exact.numpy()[0]:.0f} "
      f"({100 * lost:.1f} % of the sum lost)")
cases.append(("bfloat16 bias gradient (9248 terms)", ulps(low, exact.numpy(), tf.bfloat16)))

failed = False
for name, error in cases:
    # One rounding after float32 accumulation: <= 0.5 ulp (+ a negligible K * 2**-24).
    verdict = "ok" if error <= 0.5 + 1e-3 else "ROUNDED MORE THAN ONCE"
    failed |= verdict != "ok"
    print(f"{name:58s} error {error:5.2f} ulp  {verdict}")
print(f"tensorflow {tf.__version__}, TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}")
sys.exit(1 if failed else 0)
