"""Keras 3 adapters: keras.layers.Conv{1,2,3}D / Conv{1,2,3}DTranspose, one per backend.

What a Keras user writes, per config:
- ordinary convolution: `ConvND(filters=C_out, kernel_size, strides, padding, data_format,
  dilation_rate, groups, use_bias, dtype)`. padding "same" (ConvConfig allows it with stride 1 only;
  Keras's "same" with stride > 1 is TensorFlow's ceil(in / stride) rule, a different padding) and
  "valid" go to the layer; explicit (lo, hi) pairs go to a `ZeroPaddingND(((lo, hi), ...))` layer
  before a "valid" conv, symmetric or not.
- transposed convolution: `ConvNDTranspose(filters=C_out, kernel_size, strides, padding,
  output_padding, data_format, dilation_rate, use_bias, dtype)`. Its padding is "valid" (no
  padding) or "same", whose padding in torch's terms is `keras_transposed_same_padding` (K // 2
  on both sides for output_padding 0, one position moved from lo to hi for output_padding > 0;
  K = dilation*(kernel-1) + 1): a config with exactly that padding in every dim goes as "same",
  zero padding as "valid"; any other explicit padding has no Keras form and is declared
  unsupported. output_padding is always passed explicitly.
- Weights are set in Keras's kernel layout (measured with `layer.build`): ConvND kernel
  (*kernel, C_in/groups, C_out), from torch's (C_out, C_in/groups, *kernel); ConvNDTranspose kernel
  (*kernel, C_out, C_in), from torch's (C_in, C_out, *kernel) (Keras's transposed layers take no
  `groups`: a grouped transposed config is declared unsupported with Keras's own error text).
- data_format follows config.memory_format: "channels_last" -> data_format "channels_last" (x as
  an N..C view, which for that buffer is contiguous); "contiguous" -> "channels_last" too (Keras's
  default, keras.config.image_data_format(), what a Keras user runs: x is handed over as the
  moveaxis view); "strided" -> "channels_first" (the NCHW view handed over as it is). What a
  backend refuses on CPU (TensorFlow: channels_first float64) is found by calling and raised as
  NotImplementedError with the backend's text (the harness records it as unsupported).
- Gradients: the backend's autodiff through the layer call: torch.autograd.grad, jax.vjp over
  `layer.stateless_call`, tf.GradientTape.
- No padding_mode other than "zeros" (Keras convolutions pad with zeros only) and no unbatched
  call (Keras layers take a batch axis): both declared unsupported.

KERAS_BACKEND is read once, when keras is imported: each backend's adapter declares it in
`environment` for its own worker process. In a process where keras is loaded with another backend
(or KERAS_BACKEND says another one), supports() says so and nothing runs.
float64 on the jax backend needs x64: enabled around each float64 call (`jax.enable_x64`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys

import numpy as np

from conformance.call_forms import string_padding
from conformance.capabilities import OPT_IN_AXES, FrameworkRefusal, Gap, no_padding_modes
from conformance.config import ConvConfig
from conformance.definitions import Definition
from conformance.registry import Implementation

__all__ = ["KerasAdapter", "KerasTorchAdapter", "KerasJaxAdapter", "KerasTensorFlowAdapter",
           "keras_padding", "keras_transposed_same_padding", "keras_data_format", "to_keras_kernel", "from_keras_kernel"]


# ---- how a config reads in Keras (NumPy only) ---------------------------------------------------


def keras_data_format(config: ConvConfig) -> str:
    """"channels_first" for a strided memory format, else Keras's default "channels_last" (module docstring)."""
    return "channels_first" if getattr(config, "memory_format", "contiguous") == "strided" else "channels_last"


def _effective_kernel(config: ConvConfig) -> tuple[int, ...]:
    return tuple(d * (k - 1) + 1 for k, d in zip(config.kernel, config.dilation))


def keras_padding(config: ConvConfig) -> tuple[tuple[tuple[int, int], ...] | None, str | None]:
    """(pairs for a ZeroPadding layer or None, the conv layer's padding string or None if there is none).

    - ordinary: "same"/"valid" as they are; pairs that are TF's SAME pairs (any stride): "same";
      other explicit pairs: ZeroPadding(pairs) then "valid"
      (no ZeroPadding layer when every pair is (0, 0));
    - transposed: zero padding -> "valid"; (K//2, K//2) in every dim -> "same"; else (None, None).
    """
    if not config.transposed:
        if isinstance(config.padding, str):
            return None, config.padding
        if string_padding(config, ("SAME",)):  # Keras's strides=2, padding="same": TF's SAME pairs
            return None, "same"
        if not any(lo or hi for lo, hi in config.padding):
            return None, "valid"
        return config.padding, "valid"
    pairs = config.resolved_padding
    if not any(lo or hi for lo, hi in pairs):
        return None, "valid"
    same = tuple(keras_transposed_same_padding(size, op)
                 for size, op in zip(_effective_kernel(config), config.output_padding))
    return (None, "same") if pairs == same else (None, None)


def keras_transposed_same_padding(effective_kernel: int, output_padding: int) -> tuple[int, int]:
    """The (lo, hi) padding, in torch's meaning, of Keras's transposed "same" with this output_padding.

    Keras pads the stride-dilated input by left = min(ceil(L / 2), K - 1), L = K + K % 2 - 2 + op
    (keras.src.backend.common.backend_utils, the rule every backend follows; measured equal on the
    torch and jax backends); torch's lo is K - 1 - left and lo + hi = 2 * (K // 2). So op = 0 gives
    (K//2, K//2), but op > 0 moves one position of padding from lo to hi.
    """
    k = effective_kernel
    length = k + k % 2 - 2 + output_padding
    lo = k - 1 - min(length // 2 + length % 2, k - 1)
    return lo, 2 * (k // 2) - lo


def to_keras_kernel(config: ConvConfig, w: np.ndarray) -> np.ndarray:
    """torch's weight -> Keras's kernel: (C_out, C_in/g, *k) -> (*k, C_in/g, C_out) or, transposed,
    (C_in, C_out, *k) -> (*k, C_out, C_in). Both are the same axis permutation. A weight of the wrong
    rank (an invalid call) is handed over as it is, for Keras to refuse."""
    if np.ndim(w) != config.ndim + 2:
        return w
    return np.transpose(w, (*range(2, 2 + config.ndim), 1, 0))


def from_keras_kernel(config: ConvConfig, kernel: np.ndarray) -> np.ndarray:
    """Inverse of to_keras_kernel."""
    n = config.ndim
    return np.transpose(kernel, (n + 1, n, *range(n)))


def _to_format(array: np.ndarray, data_format: str) -> np.ndarray:
    return np.moveaxis(array, 1, -1) if data_format == "channels_last" else array


def _from_format(array: np.ndarray, data_format: str) -> np.ndarray:
    return np.moveaxis(array, -1, 1) if data_format == "channels_last" else array


# ---- the adapters ---------------------------------------------------------------------------------


class KerasAdapter(Implementation):
    """keras.layers convolutions on one Keras backend (subclasses set `backend`); see the module docstring."""

    backend: str = ""
    devices = ("cpu",)
    # Keras builds two layers per call and the jax backend compiles every op for each new shape
    # (0.47 s an example cold). 12 a test: more than the ~8 each Keras path ran before the capability
    # declarations, when 60% of its draws were refused (benchmarks/README.md, issue #32).
    max_ci_examples = 12
    opt_in = tuple(OPT_IN_AXES)
    _TRANSPOSED = ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    defines = (Definition("'same' needs stride 1", "same_upper", "keras.layers.Conv*D: padding='same' for any "
                          "strides (TensorFlow's SAME: ceil(in / stride) outputs, the odd pad at the end)"),)
    gaps = (
        *no_padding_modes("Keras convolutions pad with zeros only (no padding_mode argument)"),
        Gap("unbatched", "no unbatched call (Keras layers take inputs with a batch axis)"),
        Gap("explicit padding", "Conv*DTranspose takes padding 'valid' or 'same' (its own rule), no (lo, hi) pairs",
            ops=_TRANSPOSED),
        Gap("groups>1", "Conv*DTranspose has no groups argument", refused_by="framework",
            message=r"Unrecognized keyword arguments passed to Conv\dDTranspose: \{'groups'", ops=_TRANSPOSED),
        Gap("output_padding>=stride", "Conv*DTranspose refuses output_padding >= strides (PyTorch allows it below "
                                      "max(stride, dilation))", refused_by="framework",
            message=r"output_padding. must be strictly less than .strides", ops=_TRANSPOSED),
        Gap("stride>1 and dilation>1", "Keras refuses strides > 1 together with dilation_rate > 1",
            refused_by="framework", message=r"strides > 1. not supported in conjunction with .dilation_rate > 1"),
    )

    # ---- declarations ----

    def backend_reason(self) -> str | None:
        """None when this process can run keras with `backend`, else why not."""
        loaded = sys.modules.get("keras")
        if loaded is not None:
            try:
                current = loaded.backend.backend()
            except AttributeError:  # keras mid-import
                current = None
            if current != self.backend:
                return (f"{self.name} needs its own process: keras is loaded with backend {current}; "
                        f"run with --isolation process")
            return None
        wanted = os.environ.get("KERAS_BACKEND")
        if wanted != self.backend:
            return (f"{self.name} needs its own process: KERAS_BACKEND is {wanted!r}, not {self.backend!r}; "
                    f"run with --isolation process (or set KERAS_BACKEND={self.backend})")
        return None

    def supports(self, config: ConvConfig, device: str = "cpu", check: str | None = None) -> str | None:
        if device not in self.devices:
            return f"{self.name}: device {device!r} not supported (supports {', '.join(self.devices)})"
        reason = self.backend_reason()
        if reason:
            return reason
        if config.transposed:
            _, padding = keras_padding(config)
            if padding is None:
                return (f"{self.name}: Conv{config.ndim}DTranspose takes padding 'valid' (none) or 'same' "
                        f"(keras_transposed_same_padding: K//2 each side, K = dilation*(kernel-1)+1, one moved to hi "
                        f"when output_padding > 0); explicit padding "
                        f"{config.resolved_padding} has no Keras form")
        return self._constructor_refusal(config)

    def _constructor_refusal(self, config: ConvConfig) -> str | None:
        """Keras's own error when its layer constructor refuses the config's arguments (found by calling)."""
        try:
            self._layers(config)
        except ValueError as err:
            return f"{self.name}: {' '.join(str(err).split())}"
        return None

    def versions(self) -> dict[str, str]:
        keras = self._keras()
        found = {"keras": keras.__version__, "keras.backend": keras.backend.backend()}
        backend = importlib.import_module(self.backend)
        found[self.backend] = getattr(backend, "__version__", "?")
        return found

    def settings(self, device: str = "cpu") -> dict[str, object]:
        keras = self._keras()
        return {"keras.config.image_data_format()": keras.config.image_data_format(),
                "keras.config.floatx()": keras.config.floatx()}

    # ---- building the layers ----

    def _keras(self):
        reason = self.backend_reason()
        if reason:
            raise RuntimeError(reason)
        return importlib.import_module("keras")

    def _layers(self, config: ConvConfig):
        """[ZeroPadding layer,] the conv layer, unbuilt."""
        keras = self._keras()
        pairs, padding = keras_padding(config)
        data_format = keras_data_format(config)
        n = config.ndim
        layers = []
        if pairs is not None:
            zero_padding = getattr(keras.layers, f"ZeroPadding{n}D")
            layers.append(zero_padding(padding=pairs[0] if n == 1 else pairs, data_format=data_format,
                                       dtype=config.dtype))
        common = dict(filters=config.out_channels, kernel_size=config.kernel, strides=config.stride,
                      padding=padding, data_format=data_format, dilation_rate=config.dilation,
                      use_bias=config.bias, dtype=config.dtype)
        if config.transposed:
            if config.groups != 1:  # Keras's transposed layers have no `groups`: let Keras say so
                common["groups"] = config.groups
            layers.append(getattr(keras.layers, f"Conv{n}DTranspose")(output_padding=config.output_padding, **common))
        else:
            layers.append(getattr(keras.layers, f"Conv{n}D")(groups=config.groups, **common))
        return layers

    def _built(self, config: ConvConfig, w, b):
        """The layers, built and holding the weights (the conv layer last)."""
        layers = self._layers(config)
        shape = list(config.input_shape)
        if keras_data_format(config) == "channels_last":
            shape = [shape[0], *shape[2:], shape[1]]
        for layer in layers:
            layer.build(tuple(shape))
            shape = list(layer.compute_output_shape(tuple(shape)))
        conv = layers[-1]
        weights = [to_keras_kernel(config, w).astype(np.float32 if config.dtype == "bfloat16" else w.dtype)]
        if config.bias:
            weights.append(b)
        conv.set_weights(weights)
        return layers

    def _input(self, config: ConvConfig, array):
        keras = self._keras()
        return keras.ops.convert_to_tensor(_to_format(array, keras_data_format(config)), dtype=config.dtype)

    def _numpy(self, config: ConvConfig, tensor, activation: bool = False) -> np.ndarray:
        keras = self._keras()
        if config.dtype == "bfloat16":
            tensor = keras.ops.cast(tensor, "float32")
        array = np.asarray(keras.ops.convert_to_numpy(tensor))
        return _from_format(array, keras_data_format(config)) if activation else array

    def _context(self, config: ConvConfig):
        keras = self._keras()
        stack = contextlib.ExitStack()
        stack.enter_context(keras.device("cpu"))
        return stack

    def _refusal(self, err: Exception) -> Exception:
        """A backend's refusal of a valid config, as NotImplementedError with its text; else `err` itself."""
        return err

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        with self._context(config):
            layers = self._built(config, w, b)
            y = self._input(config, x)
            try:
                for layer in layers:
                    y = layer(y)
            except Exception as err:
                raise self._refusal(err) from err
            return self._numpy(config, y, activation=True)

    def vjp(self, config: ConvConfig, x, w, b, grad_out, device: str = "cpu"):
        with self._context(config):
            layers = self._built(config, w, b)
            try:
                grad_x, grad_kernel, grad_b = self._gradients(config, layers, x, grad_out)
            except Exception as err:
                raise self._refusal(err) from err
            grad_x = self._numpy(config, grad_x, activation=True)
            grad_w = from_keras_kernel(config, self._numpy(config, grad_kernel))
            return grad_x, grad_w, self._numpy(config, grad_b) if config.bias else None

    def _gradients(self, config: ConvConfig, layers, x, grad_out):
        """(grad_x, grad_kernel, grad_bias or None) as backend tensors, in Keras's layouts."""
        raise NotImplementedError(f"{type(self).__name__}._gradients")


class KerasTorchAdapter(KerasAdapter):
    """Keras on the torch backend, torch CPU device; gradients by torch.autograd.grad."""

    name = "keras.torch"
    backend = "torch"
    environment = {"KERAS_BACKEND": "torch"}

    def _gradients(self, config, layers, x, grad_out):
        torch = importlib.import_module("torch")
        with torch.enable_grad():
            xt = self._input(config, x).requires_grad_(True)
            y = xt
            for layer in layers:
                y = layer(y)
            conv = layers[-1]
            variables = [conv.kernel.value] + ([conv.bias.value] if config.bias else [])
            g = self._input(config, grad_out)
            grads = torch.autograd.grad(y, [xt, *variables], grad_outputs=g, allow_unused=True,
                                        materialize_grads=True)
        return grads[0], grads[1], grads[2] if config.bias else None


class KerasJaxAdapter(KerasAdapter):
    """Keras on the jax backend; gradients by jax.vjp over layer.stateless_call."""

    name = "keras.jax"
    backend = "jax"
    environment = {"KERAS_BACKEND": "jax"}

    def _context(self, config):
        stack = super()._context(config)
        if config.dtype == "float64":
            jax = importlib.import_module("jax")
            stack.enter_context(jax.enable_x64(True))
        return stack

    def _gradients(self, config, layers, x, grad_out):
        jax = importlib.import_module("jax")
        conv = layers[-1]
        padding_layers = layers[:-1]

        def call(xt, variables):
            y = xt
            for layer in padding_layers:
                y = layer(y)
            y, _ = conv.stateless_call(variables, [], y)
            return y

        variables = [v.value for v in conv.trainable_variables]
        _, pullback = jax.vjp(call, self._input(config, x), variables)
        grad_x, grad_variables = pullback(self._input(config, grad_out))
        by_name = {v.path.split("/")[-1]: g for v, g in zip(conv.trainable_variables, grad_variables)}
        return grad_x, by_name["kernel"], by_name.get("bias")


class KerasTensorFlowAdapter(KerasAdapter):
    """Keras on the tensorflow backend; gradients by tf.GradientTape."""

    name = "keras.tensorflow"
    backend = "tensorflow"
    environment = {"KERAS_BACKEND": "tensorflow"}

    # TensorFlow's Eigen kernels (machine="tf_eigen": float64, float16 without AVX512-FP16, bfloat16
    # without AVX-512, every dtype where TF turns oneDNN off; conformance.machine) refuse
    # channels_first ordinary 1-d/2-d and every transposed channels_first call, and dilated transposed
    # calls. Measured on tensorflow-cpu 2.21.0 / keras 3.15.1 by calling every rank, op family,
    # memory format and dilation 1-2 (2026-12-07, on an AVX-512 CPU and an AVX2-only one); the
    # witnesses re-check it in every run.
    gaps = KerasAdapter.gaps + (
        Gap("memory_format=strided", "TensorFlow's Eigen CPU kernels take channels_last only (the strided "
                                     "format is Keras's channels_first)",
            refused_by="framework", message=r"only supports (the )?ND?HWC", machine="tf_eigen", devices=("cpu",),
            ops=("conv1d", "conv2d", *KerasAdapter._TRANSPOSED)),
        Gap("dilation>1", "TensorFlow's Eigen CPU Conv*DBackpropInput has no dilation",
            refused_by="framework", message=r"not yet support dilation rates larger than 1", machine="tf_eigen",
            devices=("cpu",), ops=KerasAdapter._TRANSPOSED),
    )

    # What TensorFlow raises for the declared gaps (a FrameworkRefusal: a finding inside the region),
    # and for Keras's transposed "same" with an even effective kernel, whose output size TensorFlow's
    # SAME rule rejects ("Size of out_backprop doesn't match computed"; oneDNN in float32: "could not
    # create a primitive descriptor"), which stays "unsupported" (the supports() residue: it is
    # Keras's padding rule, not a feature). Any other exception stays an error.
    _DECLARED = ("only supports NHWC", "only supports NDHWC", "only supports the NHWC", "not yet support dilation rates")
    _REFUSALS = _DECLARED + ("doesn't match computed", "could not create a primitive descriptor")

    def _refusal(self, err):
        text = " ".join(str(getattr(err, "message", err)).split())
        found = next((marker for marker in self._REFUSALS if marker in text), None)
        if found is None:
            return err
        # TF's own message: without Keras's "Exception encountered when calling ..." wrapping,
        # the terminal colour codes and the "Arguments received" trailer.
        text = re.sub(r"\x1b\[[0-9;]*m|\[[0-9;]*m", "", text)
        text = text[text.find("}}") + 2:] if "}}" in text else text
        text = text.split(" Arguments received")[0].split(" name:")[0].strip()
        refusal = FrameworkRefusal if found in self._DECLARED else NotImplementedError
        return refusal(f"{self.name}: {text[:300]}")

    def _gradients(self, config, layers, x, grad_out):
        tf = importlib.import_module("tensorflow")
        xt = self._input(config, x)
        conv = layers[-1]
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = xt
            for layer in layers:
                y = layer(y)
        variables = [conv.kernel.value] + ([conv.bias.value] if config.bias else [])
        grads = tape.gradient(y, [xt, *variables], output_gradients=self._input(config, grad_out),
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return grads[0], grads[1], grads[2] if config.bias else None
