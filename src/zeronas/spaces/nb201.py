"""NAS-Bench-201 / NATS-Bench topology search space (``nb201``).

A cell is a 4-node DAG; each of its 6 edges ``j <- i`` (``i < j``) carries one of five
operations. The canonical string lists, node by node, the op on each incoming edge::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|

The benchmark's index order is reproduced from its generator: all 5**6 cells in the order of
``CellStructure.gen_all`` (first edge varying slowest), shuffled by Python's ``random`` seeded
with 88 (NAS-Bench-201, Dong & Yang, ICLR 2020; ``exps/NAS-Bench-201/main.py``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from zeronas.errors import ArchitectureError
from zeronas.spaces.base import ArchGraph, DatasetInfo, Space, check_index, choose_other
from zeronas.spaces.ops import Pooling, ReLUConvBN, ResNetBasicBlock, Zero, dag_forward

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""``(source, target)`` of each of the 6 edges, in the order of the canonical string."""
NUM_NODES = 4
SHUFFLE_SEED = 88


@dataclass(frozen=True)
class NB201Arch:
    """An NB201 cell: one op per edge, in the order of :data:`EDGES`. Immutable and hashable."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.ops, tuple) or len(self.ops) != len(EDGES):
            raise ArchitectureError(
                f"an NB201 cell needs a tuple of {len(EDGES)} ops, got {self.ops!r}"
            )
        for op in self.ops:
            if op not in OPS:
                raise ArchitectureError(
                    f"unknown NB201 op {op!r}: expected one of {', '.join(OPS)}"
                )

    def __str__(self) -> str:
        return arch_to_str(self)


def arch_to_str(arch: NB201Arch) -> str:
    """The canonical NB201 string of ``arch``."""
    nodes: list[str] = []
    k = 0
    for j in range(1, NUM_NODES):
        nodes.append("|" + "|".join(f"{arch.ops[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(nodes)


def arch_from_str(text: str) -> NB201Arch:
    """Parse a canonical NB201 string, with an error naming what is wrong."""
    if not isinstance(text, str):
        raise ArchitectureError(f"an NB201 architecture string must be a str, got {text!r}")
    s = text.strip()
    parts = s.split("+")
    if len(parts) != NUM_NODES - 1:
        raise ArchitectureError(
            f"malformed NB201 string {text!r}: expected {NUM_NODES - 1} nodes separated by '+', "
            f"got {len(parts)}"
        )
    ops: list[str] = []
    for j, part in enumerate(parts, start=1):
        if len(part) < 2 or not part.startswith("|") or not part.endswith("|"):
            raise ArchitectureError(
                f"malformed NB201 string {text!r}: node {j} {part!r} must look like '|op~0|...|'"
            )
        tokens = part[1:-1].split("|")
        if len(tokens) != j:
            raise ArchitectureError(
                f"malformed NB201 string {text!r}: node {j} must have {j} input edge(s), "
                f"got {len(tokens)}"
            )
        for i, tok in enumerate(tokens):
            op, sep, src = tok.partition("~")
            if not sep:
                raise ArchitectureError(
                    f"malformed NB201 string {text!r}: edge {tok!r} must look like 'op~input'"
                )
            if src != str(i):
                raise ArchitectureError(
                    f"malformed NB201 string {text!r}: edge {tok!r} of node {j} must come from "
                    f"input {i}"
                )
            if op not in OPS:
                raise ArchitectureError(
                    f"unknown NB201 op {op!r} in {text!r}: expected one of {', '.join(OPS)}"
                )
            ops.append(op)
    return NB201Arch(tuple(ops))


def benchmark_order() -> list[NB201Arch]:
    """All 15,625 cells in the benchmark's index order (see the module docstring)."""
    archs = [NB201Arch(tuple(ops)) for ops in itertools.product(OPS, repeat=len(EDGES))]
    random.Random(SHUFFLE_SEED).shuffle(archs)
    return archs


def canonical_expression(arch: NB201Arch) -> str:
    """An expression string equal for cells that compute the same function.

    Each node is the sum (a sorted multiset) of its incoming ops applied to earlier nodes;
    ``none`` edges and ops applied to an all-zero node vanish, ``skip_connect`` is the
    identity. Two cells with the same expression differ only in parameter values (and in
    the constant per-channel offset a trained BN adds to a conv of an all-zero node).
    """
    exprs = ["x"]
    k = 0
    for j in range(1, NUM_NODES):
        terms = []
        for i in range(j):
            op, src = arch.ops[k + i], exprs[i]
            if op == "none" or src == "0":
                continue
            terms.append(src if op == "skip_connect" else f"{op}({src})")
        k += j
        if not terms:
            exprs.append("0")
        elif len(terms) == 1:
            exprs.append(terms[0])
        else:
            exprs.append("(" + "+".join(sorted(terms)) + ")")
    return exprs[-1]


class InferCell(nn.Module):
    """A fixed NB201 cell: node j is the sum of its incoming edge ops.

    ``make(op, c_in, c_out, stride)`` builds each edge (default: the benchmark's op table);
    edges leaving the cell input map ``c_in -> c_out``, all others ``c_out -> c_out``.
    """

    def __init__(
        self,
        arch: NB201Arch,
        c_in: int,
        c_out: int,
        make: Callable[[str, int, int, int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        make = make or make_op
        self.edges = nn.ModuleList()
        self.sources: list[int] = []
        self.targets: list[int] = []
        for (src, dst), op in zip(EDGES, arch.ops, strict=True):
            cin = c_in if src == 0 else c_out
            self.edges.append(make(op, cin, c_out, 1))
            self.sources.append(src)
            self.targets.append(dst)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dag_forward(x, self.edges, list(zip(self.sources, self.targets, strict=True)),
                           NUM_NODES)


def make_op(op: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """One NB201 edge operation (as in the benchmark's ``OPS`` table)."""
    if op == "none":
        return Zero(c_in, c_out, stride)
    if op == "skip_connect":
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        from zeronas.spaces.ops import FactorizedReduce

        return FactorizedReduce(c_in, c_out, stride)
    if op == "nor_conv_1x1":
        return ReLUConvBN(c_in, c_out, 1, stride, 0)
    if op == "nor_conv_3x3":
        return ReLUConvBN(c_in, c_out, 3, stride, 1)
    if op == "avg_pool_3x3":
        return Pooling(c_in, c_out, stride, "avg")
    raise ArchitectureError(f"unknown NB201 op {op!r}: expected one of {', '.join(OPS)}")


class NB201Network(nn.Module):
    """The NB201 macro skeleton ("TinyNetwork"): stem, 3 stages of N cells, residual
    reduction blocks between stages, BN-ReLU, global average pooling and a linear classifier.
    ``forward`` returns logits."""

    def __init__(self, arch: NB201Arch, num_classes: int = 10, C: int = 16, N: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C)
        )
        channels = [C] * N + [C * 2] + [C * 2] * N + [C * 4] + [C * 4] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        cells: list[nn.Module] = []
        c_prev = C
        for c_cur, reduction in zip(channels, reductions, strict=True):
            if reduction:
                cells.append(ResNetBasicBlock(c_prev, c_cur, 2))
            else:
                cells.append(InferCell(arch, c_prev, c_cur))
            c_prev = c_cur
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lastact(self.cells(self.stem(x)))
        out = self.global_pooling(out).flatten(1)
        return self.classifier(out)


class NB201Space(Space[NB201Arch]):
    """NAS-Bench-201 cell space: 5 ops on 6 edges, 15,625 cells, the benchmark's index order.

    ``C`` and ``N`` set the default network width and cells per stage (benchmark: 16 and 5).
    """

    name = "nb201"
    graph_family = "nb201-cell"
    description = "NAS-Bench-201 / NATS-Bench topology: 5 ops x 6 edges, 15,625 cells"
    datasets: ClassVar[dict[str, DatasetInfo]] = {
        "cifar10": DatasetInfo("cifar10", 10, (3, 32, 32)),
        "cifar100": DatasetInfo("cifar100", 100, (3, 32, 32)),
        "ImageNet16-120": DatasetInfo("ImageNet16-120", 120, (3, 16, 16)),
    }
    ops = OPS
    edges = EDGES

    def __init__(self, C: int = 16, N: int = 5) -> None:
        if C < 2 or C % 2 or N < 1:
            raise ArchitectureError(f"nb201 needs an even C >= 2 and N >= 1, got C={C}, N={N}")
        self.C, self.N = C, N

    # -- values
    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return NB201Arch(tuple(OPS[int(i)] for i in rng.integers(len(OPS), size=len(EDGES))))

    def mutate(self, arch: NB201Arch, rng: np.random.Generator) -> NB201Arch:
        e = int(rng.integers(len(EDGES)))
        ops = list(arch.ops)
        ops[e] = choose_other(OPS, ops[e], rng)
        return NB201Arch(tuple(ops))

    def neighbours(self, arch: NB201Arch) -> list[NB201Arch]:
        out = []
        for e in range(len(EDGES)):
            for op in OPS:
                if op != arch.ops[e]:
                    out.append(NB201Arch((*arch.ops[:e], op, *arch.ops[e + 1:])))
        return out

    def to_str(self, arch: NB201Arch) -> str:
        return arch_to_str(arch)

    def from_str(self, text: str) -> NB201Arch:
        return arch_from_str(text)

    def canonical(self, arch: NB201Arch) -> str:
        return canonical_expression(arch)

    # -- finite
    @property
    def finite(self) -> bool:
        return True

    @cached_property
    def _order(self) -> list[NB201Arch]:
        return benchmark_order()

    @cached_property
    def _index(self) -> dict[NB201Arch, int]:
        return {a: i for i, a in enumerate(self._order)}

    def __len__(self) -> int:
        return len(OPS) ** len(EDGES)

    def __getitem__(self, index: int) -> NB201Arch:
        return self._order[check_index(index, len(self), self.name)]

    def index(self, arch: NB201Arch) -> int:
        if not isinstance(arch, NB201Arch):
            raise ArchitectureError(f"expected an NB201Arch, got {type(arch).__name__}")
        return self._index[arch]

    # -- networks
    def to_torch(
        self, arch: NB201Arch, num_classes: int = 10, C: int | None = None, N: int | None = None,
        **kwargs: Any,
    ) -> nn.Module:
        if kwargs:
            raise TypeError(f"nb201 to_torch got unexpected options: {sorted(kwargs)}")
        if not isinstance(arch, NB201Arch):
            raise ArchitectureError(f"expected an NB201Arch, got {type(arch).__name__}")
        return NB201Network(arch, num_classes, self.C if C is None else C,
                            self.N if N is None else N)

    def to_graph(self, arch: NB201Arch) -> ArchGraph:
        """Op-on-node DAG: node 0 ``input``, one node per edge op, last node ``output``.

        Op node for edge ``i -> j`` takes input from every op node that ends at ``i`` (or from
        ``input`` when ``i == 0``); ``output`` takes every op node that ends at node 3.
        """
        labels = ["input", *arch.ops, "output"]
        edges: list[tuple[int, int]] = []
        for e, (src, _dst) in enumerate(EDGES):
            node = e + 1
            if src == 0:
                edges.append((0, node))
            else:
                edges.extend((f + 1, node) for f, (_, d) in enumerate(EDGES) if d == src)
        out = len(labels) - 1
        edges.extend((f + 1, out) for f, (_, d) in enumerate(EDGES) if d == NUM_NODES - 1)
        return ArchGraph(tuple(labels), tuple(sorted(edges)))
