"""ONNX Runtime adapter. onnx and onnxruntime are imported on first use: importing this package does not import them.

- session.py  OnnxRuntimeAdapter ("onnxruntime"): a one-node ONNX Conv / ConvTranspose model per
              config (a Pad node before it for reflect/replicate/circular padding) on the CPU
              execution provider; forward only.
"""
