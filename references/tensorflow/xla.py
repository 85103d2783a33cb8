"""TensorFlow's native single-op call (references.tensorflow.native) under tf.function(jit_compile=True).

The forward call, and the GradientTape / ForwardAccumulator / nested tapes of the other check kinds,
run inside one XLA-compiled tf.function per (check kind, config, device, precision mode). The config
is static (closed over), so each function traces and compiles once for its shapes; a repeated call
reuses it (`trace_count()` counts traces, for tests and benchmarks). Functions are kept in a
bounded LRU cache. XLA's own refusals are recorded like the eager ones (TF's text, as unsupported).
"""

from __future__ import annotations

from collections import OrderedDict

from conformance.capabilities import Gap
from conformance.config import ConvConfig
from references.tensorflow.composed import API_GAPS
from references.tensorflow.native import CPU_GAPS, TensorFlowNative

__all__ = ["TensorFlowXLA"]


class TensorFlowXLA(TensorFlowNative):
    """tensorflow's native call compiled by XLA (tf.function(jit_compile=True))."""

    name = "tensorflow.xla"
    # Compiles each new shape (0.16 s an example cold). 12 a test: more than the ~10 it ran before the
    # capability declarations, when 48% of its draws were refused (benchmarks/README.md, issue #32).
    max_ci_examples = 12
    # XLA computes the dilated and grouped derivatives that TF's CPU kernels refuse; what is left is
    # tf.nn.convolution's own argument check and conv_transpose's size check.
    # And the graph-mode shape function that tf.function traces refuses a filter of depth 0, grouped or not
    # (every dtype: "Depth of filter must not be 0", measured 2026-12-07; found by the known-entry audit);
    # the dilated path divides by the depth first (KD-018).
    gaps = (*API_GAPS, *(g for g in CPU_GAPS if g.feature in ("stride>1 and dilation>1", "output_padding-hi>=stride")),
            Gap("in_channels=0 and (undilated or 2-d explicit pairs or strided)", "TF's graph-mode Conv shape "
                "function refuses a filter of depth 0 (tf.nn.convolution's dilated path raises KD-018's "
                "ZeroDivisionError first; 2-d calls with explicit pairs or a stride take tf.nn.conv2d)",
                refused_by="framework", message="Depth of filter must not be 0", ops=("conv1d", "conv2d", "conv3d")))
    # XLA computes grouped derivatives, so depthwise configs keep the grouped call here (the depthwise
    # route is the eager path's answer to TF's CPU refusal of grouped gradients).
    depthwise_call = False
    # Its graph-mode shape functions refuse an empty output ("Negative dimension size caused by
    # subtracting 2 from 1", measured 2026-12-07): no empty_output here.
    defines = tuple(d for d in TensorFlowNative.defines if d.reading != "tf_empty_output")

    def __init__(self, precision: str = "default", cache_size: int = 128) -> None:
        super().__init__(precision)
        self.cache_size = cache_size
        self._compiled: OrderedDict = OrderedDict()

    def settings(self, device: str = "cpu") -> dict[str, object]:
        found = super().settings(device)
        found["tf.function"] = "jit_compile=True, one function per (check kind, config); the config is static"
        return found

    def trace_count(self) -> int:
        """Traces of the cached functions (each trace is one XLA compilation here)."""
        return sum(function.experimental_get_tracing_count() for function in self._compiled.values())

    def _function(self, tf, kind: str, config: ConvConfig, device: str):
        key = (kind, config, device, self.precision)
        function = self._compiled.get(key)
        if function is None:
            function = tf.function(self._functions(tf, config, device)[kind], jit_compile=True)
            self._compiled[key] = function
            while len(self._compiled) > self.cache_size:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return function
