"""TensorFlow adapters. tensorflow is imported on first use: importing this package does not import it.

- native.py    TensorFlowNative ("tensorflow"): TensorFlow's own single call per config, its refusals
               recorded with TF's text; TensorFlowOneDNNOff ("tensorflow.onednn_off"): the same with
               TF_ENABLE_ONEDNN_OPTS=0
- xla.py       TensorFlowXLA ("tensorflow.xla"): the native call under tf.function(jit_compile=True)
- composed.py  TensorFlowAdapter ("tensorflow.composed"): the harness's composition of tf.nn ops
               (per-group calls, subsampling, zero insertion) where TensorFlow's CPU kernels refuse them
- _ops.py      the TensorFlow graph of each case (imports tensorflow; imported by composed.py lazily)
"""
