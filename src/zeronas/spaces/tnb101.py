"""TransNAS-Bench-101 (Duan et al., CVPR 2021): the micro (cell) and macro (skeleton) spaces.

Architectures are written exactly as the benchmark's API strings:

- ``tnb101_micro``: ``64-41414-a_bc_def``. Base width 64, the fixed skeleton ``41414`` (five
  modules of two cells) and a 4-node cell: ``a`` is the op of edge 0->1, ``bc`` of edges
  0->2, 1->2, ``def`` of edges 0->3, 1->3, 2->3; op codes 0 none (zero), 1 skip_connect,
  2 ReLU-conv-BN 1x1, 3 ReLU-conv-BN 3x3. 4**6 = 4,096 cells.
- ``tnb101_macro``: ``64-XXXX-basic``. 4 to 6 modules of two ResNet basic blocks, one code
  per module: 1 keep, 2 double the channels, 3 halve the resolution, 4 both; the resolution
  is halved 1 to 4 times and the channels doubled 1 to 3 times. 3,256 skeletons.

**Index order** (both spaces): the API strings sorted as Python strings -- the row order of the
benchmark exports in ``$ZERONAS_DATA/transnas101``. For the micro space this is also
NASLib's ``itertools.product(range(4), repeat=6)`` order: index = the six codes read as a
base-4 number, edge 0->1 most significant. The official API's own ``index2arch`` order lives
in its ``.pth`` file and is not reproduced.

**Tasks** (the space's ``datasets``), with the benchmark's input, output and training loss:

========================  ===============  =================  ===============================
task                      input            output             loss (and targets)
========================  ===============  =================  ===============================
``class_scene``           3x256x256        47 logits          soft-target cross-entropy
``class_object``          3x256x256        75 logits          soft-target cross-entropy
``jigsaw``                9x3x64x64 tiles  1,000 logits       cross-entropy (permutation)
``room_layout``           3x256x256        9 values           MSE (standardised layout)
``segmentsemantic``       3x256x256        17x256x256 logits  cross-entropy per pixel
``normal``                3x256x256        3x256x256 (tanh)   L1 (normal image in [0, 1])
``autoencoder``           3x256x256        3x256x256 (tanh)   L1 (the input image)
========================  ===============  =================  ===============================

Class counts are those of the benchmark's "final5k" Taskonomy split (its configs and
``load_ops``: 100 -> 75 object classes, 63 -> 47 scene classes); NASLib's re-implementation
uses the pre-split 100 and 63. The generative tasks are trained with ``0.99 * L1`` plus a
``0.01``-weighted conditional-GAN loss from a discriminator; proxies use the L1 term, since
the discriminator is not part of the network. See :mod:`zeronas.spaces.ops_tnb101` for the
layers.
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from torch import nn

from zeronas.errors import ArchitectureError
from zeronas.spaces.base import ArchGraph, DatasetInfo, Space, check_index
from zeronas.spaces.ops_tnb101 import (
    BasicBlock,
    Encoder,
    EncoderDecoder,
    GenerativeDecoder,
    LinearHead,
    MicroCell,
    SegmentationDecoder,
    SiameseNet,
)

BASE_CHANNELS = 64
MICRO_SKELETON: tuple[int, ...] = (4, 1, 4, 1, 4)
"""The micro space's fixed skeleton ``41414``."""
MICRO_OP_NAMES: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
"""Op code -> name (the NAS-Bench-201 names of the same operations)."""
MICRO_GROUPS = (1, 2, 3)
"""Digits per node in the cell code ``a_bc_def``."""
MACRO_CODES: dict[int, str] = {
    1: "keep", 2: "double channels", 3: "halve resolution", 4: "double channels and halve "
    "resolution",
}
MACRO_LENGTHS = (4, 5, 6)
MACRO_REDUCTIONS = (1, 4)
"""Least and most modules that halve the resolution (codes 3 and 4)."""
MACRO_DOUBLINGS = (1, 3)
"""Least and most modules that double the channels (codes 2 and 4)."""
JIGSAW_TILES = 9
IMAGE = (3, 256, 256)

TASKS: dict[str, DatasetInfo] = {
    "class_scene": DatasetInfo("class_scene", 47, IMAGE, loss="soft_cross_entropy"),
    "class_object": DatasetInfo("class_object", 75, IMAGE, loss="soft_cross_entropy"),
    "jigsaw": DatasetInfo("jigsaw", 1000, (JIGSAW_TILES, 3, 64, 64)),
    "room_layout": DatasetInfo("room_layout", 9, IMAGE, (9,), "mse", "gaussian"),
    "segmentsemantic": DatasetInfo("segmentsemantic", 17, IMAGE, (17, 256, 256),
                                   "cross_entropy", "pixel_class"),
    "normal": DatasetInfo("normal", 3, IMAGE, IMAGE, "l1", "unit"),
    "autoencoder": DatasetInfo("autoencoder", 3, IMAGE, IMAGE, "l1", "input"),
}
"""The seven tasks, in the benchmark's column order (see the module docstring)."""


# --------------------------------------------------------------------------- values
def _codes(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        raise ArchitectureError(f"{what} must be a tuple of ints, got {values!r}")
    return values


@dataclass(frozen=True)
class TNB101MicroArch:
    """A micro-space cell: six op codes (0-3) in the order of the cell code ``a_bc_def``."""

    ops: tuple[int, ...]

    def __post_init__(self) -> None:
        _codes(self.ops, "a TransNAS-Bench-101 micro cell")
        if len(self.ops) != 6:
            raise ArchitectureError(
                f"a TransNAS-Bench-101 micro cell has 6 op codes, got {len(self.ops)}: "
                f"{self.ops!r}"
            )
        for code in self.ops:
            if not 0 <= code <= 3:
                raise ArchitectureError(
                    f"micro op code {code} is out of range: expected 0 (none), "
                    "1 (skip_connect), 2 (conv 1x1) or 3 (conv 3x3)"
                )

    def __str__(self) -> str:
        return micro_to_str(self)


def _macro_problem(modules: tuple[int, ...]) -> str | None:
    """Why ``modules`` is not a skeleton of the macro space, or None."""
    if len(modules) not in MACRO_LENGTHS:
        return (f"has {len(modules)} modules: expected {MACRO_LENGTHS[0]} to "
                f"{MACRO_LENGTHS[-1]}")
    bad = [c for c in modules if c not in MACRO_CODES]
    if bad:
        return (f"has module code {bad[0]} out of range: expected 1 (keep), 2 (double "
                "channels), 3 (halve resolution) or 4 (both)")
    red = sum(1 for c in modules if c in (3, 4))
    if not MACRO_REDUCTIONS[0] <= red <= MACRO_REDUCTIONS[1]:
        return (f"halves the resolution {red} times (codes 3, 4): the benchmark's skeletons "
                f"do so {MACRO_REDUCTIONS[0]} to {MACRO_REDUCTIONS[1]} times")
    dbl = sum(1 for c in modules if c in (2, 4))
    if not MACRO_DOUBLINGS[0] <= dbl <= MACRO_DOUBLINGS[1]:
        return (f"doubles the channels {dbl} times (codes 2, 4): the benchmark's skeletons "
                f"do so {MACRO_DOUBLINGS[0]} to {MACRO_DOUBLINGS[1]} times")
    return None


@dataclass(frozen=True)
class TNB101MacroArch:
    """A macro-space skeleton: one code (1-4) per module, 4 to 6 modules, halving the
    resolution 1 to 4 times and doubling the channels 1 to 3 times."""

    modules: tuple[int, ...]

    def __post_init__(self) -> None:
        _codes(self.modules, "a TransNAS-Bench-101 macro skeleton")
        problem = _macro_problem(self.modules)
        if problem:
            raise ArchitectureError(
                f"macro skeleton {''.join(map(str, self.modules))!r} {problem}"
            )

    def __str__(self) -> str:
        return macro_to_str(self)


# --------------------------------------------------------------------------- strings
def micro_to_str(arch: TNB101MicroArch) -> str:
    """The API string ``64-41414-a_bc_def`` of ``arch``."""
    d = "".join(map(str, arch.ops))
    return f"{BASE_CHANNELS}-{''.join(map(str, MICRO_SKELETON))}-{d[0]}_{d[1:3]}_{d[3:]}"


def macro_to_str(arch: TNB101MacroArch) -> str:
    """The API string ``64-XXXX-basic`` of ``arch``."""
    return f"{BASE_CHANNELS}-{''.join(map(str, arch.modules))}-basic"


def _split(text: Any, space: str, expected: str) -> tuple[str, list[str]]:
    if not isinstance(text, str):
        raise ArchitectureError(
            f"a TransNAS-Bench-101 {space} architecture must be a string like {expected!r}, "
            f"got {text!r}"
        )
    s = text.strip()
    parts = s.split("-")
    if len(parts) != 3 or not all(parts):
        raise ArchitectureError(
            f"malformed TransNAS-Bench-101 {space} string {text!r}: expected three '-'-separated "
            f"parts like {expected!r}"
        )
    if parts[0] != str(BASE_CHANNELS):
        raise ArchitectureError(
            f"malformed TransNAS-Bench-101 {space} string {text!r}: base width {parts[0]!r} "
            f"must be {BASE_CHANNELS}"
        )
    return s, parts


def micro_from_str(text: str) -> TNB101MicroArch:
    """Parse ``64-41414-a_bc_def``, with an error naming what is wrong."""
    expected = "64-41414-3_33_333"
    _, (_, skeleton, cell) = _split(text, "micro", expected)
    if cell == "basic":
        raise ArchitectureError(
            f"{text!r} is a macro-space string (ResNet basic-block cell): the micro space has "
            f"the skeleton 41414 and a cell code like {expected!r}"
        )
    if skeleton != "".join(map(str, MICRO_SKELETON)):
        raise ArchitectureError(
            f"wrong skeleton {skeleton!r} in micro string {text!r}: the micro space fixes it "
            f"to 41414"
        )
    groups = cell.split("_")
    if tuple(len(g) for g in groups) != MICRO_GROUPS:
        raise ArchitectureError(
            f"malformed cell code {cell!r} in {text!r}: expected three groups of 1, 2 and 3 "
            "op codes joined by '_' (a_bc_def)"
        )
    digits = "".join(groups)
    for ch in digits:
        if ch not in "0123":
            raise ArchitectureError(
                f"op code {ch!r} in cell {cell!r} is out of range: expected 0 (none), "
                "1 (skip_connect), 2 (conv 1x1) or 3 (conv 3x3)"
            )
    return TNB101MicroArch(tuple(int(ch) for ch in digits))


def macro_from_str(text: str) -> TNB101MacroArch:
    """Parse ``64-XXXX-basic``, with an error naming what is wrong."""
    expected = "64-1234-basic"
    if isinstance(text, str):
        parts = text.strip().split("-")
        if len(parts) == 2 and parts[1].isdigit():
            raise ArchitectureError(
                f"macro string {text!r} is missing its cell part '-basic': expected like "
                f"{expected!r}"
            )
    _, (_, skeleton, cell) = _split(text, "macro", expected)
    if cell != "basic":
        what = "a micro-space cell code" if "_" in cell else f"cell {cell!r}"
        raise ArchitectureError(
            f"macro string {text!r} has {what}: the macro space's cell is the ResNet basic "
            f"block, written '-basic' (like {expected!r})"
        )
    if not skeleton.isdigit() or not skeleton.isascii():
        raise ArchitectureError(
            f"malformed macro skeleton {skeleton!r} in {text!r}: expected 4 to 6 digits 1-4"
        )
    modules = tuple(int(ch) for ch in skeleton)
    problem = _macro_problem(modules)
    if problem:
        raise ArchitectureError(f"macro skeleton {skeleton!r} in {text!r} {problem}")
    return TNB101MacroArch(modules)


def all_macro_skeletons() -> list[TNB101MacroArch]:
    """Every macro skeleton, in the index order (API strings sorted)."""
    archs = [
        TNB101MacroArch(codes)
        for n in MACRO_LENGTHS
        for codes in itertools.product(sorted(MACRO_CODES), repeat=n)
        if _macro_problem(codes) is None
    ]
    return sorted(archs, key=macro_to_str)


# --------------------------------------------------------------------------- networks
def task_network(encoder: Encoder, task: str) -> nn.Module:
    """The benchmark's model for ``task`` around ``encoder`` (see the module docstring)."""
    info = TASKS[task]
    c = encoder.out_channels
    if task == "jigsaw":
        return SiameseNet(encoder, LinearHead(c * JIGSAW_TILES, info.num_classes), JIGSAW_TILES)
    if info.output_shape is None or len(info.out_shape) == 1:
        return EncoderDecoder(encoder, LinearHead(c, info.num_classes))
    in_width = info.input_shape[-1]
    feature_width = in_width // 2**encoder.reductions
    out_width = info.out_shape[-1]
    if task == "segmentsemantic":
        decoder: nn.Module = SegmentationDecoder(c, feature_width, out_width, info.num_classes)
    else:
        decoder = GenerativeDecoder(c, feature_width, out_width, info.out_shape[0])
    return EncoderDecoder(encoder, decoder)


class _TNB101Space(Space[Any]):
    """What both TransNAS-Bench-101 spaces share: tasks, index, sampling, networks."""

    datasets: ClassVar[dict[str, DatasetInfo]] = TASKS
    arch_type: ClassVar[type]

    @property
    def finite(self) -> bool:
        return True

    @abstractmethod
    def _all(self) -> list[Any]:
        """Every architecture of the space, in the index order."""

    @abstractmethod
    def _encoder(self, arch: Any) -> Encoder:
        """The benchmark's encoder of ``arch`` (freshly initialised)."""

    @cached_property
    def _order(self) -> list[Any]:
        return self._all()

    @cached_property
    def _index(self) -> dict[Any, int]:
        return {a: i for i, a in enumerate(self._order)}

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, index: int) -> Any:
        return self._order[check_index(index, len(self), self.name)]

    def index(self, arch: Any) -> int:
        return self._index[self._check(arch)]

    def _check(self, arch: Any) -> Any:
        if not isinstance(arch, self.arch_type):
            raise ArchitectureError(
                f"expected a {self.arch_type.__name__} for space {self.name!r}, got "
                f"{type(arch).__name__}"
            )
        return arch

    def sample(self, rng: np.random.Generator) -> Any:
        return self[int(rng.integers(len(self)))]

    def mutate(self, arch: Any, rng: np.random.Generator) -> Any:
        nbrs = self.neighbours(arch)
        return nbrs[int(rng.integers(len(nbrs)))]

    def network_for(self, arch: Any, dataset: str) -> nn.Module:
        """The benchmark's network of ``arch`` for the task ``dataset``."""
        return self.to_torch(arch, task=dataset)

    def to_torch(self, arch: Any, task: str = "class_scene", **kwargs: Any) -> nn.Module:
        """The network of ``arch`` for ``task`` (one of the seven; input and output shapes in
        ``self.datasets[task]``), freshly initialised as the benchmark does."""
        if kwargs:
            raise TypeError(
                f"{self.name} to_torch takes the task (one of {', '.join(TASKS)}), got "
                f"unexpected options: {sorted(kwargs)}"
            )
        self.dataset(task)  # an unknown task lists the valid ones
        return task_network(self._encoder(self._check(arch)), task)


class TNB101MicroSpace(_TNB101Space):
    """TransNAS-Bench-101 cell-level space: 4 ops on the 6 edges of a 4-node cell inside the
    fixed skeleton ``64-41414``; 4,096 cells, index = the codes as a base-4 number."""

    name = "tnb101_micro"
    graph_family = "nb201-cell"
    description = "TransNAS-Bench-101 micro: 4 ops x 6 edges in skeleton 64-41414, 4,096 cells"
    arch_type = TNB101MicroArch
    ops = MICRO_OP_NAMES

    def _all(self) -> list[TNB101MicroArch]:
        return [TNB101MicroArch(c) for c in itertools.product(range(4), repeat=6)]

    def __len__(self) -> int:
        return 4**6

    def index(self, arch: Any) -> int:
        idx = 0
        for code in self._check(arch).ops:
            idx = idx * 4 + code
        return idx

    def neighbours(self, arch: TNB101MicroArch) -> list[TNB101MicroArch]:
        ops = self._check(arch).ops
        return [TNB101MicroArch((*ops[:e], c, *ops[e + 1:]))
                for e in range(len(ops)) for c in range(4) if c != ops[e]]

    def to_str(self, arch: TNB101MicroArch) -> str:
        return micro_to_str(self._check(arch))

    def from_str(self, text: str) -> TNB101MicroArch:
        return micro_from_str(text)

    def _encoder(self, arch: TNB101MicroArch) -> Encoder:
        return Encoder(MICRO_SKELETON, lambda c_in, c_out, s: MicroCell(arch.ops, c_in, c_out, s),
                       BASE_CHANNELS)

    def to_graph(self, arch: TNB101MicroArch) -> ArchGraph:
        """The cell as an op-on-node DAG, in NAS-Bench-201's convention and op names (the
        four ops are NB201's ``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``):
        node 0 ``input``, one node per edge, last node ``output``; the fixed skeleton is left
        out, as NB201's graphs leave out theirs."""
        from zeronas.spaces.nb201 import NB201Arch, NB201Space

        ops = tuple(MICRO_OP_NAMES[c] for c in self._check(arch).ops)
        return NB201Space().to_graph(NB201Arch(ops))


class TNB101MacroSpace(_TNB101Space):
    """TransNAS-Bench-101 macro-level space: 4 to 6 modules of two ResNet basic blocks, each
    keeping or doubling the channels and keeping or halving the resolution; 3,256 skeletons."""

    name = "tnb101_macro"
    description = "TransNAS-Bench-101 macro: 4-6 residual modules, 3,256 skeletons"
    arch_type = TNB101MacroArch

    def _all(self) -> list[TNB101MacroArch]:
        return all_macro_skeletons()

    def neighbours(self, arch: TNB101MacroArch) -> list[TNB101MacroArch]:
        """Every skeleton one edit away: one module's code changed, one module removed, or
        one module inserted (any code, any position) -- those that are in the space."""
        mods = self._check(arch).modules
        cands: set[tuple[int, ...]] = set()
        for i in range(len(mods)):
            cands.update((*mods[:i], c, *mods[i + 1:]) for c in MACRO_CODES if c != mods[i])
            cands.add(mods[:i] + mods[i + 1:])
        for i in range(len(mods) + 1):
            cands.update((*mods[:i], c, *mods[i:]) for c in MACRO_CODES)
        cands.discard(mods)
        out = [TNB101MacroArch(c) for c in cands if _macro_problem(c) is None]
        return sorted(out, key=macro_to_str)

    def to_str(self, arch: TNB101MacroArch) -> str:
        return macro_to_str(self._check(arch))

    def from_str(self, text: str) -> TNB101MacroArch:
        return macro_from_str(text)

    def _encoder(self, arch: TNB101MacroArch) -> Encoder:
        return Encoder(arch.modules, BasicBlock, BASE_CHANNELS)

    def to_graph(self, arch: TNB101MacroArch) -> ArchGraph:
        """The encoder as a DAG, in the labels of the other macro spaces (``nats_sss``):
        ``input``; the stem ``conv_3x3_c32``, ``conv_3x3_c64``; per basic block, a block that
        halves the resolution as one ``resblock_c{C}`` node, any other block as its two
        ``conv_3x3_c{C}`` nodes in a row plus a parallel shortcut node (``skip_connect``, or
        ``conv_1x1_c{C}`` where the width doubles), the next layer taking both; ``output``.
        ``groups`` names the stem and module of each node; ``costs`` are each node's
        convolution multiply-adds per input pixel (weights times the share of input pixels
        at the node's output resolution: the stem halves the resolution twice, every code 3
        or 4 once more), which the label cannot say: a ``conv_3x3_c64`` costs sixteen times
        less after two more halvings."""
        mods = self._check(arch).modules
        base = BASE_CHANNELS
        ops: list[str] = ["input", f"conv_3x3_c{base // 2}", f"conv_3x3_c{base}"]
        groups: list[str] = ["input", "stem", "stem"]
        costs: list[float] = [0.0, 3 * (base // 2) * 9 / 4, (base // 2) * base * 9 / 16]
        edges: list[tuple[int, int]] = [(0, 1), (1, 2)]
        sources = [2]
        c = base
        area = 1 / 16  # output pixels per input pixel after the stem

        def add(label: str, group: str, inputs: list[int], macs: float) -> int:
            ops.append(label)
            groups.append(group)
            costs.append(macs)
            node = len(ops) - 1
            edges.extend((s, node) for s in inputs)
            return node

        for m, code in enumerate(mods):
            planes = c * 2 if code % 2 == 0 else c
            for block in range(2):
                stride = 2 if code > 2 and block == 0 else 1
                c_in = c if block == 0 else planes
                group = f"module{m + 1}"
                if stride == 2:
                    area /= 4
                    weights = c_in * planes * 9 + planes * planes * 9 + c_in * planes
                    sources = [add(f"resblock_c{planes}", group, sources, weights * area)]
                    continue
                a = add(f"conv_3x3_c{planes}", group, sources, c_in * planes * 9 * area)
                b = add(f"conv_3x3_c{planes}", group, [a], planes * planes * 9 * area)
                if c_in == planes:
                    short = add("skip_connect", group, sources, 0.0)
                else:
                    short = add(f"conv_1x1_c{planes}", group, sources, c_in * planes * area)
                sources = [b, short]
            c = planes
        add("output", "output", sources, 0.0)
        return ArchGraph(tuple(ops), tuple(sorted(edges)), tuple(groups), tuple(costs))
