"""Layer shapes from published networks, run as explicit examples beside the drawn ones.

Drawn configs are small and random; real layers are where kernels take their fast paths (1x1
pointwise GEMMs, depthwise kernels, long 1-d kernels, channel counts with "tails" that are not a
multiple of the vector width). Each entry keeps its layer's channels, kernel, stride, dilation,
padding and groups. Spatial sizes are scaled down where the published size would make the float64
oracle (and the explicit-matrix reference, which stores every tap) too slow for a test: the entry's
`scaled` says from what. Channels are never scaled, except where noted, because channel counts
choose the kernels.

Sources: He et al., "Deep Residual Learning" (ResNet-50, table 1); Sandler et al., "MobileNetV2"
(table 2); Ronneberger et al., "U-Net" (up-convolution 2x2, stride 2); Tran et al., "A Closer Look
at Spatiotemporal Convolutions" (R(2+1)D / C3D 3x3x3 blocks); the wav2vec 2.0 / SincNet audio front
ends (1-d conv, kernel 10 stride 5; 251-tap sinc filters); oneDNN's benchdnn "tails" shapes (channel
counts 3, 5, 7, 13, 17, 33). In the ci profile the entries marked `ci` run; the nightly runs all.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConvConfig

__all__ = ["ModelShape", "MODEL_SHAPES", "model_shapes"]


@dataclass(frozen=True)
class ModelShape:
    """One layer: `name` (the tag in records and the report), the network, the call, whether the ci
    profile runs it, and what was scaled down (None: the published shape)."""

    name: str
    network: str
    config: ConvConfig
    ci: bool = False
    scaled: str | None = None


def _c(ndim: int, **fields) -> ConvConfig:
    return ConvConfig(ndim=ndim, **fields)


MODEL_SHAPES: tuple[ModelShape, ...] = (
    ModelShape("resnet50.stem", "ResNet-50",
               _c(2, in_channels=3, out_channels=64, in_size=(32, 32), kernel=7, stride=2, padding=3, bias=False),
               ci=True, scaled="input 224x224 -> 32x32"),
    ModelShape("resnet50.bottleneck.reduce", "ResNet-50",
               _c(2, in_channels=256, out_channels=64, in_size=(7, 7), kernel=1, bias=False),
               scaled="56x56 -> 7x7"),
    ModelShape("resnet50.bottleneck.3x3", "ResNet-50",
               _c(2, in_channels=64, out_channels=64, in_size=(8, 8), kernel=3, padding=1, bias=False),
               ci=True, scaled="56x56 -> 8x8"),
    ModelShape("resnet50.downsample", "ResNet-50",
               _c(2, in_channels=256, out_channels=128, in_size=(8, 8), kernel=1, stride=2, bias=False),
               scaled="56x56 -> 8x8; output channels 512 -> 128"),
    ModelShape("mobilenetv2.depthwise", "MobileNetV2",
               _c(2, in_channels=144, out_channels=144, groups=144, in_size=(14, 14), kernel=3, stride=2,
                  padding=1, bias=False),
               ci=True, scaled="56x56 -> 14x14"),
    ModelShape("mobilenetv2.pointwise", "MobileNetV2",
               _c(2, in_channels=144, out_channels=24, in_size=(14, 14), kernel=1, bias=False),
               scaled="56x56 -> 14x14"),
    ModelShape("unet.up_conv", "U-Net",
               _c(2, transposed=True, in_channels=128, out_channels=64, in_size=(8, 8), kernel=2, stride=2, bias=True),
               ci=True, scaled="28x28 -> 8x8; channels 1024 -> 128 in, 512 -> 64 out"),
    ModelShape("video.r2plus1d.3x3x3", "R(2+1)D / C3D",
               _c(3, in_channels=16, out_channels=16, in_size=(4, 8, 8), kernel=3, padding=1, bias=False),
               scaled="8x56x56 -> 4x8x8; channels 64 -> 16"),
    ModelShape("audio.wav2vec2.frontend", "wav2vec 2.0",
               _c(1, in_channels=1, out_channels=64, in_size=(800,), kernel=10, stride=5, bias=False),
               ci=True, scaled="16000 samples -> 800; channels 512 -> 64"),
    ModelShape("audio.sincnet.long_kernel", "SincNet",
               _c(1, in_channels=1, out_channels=8, in_size=(600,), kernel=251, bias=False),
               scaled="3200 samples -> 600; 80 filters -> 8"),
    ModelShape("tails.c13_c17", "oneDNN tails",
               _c(2, in_channels=13, out_channels=17, in_size=(9, 9), kernel=3, padding=1, bias=True),
               ci=True),
    ModelShape("tails.c33_c7_dilated", "oneDNN tails",
               _c(2, in_channels=33, out_channels=7, in_size=(11, 11), kernel=3, dilation=2, padding=2, bias=True)),
    ModelShape("tails.c5_transposed", "oneDNN tails",
               _c(2, transposed=True, in_channels=5, out_channels=3, in_size=(7, 7), kernel=3, stride=2, padding=1,
                  output_padding=1)),
)


def model_shapes(op: str, *, ci_only: bool) -> tuple[ModelShape, ...]:
    """The entries of op family `op` (e.g. "conv2d"): the ci ones, or all of them."""
    return tuple(s for s in MODEL_SHAPES if s.config.op_name == op and (s.ci or not ci_only))
