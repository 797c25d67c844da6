"""NATS-Bench size search space (``nats_sss``).

Every network has the same cell topology -- the best NB201 cell on CIFAR-100,
``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``
-- and one cell per stage; an architecture is the number of channels of its 5 layers, each
one of 8, 16, ..., 64, written ``8:16:32:64:64``: 8**5 = 32,768 architectures.

Which channel goes where (xautodl ``models/shape_infers/InferTinyCellNet.py``,
``DynamicShapeTinyNet``, built by ``get_cell_based_tiny_net`` for ``infer.shape.tiny``)::

    stem     3x3 conv + BN                              -> c0
    cell 1   NB201 cell, c0 -> c0                          (32x32 on CIFAR)
    reduce 1 residual block, stride 2, c0 -> c1
    cell 2   NB201 cell, c1 -> c2                          (16x16)
    reduce 2 residual block, stride 2, c2 -> c3
    cell 3   NB201 cell, c3 -> c4                          (8x8)
    BN-ReLU, global average pooling, linear classifier on c4

A cell whose input and output widths differ computes its edges from the cell input with
``c_in -> c_out`` operations, and its ``skip_connect`` becomes a stride-1 "factorized reduce":
a 1x1 convolution (no bias) and BN, with no ReLU (xautodl ``models/cell_operations.py``).
So ``64:64:64:64:64`` is *not* the NB201 network with C=64 (whose widths double per stage):
all its layers have 64 channels.

Index order: the benchmark lists the architectures as ``itertools.product`` of the candidate
list over the 5 layers, first layer varying slowest (``traverse_net`` in AutoDL-Projects
``exps/NATS-Bench/main-sss.py``; the same list is ``meta_archs`` in the NATS-Bench repository's
``fake_torch_dir/NATS-sss-v1_0-50262-simple/meta.pickle.pbz2``), so index 0 is ``8:8:8:8:8``,
index 12 is ``8:8:8:16:40``, index 284 is ``8:8:40:32:40`` and index 32767 is
``64:64:64:64:64``. Reference: Dong, Liu, Musial & Gabrys, "NATS-Bench: Benchmarking NAS
Algorithms for Architecture Topology and Size", IEEE TPAMI 2021.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from zeronas.errors import ArchitectureError
from zeronas.spaces.base import ArchGraph, DatasetInfo, Space, check_index, network_node_costs
from zeronas.spaces.nb201 import InferCell, NB201Space, make_op
from zeronas.spaces.nb201 import arch_from_str as nb201_from_str
from zeronas.spaces.ops import ResNetBasicBlock

CANDIDATES: tuple[int, ...] = (8, 16, 24, 32, 40, 48, 56, 64)
"""The channel numbers each layer can take, in the benchmark's order."""
NUM_LAYERS = 5
GENOTYPE = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "nor_conv_3x3~2|"
)
"""The fixed cell of every size-space network (NB201 index 9930 in NATS-Bench's order)."""
LAYER_ROLES: tuple[str, ...] = ("stem+cell1", "reduce1", "cell2", "reduce2", "cell3")
"""What each of the 5 channel numbers sets (see the module docstring)."""

_TOKEN = re.compile(r"[1-9][0-9]{0,8}")  # a plain positive integer, at most 9 digits
_POSITION = {c: i for i, c in enumerate(CANDIDATES)}


@dataclass(frozen=True)
class NATSSizeArch:
    """The 5 layer widths of a size-space network. Immutable and hashable."""

    channels: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.channels, tuple) or len(self.channels) != NUM_LAYERS:
            raise ArchitectureError(
                f"a NATS size architecture needs a tuple of {NUM_LAYERS} channel numbers, "
                f"got {self.channels!r}"
            )
        for layer, c in enumerate(self.channels, start=1):
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c not in _POSITION:
                raise ArchitectureError(
                    f"channel {c!r} of layer {layer} is not one of "
                    f"{', '.join(map(str, CANDIDATES))}"
                )
        # store plain ints so that equal architectures hash equal whatever int type came in
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    def __str__(self) -> str:
        return arch_to_str(self)


def arch_to_str(arch: NATSSizeArch) -> str:
    """The benchmark's string of ``arch``: its channel numbers joined by ``:``."""
    return ":".join(str(c) for c in arch.channels)


def arch_from_str(text: str) -> NATSSizeArch:
    """Parse ``c0:c1:c2:c3:c4``, with an error naming what is wrong.

    Surrounding whitespace is ignored; each number must be written plainly (no sign, no
    leading zero, no inner spaces) and be one of :data:`CANDIDATES`.
    """
    if not isinstance(text, str):
        raise ArchitectureError(f"a NATS size architecture string must be a str, got {text!r}")
    parts = text.strip().split(":")
    if len(parts) != NUM_LAYERS:
        raise ArchitectureError(
            f"malformed NATS size string {text!r}: expected {NUM_LAYERS} channel numbers "
            f"separated by ':' (e.g. '8:16:32:64:64'), got {len(parts)}"
        )
    channels: list[int] = []
    for layer, tok in enumerate(parts, start=1):
        if not _TOKEN.fullmatch(tok):
            raise ArchitectureError(
                f"malformed NATS size string {text!r}: layer {layer} {tok!r} is not a plain "
                f"positive integer (e.g. '32')"
            )
        c = int(tok)
        if c not in _POSITION:
            raise ArchitectureError(
                f"invalid NATS size string {text!r}: channel {c} of layer {layer} is not one "
                f"of {', '.join(map(str, CANDIDATES))}"
            )
        channels.append(c)
    return NATSSizeArch(tuple(channels))


def arch_index(arch: NATSSizeArch) -> int:
    """The benchmark index of ``arch`` (first layer varying slowest)."""
    index = 0
    for c in arch.channels:
        index = index * len(CANDIDATES) + _POSITION[c]
    return index


def arch_at(index: int) -> NATSSizeArch:
    """The architecture at a benchmark ``index`` (checked to be in range)."""
    index = check_index(index, len(CANDIDATES) ** NUM_LAYERS, NATSSizeSpace.name)
    channels = []
    for _ in range(NUM_LAYERS):
        index, pos = divmod(index, len(CANDIDATES))
        channels.append(CANDIDATES[pos])
    return NATSSizeArch(tuple(reversed(channels)))


class _Projection(nn.Module):
    """``skip_connect`` between widths at stride 1: 1x1 conv (no bias) and BN, no ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def _size_op(op: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """NB201 ops, except ``skip_connect`` between widths, which NATS-Bench projects."""
    if op == "skip_connect" and c_in != c_out:
        return _Projection(c_in, c_out)
    return make_op(op, c_in, c_out, stride)


class SizeCell(InferCell):
    """The fixed NATS-Bench size-space cell from ``c_in`` to ``c_out`` channels (stride 1).

    Edges leaving the cell input map ``c_in -> c_out``; all other edges ``c_out -> c_out``.
    """

    def __init__(self, c_in: int, c_out: int, genotype: str = GENOTYPE) -> None:
        super().__init__(nb201_from_str(genotype), c_in, c_out, make=_size_op)
        self.c_in, self.c_out = c_in, c_out

    def extra_repr(self) -> str:
        return f"c_in={self.c_in}, c_out={self.c_out}"


class NATSSizeNetwork(nn.Module):
    """The size-space network ("DynamicShapeTinyNet"): stem, cell, reduction, cell,
    reduction, cell, BN-ReLU, global average pooling, linear classifier.
    ``forward`` returns logits."""

    def __init__(self, arch: NATSSizeArch, num_classes: int = 10) -> None:
        super().__init__()
        c = arch.channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, c[0], kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c[0])
        )
        self.cells = nn.Sequential(
            SizeCell(c[0], c[0]),
            ResNetBasicBlock(c[0], c[1], 2),
            SizeCell(c[1], c[2]),
            ResNetBasicBlock(c[2], c[3], 2),
            SizeCell(c[3], c[4]),
        )
        self.lastact = nn.Sequential(nn.BatchNorm2d(c[4]), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c[4], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.cells(self.stem(x)))
        out = self.global_pooling(out).flatten(1)
        return self.classifier(out)


class NATSSizeSpace(Space[NATSSizeArch]):
    """NATS-Bench size search space: 5 layer widths from 8..64, 32,768 architectures,
    indexed in the benchmark's order."""

    name = "nats_sss"
    description = "NATS-Bench size: 5 layer widths in {8,...,64}, fixed cell, 32,768 networks"
    datasets: ClassVar[dict[str, DatasetInfo]] = NB201Space.datasets  # same networks' datasets
    candidates = CANDIDATES
    genotype = GENOTYPE

    # -- values
    def sample(self, rng: np.random.Generator) -> NATSSizeArch:
        picks = rng.integers(len(CANDIDATES), size=NUM_LAYERS)
        return NATSSizeArch(tuple(CANDIDATES[int(i)] for i in picks))

    def mutate(self, arch: NATSSizeArch, rng: np.random.Generator) -> NATSSizeArch:
        self._check(arch)
        layer = int(rng.integers(NUM_LAYERS))
        others = [c for c in CANDIDATES if c != arch.channels[layer]]
        new = others[int(rng.integers(len(others)))]
        return NATSSizeArch((*arch.channels[:layer], new, *arch.channels[layer + 1 :]))

    def neighbours(self, arch: NATSSizeArch) -> list[NATSSizeArch]:
        self._check(arch)
        out = []
        for layer in range(NUM_LAYERS):
            for c in CANDIDATES:
                if c != arch.channels[layer]:
                    out.append(
                        NATSSizeArch((*arch.channels[:layer], c, *arch.channels[layer + 1 :]))
                    )
        return out

    def to_str(self, arch: NATSSizeArch) -> str:
        self._check(arch)
        return arch_to_str(arch)

    def from_str(self, text: str) -> NATSSizeArch:
        return arch_from_str(text)

    # -- finite
    @property
    def finite(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(CANDIDATES) ** NUM_LAYERS

    def __getitem__(self, index: int) -> NATSSizeArch:
        return arch_at(index)

    def index(self, arch: NATSSizeArch) -> int:
        self._check(arch)
        return arch_index(arch)

    # -- networks
    def to_torch(self, arch: NATSSizeArch, num_classes: int = 10, **kwargs: Any) -> nn.Module:
        if kwargs:
            raise TypeError(f"nats_sss to_torch got unexpected options: {sorted(kwargs)}")
        self._check(arch)
        return NATSSizeNetwork(arch, num_classes)

    def to_graph(self, arch: NATSSizeArch) -> ArchGraph:
        """A chain: ``input``, the stem conv, cell, reduction block, cell, reduction block,
        cell, ``output``; each layer labelled with its width (``conv_3x3_c8``, ``cell_c16``,
        ``resblock_c32``). ``groups`` names the stage of each node; ``costs`` each layer's
        multiply-adds per input pixel (32x32), which the width label alone cannot say."""
        self._check(arch)
        c = arch.channels
        ops = (
            "input",
            f"conv_3x3_c{c[0]}",
            f"cell_c{c[0]}",
            f"resblock_c{c[1]}",
            f"cell_c{c[2]}",
            f"resblock_c{c[3]}",
            f"cell_c{c[4]}",
            "output",
        )
        groups = ("input", "stem", "stage1", "reduce1", "stage2", "reduce2", "stage3", "output")
        edges = tuple((i, i + 1) for i in range(len(ops) - 1))
        owners = {"stem": 1, **{f"cells.{i}": i + 2 for i in range(5)}}
        costs = network_node_costs(self, arch, owners, len(ops), (3, 32, 32))
        return ArchGraph(ops, edges, groups, costs)

    @staticmethod
    def _check(arch: Any) -> None:
        if not isinstance(arch, NATSSizeArch):
            raise ArchitectureError(f"expected a NATSSizeArch, got {type(arch).__name__}")
