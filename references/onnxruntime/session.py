"""ONNX Runtime adapter: a one-node ONNX model (Conv / ConvTranspose) per config, run by
onnxruntime.InferenceSession on the CPU execution provider. Forward only.

Layouts are ONNX's, which are PyTorch's: X (N, C, *spatial); Conv W (M, C/group, *kernel);
ConvTranspose W (C, M/group, *kernel); B (M,). Arrays pass through unchanged.

The model, per config (built with onnx.helper, opset 21, cached per config so repeat calls reuse
the session):
- strides, dilations, group; `pads` = all begins then all ends ([lo_1, ..., lo_n, hi_1, ..., hi_n]);
- padding "same" -> auto_pad="SAME_UPPER" (the odd extra pad at the end, as ConvConfig's "same");
  "valid" -> auto_pad="VALID"; explicit pairs -> `pads`;
- ConvTranspose: explicit `pads` (ONNX's pads crop the full output as torch's padding does) and
  `output_padding` (added at the end of each dim, as torch's).
- padding_mode "reflect" / "replicate" / "circular": a Pad node (mode "reflect" / "edge" / "wrap")
  before a Conv with no padding: the two nodes an ONNX exporter emits for a PyTorch conv with that
  padding_mode.

What ORT runs on CPU (measured with onnxruntime 1.32, by calling):
- float32: runs. float16: runs (ORT inserts Casts to float32 around its float32 kernel; declared as
  float32 accumulation, float16 output). float64: "NOT_IMPLEMENTED : Could not find an
  implementation for Conv(11)". bfloat16: Conv's type constraint excludes it ("INVALID_GRAPH ...
  Type 'tensor(bfloat16)' of input parameter (x) of operator (Conv) ... is invalid").
- refusals of valid configs, raised as NotImplementedError with ORT's text (the harness records
  them as unsupported): ConvTranspose with output_padding >= stride, even where it is < dilation
  (torch's rule), "Computed output shape is inconsistent ... output_padding (1) may be too large
  for stride (1)"; auto_pad SAME_UPPER with dilation > 1, "Dilation not supported for
  AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER".
- no unbatched form (ONNX Conv's X has a batch axis N): declared unsupported.
- no gradients: `vjp`, `jvp` and `double_vjp` are not defined, so those check kinds are
  unsupported ("no vjp()"); determinism repeats the forward call.
"""

from __future__ import annotations

import importlib

import numpy as np

from conformance.arithmetic import Arithmetic
from conformance.call_forms import string_padding
from conformance.capabilities import TRANSPOSED_OPS, FrameworkRefusal, Gap, no_padding_modes
from conformance.config import ConvConfig
from conformance.definitions import Definition, same_upper_pairs
from conformance.registry import Implementation

__all__ = ["OnnxRuntimeAdapter", "conv_model", "PAD_MODES"]

OPSET = 21
# ConvConfig.padding_mode -> ONNX Pad's mode.
PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
# float64 and bfloat16 only to show ORT's refusal (supported_dtypes leaves them out).
_ELEMENT_TYPES = {"float32": "FLOAT", "float16": "FLOAT16", "float64": "DOUBLE", "bfloat16": "BFLOAT16"}
# ORT's messages for valid configs it refuses (module docstring).
_REFUSALS = ("may be too large for stride", "Dilation not supported for AutoPadType")


def conv_model(config: ConvConfig):
    """The onnx.ModelProto computing this config: inputs x, w[, b], output y."""
    onnx = importlib.import_module("onnx")
    helper = onnx.helper
    element = getattr(onnx.TensorProto, _ELEMENT_TYPES[config.dtype])
    n = config.ndim
    inputs = [helper.make_tensor_value_info("x", element, list(config.input_shape)),
              helper.make_tensor_value_info("w", element, list(config.weight_shape))]
    if config.bias:
        inputs.append(helper.make_tensor_value_info("b", element, [config.out_channels]))
    attributes = dict(strides=list(config.stride), dilations=list(config.dilation), group=config.groups,
                      kernel_shape=list(config.kernel))
    mode = getattr(config, "padding_mode", "zeros")
    nodes, initializers, source = [], [], "x"
    if mode != "zeros":
        pairs = same_upper_pairs(config)
        # Pad's pads cover every axis: (N, C) get none.
        pads = [0, 0, *(lo for lo, _ in pairs), 0, 0, *(hi for _, hi in pairs)]
        initializers.append(helper.make_tensor("pads", onnx.TensorProto.INT64, [len(pads)], pads))
        nodes.append(helper.make_node("Pad", ["x", "pads"], ["x_padded"], mode=PAD_MODES[mode]))
        source = "x_padded"
        attributes["pads"] = [0] * (2 * n)
    elif config.padding == "same":
        attributes["auto_pad"] = "SAME_UPPER"
    elif (same := string_padding(config)) and all(d == 1 for d in config.dilation):
        # pairs that are ONNX's SAME_UPPER / SAME_LOWER (any stride; ORT refuses auto_pad with dilation)
        attributes["auto_pad"] = "SAME_UPPER" if same == "SAME" else "SAME_LOWER"
    elif config.padding == "valid":
        attributes["auto_pad"] = "VALID"
    else:
        attributes["pads"] = [lo for lo, _ in config.padding] + [hi for _, hi in config.padding]
    if config.transposed:
        attributes["output_padding"] = list(config.output_padding)
    op = "ConvTranspose" if config.transposed else "Conv"
    nodes.append(helper.make_node(op, [source, "w"] + (["b"] if config.bias else []), ["y"], **attributes))
    output = helper.make_tensor_value_info("y", element, list(config.output_shape))
    graph = helper.make_graph(nodes, f"{config.op_name}", inputs, [output], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 10  # onnxruntime 1.32 reads IR versions up to 10/11; onnx 1.23 writes 11 or more
    return model


class OnnxRuntimeAdapter(Implementation):
    """One ONNX node per config on onnxruntime's CPU execution provider; see the module docstring."""

    name = "onnxruntime"
    devices = ("cpu",)
    dtypes = ("float32", "float16")
    opt_in = ("padding_mode", "unbatched")
    defines = (Definition("'same' needs stride 1", "same_upper", "ONNX Conv: auto_pad='SAME_UPPER' for any "
                          "stride, ceil(in / stride) outputs, the odd pad at the end", padding_modes=("zeros",),
                          unless=("dilation>1",)),  # "Dilation not supported for AutoPadType::SAME_UPPER"
               Definition("'same' needs stride 1", "same_upper", "a Pad node by the mode with SAME_UPPER's pads, "
                          "then Conv", padding_modes=("reflect", "replicate", "circular")))
    gaps = (
        Gap("unbatched", "no unbatched call (ONNX Conv's input X is (N, C, *spatial))"),
        *no_padding_modes("ONNX has no padding_mode; PyTorch's is a Pad node before an ordinary Conv only",
                          ops=TRANSPOSED_OPS),
        Gap("padding='same' and dilation>1", "ORT's Conv refuses auto_pad SAME_UPPER with dilation > 1",
            refused_by="framework", message=r"Dilation not supported for AutoPadType::SAME_UPPER"),
        Gap("output_padding>=stride", "ORT's ConvTranspose refuses output_padding >= stride (PyTorch allows it "
                                      "below max(stride, dilation))", refused_by="framework",
            message=r"output_padding \(\d+\) may be too large for stride", ops=("conv_transpose1d", "conv_transpose2d",
                                                                               "conv_transpose3d")),
    )

    def __init__(self) -> None:
        self._sessions: dict[str, object] = {}

    def supports(self, config: ConvConfig, device: str = "cpu", check: str | None = None) -> str | None:
        if device not in self.devices:
            return f"{self.name}: device {device!r} not supported (supports cpu: the CPU execution provider)"
        return None

    def supported_dtypes(self, device: str = "cpu", check: str = "forward") -> tuple[str, ...]:
        # float64: NOT_IMPLEMENTED (no Conv(11) kernel for double on CPU); bfloat16: not in Conv's
        # type constraint (INVALID_GRAPH). See the module docstring.
        return self.dtypes

    def arithmetic(self, config: ConvConfig, device: str = "cpu") -> Arithmetic:
        if config.dtype == "float16":
            return Arithmetic(accumulation="float32", output="float16",
                              note="ORT CPU runs float16 Conv through Casts around its float32 kernel")
        return Arithmetic(accumulation="float32", output="float32")

    def versions(self) -> dict[str, str]:
        ort = importlib.import_module("onnxruntime")
        onnx = importlib.import_module("onnx")
        return {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "opset": str(OPSET)}

    def settings(self, device: str = "cpu") -> dict[str, object]:
        return {"providers": ["CPUExecutionProvider"]}

    def session(self, config: ConvConfig):
        """The cached InferenceSession for this config (built on first use)."""
        key = config.to_json()
        if key not in self._sessions:
            ort = importlib.import_module("onnxruntime")
            options = ort.SessionOptions()
            options.log_severity_level = 3  # ORT's refusals come back as exceptions; no duplicate log line
            # ORT's intra-op threads spin after each Run by default, taking the cores the harness
            # and the other workers need between calls; sleeping instead changes no result.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                self._sessions[key] = ort.InferenceSession(conv_model(config).SerializeToString(), options,
                                                           providers=["CPUExecutionProvider"])
            except Exception as err:
                raise self._refusal(err) from err
        return self._sessions[key]

    def _refusal(self, err: Exception) -> Exception:
        text = " ".join(str(err).split())
        if any(marker in text for marker in _REFUSALS):
            return FrameworkRefusal(f"onnxruntime: {text.split('Status Message: ')[-1]}")
        return err

    def forward(self, config: ConvConfig, x, w, b=None, device: str = "cpu") -> np.ndarray:
        if device != "cpu":
            raise RuntimeError(f"{self.name}: device {device!r} not supported (CPU execution provider only)")
        session = self.session(config)
        feeds = {"x": x, "w": w}
        if config.bias:
            feeds["b"] = b
        ort = importlib.import_module("onnxruntime")
        run_options = ort.RunOptions()
        run_options.log_severity_level = 3  # a refusal comes back as the exception; no log line too
        try:
            (y,) = session.run(["y"], feeds, run_options)
        except Exception as err:
            raise self._refusal(err) from err
        return y
