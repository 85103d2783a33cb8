"""KD-038: ONNX Runtime's CPU Pad kernel raises "Unexpected mode of 3" for mode "wrap" (ONNX opset 19+,
PyTorch's circular padding) on an empty tensor (a zero-size channel or batch axis), where modes
constant, reflect and edge return the padded empty shape. onnxruntime 1.32.0, onnx 1.23.2, opset 21.

    python tests/repro/onnxruntime_pad_wrap_empty.py    # exit 1: reproduced

Found by conv-conformance (onnxruntime conv2d/conv3d with C_in = 0 and padding_mode "circular": the
adapter pads with a Pad node before Conv). Uses only onnx, onnxruntime and numpy.
"""

import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper


def pad_model(mode, shape):
    """One Pad node: one position after each of the two spatial axes of an (N, C, H, W) input."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    pads = helper.make_tensor("pads", TensorProto.INT64, [8], [0, 0, 0, 0, 0, 0, 1, 1])
    graph = helper.make_graph([helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)], "pad", [x], [y],
                              initializer=[pads])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model


ort.set_default_logger_severity(4)
print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, opset 21")
outcome = {}
for shape in ((1, 0, 1, 1), (0, 2, 2, 2), (1, 2, 1, 1)):
    for mode in ("constant", "edge", "wrap"):
        try:
            session = ort.InferenceSession(pad_model(mode, shape).SerializeToString(),
                                           providers=["CPUExecutionProvider"])
            result = f"shape {session.run(None, {'x': np.zeros(shape, np.float32)})[0].shape}"
        except Exception as err:  # noqa: BLE001 (ORT raises its own Fail type)
            result = "raised: " + str(err).strip().splitlines()[0].split("Status Message: ")[-1]
        outcome[shape, mode] = result
        print(f"Pad(mode={mode!r}) of an input of shape {shape}: {result}")
reproduces = outcome[(1, 0, 1, 1), "wrap"].startswith("raised") and outcome[(1, 0, 1, 1), "edge"].startswith("shape")
print("REPRODUCES: wrap refuses an empty input that the other modes pad" if reproduces else "does not reproduce")
sys.exit(1 if reproduces else 0)
