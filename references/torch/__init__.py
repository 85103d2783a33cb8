"""PyTorch adapters. torch is imported on first use: importing this package does not import it.

- functional.py  TorchAdapter ("torch"): torch.nn.functional.conv{1,2,3}d / conv_transpose{1,2,3}d,
                 gradients by autograd
"""
