"""Keras 3 (KD-022, KD-023): zero input channels raise; a float16 bias is rounded after a rounded conv.

Runs each backend in its own process (KERAS_BACKEND is read at import). Exit status 1 when either
divergence reproduces on some backend.

    python tests/repro/keras_zero_channels_and_half_bias.py
"""

import os
import subprocess
import sys

CHILD = r"""
import numpy as np, keras
status = 0
# KD-022: Conv1D(2, 2) on (N=1, W=4, C_in=0): the output is the bias, shape (1, 3, 2).
layer = keras.layers.Conv1D(2, 2)
try:
    y = keras.ops.convert_to_numpy(layer(np.zeros((1, 4, 0), "float32")))
    ok = y.shape == (1, 3, 2)
    print(f"  zero input channels: output {y.shape}{'' if ok else ', expected (1, 3, 2)'}")
    status |= 0 if ok else 1
except Exception as err:
    print(f"  zero input channels: {type(err).__name__}: {str(err).splitlines()[0][:120]}")
    status |= 1
# KD-023: conv1d C=4->1, in=1, k=1, float16 with bias: PyTorch's fused conv+bias rounds once.
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 1, 4)).astype("float16")
w = rng.standard_normal((1, 4, 1)).astype("float16")
b = rng.standard_normal((1,)).astype("float16")
layer = keras.layers.Conv1D(1, 1, dtype="float16")
layer.build((1, 1, 4))
layer.set_weights([w, b])
got = float(keras.ops.convert_to_numpy(layer(x)).reshape(-1)[0])
exact = float(x.astype(np.float64).reshape(-1) @ w.astype(np.float64).reshape(-1) + float(b[0]))
once = float(np.float16(exact))
twice = float(np.float16(np.float16(x.astype(np.float64).reshape(-1) @ w.astype(np.float64).reshape(-1)) + b[0]))
print(f"  float16 bias: got {got!r}, rounded once {once!r}, rounded twice {twice!r}")
status |= 2 if got != once else 0
raise SystemExit(status)
"""

found = 0
for backend in ("torch", "jax", "tensorflow"):
    print(f"KERAS_BACKEND={backend}")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    found |= subprocess.run([sys.executable, "-c", CHILD], env=env).returncode
sys.exit(1 if found else 0)
