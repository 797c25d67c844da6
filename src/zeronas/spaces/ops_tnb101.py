"""The networks of TransNAS-Bench-101 (Duan et al., CVPR 2021): encoders and task decoders.

Written from the benchmark's definitions (its ``lib/models``, also vendored by NASLib as
``naslib/search_spaces/transbench101/tnb101``), so that parameter counts, FLOPs and outputs
match the networks the benchmark trained:

- **Encoder** ("backbone"): a stem (3x3 conv stride 2 to ``C/2`` channels + BN, then a
  ReLU-conv-BN 3x3 stride 2 to ``C``), then one *module* per skeleton code, each two cells:
  code 1 keeps channels and resolution, 2 doubles the channels, 3 halves the resolution
  (stride 2 in the module's first cell), 4 does both. Convolutions are Kaiming-normal
  initialised (fan-out, ReLU), BN weights 1 and biases 0, as the benchmark does.
- **Cells**: the micro space's 4-node cell (:class:`MicroCell`) or the macro space's ResNet
  basic block (:class:`BasicBlock`, shortcut a strided 1x1 conv + BN when the shape changes).
- **Decoders**: a linear head after global average pooling (classification, room layout),
  a Siamese head over nine jigsaw tiles (:class:`SiameseNet`), the 8-layer conv/deconv
  :class:`SegmentationDecoder` and the 14-layer pix2pix-style :class:`GenerativeDecoder`
  (normal, autoencoder). Decoder layers keep PyTorch's default initialisation, as in the
  benchmark. The discriminator the benchmark trains next to the generative decoder is a
  training device (its adversarial loss has weight 0.01) and is not part of these networks.

On the **meta device** (shape inference, parameter and FLOP counting) the layers take a
shortcut: only the convolutions and linear layers run, while shape-preserving work with no
FLOPs in the benchmarks' convention -- BN, activations, the sums of a cell, ``none`` edges --
is skipped (PyTorch's meta kernels for those cost ~0.5-2 ms per call, which made counting the
4,096 micro networks take many minutes). The tests check that the count equals that of a
real forward pass; on real tensors every layer runs as defined.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from zeronas.spaces.ops import Zero, dag_forward

CellFactory = Callable[[int, int, int], nn.Module]
"""``make(c_in, c_out, stride)`` -> one cell of the encoder."""

SHORTCUT_BN_EPS = 1.0
SHORTCUT_BN_MOMENTUM = 1.0
"""The macro cell's shortcut BN settings, as the benchmark's code has them (see BasicBlock)."""
MICRO_NODES = 4
MICRO_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""``(source, target)`` of the micro cell's six edges, in the order of the cell code."""


class ConvUnit(nn.Sequential):
    """A convolution (or transposed convolution) with shape-preserving layers around it:
    ReLU/LeakyReLU/tanh activations and batch norm, in the benchmark's order.

    On the meta device (shape inference and FLOP counting) only the convolution runs: the
    other layers keep the shape and count no FLOPs in the benchmarks' convention, and their
    meta kernels cost about 2 ms per call, which made counting all 4,096 micro networks take
    many minutes. On real tensors every layer runs.
    """

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__(*layers)
        convs = [i for i, m in enumerate(layers)
                 if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if len(convs) != 1:
            raise ValueError(f"a ConvUnit holds exactly one convolution, got {len(convs)}")
        self.conv_index = convs[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_meta:
            return self[self.conv_index](x)
        return super().forward(x)


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> ConvUnit:
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, the benchmark's ``ReLUConvBN``."""
    return ConvUnit(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
    )


class FactorizedReduce(nn.Module):
    """The benchmark's skip connection where the shape changes: ReLU, then two 1x1 convs with
    the cell's stride -- one on the input, one on the input shifted by one pixel -- giving
    ``c_out // 2`` and ``c_out - c_out // 2`` channels, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c, 1, stride=stride, padding=0, bias=False)
            for c in (c_out // 2, c_out - c_out // 2)
        )
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_meta:  # the shifted input has the input's shape; only the convs count
            a, b = self.convs[0](x), self.convs[1](x)
            return a.new_empty((a.shape[0], a.shape[1] + b.shape[1], *a.shape[2:]))
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.convs[0](x), self.convs[1](shifted)], dim=1))


def micro_op(code: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    """One micro-cell edge: 0 zero, 1 skip (identity, or factorized reduce when the shape
    changes), 2 ReLU-conv-BN 1x1, 3 ReLU-conv-BN 3x3."""
    if code == 0:
        return Zero(c_in, c_out, stride)
    if code == 1:
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        return FactorizedReduce(c_in, c_out, stride)
    if code == 2:
        return relu_conv_bn(c_in, c_out, 1, stride, 0)
    if code == 3:
        return relu_conv_bn(c_in, c_out, 3, stride, 1)
    raise ValueError(f"micro op code {code!r} is out of range: expected 0, 1, 2 or 3")


class MicroCell(nn.Module):
    """The micro cell: node ``j`` is the sum of its incoming edge ops applied to nodes
    ``i < j``; the cell's output is node 3. Edges leaving the cell input map
    ``c_in -> c_out`` with the cell's stride, all others ``c_out -> c_out`` with stride 1."""

    def __init__(self, codes: Sequence[int], c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        if len(codes) != len(MICRO_EDGES):
            raise ValueError(f"a micro cell needs {len(MICRO_EDGES)} op codes, got {codes!r}")
        self.edges = nn.ModuleList(
            micro_op(code, c_in, c_out, stride) if src == 0 else micro_op(code, c_out, c_out, 1)
            for (src, _), code in zip(MICRO_EDGES, codes, strict=True)
        )
        self.c_out, self.stride = c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_meta:
            return self._meta_forward(x)
        return dag_forward(x, self.edges, MICRO_EDGES, MICRO_NODES)

    def _meta_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shapes only: every edge op but ``none`` runs (so its FLOPs are counted); the sums
        and the zeros, which count none and keep the shape, are skipped."""
        n, _, h, w = x.shape
        shape = (n, self.c_out, (h + self.stride - 1) // self.stride,
                 (w + self.stride - 1) // self.stride)
        nodes = [x]
        for j in range(1, MICRO_NODES):
            outs = [self.edges[e](nodes[src]) for e, (src, dst) in enumerate(MICRO_EDGES)
                    if dst == j and not isinstance(self.edges[e], Zero)]
            nodes.append(outs[0] if outs else x.new_empty(shape))
        return nodes[-1]


class BasicBlock(nn.Module):
    """The macro space's cell, a ResNet basic block: ReLU-conv-BN 3x3 (stride ``stride``),
    ReLU-conv-BN 3x3, plus the input -- through a strided 1x1 conv + BN when the stride or
    the width changes.

    That shortcut BN has ``eps=1`` and ``momentum=1``, as in the benchmark: its code passes
    ``affine`` and ``track_running_stats`` positionally (``BatchNorm2d(c, True, True)``),
    where ``BatchNorm2d`` takes ``eps`` and ``momentum``. The networks the benchmark trained
    had it, so these do too (it changes outputs, not parameter counts).
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride, 1)
        self.conv_b = relu_conv_bn(c_out, c_out, 3, 1, 1)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = ConvUnit(
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, padding=0, bias=False),
                nn.BatchNorm2d(c_out, eps=SHORTCUT_BN_EPS, momentum=SHORTCUT_BN_MOMENTUM),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.conv_b(self.conv_a(x))
        return out if x.is_meta else residual + out  # on meta: shapes only, the sum counts none


class Encoder(nn.Module):
    """The benchmark's backbone: stem, then two cells per skeleton code (see module doc).

    ``out_channels`` is the width of the output feature map and ``reductions`` how many times
    the resolution is halved (2 in the stem plus one per code 3 or 4).
    """

    def __init__(self, skeleton: Sequence[int], make_cell: CellFactory, base: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvUnit(nn.Conv2d(3, base // 2, kernel_size=3, stride=2, padding=1, bias=False),
                     nn.BatchNorm2d(base // 2)),
            relu_conv_bn(base // 2, base, 3, 2, 1),
        )
        c = base
        layers: list[nn.Module] = []
        for code in skeleton:
            planes = c * 2 if code % 2 == 0 else c
            stride = 2 if code > 2 else 1
            layers.append(nn.Sequential(make_cell(c, planes, stride), make_cell(planes, planes, 1)))
            c = planes
        self.layers = nn.Sequential(*layers)
        self.out_channels = c
        self.reductions = 2 + sum(1 for code in skeleton if code > 2)
        for m in self.modules():
            if any(p.is_meta for p in m.parameters(recurse=False)):
                continue  # nothing to initialise on the meta device (and it is slow there)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))


class LinearHead(nn.Sequential):
    """Global average pooling, flatten, one linear layer (classification and regression)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(c_in, c_out))


def _conv(c_in: int, c_out: int, act: nn.Module | None, norm: bool = True) -> ConvUnit:
    """The benchmark's ``ConvLayer``: 3x3 conv (with bias), then BN, then the activation."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=1, padding=1)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    if act is not None:
        layers.append(act)
    return ConvUnit(*layers)


def _deconv(c_in: int, c_out: int) -> ConvUnit:
    """The benchmark's ``DeconvLayer``: 3x3 transposed conv doubling the resolution (stride 2,
    padding 1, output padding 1, with bias), BN, LeakyReLU(0.2)."""
    return ConvUnit(
        nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    )


def upsamplings(feature_width: int, out_width: int) -> int:
    """How many resolution doublings a decoder needs from ``feature_width`` to ``out_width``
    (the benchmark's decoders accept 2 to 6)."""
    ratio = out_width / feature_width
    n = round(math.log2(ratio)) if ratio > 0 else -1
    if feature_width * 2**n != out_width or not 2 <= n <= 6:
        raise ValueError(
            f"a decoder cannot map feature maps of width {feature_width} to width {out_width}: "
            "expected a power-of-two ratio from 4 to 64"
        )
    return n


class SegmentationDecoder(nn.Sequential):
    """The benchmark's segmentation decoder: conv to 1024 channels, ``6 - u`` convs halving the
    channels, ``u - 1`` deconvs halving them, one deconv keeping them, then a plain 3x3 conv to
    ``classes`` logits per pixel (``u`` = number of upsamplings; LeakyReLU(0.2) throughout)."""

    def __init__(self, c_in: int, feature_width: int, out_width: int, classes: int) -> None:
        u = upsamplings(feature_width, out_width)
        layers: list[nn.Module] = [_conv(c_in, 1024, nn.LeakyReLU(0.2))]
        c = 1024
        for _ in range(6 - u):
            layers.append(_conv(c, c // 2, nn.LeakyReLU(0.2)))
            c //= 2
        for _ in range(u - 1):
            layers.append(_deconv(c, c // 2))
            c //= 2
        layers.append(_deconv(c, c))
        layers.append(_conv(c, classes, None, norm=False))
        super().__init__(*layers)


class GenerativeDecoder(nn.Sequential):
    """The benchmark's 14-layer generator decoder (normal, autoencoder): convs at
    1024-1024-512-512-256-128-64-64-32-32-16-32-16 channels, where layers 3, 5, 7 and 9 are
    deconvs (upsampling) only as far as the ``u`` upsamplings need, layers 11 and 13 always
    are, and a final 3x3 conv with tanh gives ``channels`` outputs."""

    def __init__(self, c_in: int, feature_width: int, out_width: int, channels: int = 3) -> None:
        u = upsamplings(feature_width, out_width)

        def act() -> nn.Module:
            return nn.LeakyReLU(0.2)

        def maybe_up(a: int, b: int, up: bool) -> nn.Module:
            return _deconv(a, b) if up else _conv(a, b, act())

        super().__init__(
            _conv(c_in, 1024, act()),
            _conv(1024, 1024, act()),
            maybe_up(1024, 512, u == 6),
            _conv(512, 512, act()),
            maybe_up(512, 256, u >= 5),
            _conv(256, 128, act()),
            maybe_up(128, 64, u >= 4),
            _conv(64, 64, act()),
            maybe_up(64, 32, u >= 3),
            _conv(32, 32, act()),
            _deconv(32, 16),
            _conv(16, 32, act()),
            _deconv(32, 16),
            _conv(16, channels, nn.Tanh(), norm=False),
        )


class EncoderDecoder(nn.Module):
    """``decoder(encoder(x))``: the benchmark's feed-forward, segmentation and generative
    models (the same composition).

    A dense decoder has no global pooling, so the Zen-score's "pre-GAP feature map" is taken
    where NASLib's TransNAS-Bench-101 graph takes it (``_forward_before_last_conv``): the input
    of the decoder's last convolution, named by ``pre_gap_input`` (a module path, read by
    :func:`zeronas.proxies.activation.pre_gap_features`)."""

    pre_gap_input: str | None = None

    def __init__(self, encoder: Encoder, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        if isinstance(decoder, (SegmentationDecoder, GenerativeDecoder)):
            last = len(decoder) - 1  # a ConvUnit whose first module is the last convolution
            self.pre_gap_input = f"decoder.{last}.0"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class SiameseNet(nn.Module):
    """The jigsaw model: input ``(N, tiles, 3, H, W)``; the encoder runs on each tile on its
    own (one call per tile, so BN sees the batch of that tile, as in the benchmark), the
    feature maps are concatenated along channels (tile-major) and the decoder classifies the
    permutation."""

    def __init__(self, encoder: Encoder, decoder: nn.Module, tiles: int = 9) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.tiles = tiles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.tiles:
            raise ValueError(
                f"the jigsaw network expects input of shape (N, {self.tiles}, C, H, W), "
                f"got {tuple(x.shape)}"
            )
        feats = [self.encoder(x[:, i]) for i in range(self.tiles)]
        return self.decoder(torch.cat(feats, dim=1))
