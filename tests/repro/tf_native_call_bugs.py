"""TensorFlow's own convolution calls (CPU, tensorflow-cpu 2.21): three bugs found through references.tensorflow.native.

Run: python tests/repro/tf_native_call_bugs.py   (exit status 1 while any is present; each case runs in a
child process, because the third kills its process)

- KD-018: tf.nn.convolution with zero input channels and a grouped-looking filter raises ZeroDivisionError
  ("integer modulo by zero") from its own Python, where conv2d says "filter depth must be stricly positive".
- KD-019: tf.nn.conv_transpose accepts a filter of output depth 0 with an output_shape of 22 channels
  (PyTorch: groups=35 > C_out=22, invalid) and returns a (3, 13, 22) tensor.
- KD-020: the same call under tf.function(jit_compile=True) dies with SIGFPE.
- KD-021: in graph mode (tf.function, XLA or not) the gradient of a conv3d_transpose with stride > 1 and
  dilation > 1 fails shape inference ("Negative dimension size caused by subtracting 5 from 4" in the
  Conv3D its gradient builds): Conv3D's shape function swaps the height and width dilations, see
  tests/repro/tf_conv3d_dilation_shape_inference.py.
- KD-025: under jit_compile, tf.pad REFLECT of an empty batch fails XLA's MirrorPad RET_CHECK.
"""

import subprocess
import sys

CASES = {
    "KD-018": "tf.nn.convolution(tf.zeros([1, 3, 6, 0]), tf.zeros([1, 4, 0, 22]), padding='SAME', dilations=[2, 1])",
    "KD-019": "tf.nn.conv_transpose(tf.zeros([3, 4, 34]), tf.zeros([3, 0, 34]), [3, 13, 22], strides=3, padding='VALID')",
    "KD-020": "tf.function(lambda x, f: tf.nn.conv_transpose(x, f, [3, 13, 22], strides=3, padding='VALID'), "
              "jit_compile=True)(tf.zeros([3, 4, 34]), tf.zeros([3, 0, 34]))",
    "KD-021": "tf.function(lambda x, f: tf.gradients(tf.nn.conv_transpose(x, f, [1, 4, 5, 4, 2], strides=[4, 2, 1], "
              "padding='VALID', dilations=[1, 2, 1]), [x, f]))(tf.zeros([1, 1, 1, 2, 2]), tf.zeros([3, 3, 3, 2, 2]))[0]",
    "KD-025": "tf.function(lambda x: tf.pad(x, [[0, 0], [2, 2], [0, 1], [0, 0]], mode='REFLECT'), jit_compile=True)"
              "(tf.zeros([0, 5, 8, 2]))",
}

if __name__ == "__main__":
    present = []
    for name, call in CASES.items():
        code = (f"import os; os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2'); import tensorflow as tf; "
                f"y = {call}; print('returned', tuple(y.shape))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        tail = (out.stdout.strip() or out.stderr.strip()).splitlines()[-1:] or [""]
        if out.returncode < 0:
            seen = f"killed by signal {-out.returncode}"
        else:
            seen = tail[0][:160]
        bug = out.returncode < 0 or "ZeroDivisionError" in seen or "Negative dimension" in seen or "RET_CHECK" in out.stderr or \
            (seen.startswith("returned") and name not in ("KD-021", "KD-025"))
        print(f"{name}: {call}\n    -> {seen} {'(BUG)' if bug else '(ok)'}")
        if bug:
            present.append(name)
    sys.exit(1 if present else 0)
