"""Building blocks shared by the cell-based spaces (NAS-Bench-201, DARTS, TransNAS-Bench-101).

Each block follows the benchmark code's definition (operation order, bias, padding), so that a
network built here has the same parameters and FLOPs as the one the benchmark trained.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, the NB201/DARTS "nor_conv" operation."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int = 1,
        affine: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_out, kernel_size, stride=stride, padding=padding, dilation=dilation,
                bias=False,
            ),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class Zero(nn.Module):
    """The ``none`` operation: outputs zeros of the right shape (keeps the graph connected)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.c_in == self.c_out:
            if self.stride == 1:
                return x.mul(0.0)
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        n, _, h, w = x.shape
        return x.new_zeros(n, self.c_out, (h + self.stride - 1) // self.stride,
                           (w + self.stride - 1) // self.stride)

    def extra_repr(self) -> str:
        return f"c_in={self.c_in}, c_out={self.c_out}, stride={self.stride}"


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset 1x1 strided convolutions, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2, affine: bool = True) -> None:
        super().__init__()
        if stride != 2:
            raise ValueError(f"FactorizedReduce supports stride 2 only, got {stride}")
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even c_out, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        y = nn.functional.pad(x, (0, 1, 0, 1))
        out = torch.cat([self.conv_1(x), self.conv_2(y[:, :, 1:, 1:])], dim=1)
        return self.bn(out)


class Pooling(nn.Module):
    """NB201 pooling op: optional 1x1 ReLUConvBN when channels change, then 3x3 pooling."""

    def __init__(self, c_in: int, c_out: int, stride: int, mode: str = "avg") -> None:
        super().__init__()
        self.preprocess = None if c_in == c_out else ReLUConvBN(c_in, c_out, 1, 1, 0)
        if mode == "avg":
            self.op: nn.Module = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        elif mode == "max":
            self.op = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            raise ValueError(f"pooling mode must be 'avg' or 'max', got {mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preprocess is not None:
            x = self.preprocess(x)
        return self.op(x)


class ResNetBasicBlock(nn.Module):
    """The residual reduction block NB201 places between stages (stride 2)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample: nn.Module | None
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif c_in != c_out:
            self.downsample = ReLUConvBN(c_in, c_out, 1, 1, 0)
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_b(self.conv_a(x))
        residual = x if self.downsample is None else self.downsample(x)
        return residual + out


def dag_forward(
    x: torch.Tensor,
    edges: Sequence[nn.Module],
    pairs: Sequence[tuple[int, int]],
    num_nodes: int,
) -> torch.Tensor:
    """Run a cell DAG: node 0 is ``x``, node ``j`` the sum of ``edges[e](node[src])`` over
    the edges ``e`` with ``pairs[e] == (src, j)``; returns the last node. The NB201 cell and
    the TransNAS micro cell are both this."""
    nodes = [x]
    for j in range(1, num_nodes):
        total: torch.Tensor | None = None
        for e, (src, dst) in enumerate(pairs):
            if dst == j:
                out = edges[e](nodes[src])
                total = out if total is None else total + out
        if total is None:
            raise ValueError(f"cell node {j} has no incoming edge")
        nodes.append(total)
    return nodes[-1]

