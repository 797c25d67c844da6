"""Operations of the DARTS cell space (Liu, Simonyan & Yang, ICLR 2019).

Each block follows the definition of the DARTS evaluation network (``cnn/operations.py`` and
``cnn/model.py`` of the DARTS code): operation order, bias-free convolutions, padding and
dilation, so that a network built here has the parameters and FLOPs of the one DARTS trained.
The blocks shared with other spaces (``ReLUConvBN``, ``Zero``, ``FactorizedReduce``) come from
:mod:`zeronas.spaces.ops`; ReLUs are never in-place, so hooks and proxies see every tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from zeronas.errors import ArchitectureError
from zeronas.spaces.ops import FactorizedReduce, Zero

DARTS_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "avg_pool_3x3",
    "max_pool_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The eight candidate operations of the DARTS CNN space."""


class SepConv(nn.Sequential):
    """DARTS separable convolution: (ReLU, depthwise kxk, pointwise 1x1, BN) applied twice.

    Only the first depthwise convolution has the stride; the first half keeps ``c_in``
    channels, the second maps to ``c_out``.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, groups=c_in,
                      bias=False),
            nn.Conv2d(c_in, c_in, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=1, padding=padding, groups=c_in,
                      bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """DARTS dilated separable convolution: ReLU, depthwise dilated kxk, pointwise 1x1, BN."""

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, dilation: int,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding,
                      dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


def make_darts_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """One DARTS edge operation on ``channels`` channels with ``stride`` 1 or 2.

    As in the DARTS ``OPS`` table: pooling has no BN in the evaluation network, and
    ``skip_connect`` with stride 2 is a :class:`FactorizedReduce`.
    """
    if stride not in (1, 2):
        raise ArchitectureError(f"DARTS op stride must be 1 or 2, got {stride}")
    if name == "none":
        return Zero(channels, channels, stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, 2, affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "sep_conv_3x3":
        return SepConv(channels, channels, 3, stride, 1, affine)
    if name == "sep_conv_5x5":
        return SepConv(channels, channels, 5, stride, 2, affine)
    if name == "dil_conv_3x3":
        return DilConv(channels, channels, 3, stride, 2, 2, affine)
    if name == "dil_conv_5x5":
        return DilConv(channels, channels, 5, stride, 4, 2, affine)
    raise ArchitectureError(f"unknown DARTS op {name!r}: expected one of {', '.join(DARTS_OPS)}")


class AuxiliaryHeadCIFAR(nn.Module):
    """The DARTS CIFAR auxiliary classifier (expects an 8x8 feature map)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class AuxiliaryHeadImageNet(nn.Module):
    """The DARTS ImageNet auxiliary classifier (expects 14x14; no BN after the 2x2 conv,
    as in the DARTS code and paper experiments)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))
