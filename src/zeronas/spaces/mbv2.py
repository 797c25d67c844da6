"""MobileNetV2-style macro space of Zen-NAS and ZiCo (``mbv2``), for ImageNet at 224x224.

Zen-NAS (Lin et al., ICCV 2021, github idstcv/ZenNAS) and ZiCo (Li et al., ICLR 2023,
github SLDGroup/ZiCo, which reuses Zen-NAS's code) search ImageNet networks under FLOPs
budgets (ZiCo: 450M, 600M, 1000M) in the ``SuperResIDWE{e}K{k}`` search space
(``SearchSpace/search_space_IDW_fixfc.py``, ``PlainNet/SuperResIDWEXKX.py``). The network is

* a stem: 3x3 conv, stride 2, BN, ReLU, to ``stem`` channels;
* stages of inverted-residual units; a stage has a kernel size ``k`` in {3, 5, 7}, an
  expansion ratio ``e`` in {1, 2, 4, 6}, an output width ``w``, a bottleneck width ``b`` and a
  depth ``d``: ``d`` sub-layers, each two units, ``-> b`` then ``b -> w`` (the first unit of
  the stage has the stage's stride);
* a head: 1x1 conv to 2048 channels (fixed, "fixfc"), BN, ReLU; global average pooling and a
  linear classifier (with bias).

One unit from ``c_in`` to ``c_out`` (Zen-NAS's ``ResBlock``/``ResBlockProj`` around an IDW
body)::

    body  = 1x1 conv c_in->m, BN, ReLU, kxk depthwise conv (stride s), BN, ReLU,
            1x1 conv m->c_out, BN                     with m = max(8, round(e*c_out/8)*8)
    short = 1x1 conv c_in->c_out stride s (with bias), BN   for the stage's first unit, or
            when stride > 1 or c_in != c_out; else the identity
    out   = ReLU(body + short)

Note the hidden width ``m`` is ``e`` times the unit's *output* width (not its input width,
as in MobileNetV2), and the stage's first unit always has a projection shortcut. All
convolutions have no bias except the shortcut's; BN uses eps=1e-3 (as Zen-NAS's MasterNet).
Zen-NAS/ZiCo train their final networks with a squeeze-and-excitation module after the
depthwise conv of every unit (``to_torch(..., se=True)``; SE with ``round(m/4)`` channels,
1x1 convs without bias, BN, ReLU, sigmoid) but search and apply the FLOPs budget without it.

Differences from the original search: Zen-NAS's evolution edits a variable-length list of
blocks (it splits deep blocks into two); here the stage skeleton is fixed (by default 5 stages
with strides 2, 2, 2, 2, 1, the layout of ZiCo's 600M and 1G networks and of ZenNet-900M), and
each attribute takes values from a per-stage list (:class:`StageSpec`) chosen so that uniform
samples span the 450M..1000M budgets. FLOPs are multiply-accumulates in the convention of
:func:`zeronas.hardware.count_flops` (BN and activations not counted; Zen-NAS also counts BN).

The canonical string is the stem width and the stages, separated by ``-``::

    s24-k7e1w48b48d1-k7e2w72b72d1-k5e6w160b96d1-k7e6w200b112d5-k7e6w168b168d4

(``s<stem>``, then ``k<kernel>e<expansion>w<width>b<bottleneck>d<depth>`` per stage; this one
is ZiCo's published 600M network).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from zeronas.errors import ArchitectureError, ZeronasError
from zeronas.spaces.base import ArchGraph, DatasetInfo, Space, network_node_costs

BN_EPS = 1e-3
SE_RATIO = 0.25
STAGE_FIELDS: tuple[str, ...] = ("kernel", "expansion", "width", "bottleneck", "depth")
_LETTER = {"kernel": "k", "expansion": "e", "width": "w", "bottleneck": "b", "depth": "d"}
_NUM = r"([1-9][0-9]{0,8})"  # plain positive integers, at most 9 digits
_STAGE_RE = re.compile(f"k{_NUM}e{_NUM}w{_NUM}b{_NUM}d{_NUM}")
_STEM_RE = re.compile(f"s{_NUM}")


def _is_int(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, np.integer))


def hidden_width(c_out: int, expansion: int) -> int:
    """Width of a unit's depthwise conv: ``e * c_out`` rounded to a multiple of 8 (min 8)."""
    return max(8, round(c_out * expansion / 8.0) * 8)


def se_width(hidden: int) -> int:
    """Channels of the squeeze-and-excitation bottleneck of a unit of width ``hidden``."""
    return max(1, round(hidden * SE_RATIO))


# --------------------------------------------------------------------------- values
@dataclass(frozen=True)
class MBStage:
    """One stage: kernel size, expansion ratio, output width, bottleneck width, depth
    (number of two-unit sub-layers). Immutable and hashable."""

    kernel: int
    expansion: int
    width: int
    bottleneck: int
    depth: int

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not _is_int(v) or v < 1:
                raise ArchitectureError(f"stage {f.name} must be a positive integer, got {v!r}")
            object.__setattr__(self, f.name, int(v))
        if self.kernel % 2 == 0:
            raise ArchitectureError(f"stage kernel must be odd, got {self.kernel}")

    def __str__(self) -> str:
        return "".join(f"{_LETTER[n]}{getattr(self, n)}" for n in STAGE_FIELDS)


@dataclass(frozen=True)
class MBV2Arch:
    """A network of the ``mbv2`` space: stem width and one :class:`MBStage` per stage."""

    stem: int
    stages: tuple[MBStage, ...]

    def __post_init__(self) -> None:
        if not _is_int(self.stem) or self.stem < 1:
            raise ArchitectureError(f"stem width must be a positive integer, got {self.stem!r}")
        object.__setattr__(self, "stem", int(self.stem))
        if (
            not isinstance(self.stages, tuple)
            or not self.stages
            or not all(isinstance(s, MBStage) for s in self.stages)
        ):
            raise ArchitectureError(
                f"stages must be a non-empty tuple of MBStage, got {self.stages!r}"
            )

    def __str__(self) -> str:
        return "-".join([f"s{self.stem}", *(str(s) for s in self.stages)])


# --------------------------------------------------------------------------- space config
@dataclass(frozen=True)
class StageSpec:
    """The choices of one stage: its stride and the allowed value of each attribute."""

    stride: int
    widths: tuple[int, ...]
    bottlenecks: tuple[int, ...]
    depths: tuple[int, ...]
    kernels: tuple[int, ...] = (3, 5, 7)
    expansions: tuple[int, ...] = (1, 2, 4, 6)

    def __post_init__(self) -> None:
        if self.stride not in (1, 2):
            raise ArchitectureError(f"stage stride must be 1 or 2, got {self.stride!r}")
        for name in ("widths", "bottlenecks", "depths", "kernels", "expansions"):
            values = getattr(self, name)
            if (
                not isinstance(values, tuple)
                or not values
                or not all(_is_int(v) and v >= 1 for v in values)
                or len(set(values)) != len(values)
            ):
                raise ArchitectureError(
                    f"stage {name} must be a non-empty tuple of distinct positive ints, "
                    f"got {values!r}"
                )
        if any(k % 2 == 0 for k in self.kernels):
            raise ArchitectureError(f"stage kernels must be odd, got {self.kernels!r}")

    def options(self, attr: str) -> tuple[int, ...]:
        """The allowed values of stage attribute ``attr`` (one of :data:`STAGE_FIELDS`)."""
        return {
            "kernel": self.kernels,
            "expansion": self.expansions,
            "width": self.widths,
            "bottleneck": self.bottlenecks,
            "depth": self.depths,
        }[attr]


def _r(lo: int, hi: int, step: int = 8) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


DEFAULT_STEMS: tuple[int, ...] = (16, 24, 32, 40, 48)
DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec(2, widths=_r(16, 64), bottlenecks=_r(16, 80), depths=(1, 2)),
    StageSpec(2, widths=_r(32, 96), bottlenecks=_r(32, 128), depths=(1, 2, 3)),
    StageSpec(2, widths=_r(64, 192), bottlenecks=_r(64, 160), depths=(1, 2, 3)),
    StageSpec(2, widths=_r(96, 384), bottlenecks=_r(96, 352), depths=(1, 2, 3, 4, 5)),
    StageSpec(1, widths=_r(96, 320), bottlenecks=_r(96, 320), depths=(1, 2, 3, 4, 5)),
)
"""Default stages (stem stride 2, then strides 2, 2, 2, 2, 1; 224 -> 7 at the head).

Widths and bottlenecks are multiples of 8, as Zen-NAS rounds them; the ranges contain ZiCo's
published 600M and 1G networks and ZenNet-900M. Uniform samples at 224x224 (no SE) have FLOPs
of about 180M..2.4G, median ~730M: ~12% under 450M, ~67% in 450M..1000M, ~20% above 1000M.
"""
HEAD_WIDTH = 2048


# --------------------------------------------------------------------------- strings
def arch_to_str(arch: MBV2Arch) -> str:
    """The canonical string of ``arch`` (see the module docstring)."""
    return str(arch)


def parse_arch(text: str, num_stages: int | None = None) -> MBV2Arch:
    """Parse the canonical string syntax (any number of stages unless ``num_stages``)."""
    if not isinstance(text, str):
        raise ArchitectureError(f"an mbv2 architecture string must be a str, got {text!r}")
    parts = text.strip().split("-")
    if num_stages is not None and len(parts) != num_stages + 1:
        raise ArchitectureError(
            f"malformed mbv2 string {text!r}: expected the stem 's<width>' and {num_stages} "
            f"stages separated by '-', got {len(parts)} part(s)"
        )
    m = _STEM_RE.fullmatch(parts[0])
    if m is None:
        raise ArchitectureError(
            f"malformed mbv2 string {text!r}: the stem {parts[0]!r} must look like 's24'"
        )
    if len(parts) < 2:
        raise ArchitectureError(f"malformed mbv2 string {text!r}: no stages after the stem")
    stem = int(m.group(1))
    stages = []
    for i, tok in enumerate(parts[1:], start=1):
        sm = _STAGE_RE.fullmatch(tok)
        if sm is None:
            raise ArchitectureError(
                f"malformed mbv2 string {text!r}: stage {i} {tok!r} must look like "
                f"'k<kernel>e<expansion>w<width>b<bottleneck>d<depth>', e.g. 'k3e6w32b32d2'"
            )
        k, e, w, b, d = (int(g) for g in sm.groups())
        if k % 2 == 0:
            raise ArchitectureError(
                f"invalid mbv2 string {text!r}: stage {i} kernel {k} must be odd"
            )
        stages.append(MBStage(k, e, w, b, d))
    return MBV2Arch(stem, tuple(stages))


# --------------------------------------------------------------------------- modules
class SqueezeExcite(nn.Module):
    """Zen-NAS's SE: pool, 1x1 conv (no bias), BN, ReLU, 1x1 conv (no bias), BN, sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = se_width(channels)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, mid, 1, bias=False),
            nn.BatchNorm2d(mid, eps=BN_EPS),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, channels, 1, bias=False),
            nn.BatchNorm2d(channels, eps=BN_EPS),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class IDWUnit(nn.Module):
    """One inverted-residual unit ``c_in -> c_out`` (see the module docstring)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        expansion: int,
        stride: int,
        project: bool = False,
        se: bool = False,
    ) -> None:
        super().__init__()
        m = hidden_width(c_out, expansion)
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, m, 1, bias=False),
            nn.BatchNorm2d(m, eps=BN_EPS),
            nn.ReLU(inplace=True),
            nn.Conv2d(m, m, kernel, stride=stride, padding=kernel // 2, groups=m, bias=False),
            nn.BatchNorm2d(m, eps=BN_EPS),
            nn.ReLU(inplace=True),
        ]
        if se:
            layers.append(SqueezeExcite(m))
        layers += [nn.Conv2d(m, c_out, 1, bias=False), nn.BatchNorm2d(c_out, eps=BN_EPS)]
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module | None = None
        if project or stride > 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=True),
                nn.BatchNorm2d(c_out, eps=BN_EPS),
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.body(x) + short)


def _units(
    stage: MBStage, c_in: int, stride: int
) -> list[tuple[int, int, int, bool]]:
    """``(c_in, c_out, stride, project)`` of each unit of a stage."""
    units = []
    c = c_in
    for j in range(stage.depth):
        s = stride if j == 0 else 1
        units.append((c, stage.bottleneck, s, j == 0))
        units.append((stage.bottleneck, stage.width, 1, False))
        c = stage.width
    return units


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out, eps=BN_EPS),
        nn.ReLU(inplace=True),
    )


class MBV2Network(nn.Module):
    """The network of an :class:`MBV2Arch`; ``forward`` returns logits."""

    def __init__(
        self,
        arch: MBV2Arch,
        strides: Sequence[int],
        num_classes: int = 1000,
        head_width: int = HEAD_WIDTH,
        se: bool = False,
    ) -> None:
        super().__init__()
        self.stem = _conv_bn_relu(3, arch.stem, 3, 2)
        stages = []
        c = arch.stem
        for stage, stride in zip(arch.stages, strides, strict=True):
            units = [
                IDWUnit(ci, co, stage.kernel, stage.expansion, s, project=p, se=se)
                for ci, co, s, p in _units(stage, c, stride)
            ]
            stages.append(nn.Sequential(*units))
            c = stage.width
        self.stages = nn.Sequential(*stages)
        self.head = _conv_bn_relu(c, head_width, 1, 1)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head_width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.stages(self.stem(x)))
        return self.classifier(self.global_pooling(out).flatten(1))


# --------------------------------------------------------------------------- the space
def _down(size: int, stride: int) -> int:
    """Output size of a conv with odd kernel k, padding k//2 (or 1x1, padding 0)."""
    return (size - 1) // stride + 1


class MBV2Space(Space[MBV2Arch]):
    """Zen-NAS/ZiCo's inverted-residual macro space on ImageNet (not finite).

    ``stems`` are the allowed stem widths, ``stages`` one :class:`StageSpec` per stage,
    ``head_width`` the fixed width of the last 1x1 conv (2048 in Zen-NAS and ZiCo).
    """

    name = "mbv2"
    description = "Zen-NAS/ZiCo MobileNetV2-like ImageNet space (k, e, width, bottleneck, depth)"
    datasets: ClassVar[dict[str, DatasetInfo]] = {
        "imagenet": DatasetInfo("imagenet", 1000, (3, 224, 224)),
    }

    def __init__(
        self,
        stems: Sequence[int] = DEFAULT_STEMS,
        stages: Sequence[StageSpec] = DEFAULT_STAGES,
        head_width: int = HEAD_WIDTH,
    ) -> None:
        stems = tuple(stems)
        if not stems or not all(_is_int(s) and s >= 1 for s in stems) or len(set(stems)) != len(
            stems
        ):
            raise ArchitectureError(f"stems must be distinct positive ints, got {stems!r}")
        stages = tuple(stages)
        if not stages or not all(isinstance(s, StageSpec) for s in stages):
            raise ArchitectureError(
                f"stages must be a non-empty sequence of StageSpec, got {stages!r}"
            )
        if not _is_int(head_width) or head_width < 1:
            raise ArchitectureError(f"head_width must be a positive int, got {head_width!r}")
        self.stems: tuple[int, ...] = tuple(int(s) for s in stems)
        self.stages: tuple[StageSpec, ...] = stages
        self.head_width = int(head_width)

    @property
    def strides(self) -> tuple[int, ...]:
        """The stride of each stage."""
        return tuple(s.stride for s in self.stages)

    # -- validation
    def validate(self, arch: Any) -> MBV2Arch:
        """Return ``arch`` if it belongs to this space, else raise ArchitectureError naming
        the first stage attribute that is not allowed."""
        if not isinstance(arch, MBV2Arch):
            raise ArchitectureError(f"expected an MBV2Arch, got {type(arch).__name__}")
        if len(arch.stages) != len(self.stages):
            raise ArchitectureError(
                f"mbv2 architecture {arch} has {len(arch.stages)} stages: expected "
                f"{len(self.stages)}"
            )
        if arch.stem not in self.stems:
            raise ArchitectureError(
                f"mbv2 stem width {arch.stem} is not one of {', '.join(map(str, self.stems))}"
            )
        for i, (stage, spec) in enumerate(zip(arch.stages, self.stages, strict=True), start=1):
            for attr in STAGE_FIELDS:
                value, allowed = getattr(stage, attr), spec.options(attr)
                if value not in allowed:
                    raise ArchitectureError(
                        f"mbv2 stage {i} {attr} {value} is not one of "
                        f"{', '.join(map(str, allowed))}"
                    )
        return arch

    # -- values
    def sample(self, rng: np.random.Generator) -> MBV2Arch:
        stem = self.stems[int(rng.integers(len(self.stems)))]
        stages = []
        for spec in self.stages:
            vals = [spec.options(a)[int(rng.integers(len(spec.options(a))))] for a in STAGE_FIELDS]
            stages.append(MBStage(*vals))
        return MBV2Arch(stem, tuple(stages))

    def _genes(self) -> list[tuple[int, str]]:
        """Mutable positions: ``(0, 'stem')`` and ``(stage number, attr)`` with >1 option."""
        genes: list[tuple[int, str]] = [(0, "stem")] if len(self.stems) > 1 else []
        for i, spec in enumerate(self.stages, start=1):
            genes.extend((i, a) for a in STAGE_FIELDS if len(spec.options(a)) > 1)
        return genes

    def _replace(self, arch: MBV2Arch, gene: tuple[int, str], value: int) -> MBV2Arch:
        i, attr = gene
        if i == 0:
            return MBV2Arch(value, arch.stages)
        old = arch.stages[i - 1]
        stage = MBStage(**{a: (value if a == attr else getattr(old, a)) for a in STAGE_FIELDS})
        return MBV2Arch(arch.stem, (*arch.stages[: i - 1], stage, *arch.stages[i:]))

    def _options(self, gene: tuple[int, str]) -> tuple[int, ...]:
        i, attr = gene
        return self.stems if i == 0 else self.stages[i - 1].options(attr)

    def _value(self, arch: MBV2Arch, gene: tuple[int, str]) -> int:
        i, attr = gene
        return arch.stem if i == 0 else int(getattr(arch.stages[i - 1], attr))

    def mutate(self, arch: MBV2Arch, rng: np.random.Generator) -> MBV2Arch:
        """Change one attribute (the stem width, or one stage's kernel, expansion, width,
        bottleneck or depth) to another allowed value, both chosen uniformly."""
        self.validate(arch)
        genes = self._genes()
        if not genes:
            raise ArchitectureError("this mbv2 space has a single architecture: nothing to mutate")
        gene = genes[int(rng.integers(len(genes)))]
        current = self._value(arch, gene)
        others = [v for v in self._options(gene) if v != current]
        return self._replace(arch, gene, others[int(rng.integers(len(others)))])

    def neighbours(self, arch: MBV2Arch) -> list[MBV2Arch]:
        self.validate(arch)
        out = []
        for gene in self._genes():
            current = self._value(arch, gene)
            out.extend(self._replace(arch, gene, v) for v in self._options(gene) if v != current)
        return out

    # -- strings
    def to_str(self, arch: MBV2Arch) -> str:
        return arch_to_str(self.validate(arch))

    def from_str(self, text: str) -> MBV2Arch:
        """Parse the canonical string and check every value is allowed in this space."""
        return self.validate(parse_arch(text, num_stages=len(self.stages)))

    # -- cost
    def flops(
        self,
        arch: MBV2Arch,
        input_shape: Sequence[int] = (3, 224, 224),
        num_classes: int = 1000,
        se: bool = False,
    ) -> float:
        """Multiply-accumulates of one forward pass, in closed form (microseconds).

        Equal to ``count_flops(self.to_torch(arch, num_classes, se=se), input_shape)``
        (convolutions and the classifier; a bias adds one per output element).
        """
        self.validate(arch)
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(_is_int(s) and s >= 1 for s in shape) or shape[0] != 3:
            raise ZeronasError(
                f"input_shape {input_shape!r} must be (3, height, width) with positive ints"
            )
        c_img, h, w = (int(s) for s in shape)
        h, w = _down(h, 2), _down(w, 2)
        total = c_img * arch.stem * 9 * h * w
        c = arch.stem
        for stage, spec in zip(arch.stages, self.stages, strict=True):
            for ci, co, s, project in _units(stage, c, spec.stride):
                m = hidden_width(co, stage.expansion)
                ho, wo = _down(h, s), _down(w, s)
                total += ci * m * h * w  # expand 1x1 at the input resolution
                total += m * stage.kernel**2 * ho * wo  # depthwise
                total += m * co * ho * wo  # project 1x1
                if project or s > 1 or ci != co:
                    total += (ci * co + co) * ho * wo  # shortcut 1x1 with bias
                if se:
                    total += 2 * m * se_width(m)
                h, w = ho, wo
            c = stage.width
        total += c * self.head_width * h * w
        total += self.head_width * num_classes + num_classes
        return float(total)

    # -- networks
    def to_torch(
        self, arch: MBV2Arch, num_classes: int = 1000, se: bool = False, **kwargs: Any
    ) -> nn.Module:
        """The network of ``arch``; ``se=True`` adds Zen-NAS's SE modules (as trained)."""
        if kwargs:
            raise TypeError(f"mbv2 to_torch got unexpected options: {sorted(kwargs)}")
        self.validate(arch)
        return MBV2Network(arch, self.strides, num_classes, self.head_width, se)

    def to_graph(self, arch: MBV2Arch) -> ArchGraph:
        """A chain: ``input``, the stem ``conv_3x3``, one ``mbconv_k<k>_e<e>`` node per unit
        (two per sub-layer), the head ``conv_1x1``, ``output``. ``groups`` names the stage;
        ``costs`` each node's multiply-adds per input pixel (224x224): a unit's label says its
        kernel and expansion, not its widths or resolution."""
        self.validate(arch)
        ops = ["input", "conv_3x3"]
        groups = ["input", "stem"]
        for i, stage in enumerate(arch.stages, start=1):
            n = 2 * stage.depth
            ops.extend([f"mbconv_k{stage.kernel}_e{stage.expansion}"] * n)
            groups.extend([f"stage{i}"] * n)
        ops += ["conv_1x1", "output"]
        groups += ["head", "output"]
        edges = tuple((i, i + 1) for i in range(len(ops) - 1))
        owners = {"stem": 1, "head": len(ops) - 2}
        node = 2
        for i, stage in enumerate(arch.stages):
            for u in range(2 * stage.depth):
                owners[f"stages.{i}.{u}"] = node
                node += 1
        costs = network_node_costs(self, arch, owners, len(ops), (3, 224, 224))
        return ArchGraph(tuple(ops), edges, tuple(groups), costs)
